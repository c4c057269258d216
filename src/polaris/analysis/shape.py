"""The shape of a scaling curve, as facts a reader should be told: where the size means get worse
from one size to the next (the curve is not monotonic), and how far apart the models of one size
(training seeds) are. Both are easy to miss in a fitted curve and both change how a verdict reads: a
dip or a wide seed spread at the sizes a verdict extrapolates from makes the "prediction" fragile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from polaris.analysis.itemmetrics import METRICS

# A dip smaller than this share of the curve's range (max - min of its size means) is rounding, not shape.
DIP_SHARE = 0.02


@dataclass(frozen=True)
class Dip:
    """The size mean gets worse from `params_a` to the next size up, `params_b`."""

    params_a: float
    params_b: float
    before: float
    after: float


@dataclass(frozen=True)
class Spread:
    """The models (seeds) of one size: their lowest and highest score."""

    params: float
    low: float
    high: float
    models: int

    @property
    def width(self) -> float:
        return self.high - self.low


def dips(curve: Any) -> list[Dip]:
    """Neighbouring sizes where the mean gets worse (lower accuracy, higher distance) by more than
    DIP_SHARE of the curve's range; `curve` is an analysis.study.Curve (x = log10 params, y = means)."""
    if len(curve.y) < 2:
        return []
    sign = METRICS[curve.metric].sign
    span = max(curve.y) - min(curve.y)
    out = []
    for (xa, ya), (xb, yb) in zip(zip(curve.x, curve.y), zip(curve.x[1:], curve.y[1:])):
        if sign * (yb - ya) < 0 and abs(yb - ya) > DIP_SHARE * span:
            out.append(Dip(10**xa, 10**xb, ya, yb))
    return out


def widest_spread(curve: Any) -> Spread | None:
    """The size whose models' scores lie furthest apart (None when no size has two models)."""
    by: dict[float, list[float]] = {}
    for s in curve.models:
        by.setdefault(s.params, []).append(s.mean)
    spreads = [Spread(p, min(v), max(v), len(v)) for p, v in by.items() if len(v) > 1]
    return max(spreads, key=lambda s: s.width) if spreads else None
