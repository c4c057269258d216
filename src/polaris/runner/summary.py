"""Item results -> the numbers a user reads: accuracy with a 95% CI, strict accuracy, extraction.

Errors are not wrong answers: accuracy is over the items that were answered, and the error count
is reported beside it (those items are asked again on the next run). Beside accuracy sit the outcome
counts (`scoring/outcome.py`) and the truncated and no-answer rates, so a budget problem is visible at
a glance. Strict accuracy is aggregated like the headline (a macro mean over groups for BBH), so the
strict/flexible gap compares like with like.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from polaris.analysis.baseline import chance_summary
from polaris.runner.curves import sampling_of
from polaris.runner.tally import CellTally
from polaris.scoring import outcome
from polaris.store.store import ResultRow

Z95 = 1.959963984540054


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (sound near 0 and 1, where emergence lives)."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summarize(rows: Iterable[ResultRow], *, headline: str = "micro") -> dict[str, Any]:
    """The summary of item results in dataset order: a list, or `Store.iter_results` read one row at a
    time (each row is reduced to its compact record, runner/tally.py, as it is read)."""
    return summarize_tally(CellTally.of(rows), headline=headline)


def summarize_tally(cell: CellTally, *, headline: str = "micro") -> dict[str, Any]:
    """`summarize` from a cell's tally (what the runner builds chunk by chunk as it judges)."""
    rows = cell.rows
    scored = [r for r in rows if r.error is None]
    correct = [r.correct or 0.0 for r in scored]
    strict = [r.strict or 0.0 for r in scored]
    groups: dict[str, list[float]] = {}
    strict_groups: dict[str, list[float]] = {}
    for r in scored:
        groups.setdefault(r.group, []).append(r.correct or 0.0)
        strict_groups.setdefault(r.group, []).append(r.strict or 0.0)
    acc = _mean(correct)
    strict_acc = _mean(strict)
    if headline == "macro" and len(groups) > 1:  # the same aggregation as the headline accuracy
        strict_acc = _mean([sum(v) / len(v) for v in strict_groups.values()])
    # Single-group tasks keep this stdlib Wilson interval (what analysis.stats.mean_ci gives without
    # clusters) so that a GSM8K run does not import numpy; suites get clustered intervals and breakdowns.
    ci = wilson(sum(correct), len(correct))
    split = None
    if len(groups) > 1:
        from polaris.analysis.breakdown import breakdown

        split = breakdown(scored, headline=headline)
        acc, ci = split.overall.accuracy, (split.overall.low, split.overall.high)  # type: ignore[union-attr]
    elif cell.samples_per_item() > 1:
        # K samples: item scores are votes with fractional tie credit; the CI is over item means
        # (Miller 2024), the same interval maj@K gets in `curves.sampling_of`.
        from polaris.analysis.stats import mean_ci

        est = mean_ci(correct, samples_per_item=cell.samples_per_item()) if correct else None
        ci = (est.low, est.high) if est else (0.0, 1.0)
    disagree = sum(1 for r in scored if r.answer != r.data.get("strict_answer"))
    unterminated = sum(t.unterminated for t in cell.scored())
    tally = outcome.counts(rows)
    out = {
        "n": len(rows),
        "scored": len(scored),
        "accuracy": acc,
        "ci95": list(ci) if scored else None,
        "strict_accuracy": strict_acc,
        "extracted": _mean([1.0 if r.extracted else 0.0 for r in scored]),
        "disagree": disagree,
        "errors": len(rows) - len(scored),
        "unterminated_thinking": unterminated,
        "outcomes": tally,
        **outcome.rates(tally),
        "headline": headline if len(groups) > 1 else "micro",
        "groups": {g: {"n": len(v), "accuracy": sum(v) / len(v)} for g, v in sorted(groups.items())} if len(groups) > 1 else {},
        "breakdown": split.as_dict() if split else {},
    }
    # Self-consistency curves (maj@k, pass@k for k <= K) and token totals: runner/curves.py.
    out.update(sampling_of(cell.items, out["headline"]))
    out["tokens"] = cell.token_totals()
    out.update(chance_summary(scored, out["headline"]))  # baseline, normalised, above_chance
    return out
