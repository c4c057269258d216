"""Where an interval comes from, and how big a difference an experiment can see.

**Items vs sampling** (eval-arena, Wang 2025, "Measuring all the noises of LLM evals"): with K samples
per item, an item's score is a draw of items (data noise) plus the sampling of its answers
(prediction noise), and by the law of total variance the variance of the mean per-sample score is

    SE² = Var_x(E[A|x]) / n + E_x[Var(A|x)] / (K·n) = SE_items² + SE_sampling²

`decompose` estimates the sampling part from each item's samples (σ̂_i² = p_i(1-p_i)·K/(K-1), the
unbiased within-item variance: eval-arena's `unbiasedK`), takes the total from the same interval the
summary reports for maj@1 (plain, clustered by group, or the macro headline's), and leaves the rest to
the items. More samples per item only shrink the sampling part (`se_at_k_infinite` is the floor);
more items shrink both. It is computed for the mean per-sample score (maj@1 = pass@1), the quantity
eval-arena decomposes; the vote's own interval (maj@K) is over item votes as before.

**Minimum detectable difference** of a paired contrast (Miller 2024, eq. 10): MDE = (z_{1-α/2} + z_β)
· SE_paired with SE_paired² = Var(a - b)/n. Before any data, `mde_bound` uses the largest variance two
scores in [0, 1] can have, Var(a - b) ≤ 0.5 (both at 50%, uncorrelated): an upper bound. With a prior
run of both cells, `mde_from_prior` takes their observed paired SE on the items both scored (clustered
by group where items cluster, so the observed correlation is in it) and scales it to the planned n.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from statistics import NormalDist
from typing import Any, NamedTuple

WORST_PAIRED_VARIANCE = 0.5  # Var(a - b) for two uncorrelated scores in [0, 1] at 50%


class Spread(NamedTuple):
    """What `decompose` reads of one item's K sample scores: their mean and unbiased variance."""

    mean: float
    within: float  # nan for a single sample
    samples: int


def spread(s: Sequence[float]) -> Spread:
    """One item's `Spread` (kept per item so that a run's decomposition needs no sample lists)."""
    from polaris.analysis.stats import item_means

    m = item_means([s])[0]
    if len(s) < 2:
        return Spread(float(m), math.nan, len(s))
    return Spread(float(m), float(m) * (1 - float(m)) * len(s) / (len(s) - 1) if _binary(s) else _var1(s), len(s))


def decompose(samples: Sequence[Sequence[float]], groups: Sequence[Hashable] | None = None,
              headline: str = "micro") -> dict[str, Any] | None:
    """Items vs sampling in the interval of the mean per-sample score of K-sample items (module
    docstring); None with fewer than 2 samples per item or 2 items."""
    return decompose_spreads([spread(s) for s in samples], groups, headline)


def decompose_spreads(spreads: Sequence[Spread], groups: Sequence[Hashable] | None = None,
                      headline: str = "micro") -> dict[str, Any] | None:
    """`decompose` from each item's `Spread`."""
    import numpy as np

    from polaris.analysis.stats import macro_ci, mean_ci

    n = len(spreads)
    K = min((s.samples for s in spreads), default=0)
    if K < 2 or n < 2:
        return None
    means = np.array([s.mean for s in spreads], dtype=float)
    within = [s.within for s in spreads]
    multi = groups is not None and len(set(groups)) > 1
    if multi and headline == "macro":
        est = macro_ci(means, groups, samples_per_item=K)  # type: ignore[arg-type]
        by: dict[Hashable, list[int]] = {}
        for i, g in enumerate(groups):  # type: ignore[arg-type]
            by.setdefault(g, []).append(i)
        sampling = sum(sum(within[i] / spreads[i].samples for i in idx) / len(idx) ** 2 for idx in by.values()) / len(by) ** 2
    else:
        est = mean_ci(means, clusters=groups if multi else None, samples_per_item=K)
        sampling = sum(w / s.samples for w, s in zip(within, spreads)) / n**2
    total = est.se**2 if math.isfinite(est.se) else math.nan
    if not math.isfinite(total):
        return None
    items = max(total - sampling, 0.0)
    total = items + sampling
    share = sampling / total if total > 0 else 0.0
    # What other K would give: the items part stays, the sampling part scales with 1/K.
    at = lambda k: math.sqrt(items + sampling * K / k)  # noqa: E731
    return {"score": "mean per-sample score (maj@1 = pass@1)", "samples_per_item": K, "items": n,
            "se": math.sqrt(total), "se_items": math.sqrt(items), "se_sampling": math.sqrt(sampling),
            "sampling_share": share, "se_at_k1": at(1), "se_at_k_infinite": math.sqrt(items)}


def _binary(s: Sequence[float]) -> bool:
    return all(v in (0.0, 1.0) for v in s)


def _var1(s: Sequence[float]) -> float:
    m = sum(s) / len(s)
    return sum((v - m) ** 2 for v in s) / (len(s) - 1)


def _zsum(alpha: float, power: float) -> float:
    nd = NormalDist()
    return nd.inv_cdf(1 - alpha / 2) + nd.inv_cdf(power)


def mde_bound(n: int, alpha: float = 0.05, power: float = 0.80) -> float:
    """The largest MDE a paired contrast of n items can have (scores in [0, 1], no data yet)."""
    return _zsum(alpha, power) * math.sqrt(WORST_PAIRED_VARIANCE / n) if n > 0 else math.inf


def mde_from_prior(a: Sequence[float], b: Sequence[float], n: int, clusters: Sequence[Hashable] | None = None,
                   alpha: float = 0.05, power: float = 0.80) -> dict[str, Any] | None:
    """The MDE at `n` items from a prior run's paired item scores (a[i], b[i] on the same items):
    the observed paired SE (its correlation included) scaled by sqrt(n_prior / n)."""
    from polaris.analysis.stats import paired_contrast

    if len(a) < 2 or n <= 0:
        return None
    c = paired_contrast(a, b, clusters=clusters if clusters is not None and len(set(clusters)) > 1 else None)
    if not math.isfinite(c.se):
        return None
    se = c.se * math.sqrt(len(a) / n)
    return {"mde": _zsum(alpha, power) * se, "se": se, "prior_items": len(a),
            "corr": None if math.isnan(c.corr) else c.corr}
