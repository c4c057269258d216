"""`polaris demo`: the README's first command (the emergence lab end to end, offline)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app


@app.command()
def demo(
    variant: Optional[str] = typer.Argument(None, help="compute: accuracy against thinking tokens per model size (docs/compute.md)"),
    out: Path = typer.Option(Path("polaris-demo"), "--out", "-o",
                             help="Directory for the store, the report and demo.json"),
    store: Optional[Path] = typer.Option(None, help="SQLite store (default: OUT/polaris.db)"),
    as_json: bool = typer.Option(False, "--json",
                                 help="Print one JSON document with the key numbers, verdicts and report path"),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar"),
    model: list[str] = typer.Option([], "--model", "-m", help="demo compute: only these ladder models (repeatable; default: all 18)"),
) -> None:
    """Offline, in about a minute: evaluate the shipped ladder of tiny transformers on 3-digit addition,
    answering directly and with a scratchpad; analyse how exact match and continuous metrics scale
    (fits, emergence verdicts, metric sensitivity); write the HTML report. Cached: a second run
    reuses the store and calls no model. `polaris demo compute`: the same ladder with its scratchpad cut at
    0, 12 and 24 thinking tokens and the answer forced, against the whole scratchpad, direct answers and a
    response cut at 24 tokens: accuracy against thinking tokens per size, with truncation (docs/compute.md)."""
    show = not no_progress and (not as_json or sys.stderr.isatty())
    if variant is not None:
        if variant != "compute":
            from polaris.errors import PolarisError

            raise PolarisError(f"unknown demo '{variant}' (polaris demo, or polaris demo compute)")
        _compute(out, store, as_json, show, model)
        return
    if model:
        from polaris.errors import PolarisError

        raise PolarisError("--model is for `polaris demo compute`; `polaris demo` evaluates the whole ladder")
    from polaris.lab.demo import document, run_demo

    result = run_demo(out, store, show_progress=show)
    _show(result, document(result), result.out / "demo.json", as_json,
          f"open it in a browser; sections: {', '.join(result.report_sections)}", len(result.summaries))


def _compute(out: Path, store: Optional[Path], as_json: bool, show: bool, models: list[str]) -> None:
    from polaris.lab.demo_compute import document, run_compute_demo

    result = run_compute_demo(out, store, show_progress=show, only=models)
    _show(result, document(result), result.out / "compute.json", as_json,
          "section Compute: accuracy and truncation against thinking tokens", result.cells)


def _show(result: Any, doc: dict[str, Any], path: Path, as_json: bool, about: str, cells: int) -> None:
    """Write the run's JSON beside its report, then print it, or its sentences and where things are."""
    path.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    width = 100
    print()
    for line in result.lines:
        print(textwrap.fill(line, width, break_on_hyphens=False, break_long_words=False))
        print()
    sent = f"{result.calls:,} model calls this run" if result.calls else "no model called: every answer came from it"
    t = result.seconds
    print(textwrap.fill(
        f"Report: {result.report.resolve()} ({about}). Store: {result.store}, {cells} cells; {sent}. Took "
        f"{t['total']:.0f} s (evaluation {t['evaluate']:.0f} s, analysis {t['analyse']:.0f} s, report "
        f"{t['report']:.0f} s).", width, break_on_hyphens=False, break_long_words=False))
