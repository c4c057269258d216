"""The random baseline of a cell: what guessing scores, the score normalised to it, and a test.

Per item, the chance that a random well-formed answer is right (`item_chance`), which is always the
rate at which the scorer's own `random_answer` (what `baseline/random` says) is right, so random
guessing is never "above chance":
- analytic where the scorer knows it (`Scorer.chance`): 1/k for k options, 1/2 for True/False;
  for GSM8K the exact rate of its random integers hitting the gold (about 2.5% for a one-digit
  answer, 0 for a fractional one), for MATH 1/101 when the gold is one of the integers 0..100 it
  draws; 0 where no random answer can be right (plans);
- Monte Carlo where it does not (`chance` returns None, or the scorer has no `chance`): the mean
  score of `DRAWS` of the scorer's own `random_answer`, seeded by the item id, so the baseline is
  what `baseline/random` scores in expectation (BBH's object counting guesses 0-20: about 1/21,
  not 0).

The judge stores each item's chance with its result (`data["chance"]`), so every summary rebuilt
from the store (rescore, experiment reports, the scaling analysis) has it. `chance_summary` turns
a cell's rows into:
- `baseline`: the mean item chance (for a macro headline, the mean of the groups' baselines);
- `normalised`: BIG-bench's 100·(accuracy - baseline)/(1 - baseline): 0 at chance, 100 perfect;
- `above_chance`: a one-sided test of accuracy > baseline (`analysis.chance.above_chance`): exact
  (Poisson-binomial) for 0/1 items of one group, z with the clustered SE when items come from
  several groups (MMLU subjects, BBH tasks) or are K-sample vote scores; for a macro headline, z on
  the mean of group differences with SE² = Σ_g SE_g² / G².

Everything here is cheap: free-form tasks (chance 0) never import numpy.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

DRAWS = 100  # Monte Carlo draws per item: SE <= 0.05 per item, far less on the mean over items
ALPHA = 0.05


def item_chance(scorer: Any, item: Any, draws: int = DRAWS) -> tuple[float | None, str]:
    """(chance that a random well-formed answer to `item` is right, "analytic" | "monte-carlo");
    (None, "none") when the scorer can neither say nor draw (module docstring)."""
    chance = getattr(scorer, "chance", None)
    if chance is not None:
        try:
            value = chance(item)
        except NotImplementedError:
            value = None
        if value is not None:
            return float(value), "analytic"
    draw = getattr(scorer, "random_answer", None)
    if draw is None:
        return None, "none"
    rng = random.Random(f"chance/{item.id}")
    seen: dict[str, float] = {}  # guesses repeat (a count in 0-20): score each distinct one once
    total = 0.0
    for _ in range(draws):
        answer = draw(item, rng)
        if answer not in seen:
            seen[answer] = scorer.score(answer, item)
        total += seen[answer]
    return total / draws, "monte-carlo"


def chance_record(scorer: Any, item: Any) -> dict[str, Any]:
    """What the judge stores with an item result: {"chance": p} (+ "chance_method" for Monte Carlo)."""
    value, method = item_chance(scorer, item)
    if value is None:
        return {}
    return {"chance": value} if method == "analytic" else {"chance": value, "chance_method": method}


def _method(rows: Sequence[Any]) -> str:
    kinds = {r.data.get("chance_method", "analytic") for r in rows}
    return kinds.pop() if len(kinds) == 1 else "mixed"


def chance_summary(rows: Sequence[Any], headline: str = "micro", alpha: float = ALPHA) -> dict[str, Any]:
    """`baseline`, `baseline_method`, `normalised` and `above_chance` of scored rows (module docstring).

    Rows without a stored chance (stored before baselines existed) give an empty dict.
    """
    scored = [r for r in rows if r.error is None]
    if not scored or any(not isinstance(r.data.get("chance"), int | float) for r in scored):
        return {}
    scores = [float(r.correct or 0.0) for r in scored]
    chances = [float(r.data["chance"]) for r in scored]
    groups = [r.group for r in scored]
    n_groups = len(set(groups))
    if headline == "macro" and n_groups > 1:
        acc, base, p, method = _macro_test(scores, chances, groups)
    else:
        acc, base = sum(scores) / len(scores), sum(chances) / len(chances)
        if base == 0.0:
            # Guessing never scores: any right answer is above chance (exactly: P(S >= k) = [k == 0]).
            p, method = (0.0 if acc > 0 else 1.0), "exact"
        else:
            from polaris.analysis.chance import above_chance

            t = above_chance(scores, chances, clusters=groups if n_groups > 1 else None, alpha=alpha)
            p, method = t.p_value, t.method
    normalised = 100.0 * (acc - base) / (1.0 - base) if base < 1 else None
    return {
        "baseline": base,
        "baseline_method": _method(scored),
        "normalised": normalised,
        "above_chance": {"p": p, "above": p < alpha, "method": method, "alpha": alpha},
    }


def _macro_test(scores: list[float], chances: list[float], groups: list[str]) -> tuple[float, float, float, str]:
    """Mean over groups of (accuracy, baseline) and a one-sided z-test of their difference, with the
    macro headline's SE (groups fixed, items sampled: `analysis.stats.macro_ci`)."""
    from statistics import NormalDist

    from polaris.analysis.stats import macro_ci

    by: dict[str, list[float]] = {}
    for c, g in zip(chances, groups):
        by.setdefault(g, []).append(c)
    est = macro_ci(scores, groups)
    acc, base = est.mean, sum(sum(c) / len(c) for c in by.values()) / len(by)
    se = est.se
    if se > 0:
        p = 1.0 - NormalDist().cdf((acc - base) / se)
    else:
        p = 0.0 if acc > base else 1.0
    return acc, base, p, "z"
