"""`polaris compare`: two stored cells on their shared items (Δ, paired SE and CI, McNemar)."""

from __future__ import annotations

import fnmatch
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.helptext import STORE_HELP
from polaris.errors import PolarisError



def resolve_run(runs: Sequence[Any], query: str, store: Path | str = "the store") -> Any:
    """The one run a user means by `query`: its label (model/task/prompt/strategy) or run id, exactly,
    else by unique prefix, glob, or label without the backend prefix ("gpt-4o/gsm8k/..."). Ambiguity
    and absence are one-line errors listing the candidates."""
    tiers = [
        lambda r: r.label == query or r.id == query,
        lambda r: len(query) >= 4 and r.id.startswith(query),
        lambda r: r.label.startswith(query),
        lambda r: any(c in query for c in "*?[") and fnmatch.fnmatchcase(r.label, query),
        lambda r: "/" in r.label and r.label.split("/", 1)[1].startswith(query),
    ]
    for match in tiers:
        found = [r for r in runs if match(r)]
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"{r.label} ({r.id})" for r in found[:12])
            more = f"; and {len(found) - 12} more" if len(found) > 12 else ""
            raise PolarisError(f"'{query}' matches {len(found)} cells in {store}: {listed}{more}"
                               " (name one exactly, or by run id)")
    known = "; ".join(r.label for r in runs[:8]) or "none"
    more = f"; and {len(runs) - 8} more" if len(runs) > 8 else ""
    raise PolarisError(f"no cell in {store} matches '{query}' (cells: {known}{more})")


@app.command()
def compare(
    cell_a: str = typer.Argument(..., metavar="CELL_A", help="model/task/prompt/strategy (prefix, glob or run id)"),
    cell_b: str = typer.Argument(..., metavar="CELL_B", help="the cell to subtract"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the table"),
) -> None:
    """Compare two cells on the items both scored: accuracy difference, paired SE and 95% CI,
    McNemar's exact p-value, discordant counts, correlation."""
    from polaris.analysis.compare import compare_rows
    from polaris.cli.display import plural
    from polaris.cli.strategy_display import comparisons_table
    from polaris.config import store_path
    from polaris.store.store import Store

    path = store_path(store)
    db = Store(path, readonly=True)
    try:
        runs = db.runs()
        a, b = resolve_run(runs, cell_a, path), resolve_run(runs, cell_b, path)
        if a.id == b.id:
            raise PolarisError(f"'{cell_a}' and '{cell_b}' name the same cell ({a.label})")
        result = compare_rows(db.results(a.id), db.results(b.id))
    finally:
        db.close()
    doc = {"a": {"label": a.label, "run_id": a.id}, "b": {"label": b.label, "run_id": b.id}, **result.as_dict()}
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(f"A: {a.label} ({a.id})\nB: {b.label} ({b.id})")
    if not result.items:
        print("no items scored in both cells", file=sys.stderr)
        return
    comparisons_table([{"name": "A - B", **doc}], title="Paired comparison (A - B on shared items)")
    if result.only_a or result.only_b:
        print(f"left out: {plural(result.only_a, 'item')} scored only in A, {result.only_b} only in B", file=sys.stderr)
