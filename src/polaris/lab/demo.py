"""`polaris demo`: the emergence lab end to end, offline, in well under two minutes on two cores.

1. Evaluate every model of the shipped ladder (`polaris lab models`) on the ladder's tasks, answering
   directly (`zeroshot-direct`) and with a scratchpad (`zeroshot-cot`): greedy, every test item,
   through the ordinary runner, so each request, response and scored item is in the store and a
   second run answers everything from it. The lab solver also scores the gold response's
   log-probability (`lab/solver.py`).
2. Run the scaling and emergence analysis on the stored cells (`analysis.study.scaling_study`) under
   exact match and the continuous metrics: per-digit accuracy, token edit distance, target log-prob.
3. Write the HTML report of the store (`polaris report`'s, opening with the findings) and `demo.json`
   (what `--json` prints).

The key numbers and the closing sentences are computed from this run's results (`demotext.py`).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.lab.demotext import findings, sentences
from polaris.lab.tasks import FORMATS  # the demo compares every lab format: direct vs scratchpad

METRICS = ("exact", "per-token", "edit", "logprob")
STORE_NAME = "polaris.db"
REPORT_DIR = "report"
Bar = Callable[[str, int], Callable[[int, int, int], None]]


@dataclass
class DemoRun:
    out: Path
    store: Path
    report: Path  # index.html
    report_sections: list[str]
    engine: str  # the lab engine that computed the answers: "numpy" or "torch"
    tasks: list[str]
    models: list[Any]  # polaris.lab.ladder.ModelInfo, smallest first
    studies: dict[str, Any]  # task -> ScalingStudy
    findings: dict[str, dict[str, Any]]  # task -> demotext.findings
    lines: list[str]  # what the demo found, in sentences
    summaries: list[dict[str, Any]]  # one per cell (the runner's summary)
    calls: int  # backend calls this run made (0 when everything was cached)
    cached: int  # responses served from the store
    seconds: dict[str, float] = field(default_factory=dict)  # evaluate / analyse / report / total


def demo_cells(models: Sequence[Any], tasks: Sequence[str]) -> list[Any]:
    """One cell per model x task x format, rendered as completion text (lab models are completion
    models; a chat prompt would be flattened to the same text)."""
    from polaris.runner.cell import CellSpec

    return [CellSpec(model=m.name, task=t, prompt=f, api="completions") for t in tasks for f in FORMATS
            for m in models]


def one_bar(bar: Bar, description: str, total: int) -> Bar:
    """A bar factory for cells run one after another that draws all of them as one bar."""
    update = bar(description, total)
    base = [0, 0, 0]  # items, errors and requests sent of the cells already finished
    last = [0, 0, 0]  # of the cell running now

    def per_cell(_description: str, _n: int) -> Callable[[int, int, int], None]:
        base[:] = [b + n for b, n in zip(base, last)]
        last[:] = [0, 0, 0]

        def on_progress(done: int, _total: int, errors: int) -> None:
            last[0], last[1] = done, errors
            update(base[0] + done, total, base[1] + errors)

        def sent(calls: int) -> None:  # the bar's rate counts only work sent (a cached re-run has none)
            last[2] = calls
            if getattr(update, "sent", None) is not None:
                update.sent(base[2] + calls)

        on_progress.sent = sent  # type: ignore[attr-defined]
        if getattr(update, "status", None) is not None:
            on_progress.status = update.status  # type: ignore[attr-defined]
        return on_progress

    return per_cell


async def evaluate(cells: Sequence[Any], store: Any, *, bar: Bar | None = None) -> list[tuple[dict[str, Any], Any]]:
    """Run prepared cells with one progress bar over all of them: (summary, call stats) per cell. The
    local executor runs one cell at a time (each a batch per decoding step of up to 512 items): two
    models decoding in two threads were slower than one after the other (the decoding loop holds the
    GIL between small array operations)."""
    from polaris.models.registry import BackendOptions
    from polaris.runner.executors import LocalExecutor

    total = sum(len(c.items) for c in cells)
    async with LocalExecutor(BackendOptions(api="completions")) as executor:
        runs = await executor.run(cells, store, bar=one_bar(bar, "evaluating the ladder", total) if bar else None)
    return [(run.summary, run.stats) for run in runs]  # not the item rows: the analysis reads the store


def check_failed(runs: Sequence[tuple[dict[str, Any], Any]], command: str) -> None:
    """Stop with one line if items failed (they are stored as errors and asked again next time)."""
    failed = sum(summary["errors"] for summary, _ in runs)
    if failed:
        from polaris.cli.display import plural

        raise PolarisError(f"{plural(failed, 'item')} failed; {'they are' if failed != 1 else 'it is'}"
                           f" stored as errors and asked again by the next `{command}`")


@dataclass
class Evaluated:
    store_path: Path
    db: Any  # the open Store, for the analysis
    runs: list[tuple[dict[str, Any], Any]]  # (summary, call stats) per cell
    at: float  # perf_counter when evaluation ended


@contextmanager
def evaluated_store(out: Path, store: Path | None, cells: Sequence[Any], *, show_progress: bool,
                    command: str) -> Iterator[Evaluated]:
    """Evaluate the cells into the demo's store (`out/polaris.db` unless given) and hand the open store
    to the analysis; it is closed after it."""
    from polaris.cli.display import progress
    from polaris.store.store import Store

    out.mkdir(parents=True, exist_ok=True)
    store_path = store if store is not None else out / STORE_NAME
    db = Store(store_path)
    try:
        with progress(show_progress) as bar:
            runs = asyncio.run(evaluate(cells, db, bar=bar))
        evaluated = time.perf_counter()
        check_failed(runs, command)
        yield Evaluated(store_path, db, runs, evaluated)
    finally:
        db.close()


def run_demo(out: Path, store: Path | None = None, *, show_progress: bool = True) -> DemoRun:
    from polaris.analysis.study import scaling_study
    from polaris.lab.engine import engine_name
    from polaris.lab.ladder import SHIPPED, list_models, read_index
    from polaris.runner.runner import prepare

    if out.exists() and not out.is_dir():
        raise PolarisError(f"--out {out} is a file; give a directory")
    started = time.perf_counter()

    def say(text: str) -> None:
        if show_progress:
            print(text, file=sys.stderr, flush=True)

    models = list_models()
    tasks = list(read_index(SHIPPED).get("tasks") or ["lab/add-3"])
    cells = [prepare(spec) for spec in demo_cells(models, tasks)]
    with evaluated_store(out, store, cells, show_progress=show_progress, command="polaris demo") as ev:
        store_path, db, runs, evaluated = ev.store_path, ev.db, ev.runs, ev.at
        say("analysing: fits, held-out extrapolation, verdicts, metric sensitivity")
        # Only the demo's own cells (a shared store may also hold `polaris demo compute`'s budgeted ones).
        strategy = cells[0].spec.strategy
        studies = {t: scaling_study(db, t, metrics=METRICS, strategy=strategy) for t in tasks}
    found = {t: findings(studies[t], models) for t in tasks}
    first = {}
    for c in cells:
        first.setdefault(c.spec.task, c)
    lines = [line for t in tasks for line in
             sentences(found[t], _description(first[t].task), len(models), len(first[t].items))]
    analysed = time.perf_counter()
    say(f"writing the report to {out / REPORT_DIR}")
    report, report_sections = write_report(store_path, out / REPORT_DIR, lines, _for_report(studies, models))
    done = time.perf_counter()
    return DemoRun(
        out=out, store=store_path, report=report, report_sections=report_sections, engine=engine_name(),
        tasks=tasks, models=models, studies=studies, findings=found, lines=lines,
        summaries=[summary for summary, _ in runs], calls=sum(stats.calls for _, stats in runs),
        cached=sum(stats.cached for _, stats in runs),
        seconds={"evaluate": evaluated - started, "analyse": analysed - evaluated, "report": done - analysed,
                 "total": done - started},
    )


def _description(task: Any) -> str:
    """"Lab: 3-digit addition (synthetic)" -> "3-digit addition"."""
    text = task.description.removeprefix("Lab: ").removesuffix(" (synthetic)")
    return text[:1].upper() + text[1:]


def _for_report(studies: dict[str, Any], models: Sequence[Any]) -> dict[tuple[str, str], Any]:
    """The demo's studies as the report would compute them, by (task, family), so it does not run them again.

    The report studies each family alone (`family=`) under the default metrics; the demo's study (every
    family, METRICS) is that study when all its curves are the ladder's family (models without metadata
    raise, so nothing was left out) and the defaults left out of METRICS, prob and brier, score options
    of multiple-choice log-likelihood runs, which lab cells never carry (the lab solver scores the
    target's log-prob). Only the family filter then differs."""
    from dataclasses import replace

    family = models[0].family
    return {(t, family): replace(s, filters={**s.filters, "family": family}) for t, s in studies.items()
            if all(c.family == family for c in s.curves)}


def write_report(store: Path, out: Path, lines: list[str],
                 studies: dict[tuple[str, str], Any] | None = None) -> tuple[Path, list[str]]:
    """`polaris report`'s page of the store, opening with the demo's findings: (index.html, section titles).
    `studies`: the demo's scaling studies by (task, family), which the report then uses as they are."""
    from polaris.report.build import TITLES, build_report

    rep = build_report(store, out, title="Polaris demo: emergence in the lab's tiny transformers", summary=lines,
                       studies=studies)
    return Path(rep.index), [TITLES.get(k, k) for k in rep.sections]


def document(run: DemoRun) -> dict[str, Any]:
    """The `--json` document (also written to OUT/demo.json)."""
    return {
        "report": str(run.report.resolve()),
        "report_sections": run.report_sections,
        "engine": run.engine,
        "store": str(run.store),
        "out": str(run.out),
        "summary": run.lines,
        "tasks": run.tasks,
        "formats": list(FORMATS),
        "metrics": list(METRICS),
        "models": [{"name": m.name, "size": m.size, "seed": m.seed, "params": m.params} for m in run.models],
        "cells": len(run.summaries),
        "items": {s["run_id"]: s["n"] for s in run.summaries},
        "calls": run.calls,
        "cached": run.cached,
        "seconds": {k: round(v, 2) for k, v in run.seconds.items()},
        "results": run.findings,
    }
