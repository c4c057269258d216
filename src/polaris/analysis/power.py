"""How many items a comparison needs, and the smallest difference a given number can detect (Miller 2024)."""

from __future__ import annotations

import math

from polaris.analysis.stats import sps


def design_variance(
    omega2: float, sigma2_a: float = 0.0, k_a: int = 1, sigma2_b: float = 0.0, k_b: int = 1
) -> float:
    """Miller's ω² + σ_A²/K_A + σ_B²/K_B: the per-item variance of a paired difference.

    ω² = Var(x_A) + Var(x_B) - 2Cov(x_A, x_B) over item means; σ² the within-item sampling
    variance, divided by the samples per item. For one cell against a fixed baseline use
    ω² = Var(x) (p(1-p) for 0/1 scores).
    """
    return omega2 + sigma2_a / k_a + sigma2_b / k_b


def required_n(delta: float, variance: float, alpha: float = 0.05, power: float = 0.80) -> int:
    """Items needed to detect a difference `delta` (two-sided alpha, given power); Miller eq. 9."""
    if delta == 0:
        raise ValueError("delta must be non-zero")
    zsum = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    return int(math.ceil(zsum**2 * variance / delta**2 - 1e-9))


def minimum_detectable_effect(
    n: int, variance: float, alpha: float = 0.05, power: float = 0.80
) -> float:
    """Smallest difference detectable with n items (two-sided alpha, given power); Miller eq. 10."""
    if n <= 0:
        raise ValueError("n must be positive")
    zsum = float(sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power))
    return zsum * math.sqrt(variance / n)
