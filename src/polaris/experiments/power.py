"""Sizing a grid before paying for it: the smallest difference each declared contrast can detect.

For every pair a contrast makes, from the cells' sizes (the items both cells run) the dry run gives the
minimum detectable effect (80% power, two-sided 5%) as an upper bound that holds for any scores in
[0, 1] (`analysis.variance.mde_bound`); when the store already holds both cells (a pilot run with
`--limit`, or an earlier run of the grid), the MDE at the planned size from their observed paired SE,
which carries their observed correlation (`analysis.variance.mde_from_prior`). Reading: a contrast
whose MDE is 6 points cannot tell apart prompts that differ by 3; more items, or cells that agree more
item by item, lower it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polaris.experiments.run import varying_axes, where
from polaris.experiments.spec import Experiment
from polaris.runner.runner import PreparedCell
from polaris.store.store import Store

MIN_PRIOR_ITEMS = 10  # fewer shared scored items say too little about the paired variance


def contrast_power(exp: Experiment, cells: Sequence[PreparedCell], store: Store | None) -> list[dict[str, Any]]:
    from polaris.analysis.variance import mde_bound, mde_from_prior

    by_run = {c.spec.run_id: c for c in cells}
    varying = varying_axes(exp)
    stored: dict[str, dict[str, Any]] = {}

    def results(run_id: str) -> dict[str, Any]:
        if run_id not in stored:
            rows = store.results(run_id) if store is not None else []
            stored[run_id] = {r.item: r for r in rows if r.error is None}
        return stored[run_id]

    out = []
    for contrast in exp.contrasts:
        for a, b in exp.pairs(contrast):
            ca, cb = by_run[a.spec.run_id], by_run[b.spec.run_id]
            shared = [it for it in ca.items if it.id in {x.id for x in cb.items}]
            row: dict[str, Any] = {"name": contrast.name, "where": where(a, contrast, varying), "a": a.spec.label,
                                   "b": b.spec.label, "n": len(shared), "mde_bound": mde_bound(len(shared)),
                                   "prior": None}
            ra, rb = results(a.spec.run_id), results(b.spec.run_id)
            both = [it for it in shared if it.id in ra and it.id in rb]
            if len(both) >= MIN_PRIOR_ITEMS:
                row["prior"] = mde_from_prior([ra[it.id].correct or 0.0 for it in both],
                                              [rb[it.id].correct or 0.0 for it in both], len(shared),
                                              clusters=[it.group for it in both])
            out.append(row)
    return out
