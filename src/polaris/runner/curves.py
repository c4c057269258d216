"""Self-consistency numbers of a cell, from its stored item results alone: maj@k and pass@k for every
k <= K with 95% CIs over items, and the cell's token totals.

Each stored sample carries its vote class (`vote`, None when nothing was extracted) and its score
(`correct`), so the curves are recomputed from the results table (rescore, reports) without the
scorer; they are computed from each item's pool of votes (runner/tally.py), never from all of a
run's samples at once. The estimators are `polaris.analysis.sampling`'s: pass@k is Chen et al.'s
unbiased estimator, maj@k the exact expectation of the vote (fractional credit on ties) over all k-subsets
of the K samples (seeded Monte Carlo above K = 128). With a "macro" headline (BBH) every k is
averaged like the headline: the mean of group means.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polaris.runner.tally import ItemTally


def _macro(values: Sequence[float], groups: Sequence[str]) -> tuple[float, list[float]]:
    """Mean of group means, with the macro headline's interval (groups fixed, items sampled)."""
    from polaris.analysis.stats import macro_ci

    est = macro_ci(values, groups)
    return est.mean, [est.low, est.high]


def sampling_of(items: Sequence[ItemTally], headline: str = "micro") -> dict[str, Any]:
    """{"maj_at", "maj_at_ci", "pass_at", "pass_at_ci", "maj_at_exact"} keyed by str(k), or {} for K = 1,
    from the items' compact records (runner/tally.py), in dataset order."""
    scored = [t for t in items if t.row.error is None and t.samples]
    K = min((t.samples for t in scored), default=0)
    if K < 2 or any(not t.voted for t in scored):
        return {}  # one sample per item, or results stored before votes were recorded
    from polaris.analysis.sampling import sampling_curves

    curves = sampling_curves([t.pool for t in scored])
    groups = [t.row.group for t in scored]
    macro = headline == "macro" and len(set(groups)) > 1
    out: dict[str, Any] = {"samples_per_item": K, "maj_at_exact": curves.exact}
    if all(t.row.data.get("identical_samples") for t in scored):
        # Every item's K samples are one text (a server that ignores temperature): the curves are flat by
        # construction, not a finding. Tables, JSON and the report say so.
        out["sampling_degenerate"] = True
    for name, est, values in (("maj_at", curves.maj_at, curves.item_maj_at),
                              ("pass_at", curves.pass_at, curves.item_pass_at)):
        means, cis = {}, {}
        for k in curves.ks:
            if macro:
                means[str(k)], cis[str(k)] = _macro(values[k], groups)
            else:
                means[str(k)], cis[str(k)] = est[k].mean, [est[k].low, est[k].high]
        out[name], out[name + "_ci"] = means, cis
    # How much of the interval is items and how much sampling (eval-arena's decomposition).
    from polaris.analysis.variance import decompose_spreads

    out["variance"] = decompose_spreads([t.spread for t in scored], groups, "macro" if macro else "micro")
    return out
