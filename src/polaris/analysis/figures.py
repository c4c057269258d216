"""Figures of the analyses (matplotlib, Agg backend, imported when a figure is drawn).

`scaling_figure(study)`: one panel per metric; in each, score against parameters (log scale) per
curve (family x base/instruct x prompt x strategy). What is drawn, and why:
- each size's mean over its models (seeds) with its 95% CI, the marker's area proportional to the
  weight the fits give that size (1/SE²): a fit passing far from a small marker is not a bad fit,
  that size counts little (near 0% or 100% the SEs are tiny and those sizes dominate);
- each model (seed) as a small dot and, where a size has several, the band of their range, so a
  size whose seeds disagree (11% and 74%) is seen as such, not as one mean;
- the best fit (lowest AICc) as a solid line, drawn only over the sizes observed and the metric's
  range (an edit distance is never below 0, a log-prob never above 0);
- the verdict's test: the line through the smaller sizes (dotted), extended to the largest size,
  and its prediction there (a diamond with its 95% interval), against which the largest size is
  judged "emergent", "predictable" or "below trend";
- the random baseline as a dashed line.
Each panel's legend (under it, off the data) has one entry per curve with its verdict and best fit;
a key under the figure names the line styles. The caller saves the figure and closes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from polaris.analysis.itemmetrics import METRICS, Metric

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from polaris.analysis.study import Curve, ScalingStudy

Z95 = 1.959963984540054
GREY = "0.35"


def _figure(n_panels: int, width: float = 4.6, height: float = 3.9) -> tuple[Figure, list[Any]]:
    import matplotlib

    matplotlib.use("Agg", force=False)  # headless; an interactive backend chosen by the caller stays
    from matplotlib.figure import Figure

    cols = 2 if n_panels == 4 else min(3, max(1, n_panels))  # four panels as 2 x 2, not 3 + 1
    rows = math.ceil(max(1, n_panels) / cols)
    fig = Figure(figsize=(width * cols, height * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    return fig, axes[:max(1, n_panels)]


def size_label(params: float) -> str:
    """10000 -> "10k", 3e8 -> "300M", 1.4e9 -> "1.4B": parameter counts as people write them (kilo is
    the SI's lower-case k, as in the ladder's names and the findings' sentences)."""
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if params >= div * 0.9995:
            v = params / div
            return f"{v:.0f}{unit}" if v >= 10 or abs(v - round(v)) < 0.05 else f"{v:.1f}{unit}"
    return f"{params:.0f}"


def size_ticks(lo: float, hi: float) -> list[float]:
    """Tick positions (log10 parameters) at round sizes within [lo, hi]: 1-3-10 per decade (10k, 30k,
    100k, ...); every decade alone when the axis spans more than four; 1-2-5 when it spans less than
    one (so at least two ticks show)."""
    span = hi - lo
    steps = (1,) if span > 4 else (1, 3) if span >= 1 else (1, 2, 5)
    ticks = []
    for decade in range(math.floor(lo) - 1, math.ceil(hi) + 1):
        for m in steps:
            x = decade + math.log10(m)
            if lo - 1e-9 <= x <= hi + 1e-9:
                ticks.append(x)
    return ticks


def _params_axis(ax: Any, xs: Sequence[float]) -> None:
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    lo, hi = min(xs), max(xs)
    pad = max(0.06 * (hi - lo), 0.08)
    ax.set_xlim(lo - pad, hi + pad)
    # Round sizes where the axis has any; else (one size, a narrow axis) the sizes themselves.
    ax.xaxis.set_major_locator(FixedLocator(size_ticks(lo - pad, hi + pad) or sorted(set(xs))))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: size_label(10**v)))
    ax.set_xlabel("parameters (log scale)")


def metric_range(m: Metric) -> tuple[float, float]:
    """Where a metric's scores can lie: accuracies in [0, 1], distances and losses at least 0 (their
    best), log-probs at most 0 (theirs)."""
    if m.bounded:
        return 0.0, 1.0
    return (-math.inf, m.ceiling) if m.higher_is_better else (m.ceiling, math.inf)


def _within(ys: np.ndarray, m: Metric) -> np.ndarray:
    lo, hi = metric_range(m)
    ys = np.asarray(ys, dtype=float).copy()
    ys[(ys < lo - 1e-9) | (ys > hi + 1e-9)] = np.nan  # not drawn: a fit past the metric's range means nothing
    return ys


def curve_names(curves: Sequence[Curve]) -> dict[tuple[Any, ...], str]:
    """Each curve named by what differs between the study's curves (the prompt format, when that is all)."""
    keys = {c.key for c in curves}
    parts = [(lambda k: f"{k[0]}{' instruct' if k[1] else ''}"), (lambda k: k[2]), (lambda k: k[3])]
    varying = [p for p in parts if len({p(k) for k in keys}) > 1] or [parts[1]]
    return {k: " ".join(p(k) for p in varying) for k in keys}


def _held_out(c: Curve) -> tuple[np.ndarray, np.ndarray] | None:
    """The line through the smaller sizes (the verdict's test), over the sizes up to the largest."""
    from polaris.analysis.scaling import fit_curve

    a = c.analysis
    if a is None or not a.extrapolation.testable:
        return None
    xs, ys, ses = (np.asarray(v) for v in (a.x, a.y, a.se))
    top = xs == xs.max()
    fit = fit_curve("line", xs[~top], ys[~top], ses[~top])
    if not fit.fitted:
        return None
    grid = np.linspace(xs.min(), xs.max(), 60)
    return grid, METRICS[c.metric].sign * fit.predict(grid)


def _draw_curve(ax: Any, c: Curve, colour: str, scale: float) -> None:
    m = METRICS[c.metric]
    a = c.analysis
    by_size: dict[float, list[Any]] = {}
    for s in c.models:
        by_size.setdefault(math.log10(s.params), []).append(s)
    sizes = sorted(by_size)
    seeds = any(len(g) > 1 for g in by_size.values())
    if seeds:
        lo = [min(s.mean for s in by_size[x]) * scale for x in sizes]
        hi = [max(s.mean for s in by_size[x]) * scale for x in sizes]
        ax.fill_between(sizes, lo, hi, color=colour, alpha=0.13, lw=0)
        for x in sizes:
            group = by_size[x]
            ax.plot([x] * len(group), [s.mean * scale for s in group], ".", color=colour, ms=3.5, alpha=0.6)
    # Size means with their CIs; marker area = the fits' weight relative to the heaviest size.
    weights = 1.0 / np.asarray(a.se) ** 2 if a is not None else np.ones(len(c.x))
    area = 22 + 90 * np.sqrt(weights / weights.max())
    lo_m, hi_m = metric_range(m)
    for x, y, se, s in zip(c.x, c.y, c.se, area):
        low, high = max(y - Z95 * se, lo_m), min(y + Z95 * se, hi_m)
        ax.errorbar([x], [y * scale], yerr=[[max(0.0, y - low) * scale], [max(0.0, high - y) * scale]], fmt="none",
                    ecolor=colour, elinewidth=1, capsize=2.5, alpha=0.9)
        ax.scatter([x], [y * scale], s=s, color=colour, edgecolors="white", linewidths=0.6, zorder=3)
    if c.baseline is not None:
        ax.axhline(c.baseline * scale, color=colour, ls=(0, (4, 3)), lw=0.8, alpha=0.7)
    if a is None or len(c.x) < 2:
        return
    if a.best:
        xs = np.linspace(min(c.x), max(c.x), 160)
        ys = c.fitted(a.best, xs)
        if ys is not None:
            ax.plot(xs, _within(ys, m) * scale, "-", color=colour, lw=1.8, alpha=0.9)
    held = _held_out(c)
    if held is not None:
        gx, gy = held
        ax.plot(gx, _within(gy, m) * scale, ":", color=colour, lw=1.3, alpha=0.9)
        e = a.extrapolation
        pred = m.sign * e.predicted
        if lo_m - 1e-9 <= pred <= hi_m + 1e-9:
            ax.errorbar([e.x + 0.02], [pred * scale], yerr=[[Z95 * e.se_pred * scale], [Z95 * e.se_pred * scale]],
                        fmt="D", ms=5, mfc="white", mec=colour, ecolor=colour, elinewidth=0.8, capsize=2, zorder=4)


def _key(fig: Any) -> None:
    """One key for the line and marker styles of every panel, under the figure."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color=GREY, marker="o", ls="none", ms=6, label="size mean, 95% CI (area: weight in the fits)"),
        Line2D([], [], color=GREY, marker=".", ls="none", ms=5, label="one model (seed)"),
        Patch(color=GREY, alpha=0.2, label="range of the seeds"),
        Line2D([], [], color=GREY, lw=1.8, label="best fit (lowest AICc)"),
        Line2D([], [], color=GREY, lw=1.3, ls=":", marker="D", mfc="white", ms=5, markevery=[1],
               label="line through the smaller sizes and its prediction"),
        Line2D([], [], color=GREY, lw=0.8, ls=(0, (4, 3)), label="random baseline"),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8.5, frameon=False)


def _legend(ax: Any, entries: list[tuple[str, str]]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour, lw=1.8, marker="o", ms=5, label=text) for colour, text in entries]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8.5, frameon=False,
              handlelength=2.2, borderaxespad=0.0)


def verdict_text(c: Curve) -> str:
    """"emergent, best fit logistic": what the curve's legend entry says after its name."""
    a = c.analysis
    if a is None:
        return "not analysed"
    return a.verdict.label + (f", best fit {a.best}" if a.best else "")


def scaling_figure(study: ScalingStudy, metrics: list[str] | None = None) -> Figure:
    """Per-family scaling curves (module docstring); one panel per metric."""
    shown = [m for m in (metrics or study.metrics) if any(c.metric == m for c in study.curves)]
    fig, axes = _figure(len(shown))
    if not shown:
        axes[0].text(0.5, 0.5, f"no scaling data for {study.task}", ha="center", va="center")
        axes[0].set_axis_off()
        return fig
    keys = list(dict.fromkeys(c.key for c in study.curves))
    colours = {k: f"C{i % 10}" for i, k in enumerate(keys)}
    names = curve_names(study.curves)
    for ax, metric in zip(axes, shown):
        m = METRICS[metric]
        scale = 100.0 if m.bounded else 1.0
        entries = []
        curves = [c for c in study.curves if c.metric == metric]
        for c in curves:
            _draw_curve(ax, c, colours[c.key], scale)
            entries.append((colours[c.key], f"{names[c.key]}: {verdict_text(c)}"))
        if m.bounded:
            ax.set_ylim(-3, 103)
        _params_axis(ax, [x for c in curves for x in c.x])
        ax.set_ylabel(m.title + (" %" if m.bounded else "") + ("" if m.higher_is_better else " (lower is better)"))
        ax.set_title(m.title, fontsize=9.5)
        ax.grid(alpha=0.25)
        _legend(ax, entries)
    fig.suptitle(f"{study.task}: score against model size", fontsize=10)
    _key(fig)
    return fig
