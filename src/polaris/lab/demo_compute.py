"""`polaris demo compute`: accuracy against thinking tokens for each size of the shipped ladder, offline.

The lab models think on a scratchpad (one carry step per line, the last line holding the sum). The
demo gives every model of the ladder these cells on `lab/add-3`, greedy, all test items:

- answering directly (`zeroshot-direct`): no thinking at all;
- the full scratchpad (`zeroshot-cot`): thinking as long as the model likes;
- a thinking budget of 0, 12 and 24 tokens (`zeroshot-cot` with `thinking_budget`): the scratchpad is
  cut there and "Answer:" written for the model, which then answers (budget forcing, lab/decode.py);
- a response limit of 24 tokens (`max_tokens`): the scratchpad is cut and nothing forces an answer.

The direct and full-scratchpad cells are `polaris demo`'s own, so with the same `--out` they come
from its store. The compute study (`analysis/compute.py`) pools each size's seeds and puts every cell
on one axis, reasoning (scratchpad) tokens per item, with its truncation and budget-forced rates; the
report (`DIR/compute-report/`) opens with sentences computed from this run's numbers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError

BUDGETS = (0, 12, 24)  # thinking tokens (scratchpad characters) before the answer is forced
CUT = 24  # the response limit of the truncated cells (no forcing)
REPORT_DIR = "compute-report"
TASK = "lab/add-3"


EXPLAIN = (
    "How to read it: one curve per model size (its three seeds pooled), thinking tokens per item on the x axis "
    "(the scratchpad's characters: the lab's tokenizer is one token per character). The point at 0 with the "
    "best accuracy is answering directly; the others at 0, 12 and 24 are the scratchpad cut there and the "
    "answer forced (budget-forced 100%); the rightmost is the whole scratchpad. The max-tokens cells stop the "
    "response at 24 tokens without forcing anything: their samples are truncated, with no answer to score.",
)


@dataclass
class ComputeDemo:
    out: Path
    store: Path
    report: Path
    study: Any  # analysis.compute.ComputeStudy, pooled by size, reasoning-token axis
    lines: list[str]
    calls: int
    cached: int
    cells: int
    seconds: dict[str, float] = field(default_factory=dict)


def compute_cells(models: Sequence[Any]) -> list[Any]:
    from polaris.runner.cell import CellSpec

    out = []
    for m in models:
        base = CellSpec(model=m.name, task=TASK, prompt="zeroshot-cot", api="completions")
        out += [CellSpec(model=m.name, task=TASK, prompt="zeroshot-direct", api="completions"), base]
        out += [CellSpec(model=m.name, task=TASK, prompt="zeroshot-cot", api="completions", thinking_budget=b)
                for b in BUDGETS]
        out.append(CellSpec(model=m.name, task=TASK, prompt="zeroshot-cot", api="completions", max_tokens=CUT))
    return out


def run_compute_demo(out: Path, store: Path | None = None, *, show_progress: bool = True,
                     only: Sequence[str] = ()) -> ComputeDemo:
    """Run the cells (`only`: these ladder models, default all), the study and the report."""
    import sys

    from polaris.analysis.compute_store import size_group, store_study
    from polaris.lab.demo import evaluated_store
    from polaris.lab.ladder import list_models
    from polaris.report.build import build_report
    from polaris.runner.runner import prepare

    if out.exists() and not out.is_dir():
        raise PolarisError(f"--out {out} is a file; give a directory")
    started = time.perf_counter()
    models = list_models()
    if only:
        names = {m.name for m in models}
        unknown = [m for m in only if m not in names]
        if unknown:
            raise PolarisError(f"--model {unknown[0]}: not a model of the shipped ladder (see `polaris lab models`)")
        models = [m for m in models if m.name in only]
    cells = [prepare(spec) for spec in compute_cells(models)]
    with evaluated_store(out, store, cells, show_progress=show_progress, command="polaris demo compute") as ev:
        store_path, db, runs, evaluated = ev.store_path, ev.db, ev.runs, ev.at
        ids = {c.spec.run_id for c in cells}
        study = store_study(db, _cells(db, ids), group_of=size_group(), axis="reasoning")
    lines = sentences(study, len(models), len(cells[0].items))
    analysed = time.perf_counter()
    if show_progress:
        print(f"writing the report to {out / REPORT_DIR}", file=sys.stderr, flush=True)
    rep = build_report(store_path, out / REPORT_DIR, title="Polaris demo: accuracy against thinking tokens in the "
                       "lab's tiny transformers", summary=lines, compute=study, compute_text=EXPLAIN,
                       omit=("scaling", "contrasts"))
    done = time.perf_counter()
    return ComputeDemo(out=out, store=store_path, report=Path(rep.index), study=study, lines=lines,
                       calls=sum(stats.calls for _, stats in runs), cached=sum(stats.cached for _, stats in runs),
                       cells=len(cells), seconds={"evaluate": evaluated - started, "analyse": analysed - evaluated,
                                                  "report": done - analysed, "total": done - started})


def _cells(db: Any, ids: set[str]) -> list[Any]:
    """This demo's cells as the compute study reads them (a store may hold other runs too)."""
    from polaris.analysis.compute_store import _Cell
    from polaris.runner.summary import summarize

    out = []
    for run in db.runs():
        if run.id in ids:
            rows = db.results(run.id)
            out.append(_Cell(run, rows, summarize(rows)))
    return out


# -- what it found, in sentences computed from the study -------------------------------------------


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _by(points: Sequence[Any]) -> dict[str, Any]:
    """A curve's points by what they are: direct, full, think:N, max:N."""
    out = {}
    for p in points:
        if p.prompt == "zeroshot-direct":
            out["direct"] = p
        elif p.thinking_budget is not None:
            out[f"think:{p.thinking_budget}"] = p
        elif "+max:" in p.setting:
            out["cut"] = p
        else:
            out["full"] = p
    return out


def findings(study: Any) -> list[dict[str, Any]]:
    """Per size: exact match (with reasoning tokens, truncation, forcing) of each cell kind."""
    rows = []
    for (_, group), points in study.curves.items():
        by = _by(points)
        rows.append({"size": group, **{k: {"accuracy": p.accuracy, "low": p.low, "high": p.high,
                                           "reasoning": p.reasoning, "truncated": p.truncation, "forced": p.forced}
                                       for k, p in by.items()}})
    return rows


def sentences(study: Any, n_models: int, n_items: int) -> list[str]:
    rows = findings(study)
    if not rows:
        return ["No compute points were stored."]
    sizes = len(rows)
    intro = (f"3-digit addition ({TASK}): the {n_models} models of the shipped ladder ({sizes} sizes, seeds pooled), "
             f"{n_items} test items, greedy, each answering directly, with its whole scratchpad, with the scratchpad "
             f"cut at {', '.join(map(str, BUDGETS))} thinking tokens and the answer forced, and with the response "
             f"cut at {CUT} tokens and no answer forced.")
    big = rows[-1]
    out = [intro]
    if "full" in big and f"think:{BUDGETS[-1]}" in big:
        full, part = big["full"], big[f"think:{BUDGETS[-1]}"]
        zero = big.get("think:0")
        text = (f"At the largest size ({big['size']}) the whole scratchpad ({full['reasoning']:.0f} thinking tokens per "
                f"item) gives {_pct(full['accuracy'])} exact match; cut at {BUDGETS[-1]} tokens and made to answer, "
                f"{_pct(part['accuracy'])}")
        if zero is not None:
            text += f"; made to answer before thinking at all, {_pct(zero['accuracy'])}"
        if "direct" in big:
            text += f", while the same model asked to answer directly gets {_pct(big['direct']['accuracy'])}"
        out.append(text + ".")
    partial = [r[f"think:{BUDGETS[-1]}"]["accuracy"] for r in rows if f"think:{BUDGETS[-1]}" in r]
    fulls = [(r["full"]["accuracy"], r["size"]) for r in rows if "full" in r]
    if partial and fulls:
        best, where = max(fulls)
        out.append(f"Accuracy against thinking tokens is a step, not a slope: with {BUDGETS[-1]} tokens of "
                   f"scratchpad no size gets above {_pct(max(partial))}, and the whole scratchpad takes them up to "
                   f"{_pct(best)} ({where}). The scratchpad writes the sum digit by digit from the right and only "
                   f"its last line holds every digit, so a cut one leaves the model guessing the leading digits.")
    cut = [r["cut"] for r in rows if "cut" in r]
    forced = [r[f"think:{BUDGETS[-1]}"] for r in rows if f"think:{BUDGETS[-1]}" in r]
    if cut and forced:
        lo, hi = min(c["truncated"] for c in cut), max(c["truncated"] for c in cut)
        out.append(f"Cutting the response at {CUT} tokens without forcing an answer leaves "
                   f"{_pct(lo) if lo == hi else _pct(lo) + ' to ' + _pct(hi)} of samples "
                   f"truncated (no answer at all), while the forced cells at {BUDGETS[-1]} thinking tokens have "
                   f"{_pct(max(f['truncated'] for f in forced))} truncated and wrong answers instead: both look like "
                   "collapse in accuracy, and the truncation rate beside each point tells them apart.")
    return out


def document(run: ComputeDemo) -> dict[str, Any]:
    return {"report": str(run.report.resolve()), "store": str(run.store), "out": str(run.out), "summary": run.lines,
            "task": TASK, "budgets": list(BUDGETS), "cut": CUT, "cells": run.cells, "calls": run.calls,
            "cached": run.cached, "seconds": {k: round(v, 2) for k, v in run.seconds.items()},
            "findings": findings(run.study), "study": run.study.to_dict()}
