"""The Chain-of-Thought Hub leaderboard: one row per model, one cell per suite (GSM8K, MATH, MMLU,
BBH), built from stored runs. Pure: runs and their item results in, table data out.

Comparability rules (docs/leaderboard.md):
- A board shows one prompt format and one strategy (greedy by default); a run with another format
  or strategy never fills a cell, it only explains why the cell is missing.
- A cell is *full* when its run is the whole suite task (`mmlu`, not `mmlu/anatomy` or `math500`)
  with every item of the dataset scored and none failed. Anything else that matches (a `--limit`
  run, a subset task, items that failed) is shown as *partial*, with the reason.
- When several runs qualify (e.g. two runs that differ in max tokens or system prompt), the most
  complete one is shown and the others are named in the notes.
- Every cell carries its run id: `runs.manifest` in the store says how it was made.

Accuracy and CI are computed from the stored item results the same way `polaris run` summarises
them (runner.summary: clustered intervals and the macro headline for BBH), over every item stored
for the run, whichever invocations produced them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from polaris.analysis.breakdown import Breakdown, breakdown
from polaris.errors import PolarisError
from polaris.importers.provenance import imported_from
from polaris.runner.summary import summarize
from polaris.store.store import ResultRow, RunRow

SUITES = ("gsm8k", "math", "mmlu", "bbh")
TITLES = {"gsm8k": "GSM8K", "math": "MATH", "mmlu": "MMLU", "bbh": "BBH"}
FULL = "full"
PARTIAL = "partial"
MISSING = "missing"


def suite_of(task: str) -> str | None:
    """The leaderboard column a task belongs to: `math500` -> math, `bbh/navigate` -> bbh."""
    if task == "math500":
        return "math"
    family = task.split("/", 1)[0]
    return family if family in SUITES else None


def default_prompt(runs: Sequence[RunRow], strategy: str = "greedy", preferred: str = "fewshot-cot") -> str:
    """The prompt format a board shows when none is asked for: CoT Hub's few-shot CoT when the store
    has suite runs of it, else the format most of its suite runs used (a store of zero-shot or imported
    runs shows them rather than a board of empty cells)."""
    counts: dict[str, int] = {}
    for run in runs:
        prompt = run.manifest.get("prompt", run.spec.get("prompt"))
        if suite_of(str(run.spec.get("task", ""))) and run.manifest.get("strategy") == strategy and prompt:
            counts[str(prompt)] = counts.get(str(prompt), 0) + 1
    if not counts or preferred in counts:
        return preferred
    return max(sorted(counts), key=lambda p: counts[p])


def suite_size(suite: str) -> int | None:
    """The whole suite's item count, known without reading data."""
    from polaris.tasks.registry import get_task

    try:
        return get_task(suite).dataset.size
    except (PolarisError, ImportError):  # a task that cannot be built says nothing about sizes
        return None


def headline_of(task: str) -> str:
    from polaris.tasks.registry import get_task

    try:
        return get_task(task).headline
    except (PolarisError, ImportError):
        return "micro"


@dataclass
class Cell:
    suite: str
    status: str  # full | partial | missing
    reason: str = ""  # why a cell is partial or missing
    model: str = ""
    task: str | None = None
    prompt: str | None = None
    strategy: str | None = None
    run_id: str | None = None
    label: str | None = None
    n: int = 0  # items scored
    size: int | None = None  # items in the whole suite
    errors: int = 0
    accuracy: float | None = None
    ci95: tuple[float, float] | None = None
    strict_accuracy: float | None = None
    extracted: float | None = None
    disagree: int | None = None
    headline: str = "micro"
    split: Breakdown | None = field(default=None, repr=False)
    # Where the run's results came from ({"endpoint", "items"}, from its record): more than one is a note.
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    imported: str | None = None  # the source format of an imported run (`polaris import`); None: Polaris ran it

    def as_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("suite", "status", "reason", "task", "prompt", "strategy", "run_id",
                                            "label", "n", "size", "errors", "accuracy", "strict_accuracy",
                                            "extracted", "disagree", "headline", "endpoints", "imported")}
        d["ci95"] = list(self.ci95) if self.ci95 else None
        return d


@dataclass
class Board:
    prompt: str
    strategy: str
    suites: tuple[str, ...]
    rows: list[tuple[str, dict[str, Cell]]]  # (model, suite -> cell)
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "strategy": self.strategy,
            "suites": list(self.suites),
            "rows": [{"model": m, "cells": {s: c.as_dict() for s, c in cells.items()}} for m, cells in self.rows],
            "notes": self.notes,
        }


def _fill(cell: Cell, run: RunRow, rows: Sequence[ResultRow]) -> None:
    task = run.spec["task"]
    headline = headline_of(task)
    s = summarize(rows, headline=headline)
    cell.task, cell.run_id, cell.label = task, run.id, run.label
    cell.prompt, cell.strategy = run.manifest.get("prompt"), run.manifest.get("strategy")
    cell.n, cell.errors = s["scored"], s["errors"]
    cell.accuracy = s["accuracy"]
    cell.ci95 = tuple(s["ci95"]) if s["ci95"] else None  # type: ignore[assignment]
    cell.strict_accuracy, cell.extracted, cell.disagree = s["strict_accuracy"], s["extracted"], s["disagree"]
    cell.headline = s["headline"]
    cell.split = breakdown(rows, headline=headline, task=task)
    cell.endpoints = list(run.manifest.get("endpoints") or [])
    cell.imported = (imported_from(run.manifest) or {}).get("format")
    reasons = []
    if task != cell.suite:
        reasons.append(f"subset task {task}")
    if cell.size is not None and cell.n < cell.size:
        reasons.append(f"{cell.n} of {cell.size} items scored")
    if cell.errors:
        reasons.append(f"{cell.errors} item{'' if cell.errors == 1 else 's'} failed and {'is' if cell.errors == 1 else 'are'} not scored")
    if earlier_prompt(run) is not None:
        reasons.append(f"stored under an earlier default prompt (now {earlier_prompt(run)}): run it again")
    cell.status = PARTIAL if reasons or cell.size is None else FULL
    cell.reason = "; ".join(reasons) if reasons else ("suite size unknown" if cell.size is None else "")


def earlier_prompt(run: RunRow) -> str | None:
    """The tag of the default prompt a run should have shown, when it was stored under an earlier
    default (its manifest does not name that tag): GSM8K cells from before Wei et al.'s prompt."""
    from polaris.runner.cell import CellSpec

    try:
        tag = CellSpec.from_dict(run.spec).prompt_tag()
    except Exception:  # a spec from another tool (imported runs): nothing to say
        return None
    shown = (run.manifest.get("exemplars") or {}).get("tag")
    return tag if tag is not None and shown != tag else None


def _rank(run: RunRow, suite: str, n: int) -> tuple[int, int, int, float]:
    return (int(run.spec["task"] == suite), int(earlier_prompt(run) is None), n, run.updated)


def build(
    runs: Sequence[RunRow],
    results: Callable[[str], Sequence[ResultRow]],
    *,
    prompt: str = "fewshot-cot",
    strategy: str = "greedy",
    suites: Sequence[str] = SUITES,
    sizes: dict[str, int | None] | None = None,
) -> Board:
    """The board for one prompt format and strategy. `results(run_id)` gives a run's stored item
    results; it is asked only for runs that can fill a cell."""
    sizes = sizes if sizes is not None else {s: suite_size(s) for s in suites}
    by_model: dict[str, dict[str, list[RunRow]]] = {}
    for run in runs:
        suite = suite_of(run.spec.get("task", ""))
        if suite in suites:
            by_model.setdefault(run.spec["model"], {}).setdefault(suite, []).append(run)  # type: ignore[arg-type]
    notes: list[str] = []
    rows = []
    for model in sorted(by_model):
        cells = {}
        for suite in suites:
            cell = Cell(suite, MISSING, model=model, size=sizes.get(suite), prompt=prompt, strategy=strategy)
            cells[suite] = cell
            theirs = by_model[model].get(suite, [])
            fit = [r for r in theirs if r.manifest.get("prompt") == prompt and r.manifest.get("strategy") == strategy]
            if not fit:
                others = sorted({f"{r.manifest.get('prompt')}/{r.manifest.get('strategy')}" for r in theirs})
                cell.reason = f"only runs with other settings: {', '.join(others)}" if others else "not run"
                continue
            loaded = {r.id: results(r.id) for r in fit}
            counts = {rid: sum(1 for x in rows_ if x.error is None) for rid, rows_ in loaded.items()}
            fit.sort(key=lambda r: _rank(r, suite, counts[r.id]), reverse=True)
            best = fit[0]
            if not loaded[best.id]:
                cell.reason = f"run {best.id} has no stored results"
                continue
            _fill(cell, best, loaded[best.id])
            rivals = [r for r in fit[1:] if r.spec["task"] == best.spec["task"]]
            if rivals:  # same task, prompt and strategy, other settings (max tokens, system prompt, ...)
                notes.append(f"{model} {TITLES.get(suite, suite)}: {len(rivals) + 1} runs of {best.spec['task']} "
                             f"match; showing {best.id} ({best.label}); not shown: {', '.join(r.id for r in rivals)}")
        rows.append((model, cells))
    return Board(prompt, strategy, tuple(suites), rows, notes)


def sort_rows(board: Board, suite: str) -> None:
    """Order models by one suite: full cells by accuracy, then partial ones, then missing ones."""
    order = {FULL: 0, PARTIAL: 1, MISSING: 2}

    def key(row: tuple[str, dict[str, Cell]]) -> tuple[int, float, str]:
        c = row[1][suite]
        return (order[c.status], -(c.accuracy or 0.0), row[0])

    board.rows.sort(key=key)
