"""Is an ability emergent? Breakthroughness, extrapolation from smaller models, and Lu et al.'s verdict.

Lu et al. (2024) call a task's ability emergent when the largest model is above the random
baseline *and* its score could not have been predicted from the smaller models. Both halves are
tests here rather than readings of a figure:
- above baseline: a one-sided test on the largest model (pass the exact p-value from
  `chance.above_chance` on its items, or let `analyze_scaling` use z = (y - b)/SE from its point);
- predictable: leave the largest model out, fit the smaller ones (a line in log10 N by default,
  the "predictable" null of the reference), and compare the held-out score with the prediction:
  z = (observed - predicted)/SE_pred, SE_pred² = SE(fit at x)² + SE(observed)².

Verdicts:
  "not above baseline"  the largest model is not significantly above chance (whatever the trend)
  "emergent"            above baseline and significantly *above* the extrapolated trend
  "below trend"         above baseline and significantly below the trend (a plateau, not emergence)
  "predictable"         above baseline and within the trend
  "untested"            above baseline but too few sizes to extrapolate (or the fit is singular)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from polaris.analysis.scaling import Fit, best_fit, fit_all, fit_curve, prepare_points


def breakthroughness(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """BIG-bench breakthroughness B, *legacy* formula from a third-party re-implementation.

    B = sign(argmax y - argmin y)·(max y - min y)/sqrt(median((y_{i+1} - y_i)²)) over models sorted
    by scale, clipped to [0, 100], NaN -> 0. Unverified against BIG-bench Appendix B (see
    shared/reference/emergence-and-statistics.md §2). It is unchanged by y -> α·y + β with α > 0, so
    raw or normalised scores give the same B. A flat-then-jump curve has a zero median step and
    scores 100; a straight line over n sizes scores n - 1.
    """
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xs.size != ys.size:
        raise ValueError("x and y need the same length")
    if ys.size < 2:
        return math.nan
    ys = ys[np.argsort(xs, kind="stable")]
    sign = np.sign(int(np.argmax(ys)) - int(np.argmin(ys)))
    with np.errstate(divide="ignore", invalid="ignore"):
        b = sign * (ys.max() - ys.min()) / np.sqrt(np.median(np.diff(ys) ** 2))
    return 0.0 if np.isnan(b) else float(np.clip(b, 0.0, 100.0))


def line_r2(
    x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, se: Sequence[float] | None = None
) -> float:
    """Linearity-style measure: weighted R² of the line y = a + s·log10 N (not BIG-bench's L).

    BIG-bench describes L as how reliably performance improves with scale; we have no verified
    formula for it, so we report the share of the score's variation across sizes that a log-linear
    trend explains, signed by the slope: near +1 steady improvement, near 0 no trend or a step that
    a line cannot follow, negative when the trend is downward.
    """
    xs, ys, ses = prepare_points(x, y, np.ones(len(y)) if se is None else se)
    fit = fit_curve("line", xs, ys, ses)
    if not fit.fitted:
        return math.nan
    w = 1.0 / ses**2
    tot = float((w * (ys - (w * ys).sum() / w.sum()) ** 2).sum())
    if tot == 0:
        return 0.0
    r2 = 1.0 - fit.chi2 / tot
    return math.copysign(max(r2, 0.0), fit.params["s"])


def metric_sensitivity(
    x: Sequence[float] | np.ndarray,
    y_discrete: Sequence[float] | np.ndarray,
    y_continuous: Sequence[float] | np.ndarray,
    *,
    continuous_higher_is_better: bool = True,
) -> float:
    """Schaeffer et al.'s question as a number: B(discrete metric) - B(continuous metric).

    Large and positive: the breakthrough is in the metric (exact match jumps where, say, edit
    distance improves smoothly). Pass `continuous_higher_is_better=False` for distances and losses.
    """
    yc = np.asarray(y_continuous, dtype=float)
    return breakthroughness(x, y_discrete) - breakthroughness(x, yc if continuous_higher_is_better else -yc)


@dataclass(frozen=True, slots=True)
class Extrapolation:
    """Leave-the-largest-out test: is the largest model's score predictable from the smaller ones?"""

    model: str
    testable: bool
    reason: str
    x: float  # held-out size (log10 N)
    observed: float
    predicted: float
    se_pred: float  # sqrt(SE of the fit at x² + SE of the observed score²)
    z: float
    p_value: float  # two-sided
    predictable: bool | None  # |z| below the two-sided critical value; None when untestable


def extrapolation_test(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    se: Sequence[float] | np.ndarray,
    *,
    model: str = "line",
    baseline: float = 0.0,
    ceiling: float | None = None,
    alpha: float = 0.05,
) -> Extrapolation:
    """Fit `model` without the largest size, predict it, and test the residual.

    Several points at the largest size (e.g. two 70B models) are held out together and compared
    through their inverse-variance weighted mean.
    """
    xs, ys, ses = prepare_points(x, y, se)
    if xs.size == 0:
        return Extrapolation(model, False, "no points", math.nan, math.nan, math.nan, math.nan,
                             math.nan, math.nan, None)
    top = xs == xs.max()
    w = 1.0 / ses[top] ** 2
    obs, obs_se = float((w * ys[top]).sum() / w.sum()), float(1.0 / math.sqrt(w.sum()))
    fit = fit_curve(model, xs[~top], ys[~top], ses[~top], baseline=baseline, ceiling=ceiling)
    x_top = float(xs.max())

    def untestable(reason: str, pred: float = math.nan) -> Extrapolation:
        return Extrapolation(model, False, reason, x_top, obs, pred, math.nan, math.nan, math.nan, None)

    if not fit.fitted:
        return untestable(f"smaller models: {fit.reason}")
    pred = float(fit.predict(x_top))
    se_fit = float(fit.predict_se(x_top)[0])
    if not math.isfinite(se_fit):
        return untestable("the fit to the smaller models is singular", pred)
    se_pred = math.sqrt(se_fit**2 + obs_se**2)
    z = (obs - pred) / se_pred if se_pred > 0 else math.copysign(math.inf, obs - pred)
    p = float(2 * sps.norm.sf(abs(z)))
    return Extrapolation(model, True, "", x_top, obs, pred, se_pred, z, p, p >= alpha)


@dataclass(frozen=True, slots=True)
class Verdict:
    label: str  # see the module docstring
    above_baseline: bool
    above_p: float
    predictable: bool | None
    z: float  # extrapolation residual in SEs (nan when untested)


def verdict(above_p: float, extrapolation: Extrapolation, alpha: float = 0.05) -> Verdict:
    """Lu et al.'s 2×2 (above baseline × predictable) as a label; rules in the module docstring."""
    above = above_p < alpha
    e = extrapolation
    if not above:
        label = "not above baseline"
    elif not e.testable:
        label = "untested"
    elif e.predictable:
        label = "predictable"
    else:
        label = "emergent" if e.z > 0 else "below trend"
    return Verdict(label, above, above_p, e.predictable, e.z)


@dataclass(frozen=True)
class ScalingAnalysis:
    """Everything `polaris analyze scaling` reports for one (family, task, metric) curve."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    se: tuple[float, ...]
    baseline: float
    fits: dict[str, Fit]
    best: str | None  # lowest AICc
    extrapolation: Extrapolation
    breakthroughness: float
    line_r2: float
    verdict: Verdict


def analyze_scaling(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    se: Sequence[float] | np.ndarray,
    *,
    baseline: float,
    above_p: float | None = None,
    ceiling: float | None = None,
    alpha: float = 0.05,
    extrapolate_with: str = "line",
) -> ScalingAnalysis:
    """Fits, AICc choice, extrapolation test, B, linearity and the verdict for one curve.

    x = log10(parameters), y = score per model, se = its SE (item-level, clustered where it
    applies). `above_p`: one-sided p-value that the largest model beats the baseline; by default
    z = (y - baseline)/SE at the largest size.
    """
    xs, ys, ses = prepare_points(x, y, se)  # the floored SEs every fit sees
    if xs.size == 0:
        raise ValueError("no finite points to analyse")
    if above_p is None:
        top = int(np.argmax(xs))
        above_p = float(sps.norm.sf((ys[top] - baseline) / ses[top]))
    fits = fit_all(xs, ys, ses, baseline=baseline, ceiling=ceiling)
    ext = extrapolation_test(xs, ys, ses, model=extrapolate_with, baseline=baseline,
                             ceiling=ceiling, alpha=alpha)
    return ScalingAnalysis(
        tuple(xs.tolist()), tuple(ys.tolist()), tuple(ses.tolist()), baseline, fits, best_fit(fits),
        ext, breakthroughness(xs, ys), line_r2(xs, ys, ses), verdict(above_p, ext, alpha),
    )
