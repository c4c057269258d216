"""`polaris leaderboard`: the Chain-of-Thought Hub table (GSM8K, MATH, MMLU, BBH) from a store, and
per-suite breakdowns with `--task`. Accuracies are percentages in the table and markdown formats,
fractions in csv and json (as in `polaris run --json`)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import console, pct, plain, warn
from polaris.cli.helptext import STORE_HELP

FORMATS = ("table", "markdown", "csv", "json")
DIM_TITLES = {"level": "levels", "subject": "subjects", "category": "categories", "task": "tasks"}


def _ci(acc: float | None, ci: Any) -> str:
    if acc is None:
        return "-"
    return f"{pct(acc)} [{pct(ci[0])}, {pct(ci[1])}]" if ci else pct(acc)


def _n_text(cell: Any) -> str:
    if cell.size is not None and cell.n != cell.size:
        return f"n={cell.n} of {cell.size}"
    return f"n={cell.n}"


class _Notes:
    """Numbered footnotes: each partial or missing cell gets one, so the table says why."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str) -> int:
        self.lines.append(text)
        return len(self.lines)


def _cell_parts(cell: Any, notes: _Notes, model: str) -> list[str]:
    from polaris.analysis.leaderboard import MISSING, PARTIAL, TITLES

    where = f"{model} {TITLES.get(cell.suite, cell.suite)}"
    if cell.status == MISSING and cell.reason == "not run":  # says it all: no footnote for each such cell
        return ["not run"]
    if cell.status == MISSING:
        return ["-", f"missing [{notes.add(f'{where}: missing: {cell.reason}')}]"]
    parts = [_ci(cell.accuracy, cell.ci95), f"{_n_text(cell)} · {cell.prompt}"]
    if cell.imported:  # someone else's generations, scored by Polaris (`polaris import`)
        k = notes.add(f"{where}: imported from {cell.imported} files; Polaris did not send these prompts "
                      f"(run {cell.run_id}; its manifest names the files)")
        parts.append(f"imported [{k}]")
    if cell.status == PARTIAL:
        k = notes.add(f"{where}: partial, not comparable with full cells: {cell.reason} (run {cell.run_id})")
        parts.append(f"partial [{k}]")
    if len(cell.endpoints) > 1:
        ends = ", ".join(f"{e['endpoint']} ({e['items']} items)" for e in cell.endpoints)
        parts.append(f"{len(cell.endpoints)} endpoints [{notes.add(f'{where}: results from several endpoints: {ends}')}]")
    return parts


def _board_out(board: Any, fmt: str, store: Path) -> None:
    from polaris.analysis.leaderboard import TITLES

    if fmt == "json":
        json.dump(board.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        fields = ("status", "accuracy", "ci_low", "ci_high", "n", "size", "errors", "strict_accuracy", "extracted",
                  "disagree", "prompt", "strategy", "task", "run_id", "reason", "imported")
        w.writerow(["model", *(f"{s}_{f}" for s in board.suites for f in fields)])
        for model, cells in board.rows:
            out = [model]
            for s in board.suites:
                c = cells[s]
                lo, hi = c.ci95 or (None, None)
                out += [c.status, c.accuracy, lo, hi, c.n, c.size, c.errors, c.strict_accuracy, c.extracted,
                        c.disagree, c.prompt, c.strategy, c.task, c.run_id, c.reason, c.imported]
            w.writerow(["" if v is None else v for v in out])
        return
    notes = _Notes()
    grid = [(model, [_cell_parts(cells[s], notes, model) for s in board.suites]) for model, cells in board.rows]
    title = f"Leaderboard · prompt {board.prompt} · strategy {board.strategy} · accuracy % [95% CI]"
    if fmt == "markdown":
        print(f"**{title}** (store `{store}`)\n")
        print("| model | " + " | ".join(TITLES[s] for s in board.suites) + " |")
        print("|---|" + "---|" * len(board.suites))
        for model, parts in grid:
            print(f"| {_md(model)} | " + " | ".join(_md(" · ".join(p)) for p in parts) + " |")
        lines = [f"[{i}] {t}" for i, t in enumerate(notes.lines, 1)] + board.notes
        if lines:
            print()
            for line in lines:
                print(f"- {_md(line)}")
        return
    from polaris.cli.tables import Col, Grid

    table = Grid(title, [Col("model", wrap=False), *(Col(TITLES[s], "right") for s in board.suites)], show_lines=True)
    for model, parts in grid:
        table.add_row(plain(model), *("\n".join(plain(x) for x in p) for p in parts))
    _print(table, notes, board.notes).print(f"store: {store}; run ids are the keys of its `runs` table (manifests)")


def _print(table: Any, notes: _Notes, extra: list[str]) -> Any:
    """A rich table on stdout, then its numbered footnotes and the board's notes, as plain text."""
    out = table.print(console(sys.stdout))
    for i, text in enumerate(notes.lines, 1):
        out.print(plain(f"[{i}] {text}"))
    for text in extra:
        out.print(plain(f"note: {text}"))
    return out


def _md(text: str) -> str:
    return plain(text).replace("|", "\\|").replace("\n", " ")


def _breakdown_rows(board: Any, suite: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(section, label, model -> Line or None) for every figure of the suite's breakdowns."""
    from polaris.analysis.breakdown import key_order
    from polaris.analysis.leaderboard import headline_of

    cells = {model: cells[suite] for model, cells in board.rows}
    splits = {m: c.split for m, c in cells.items()}
    rows: list[tuple[str, str, dict[str, Any]]] = []
    headline = headline_of(suite)  # the suite's definition (with a single BBH task, macro = micro)
    rows.append(("suite", f"headline ({headline})", {m: s.overall if s else None for m, s in splits.items()}))
    if headline != "micro":
        rows.append(("suite", "micro (all items)", {m: s.micro if s else None for m, s in splits.items()}))
    dims = [d for d in DIM_TITLES if any(s and d in s.by for s in splits.values())]
    for d in dims:
        if any(s and d in s.macro for s in splits.values()) and not (headline == "macro" and d == "task"):
            macro = {m: s.macro.get(d) if s else None for m, s in splits.items()}
            rows.append(("suite", f"macro over {DIM_TITLES[d]}", macro))
    for d in dims:
        keys = sorted({line.key for s in splits.values() if s for line in s.by.get(d, ())}, key=key_order)
        for k in keys:
            per = {m: next((x for x in s.by.get(d, ()) if x.key == k), None) if s else None for m, s in splits.items()}
            rows.append((d, f"Level {k}" if d == "level" else k, per))
    return rows


def _breakdown_out(board: Any, suite: str, fmt: str, store: Path) -> None:
    from polaris.analysis.leaderboard import MISSING, TITLES

    cells = {model: cells[suite] for model, cells in board.rows}
    if fmt == "json":
        doc = {"suite": suite, "prompt": board.prompt, "strategy": board.strategy, "notes": board.notes,
               "models": [{"model": m, "cell": c.as_dict(), "breakdown": c.split.as_dict() if c.split else None}
                          for m, c in cells.items()]}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    rows = _breakdown_rows(board, suite)
    models = list(cells)
    if fmt == "csv":
        w = csv.writer(sys.stdout, lineterminator="\n")
        w.writerow(["model", "suite", "status", "run_id", "section", "key", "n", "accuracy", "ci_low", "ci_high"])
        for section, label, per in rows:
            for m in models:
                line, c = per.get(m), cells[m]
                if line is not None:
                    w.writerow([m, suite, c.status, c.run_id, section, label, line.n, line.accuracy, line.low,
                                line.high])
        return
    notes = _Notes()
    heads = []
    for m in models:
        c = cells[m]
        if c.status == MISSING:
            heads.append(f"{m}\nmissing [{notes.add(f'{m}: {c.reason}')}]")
        elif c.status != "full":
            heads.append(f"{m}\npartial [{notes.add(f'{m}: {c.reason} (run {c.run_id})')}]")
        else:
            heads.append(f"{m}\nrun {c.run_id}")
        if c.imported:
            heads[-1] += f"\nimported [{notes.add(f'{m}: imported from {c.imported} files (run {c.run_id})')}]"
    title = f"{TITLES[suite]} · prompt {board.prompt} · {board.strategy} · accuracy % [95% CI] (items)"

    def text(line: Any) -> str:
        return "-" if line is None else f"{_ci(line.accuracy, (line.low, line.high))} (n={line.n})"

    if fmt == "markdown":
        print(f"**{title}** (store `{store}`)\n")
        print("| | " + " | ".join(_md(h) for h in heads) + " |")
        print("|---|" + "---|" * len(models))
        last = None
        for section, label, per in rows:
            if section != last and section != "suite":
                print(f"| **by {section}** |" + " |" * len(models))
            last = section
            print(f"| {_md(label)} | " + " | ".join(text(per.get(m)) for m in models) + " |")
        for i, t in enumerate(notes.lines, 1):
            print(f"\n[{i}] {_md(t)}")
        return
    from polaris.cli.tables import Col, Grid

    table = Grid(title, [Col(""), *(Col(plain(h), "right") for h in heads)])
    last = None
    for section, label, per in rows:
        if section != last:
            if last is not None:
                table.add_section()
            if section != "suite":
                table.add_row(f"by {section}", *([""] * len(models)))
        last = section
        table.add_row(plain(label), *(text(per.get(m)) for m in models))
    _print(table, notes, board.notes)


def _empty_board(runs: list[Any], path: Path, prompt: str, strategy: str) -> str:
    """Why the board is empty, and where the store's runs can be read instead (the demo's store holds
    only lab/add-3 runs: the leaderboard is not the place to look for them)."""
    from polaris.analysis.leaderboard import SUITES

    tasks = sorted({str(r.spec.get("task", "")) for r in runs} - {""})
    suites = {t.split("/")[0] for t in tasks} & set(SUITES)
    if suites:
        return (f"no runs of GSM8K, MATH, MMLU or BBH with prompt {prompt} and strategy {strategy} in {path}"
                " (--prompt/--strategy pick another; `polaris report` shows them all)")
    if not tasks:
        return f"no runs in {path}; run `polaris run --task cot-hub` first"
    shown = ", ".join(tasks[:4]) + (f" and {len(tasks) - 4} more" if len(tasks) > 4 else "")
    store = f" --store {path}" if path != Path("polaris.db") else ""
    return (f"no runs of GSM8K, MATH, MMLU or BBH in {path}, only of {shown}: the leaderboard is the"
            f" Chain-of-Thought Hub's; see `polaris samples{store}`, `polaris report{store}` or"
            f" `polaris view{store}`")


@app.command()
def leaderboard(
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    fmt: str = typer.Option("table", "--format", "-f", help="table | markdown | csv | json"),
    as_json: bool = typer.Option(False, "--json", help="Same as --format json"),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="The one prompt format the board shows (default:"
                                         " fewshot-cot, else the format most of the store's suite runs used)"),
    strategy: str = typer.Option("greedy", help="The one strategy the board shows (greedy, sc5@t0.7, ...)"),
    task: Optional[str] = typer.Option(None, "--task", "-t", help="gsm8k | math | mmlu | bbh: that suite's breakdown"),
    sort: Optional[str] = typer.Option(None, help="Order models by this suite's accuracy (default: by name)"),
) -> None:
    """The Chain-of-Thought Hub leaderboard: GSM8K, MATH, MMLU and BBH per model, from stored runs."""
    from polaris.analysis.leaderboard import SUITES, build, default_prompt, sort_rows
    from polaris.config import store_path
    from polaris.errors import PolarisError
    from polaris.store.store import Store
    from polaris.tasks.base import FORMATS as PROMPTS

    fmt = "json" if as_json else fmt
    if fmt not in FORMATS:
        raise PolarisError(f"unknown --format '{fmt}' (choose {', '.join(FORMATS)})")
    if prompt is not None and prompt not in PROMPTS:
        raise PolarisError(f"unknown --prompt '{prompt}' (choose {', '.join(PROMPTS)})")
    for name, value in (("--task", task), ("--sort", sort)):
        if value is not None and value not in SUITES:
            raise PolarisError(f"unknown {name} '{value}' (choose {', '.join(SUITES)})")
    path = store_path(store)
    db = Store(path, readonly=True)
    try:
        runs = db.runs()
        prompt = prompt or default_prompt(runs, strategy)
        board = build(runs, db.results, prompt=prompt, strategy=strategy)
    finally:
        db.close()
    if not board.rows and fmt == "table":
        warn(_empty_board(runs, path, prompt, strategy))
        return
    if not board.rows:
        warn(f"no runs of GSM8K, MATH, MMLU or BBH in {path}; run `polaris run --task cot-hub` first")
    if sort:
        sort_rows(board, sort)
    if task:
        _breakdown_out(board, task, fmt, path)
    else:
        _board_out(board, fmt, path)
