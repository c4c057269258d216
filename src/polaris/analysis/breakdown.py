"""Suite breakdowns: accuracy with a 95% CI per MATH level and subject, BBH task, MMLU subject and
category, and the suite's headline figure with clustered error bars.

Questions of one MMLU subject or one BBH task share their difficulty, so they are not independent
draws: a suite's intervals are Miller's clustered ones (`analysis.stats.mean_ci(..., clusters=)`),
the clusters being the items' groups (`Item.group`: MATH subject, BBH task, MMLU subject).

- micro (MMLU's and MATH's headline): the mean over items, clustered by group;
- macro (BBH's headline, the mean over tasks as the Chain-of-Thought Hub reports it; also MMLU's
  mean over subjects and over the four categories): the mean of the per-key accuracies. Its interval
  treats the keys as fixed and the items as sampled, SE² = Σ_g SE_g² / G² (`analysis.stats.macro_ci`):
  a BBH score is a statement about these 27 tasks, not about a population of tasks. The other
  estimand (tasks sampled: the interval of a mean of G key means) is given beside the headline as
  `tasks_sampled`, and `macro="tasks"` makes it the interval shown;
- one line per key (level 3, "STEM", "navigate"): the items with that key, clustered by group when
  the key spans several groups (a MATH level, an MMLU category), else a plain Wilson interval.

Keys come from the item metadata the runner stores with each result (`data["meta"]`); results
stored without it fall back to the group (and, for MMLU, the category of the subject).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

from polaris.analysis.stats import macro_ci, mean_ci
from polaris.store.store import ResultRow

# Breakdown dimensions, in display order, and those that also get a macro average.
DIMENSIONS = ("level", "subject", "category", "task")
MACRO = ("subject", "category", "task")
ESTIMANDS = {"items": "tasks fixed, items sampled", "tasks": "tasks sampled"}
# What a group is called when results carry no metadata (older stores).
GROUP_NAME = {"math": "subject", "math500": "subject", "mmlu": "subject", "bbh": "task"}


@dataclass(frozen=True, slots=True)
class Line:
    """One figure: accuracy over n scored items with its 95% interval."""

    key: str
    n: int
    accuracy: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy, "ci95": [self.low, self.high]}


@dataclass(frozen=True)
class Breakdown:
    headline: str  # "micro" | "macro": which of the two is the suite's figure
    overall: Line  # the headline figure
    micro: Line
    macro: dict[str, Line] = field(default_factory=dict)  # dimension -> mean over its keys
    by: dict[str, list[Line]] = field(default_factory=dict)  # dimension -> one line per key
    estimand: str = "items"  # a macro headline's interval: keys fixed, items sampled (or "tasks")
    tasks_sampled: Line | None = None  # a macro headline under the other estimand (keys sampled)

    def as_dict(self) -> dict[str, Any]:
        out = {
            "headline": self.headline,
            "micro": self.micro.as_dict(),
            "macro": {d: line.as_dict() for d, line in self.macro.items()},
            "by": {d: {line.key: line.as_dict() for line in lines} for d, lines in self.by.items()},
        }
        if self.headline == "macro":
            out["estimand"] = ESTIMANDS[self.estimand]
            if self.tasks_sampled is not None:
                out["tasks_sampled"] = self.tasks_sampled.as_dict()
        return out


def _line(key: str, scores: Sequence[float], groups: Sequence[Hashable]) -> Line:
    clustered = len(set(groups)) > 1
    est = mean_ci(scores, clusters=groups if clustered else None)
    return Line(key, len(scores), est.mean, est.low, est.high)


def macro_line(key: str, scores: Sequence[float], keys: Sequence[Hashable], *, estimand: str = "items",
               groups: Sequence[Hashable] | None = None) -> Line:
    """Mean over keys of the per-key mean score, with its interval under `estimand` ("items": keys
    fixed, items sampled; "tasks": keys sampled); `groups` cluster the items within a key."""
    if len(set(keys)) < 2:
        return _line(key, scores, groups if groups is not None else keys)
    est = macro_ci(scores, keys, estimand=estimand, clusters=groups)
    return Line(key, len(scores), est.mean, est.low, est.high)


def key_order(key: str) -> tuple[int, float, str]:
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


def row_meta(row: ResultRow, task: str = "") -> dict[str, Any]:
    """The breakdown keys of a result: stored item metadata, else what the group implies."""
    meta = dict(row.data.get("meta") or {})
    family = task.split("/", 1)[0]
    if not meta and row.group:
        meta[GROUP_NAME.get(family, "group")] = row.group
    if family == "mmlu" and "category" not in meta:
        from polaris.tasks.mmlu_subjects import CATEGORY

        if row.group in CATEGORY:
            meta["category"] = CATEGORY[row.group]
    return meta


def breakdown(rows: Sequence[ResultRow], *, headline: str = "micro", task: str = "",
              macro: str = "items") -> Breakdown | None:
    """Headline, micro and macro figures and per-key lines of the scored (error-free) results.

    `task` (the task name) only matters for results stored without item metadata; `macro` is the
    estimand of macro intervals ("items": keys fixed, the default; "tasks": keys sampled). None
    when no result is scored.
    """
    scored = [r for r in rows if r.error is None]
    if not scored:
        return None
    scores = [r.correct or 0.0 for r in scored]
    groups = [r.group for r in scored]
    metas = [row_meta(r, task) for r in scored]
    by: dict[str, list[Line]] = {}
    macros: dict[str, Line] = {}
    for dim in DIMENSIONS:
        keys = [m.get(dim) for m in metas]
        if any(k is None for k in keys):
            continue  # a dimension is shown only when every item has it
        keys = [str(k) for k in keys]
        idx: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            idx.setdefault(k, []).append(i)
        by[dim] = [
            _line(k, [scores[i] for i in idx[k]], [groups[i] for i in idx[k]]) for k in sorted(idx, key=key_order)
        ]
        if dim in MACRO and len(idx) > 1:
            macros[dim] = macro_line(f"macro:{dim}", scores, keys, estimand=macro, groups=groups)
    micro = _line("micro", scores, groups)
    overall, other = micro, None
    if headline == "macro" and len(set(groups)) > 1:
        overall = macro_line("macro", scores, groups, estimand=macro)
        other = macro_line("macro", scores, groups, estimand="tasks")
    return Breakdown(headline if overall is not micro else "micro", overall, micro, macros, by, macro, other)

