"""Is a score above chance? Random baselines and a one-sided test against them.

The baseline is what random answering scores on the same items (1/k for k options, or a Monte Carlo
estimate where scoring is not trivial); emergence claims are only as good as this comparison
(Schaeffer et al. 2023). The test uses the items as the unit, with Miller's SE (`analysis.stats`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

from polaris.analysis.stats import _is_binary, _scores, _se


@dataclass(frozen=True, slots=True)
class ChanceTest:
    """One-sided test of "the score is above the random baseline"."""

    mean: float
    baseline: float
    se: float
    p_value: float
    above: bool  # p_value < alpha
    method: str  # "exact" (Poisson-binomial on 0/1 items) | "z" (item means or clusters)
    normalised: float  # 100·(mean - baseline)/(1 - baseline)
    alpha: float


def random_baseline(chances: Sequence[float]) -> float:
    """Expected score of random answering: the mean of per-item chance (1/k_i for k_i options)."""
    c = _scores(chances)
    if np.any((c < 0) | (c > 1)):
        raise ValueError("chances must lie in [0, 1]")
    return float(c.mean())


def monte_carlo_baseline(
    score_random: Callable[[int, random.Random], float],
    n_items: int,
    draws: int = 100,
    seed: int = 0,
) -> float:
    """Baseline where scoring is not trivial: mean of score_random(item_index, rng) over draws.

    `score_random` draws a random well-formed answer for item i and scores it; the seeded rng makes
    the baseline reproducible.
    """
    if n_items <= 0 or draws <= 0:
        raise ValueError("monte_carlo_baseline needs n_items > 0 and draws > 0")
    rng = random.Random(seed)
    total = sum(score_random(i, rng) for _ in range(draws) for i in range(n_items))
    return total / (draws * n_items)


def normalised_score(score: float, baseline: float) -> float:
    """BIG-bench style 100·(score - baseline)/(1 - baseline): 0 at chance, 100 at perfect."""
    if baseline >= 1:
        raise ValueError("a baseline of 1 leaves nothing to normalise")
    return 100.0 * (score - baseline) / (1.0 - baseline)


def _binom_pmf(m: int, c: float) -> np.ndarray:
    """Binomial(m, c) probabilities of 0..m in numpy alone (log-factorials by cumulative sums), so the
    chance test every run summary makes does not import scipy."""
    out = np.zeros(m + 1)
    if c <= 0 or c >= 1:
        out[0 if c <= 0 else m] = 1.0
        return out
    k = np.arange(m + 1)
    logfact = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, m + 1)))))
    logp = logfact[m] - logfact[k] - logfact[m - k] + k * math.log(c) + (m - k) * math.log1p(-c)
    return np.exp(logp)


def _poisson_binomial_sf(k: int, chances: np.ndarray) -> float:
    """P(S >= k) for S a sum of independent Bernoulli(c_i); items grouped by equal chance."""
    pmf = np.ones(1)
    values, counts = np.unique(np.round(chances, 12), return_counts=True)
    for c, m in zip(values, counts, strict=True):
        pmf = np.convolve(pmf, _binom_pmf(int(m), float(c)))
    return float(min(1.0, max(0.0, pmf[k:].sum())))


def above_chance(
    scores: Sequence[float] | np.ndarray,
    chance: float | Sequence[float],
    *,
    clusters: Sequence[Hashable] | None = None,
    alpha: float = 0.05,
) -> ChanceTest:
    """One-sided test that the mean score exceeds the random baseline.

    0/1 scores without clusters: exact, the number right under random answering is
    Poisson-binomial with per-item chances (binomial when all are equal). Item means or clustered
    items: z = (mean - baseline)/SE with Miller's SE.
    """
    v = _scores(scores)
    c = np.full(v.size, float(chance)) if np.isscalar(chance) else _scores(chance)  # type: ignore[arg-type]
    if c.size != v.size:
        raise ValueError(f"{c.size} chances for {v.size} items")
    if np.any((c < 0) | (c > 1)):
        raise ValueError("chances must lie in [0, 1]")
    mean, base = float(v.mean()), float(c.mean())
    binary = _is_binary(v)
    se = _se(v, clusters, 0 if binary else 1)
    if binary and clusters is None:
        p, method = _poisson_binomial_sf(int(round(v.sum())), c), "exact"
    else:
        method = "z"
        if se > 0 and math.isfinite(se):
            from statistics import NormalDist  # not scipy: every run summary makes this test

            p = 1.0 - NormalDist().cdf((mean - base) / se)
        else:
            p = 0.0 if mean > base else 1.0
    norm = normalised_score(mean, base) if base < 1 else math.nan
    return ChanceTest(mean, base, se, p, p < alpha, method, norm, alpha)
