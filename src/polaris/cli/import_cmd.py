"""`polaris import` (other harnesses' generations as Polaris runs) and `polaris export` (results as
Parquet, CSV or JSONL rows). See docs/import.md and docs/export.md."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import pct, plain, plural, warn
from polaris.cli.helptext import STORE_HELP



def _run_line(w: Any) -> dict[str, Any]:
    from polaris.importers.provenance import agreement
    from polaris.runner.summary import summarize

    cell, spec = w.cell, w.cell.spec
    s = w.run.summary if w.run is not None else summarize(w.rows, headline=cell.task.headline)
    return {"run_id": spec.run_id, "label": spec.label, "model": spec.model, "task": spec.task, "prompt": spec.prompt,
            "strategy": spec.strategy, "status": "new" if w.run is not None else "already imported",
            "files": [f.name for f in cell.files], "matching": cell.provenance["matching"],
            "n": s.get("n"), "scored": s.get("scored"), "accuracy": s.get("accuracy"), "ci95": s.get("ci95"),
            "strict_accuracy": s.get("strict_accuracy"), "errors": s.get("errors"),
            "agreement": agreement(w.rows, cell.provenance)}


def _file_lines(written: list[Any]) -> list[dict[str, Any]]:
    from polaris.importers.provenance import per_file

    out = []
    for w in written:
        for line in per_file(w.rows, w.cell.provenance):
            out.append({"run_id": w.cell.spec.run_id, "model": w.cell.spec.model, **line,
                        "file": next((f.name for f in w.cell.files if Path(f.name).name == line["file"]),
                                     line["file"])})
    return out


def _unmatched(cells: list[Any]) -> list[dict[str, Any]]:
    return [{"where": m.record.where, "status": m.status, "reason": m.reason,
             "question": (m.record.question or m.record.prompt or "")[-160:]}
            for c in cells for m in c.matches if m.item is None]


def _short_names(paths: list[str]) -> dict[str, str]:
    """File names as the per-file table shows them: the name alone, or the path below the files' common
    folder when names repeat (BBH's cot/ and direct/ folders hold files of the same names)."""
    names = {p: Path(p).name for p in paths}
    if len(set(names.values())) == len(names):
        return names
    root = os.path.commonpath([str(Path(p).resolve().parent) for p in paths])
    return {p: os.path.relpath(Path(p).resolve(), root) for p in paths}


def _print(runs: list[dict[str, Any]], files: list[dict[str, Any]], missed: list[dict[str, Any]],
           show_unmatched: bool, store: Path) -> None:
    from polaris.cli.display import console
    from polaris.cli.tables import Col, Grid

    out = console(sys.stdout)
    totals = {k: sum(r["matching"][k] for r in runs)
              for k in ("records", "matched", "unmatched", "ambiguous", "duplicate")}
    new = sum(r["status"] == "new" for r in runs)
    out.print(plain(f"Imported {plural(new, 'new run')}, {len(runs) - new} already imported, into {store}: "
                    f"{plural(totals['records'], 'record')}, {totals['matched']} matched, {totals['unmatched']} unmatched, "
                    f"{totals['ambiguous']} ambiguous, {plural(totals['duplicate'], 'duplicate')}. Polaris did not send "
                    "these prompts; it scored the responses with its own extractors."))
    # Run ids are copied into other commands: never cut; model names neither (a cut name is ambiguous).
    table = Grid("Runs", [
        Col("run", wrap=False), Col("model", key=True, wrap=False), Col("task", key=True), Col("prompt", key=True),
        Col("matched", "right"), Col("accuracy % [95% CI]", "right", wrap=False), Col("strict %", "right", drop=2),
        Col("errors", "right", drop=1), Col("source %", "right"), Col("agree %", "right"),
        Col("status", drop=3)])
    for r in runs:
        ci = r["ci95"]
        acc = ("-" if r["accuracy"] is None else
               f"{pct(r['accuracy'])} [{pct(ci[0])}, {pct(ci[1])}]" if ci else pct(r["accuracy"]))
        a = r["agreement"]
        table.add_row(r["run_id"], plain(r["model"]), r["task"], r["prompt"], str(r["matching"]["matched"]), acc,
                      pct(r["strict_accuracy"]), str(r["errors"]), pct(a["source_accuracy"]) if a["n"] else "-",
                      pct(a["rate"]) if a["n"] else "-", r["status"])
    table.print(out)
    ft = Grid("Agreement with the source's verdicts, per file", [
        Col("file", key=True), Col("model", key=True, wrap=False), Col("items", "right"), Col("Polaris %", "right"),
        Col("source %", "right"), Col("agree % (n)", "right", wrap=False),
        Col("both right / both wrong / Polaris only / source only", "right", drop=2)])
    names = _short_names([f["file"] for f in files])
    for f in files:
        a = f["agreement"]
        counts = "-" if not a else f"{a['both_right']} / {a['both_wrong']} / {a['polaris_only']} / {a['source_only']}"
        ft.add_row(plain(names[f["file"]]), plain(f["model"]), str(f["items"]), pct(f["polaris_accuracy"]),
                   pct(f["source_accuracy"]) + ("" if a or f["source_accuracy"] is None else " (published)"),
                   f"{pct(a['rate'])} ({a['n']})" if a else "-", counts)
    ft.print(out)
    gold = sum(r["matching"]["gold_differs"] for r in runs)
    if gold:
        warn(f"{plural(gold, 'record')} give{'s' if gold == 1 else ''} a gold answer other than Polaris's for their"
             " item (see the manifests' matching)")
    if missed and not show_unmatched:
        warn(f"{plural(len(missed), 'record')} not imported (unmatched, ambiguous or duplicate): --show-unmatched lists"
             f" {'it' if len(missed) == 1 else 'them'}")
    if show_unmatched:
        for m in missed:
            out.print(plain(f"{m['where']}: {m['status']}: {m['reason']}"), highlight=False)


def _imported_runs(path: Path) -> dict[str, dict[str, Any]]:
    """Run id -> provenance of the imported runs a store already holds with results (none if no store)."""
    from polaris.importers.provenance import imported_from
    from polaris.store.store import Store

    if not path.is_file():
        return {}
    db = Store(path, readonly=True)
    try:
        with_results = {r for (r,) in db.db.execute("SELECT DISTINCT run FROM results")}
        return {r.id: prov for r in db.runs() if r.id in with_results and (prov := imported_from(r.manifest))}
    finally:
        db.close()


@app.command("import")
def import_(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="planbench | bbh-outputs | gsm8k-solutions | lm-eval | inspect | jsonl"),
    files: list[Path] = typer.Argument(..., metavar="FILE...", help="Files to import"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Model name (when the files do not say, or to rename; 'PREFIX-{model}' renames each)"),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Polaris task (when the files do not say)"),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="Prompt format the source used (when the files do not say)"),
    instances_dir: Optional[Path] = typer.Option(None, "--instances-dir", help="planbench: folder of instance-N.pddl (default: the data dir's planbench/instances/<domain>)"),
    maps: list[str] = typer.Option([], "--map", help="jsonl: FIELD=PATH, e.g. responses=response.body.choices.*.message.content (repeatable)"),
    show_unmatched: bool = typer.Option(False, "--show-unmatched", help="List the records that were not imported, and why"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document"),
) -> None:
    """Import another harness's generations as Polaris runs, scored with Polaris's extractors."""
    from polaris.config import store_path
    from polaris.errors import PolarisError
    from polaris.importers import read_all, reader
    from polaris.importers.jsonl import parse_maps
    from polaris.importers.plan import plan
    from polaris.importers.records import ReadOptions
    from polaris.importers.writer import write
    from polaris.store.store import Store

    reader(fmt)  # an unknown format is an error before any file is read
    opts = ReadOptions(model=model, task=task, prompt=prompt,
                       instances_dir=str(instances_dir) if instances_dir is not None else None, maps=parse_maps(maps))
    if maps and fmt != "jsonl":
        raise PolarisError("--map applies to the jsonl format only")
    sources, records = read_all(fmt, files, opts)
    path = store_path(store)
    # Runs imported before are not matched again, unless the unmatched records are to be listed.
    cells = plan(fmt, sources, records, opts, None if show_unmatched else _imported_runs(path))
    missed = _unmatched(cells)
    todo = [c for c in cells if c.done or any(m.item is not None for m in c.matches)]
    if not todo:
        first = missed[0] if missed else {"where": "-", "reason": "no records"}
        raise PolarisError(f"no record matched an item ({len(missed)} not matched; first: {first['where']}: "
                           f"{first['reason']}); does --task fit the files?")
    db = Store(path)
    try:
        written = write(db, todo)
    finally:
        db.close()
    runs = [_run_line(w) for w in written]
    per_file = _file_lines(written)
    if as_json:
        doc = {"store": str(path), "runs": runs, "files": per_file}
        if show_unmatched:
            doc["unmatched"] = missed
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _print(runs, per_file, missed, show_unmatched, path)


@app.command()
def export(
    out: Path = typer.Option(..., "--out", "-o", metavar="FILE", help="File to write (.parquet, .csv or .jsonl)"),
    fmt: Optional[str] = typer.Option(None, "--format", "-f", help="parquet | csv | jsonl (default: from --out's extension, else parquet)"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Only runs of this model"),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Only runs of this task"),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="Only runs with this prompt format"),
    strategy: Optional[str] = typer.Option(None, help="Only runs with this strategy"),
    run: Optional[str] = typer.Option(None, "--run", help="Only this run (id or prefix)"),
    per_sample: bool = typer.Option(False, "--samples", help="One row per sample instead of per item"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON"),
) -> None:
    """Write stored results as one row per item (or sample): Parquet, CSV or JSONL (docs/export.md)."""
    from polaris.config import store_path
    from polaris.export import export as write_rows
    from polaris.export import format_for
    from polaris.export.rows import Filters
    from polaris.store.store import Store

    kind = format_for(out, fmt)
    db = Store(store_path(store), readonly=True)
    try:
        done = write_rows(db, out, kind, Filters(model, task, prompt, strategy, run), per_sample)
    finally:
        db.close()
    if done.rows == 0:
        warn("no stored results match the filters; the file has the header only")
    if as_json:
        json.dump({"path": str(done.path), "format": done.format, "rows": done.rows, "runs": done.runs,
                   "unit": "sample" if per_sample else "item", "schema_version": done.schema_version}, sys.stdout,
                  indent=2)
        sys.stdout.write("\n")
        return
    print(f"wrote {done.path}: {done.rows} {'sample' if per_sample else 'item'} rows from {plural(done.runs, 'run')}, "
          f"{done.format}, export schema v{done.schema_version} (docs/export.md)")
