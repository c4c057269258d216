"""Error bars and tests for eval scores, with items as the unit of analysis (Miller 2024).

Every function takes one score per *item*. With K samples per item, pass the item means
(`item_means`): pooling the K·n samples as if they were independent understates the error, because
items, not samples, are what varies from one test set to the next (Miller §3.1).

Conventions:
- Standard errors are Miller's: sqrt(p(1-p)/n) for 0/1 scores, sqrt(s²/n) with the n-1 sample
  variance otherwise; clustered SEs add the within-cluster cross terms (Miller eq. 4), so with every
  item in its own cluster the clustered SE equals the plain one.
- Intervals for scores in [0, 1] are Wilson intervals. For 0/1 scores without clusters that is the
  textbook Wilson interval; for item means or clustered items it is Wilson at the effective sample
  size n_eff = p(1-p)/SE² (the design-effect form used in survey statistics), which keeps the
  interval inside [0, 1] and asymmetric near the edges, where emergence curves live.
- Scores outside [0, 1] (log-probs, edit distances) get mean ± z·SE.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np


class _Lazy:
    """scipy.stats, imported on first use: it takes ~0.5 s to import and `mean_ci`, which every
    suite run calls for its summary, does not need it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(importlib.import_module("scipy.stats"), name)


sps = _Lazy()


@dataclass(frozen=True, slots=True)
class Estimate:
    """A mean score with its standard error and confidence interval."""

    mean: float
    se: float
    low: float
    high: float
    n: int  # items
    method: str  # "wilson" | "wilson-eff" | "normal"
    clusters: int | None = None  # number of clusters when the SE is clustered
    confidence: float = 0.95


@dataclass(frozen=True, slots=True)
class Contrast:
    """Cell A minus cell B on the same items."""

    delta: float  # mean(A) - mean(B)
    se: float  # paired SE (clustered when clusters were given)
    low: float
    high: float
    p_value: float  # two-sided z-test of delta = 0
    corr: float  # Pearson correlation of item scores (nan when one side is constant)
    n: int
    mean_a: float
    mean_b: float
    a_only: int | None  # McNemar's b: items A gets right and B wrong (0/1 scores only)
    b_only: int | None  # McNemar's c: items B gets right and A wrong
    mcnemar_p: float | None  # exact McNemar (binomial on a_only, b_only); None for non-0/1 scores
    mde: float  # smallest |delta| detectable at this n with 80% power (two-sided, 1 - confidence)
    clusters: int | None = None
    confidence: float = 0.95


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)  # = scipy's norm.ppf to 1e-15, without scipy


def _scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    v = np.asarray(scores, dtype=float).ravel()
    if v.size == 0:
        raise ValueError("no items to summarise")
    if not np.all(np.isfinite(v)):
        raise ValueError("scores must be finite numbers")
    return v


def _is_binary(v: np.ndarray) -> bool:
    return bool(np.all((v == 0) | (v == 1)))


def _cluster_ids(clusters: Sequence[Hashable], n: int) -> np.ndarray:
    if len(clusters) != n:
        raise ValueError(f"{len(clusters)} cluster labels for {n} items")
    index: dict[Hashable, int] = {}
    return np.array([index.setdefault(c, len(index)) for c in clusters], dtype=np.intp)


def _se(v: np.ndarray, clusters: Sequence[Hashable] | None, ddof: int) -> float:
    n = v.size
    if n - ddof <= 0:
        return math.nan
    d = v - v.mean()
    var = float(d @ d) / (n * (n - ddof))
    if clusters is not None:
        ids = _cluster_ids(clusters, n)
        sums = np.bincount(ids, weights=d)
        # Σ_c Σ_{i≠j} d_i d_j = Σ_c (Σ_i d_i)² - Σ_i d_i²: Miller's cross terms in O(n).
        var += float(sums @ sums - d @ d) / n**2
    return math.sqrt(max(var, 0.0))


def item_means(samples: Sequence[Sequence[float]]) -> np.ndarray:
    """One mean per item from its K sample scores (K may differ between items)."""
    out = np.empty(len(samples))
    for i, s in enumerate(samples):
        if len(s) == 0:
            raise ValueError(f"item {i} has no samples")
        out[i] = float(np.mean(np.asarray(s, dtype=float)))
    return out


def standard_error(
    scores: Sequence[float] | np.ndarray, clusters: Sequence[Hashable] | None = None
) -> float:
    """Miller's SE of the mean item score; clustered when `clusters` labels each item."""
    v = _scores(scores)
    return _se(v, clusters, 0 if _is_binary(v) else 1)


def wilson_interval(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for successes/n; n may be an effective (non-integer) size."""
    if n <= 0:
        raise ValueError("wilson_interval needs n > 0")
    z = _z(confidence)
    p = min(max(successes / n, 0.0), 1.0)
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # Wilson always contains p; the min/max only undo rounding at p = 0 or 1.
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def mean_ci(
    scores: Sequence[float] | np.ndarray,
    *,
    clusters: Sequence[Hashable] | None = None,
    samples_per_item: int = 1,
    confidence: float = 0.95,
) -> Estimate:
    """Mean item score with SE and CI (see the module docstring for which interval is used).

    `samples_per_item` (K) only caps the effective size at n·K: item means can never carry more
    information than n·K independent draws, since Var(item mean) >= p(1-p)/K on average.
    """
    v = _scores(scores)
    n = v.size
    p = float(v.mean())
    binary = _is_binary(v)
    se = _se(v, clusters, 0 if binary else 1)
    n_clusters = len(set(clusters)) if clusters is not None else None
    z = _z(confidence)
    if not (np.all(v >= 0) and np.all(v <= 1)):
        low, high = (p - z * se, p + z * se) if math.isfinite(se) else (-math.inf, math.inf)
        return Estimate(p, se, low, high, n, "normal", n_clusters, confidence)
    if binary and clusters is None:
        low, high = wilson_interval(p * n, n, confidence)
        return Estimate(p, se, low, high, n, "wilson", None, confidence)
    if 0 < p < 1 and se > 0 and math.isfinite(se):
        n_eff = min(max(p * (1 - p) / se**2, 1.0), float(n * max(samples_per_item, 1)))
    else:
        n_eff = float(n)  # all items at 0 (or 1): the interval comes from the item count
    low, high = wilson_interval(p * n_eff, n_eff, confidence)
    return Estimate(p, se, low, high, n, "wilson-eff", n_clusters, confidence)


MACRO_ESTIMANDS = ("items", "tasks")


def macro_ci(
    scores: Sequence[float] | np.ndarray,
    keys: Sequence[Hashable],
    *,
    estimand: str = "items",
    clusters: Sequence[Hashable] | None = None,
    samples_per_item: int = 1,
    confidence: float = 0.95,
) -> Estimate:
    """The mean over keys (BBH tasks, MMLU subjects) of the per-key mean score, with its interval.

    `estimand="items"` (the default, what a BBH table means): the keys are fixed and the items within
    each are a sample, so SE² = Σ_g SE_g² / G² with the SE of each key's items: Miller's for item
    means (clustered by `clusters` when a key spans several clusters, an MMLU category); for 0/1
    items p̃(1-p̃)/n_g with Laplace's p̃ = (k_g + 1)/(n_g + 2), so a key whose few items are all right
    or all wrong (a `--limit` run) still carries its error: simulated coverage of the 95% interval
    on BBH at chance is 97% with 2 items per task and 95-96% from 10 per task on, where the plug-in
    p(1-p)/n gives 85% at 2 per task (tests/test_numbers.py). `estimand="tasks"`: the keys are
    themselves a sample from a population of tasks, and the interval is that of a mean of G key
    means (much wider with 27 BBH tasks: it also counts how much tasks differ from each other).
    Intervals are Wilson at the effective size p(1-p)/SE², as `mean_ci` gives for item means.
    """
    if estimand not in MACRO_ESTIMANDS:
        raise ValueError(f"unknown macro estimand '{estimand}' (choose from {', '.join(MACRO_ESTIMANDS)})")
    v = _scores(scores)
    index = _cluster_ids(keys, v.size)
    groups = [np.flatnonzero(index == g) for g in range(int(index.max()) + 1)]
    means = np.array([v[g].mean() for g in groups])
    if estimand == "tasks":
        per = max(1, round(v.size * max(samples_per_item, 1) / len(groups)))
        est = mean_ci(means, samples_per_item=per, confidence=confidence)
        return Estimate(est.mean, est.se, est.low, est.high, v.size, est.method, len(groups), confidence)
    var = 0.0
    z = _z(confidence)
    for g in groups:
        part = v[g]
        sub = [clusters[i] for i in g] if clusters is not None else None
        sub = sub if sub is not None and len(set(sub)) > 1 else None
        if _is_binary(part) and sub is None:
            p_t = (float(part.sum()) + 1) / (part.size + 2)
            var += p_t * (1 - p_t) / part.size
            continue
        se = _se(part, sub, 0 if _is_binary(part) else 1)
        var += se * se if math.isfinite(se) else 0.0  # one item with a fractional score: no spread to see
    G = len(groups)
    p, se = float(means.mean()), math.sqrt(var) / G
    if not (np.all(v >= 0) and np.all(v <= 1)):
        return Estimate(p, se, p - z * se, p + z * se, v.size, "normal", G, confidence)
    # Not capped at the item count: stratifying by key can make the SE smaller than p(1-p)/n (the
    # key means differ). With no spread at all inside the keys the items give the width.
    n_eff = max(p * (1 - p) / se**2, 1.0) if 0 < p < 1 and se > 0 else float(v.size * max(samples_per_item, 1))
    low, high = wilson_interval(p * n_eff, n_eff, confidence)
    return Estimate(p, se, low, high, v.size, "wilson-eff", G, confidence)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts b and c."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be >= 0")
    if b + c == 0:
        return 1.0
    return float(min(1.0, 2 * sps.binom.cdf(min(b, c), b + c, 0.5)))


def paired_contrast(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    clusters: Sequence[Hashable] | None = None,
    confidence: float = 0.95,
    power: float = 0.80,
) -> Contrast:
    """Δ = mean(a) - mean(b) for two cells scored on the same items, in the same order.

    The paired SE is Miller's sqrt(Var(a - b)/n) (clustered when `clusters` is given), which equals
    sqrt(SE_a² + SE_b² - 2·SE_a·SE_b·corr): pairing removes the item difficulty both cells share.
    """
    va, vb = _scores(a), _scores(b)
    if va.size != vb.size:
        raise ValueError(f"paired cells need the same items ({va.size} vs {vb.size})")
    n = va.size
    binary = _is_binary(va) and _is_binary(vb)
    d = va - vb
    delta = float(d.mean())
    se = _se(d, clusters, 0 if binary else 1)
    z = _z(confidence)
    if se > 0 and math.isfinite(se):
        p = float(2 * sps.norm.sf(abs(delta) / se))
    else:
        p = 1.0 if delta == 0 else 0.0
    corr = math.nan
    if n > 1 and va.std() > 0 and vb.std() > 0:
        corr = float(np.corrcoef(va, vb)[0, 1])
    a_only = b_only = mcp = None
    if binary:
        a_only, b_only = int(np.sum((va == 1) & (vb == 0))), int(np.sum((va == 0) & (vb == 1)))
        mcp = mcnemar_exact(a_only, b_only)
    # MDE at this n: (z_{α/2} + z_β)·SE, i.e. Miller's power formula with the observed variance.
    mde = (z + float(sps.norm.ppf(power))) * se
    n_clusters = len(set(clusters)) if clusters is not None else None
    return Contrast(
        delta, se, delta - z * se, delta + z * se, p, corr, n, float(va.mean()), float(vb.mean()),
        a_only, b_only, mcp, mde, n_clusters, confidence,
    )


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (reject where adjusted <= alpha); NaN (untested) stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.size, math.nan)
    idx = np.flatnonzero(~np.isnan(p))
    m = idx.size
    order = idx[np.argsort(p[idx], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def with_holm(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set each contrast row's "p_holm": its "p_value" Holm-adjusted across all the rows (rows without
    a p-value, contrasts without shared items, stay untested: None). Returns the rows."""
    if not rows:
        return rows
    adjusted = holm([r["p_value"] if r.get("p_value") is not None else float("nan") for r in rows])
    for r, p in zip(rows, adjusted):
        r["p_holm"] = None if p != p else p
    return rows
