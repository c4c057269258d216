"""Plan-generation metrics from item results: what the run summary and `--json` report for planning tasks.

Over the items that were answered (errors are asked again, never counted as failures):

- `success`: the plan is valid and reaches the goal (the headline accuracy), Wilson 95% CI.
- `optimality`: plan length / optimal length, over the successes (1.0 = optimal), mean with a 95% CI;
  `optimal`: the share of all items solved with an optimal plan (PlanBench t2's criterion).
- `executable_prefix`: the fraction of a plan's steps executed before its first failure (1.0 for
  plans that run to the end, whether or not they reach the goal), mean with a 95% CI.
- `failures`: each failure kind's share of the items, with a Wilson CI: no-plan, unparseable,
  unknown-action, unknown-object, wrong-arity, inexecutable, goal-unmet.
- `by_blocks`: success, optimality and executable prefix per block count (the curves).
- `modulo` (with `-T verifier-rounds=R`): `success_at[r]` = valid within the first r back-prompts,
  r = 0..R (r = 0: the first answer), with CIs; mean back-prompts used by the successes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polaris.scoring.plan import FAILURE_KINDS


def _ci(values: Sequence[float]) -> dict[str, Any]:
    from polaris.analysis.stats import mean_ci

    if not values:
        return {"n": 0, "mean": None, "ci95": None}
    est = mean_ci(values)
    return {"n": len(values), "mean": est.mean, "ci95": [est.low, est.high]}


def _ratio_ci(values: Sequence[float]) -> dict[str, Any]:
    """Mean length ratio with a normal 95% CI (ratios are >= 1 and unbounded: no Wilson interval)."""
    import math

    from polaris.analysis.stats import standard_error

    if not values:
        return {"n": 0, "mean": None, "ci95": None}
    mean = sum(values) / len(values)
    se = standard_error(values) if len(values) > 1 else math.nan
    ci = [max(1.0, mean - 1.959964 * se), mean + 1.959964 * se] if math.isfinite(se) else None
    return {"n": len(values), "mean": mean, "ci95": ci}


def _block_count(group: str) -> int:
    head = group.split()[0] if group else ""
    return int(head) if head.isdigit() else 0


def _metrics(details: Sequence[dict[str, Any]]) -> dict[str, Any]:
    success = [1.0 if d.get("valid") else 0.0 for d in details]
    ratios = [d["optimality"] for d in details if d.get("valid") and d.get("optimality") is not None]
    optimal = [1.0 if d.get("valid") and d.get("optimality") == 1.0 else 0.0 for d in details]
    prefix = [float(d.get("executable_prefix") or 0.0) for d in details]
    return {"success": _ci(success), "optimality": _ratio_ci(ratios), "optimal": _ci(optimal),
            "executable_prefix": _ci(prefix)}


def summarize(rows: Sequence[Any]) -> dict[str, Any]:
    """{"planning": {...}} for `Task.summarize`; rows are `ResultRow`s whose data has the scorer's detail."""
    scored = [r for r in rows if r.error is None and isinstance(r.data.get("detail"), dict)]
    details = [r.data["detail"] for r in scored]
    out: dict[str, Any] = _metrics(details)
    n = len(details)
    kinds = [d.get("kind") for d in details]
    out["failures"] = {k: _ci([1.0 if x == k else 0.0 for x in kinds]) | {"count": kinds.count(k)}
                       for k in FAILURE_KINDS if k in kinds}
    by_blocks: dict[int, list[dict[str, Any]]] = {}
    for r, d in zip(scored, details):
        by_blocks.setdefault(_block_count(r.group), []).append(d)
    out["by_blocks"] = {str(b): _metrics(ds) for b, ds in sorted(by_blocks.items())}
    modulo = [r.data["modulo"] for r in scored if isinstance(r.data.get("modulo"), dict)]
    if modulo and n:
        rounds = max(m["max_rounds"] for m in modulo)
        at = [m["valid_at"] for m in modulo]
        used = [a for a in at if a is not None]
        out["modulo"] = {
            "max_rounds": rounds,
            "feedback": modulo[0]["feedback"],
            "success_at": [_ci([1.0 if a is not None and a <= r else 0.0 for a in at]) | {"round": r}
                           for r in range(rounds + 1)],
            "mean_rounds_to_success": sum(used) / len(used) if used else None,
            "requests": sum(len(m["rounds"]) for m in modulo),
        }
    return {"planning": out}
