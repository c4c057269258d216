"""Accuracy against test-time compute (docs/compute.md): `polaris analyze compute` and the report.

For each model x task, every stored cell becomes points on one axis of compute, completion tokens
per item (reasoning and answer, every sample and every LLM-Modulo round; prompt tokens and cost are
shown beside):

- a cell with one sample per item: its accuracy, at its tokens per item;
- a cell with K samples: maj@k (the vote of k samples) and pass@k (any of k right: an oracle, shown
  but never on the frontier) for k = 1, 2, 4, ..., K, at k times its tokens per sample, with the
  CIs of `runner/curves.py`;
- a planning cell with LLM-Modulo rounds: success within r back-prompts, at the tokens the rounds
  up to r cost (an item that succeeded earlier stops spending).

Budgets (effort, thinking budget, max tokens), prompt formats and k all land on the same axis. The
frontier of a model is its best accuracy at each compute level: the points no cheaper point beats.
Beside every point, the truncation rate (samples that ran out of tokens before an answer,
`runner.compute.is_truncated`), so a collapse caused by the budget is told apart from wrong answers.
`factor_checks` flags budgets a server ignored. Pure functions over stored results; no model is called.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Z95 = 1.959963984540054
FLAT = 0.05  # levels of a factor whose token counts differ by less than this (relative) did not move them
_BUDGET_LABEL = re.compile(r"\+(?:effort|think|max):[^+]*")


@dataclass
class Point:
    group: str  # the curve: a model (or a lab size, pooled over seeds)
    task: str
    setting: str  # what this point is: "fewshot-cot greedy+think:512", with "k=4" or "r=2"
    kind: str  # "cell" | "maj" | "pass" | "round"
    tokens: float  # the compute axis: completion tokens per item (or reasoning tokens, `axis="reasoning"`)
    accuracy: float
    low: float
    high: float
    n: int  # items
    truncation: float  # share of samples truncated (ran out of tokens before an answer)
    k: int = 1
    reasoning: float | None = None  # reasoning tokens per item
    completion: float | None = None  # completion tokens per item
    forced: float = 0.0  # share of samples whose thinking the budget cut (budget forcing)
    prompt_tokens: float | None = None  # prompt tokens per item
    cost: float | None = None  # USD per item, where the model has a price
    effort: str | None = None
    thinking_budget: int | None = None
    max_tokens: int | None = None
    prompt: str = ""
    runs: list[str] = field(default_factory=list)
    frontier: bool = False


def base_strategy(strategy: str) -> str:
    """A strategy label without its compute factors (`greedy+think:512` -> `greedy`)."""
    return _BUDGET_LABEL.sub("", strategy)


def cell_points(model: str, task: str, spec: Mapping[str, Any], summary: Mapping[str, Any], run_id: str,
                rounds: Sequence[Mapping[str, Any]] | None = None, price: Any = None,
                axis: str = "completion") -> list[Point]:
    """The points one cell puts on the compute axis (module docstring); [] without token counts.
    `axis`: "completion" tokens per item (the default), or "reasoning" tokens (thinking alone)."""
    comp = summary.get("compute")
    if not comp or summary.get("accuracy") is None:
        return []
    budget = comp.get("budget") or {}
    strategy = str(summary.get("strategy") or "")
    setting = f"{spec.get('prompt', '')} {strategy}".strip()
    per_item, per_sample = comp["per_item"], comp["per_sample"]
    n = int(comp["items"])
    forced = comp.get("forced", 0) / comp["samples"] if comp.get("samples") else 0.0
    common = dict(group=model, task=task, n=n, truncation=float(comp["truncation_rate"]), forced=forced,
                  effort=budget.get("reasoning_effort"), thinking_budget=budget.get("thinking_budget"),
                  max_tokens=budget.get("max_tokens"), prompt=str(spec.get("prompt", "")), runs=[run_id])

    def priced(prompt_tokens: float | None, completion: float) -> float | None:
        return None if price is None else price.of(prompt_tokens or 0.0, completion)

    K = int(summary.get("samples_per_item") or 1)
    if rounds:  # rounds count completion tokens only: the reasoning axis does not apply
        return [Point(setting=f"{setting} r={r['round']}", kind="round", tokens=r["tokens"], accuracy=r["mean"],
                      low=r["ci95"][0], high=r["ci95"][1], k=1, completion=r["tokens"],
                      prompt_tokens=r.get("prompt_tokens"), cost=priced(r.get("prompt_tokens"), r["tokens"]), **common)
                for r in rounds]
    if K < 2 or not summary.get("maj_at"):
        low, high = summary.get("ci95") or (summary["accuracy"], summary["accuracy"])
        return [Point(setting=setting, kind="cell", tokens=per_item[axis], accuracy=summary["accuracy"],
                      low=low, high=high, reasoning=per_item["reasoning"], completion=per_item["completion"],
                      prompt_tokens=per_item["prompt"], cost=priced(per_item["prompt"], per_item["completion"]),
                      **common)]
    from polaris.analysis.sampling import doubling_ks

    points = []
    for k in doubling_ks(K):
        completion = k * per_sample["completion"]
        prompt_tokens = None if per_sample["prompt"] is None else k * per_sample["prompt"]
        for metric, kind in (("maj_at", "maj"), ("pass_at", "pass")):
            value = summary[metric].get(str(k))
            if value is None:
                continue
            low, high = summary[metric + "_ci"][str(k)]
            points.append(Point(setting=f"{setting} {kind}@{k}", kind=kind, tokens=k * per_sample[axis],
                                accuracy=value, low=low, high=high, k=k, reasoning=k * per_sample["reasoning"],
                                completion=completion, prompt_tokens=prompt_tokens, cost=priced(prompt_tokens, completion),
                                **common))
    return points


def modulo_rounds(rows: Sequence[Any], planning: Mapping[str, Any] | None,
                  extra: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[dict[str, Any]] | None:
    """Success within r rounds against the completion tokens rounds 0..r cost per item (an item that
    succeeded, or ran out of rounds, stops spending), or None for cells without LLM-Modulo rounds."""
    modulo = (planning or {}).get("modulo")
    if not modulo:
        return None
    scored = [r for r in rows if r.error is None and isinstance(r.data.get("modulo"), dict)]
    per_item: list[tuple[list[float], list[float | None]]] = []
    for r in scored:
        recs = [*extra.get(r.item, ()), *[s for s in r.data.get("samples", ()) if "tokens" in s]]
        per_item.append(([float(s.get("tokens") or 0.0) for s in recs], [s.get("prompt_tokens") for s in recs]))
    out = []
    for at in modulo["success_at"]:
        r = at["round"]
        completion = [sum(c[: r + 1]) for c, _ in per_item]
        prompts = [p[: r + 1] for _, p in per_item]
        known = all(x is not None for p in prompts for x in p)
        out.append({"round": r, "mean": at["mean"], "ci95": at["ci95"],
                    "tokens": sum(completion) / len(completion) if completion else 0.0,
                    "prompt_tokens": sum(sum(p) for p in prompts) / len(prompts) if known and prompts else None})
    return out


def mark_frontier(points: Sequence[Point]) -> list[Point]:
    """Mark and return the frontier: the points (votes, cells, rounds; never pass@k, an oracle) with
    more accuracy than every point at no more tokens."""
    best = -math.inf
    front = []
    for p in sorted((p for p in points if p.kind != "pass"), key=lambda p: (p.tokens, -p.accuracy)):
        if p.accuracy > best:
            p.frontier = True
            front.append(p)
            best = p.accuracy
    return front


def pool(points: Sequence[Point], group_of: Callable[[str], str]) -> list[Point]:
    """Points of models that share a group (a lab size's seeds) and a setting, averaged: accuracy,
    tokens and truncation are means over the models, the SE adds their spread to the items' SE
    (sqrt(mean(SE_i)^2 + Var(y_i)/m), as the scaling study pools seeds)."""
    by: dict[tuple[str, str, str, str], list[Point]] = {}
    for p in points:
        by.setdefault((group_of(p.group), p.task, p.setting, p.kind), []).append(p)
    out = []
    for (group, *_), ps in by.items():
        m = len(ps)
        ys = [p.accuracy for p in ps]
        mean = sum(ys) / m
        se_items = sum((p.high - p.low) / (2 * Z95) for p in ps) / m
        var = sum((y - mean) ** 2 for y in ys) / (m - 1) if m > 1 else 0.0
        se = math.sqrt(se_items ** 2 + var / m)

        def avg(name: str) -> Any:
            vals = [getattr(p, name) for p in ps]
            return None if any(v is None for v in vals) else sum(vals) / m

        first = ps[0]
        out.append(Point(group=group, task=first.task, setting=first.setting, kind=first.kind, tokens=avg("tokens"),
                         accuracy=mean, low=max(0.0, mean - Z95 * se), high=min(1.0, mean + Z95 * se),
                         n=sum(p.n for p in ps), truncation=avg("truncation"), k=first.k, reasoning=avg("reasoning"),
                         completion=avg("completion"), forced=avg("forced"),
                         prompt_tokens=avg("prompt_tokens"), cost=avg("cost"), effort=first.effort,
                         thinking_budget=first.thinking_budget, max_tokens=first.max_tokens, prompt=first.prompt,
                         runs=[r for p in ps for r in p.runs]))
    return out


@dataclass
class ComputeStudy:
    curves: dict[tuple[str, str], list[Point]]  # (task, group) -> points by tokens
    checks: list[dict[str, Any]]
    axis: str = "completion"  # what `Point.tokens` counts: completion or reasoning tokens per item

    def to_dict(self) -> dict[str, Any]:
        return {"axis": self.axis,
                "curves": [{"task": t, "group": g, "points": [asdict(p) for p in ps],
                            "frontier": [p.setting for p in ps if p.frontier]}
                           for (t, g), ps in self.curves.items()],
                "checks": self.checks}


def compute_study(points: Sequence[Point], summaries: Sequence[Mapping[str, Any]] = (),
                  group_of: Callable[[str], str] | None = None, min_points: int = 2,
                  axis: str = "completion") -> ComputeStudy:
    """Curves per task x group (points sorted by tokens, frontier marked) and the factor checks."""
    if group_of is not None:
        points = pool(points, group_of)
    curves: dict[tuple[str, str], list[Point]] = {}
    for p in points:
        curves.setdefault((p.task, p.group), []).append(p)
    kept = {}
    for key in sorted(curves):
        ps = sorted(curves[key], key=lambda p: (p.tokens, p.setting))
        if len(ps) >= min_points:
            mark_frontier(ps)
            kept[key] = ps
    return ComputeStudy(kept, factor_checks(summaries), axis)


# -- budgets a server ignored ----------------------------------------------------------------------


def factor_checks(summaries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Budgets that did not change what the model spent: a cell whose samples thought well past their
    thinking budget, and an effort or thinking budget whose levels (cells alike in everything else)
    left the completion tokens per sample within 5% of each other."""
    out: list[dict[str, Any]] = []
    cells = [s for s in summaries if s.get("compute")]
    for s in cells:
        check = s["compute"].get("budget_check")
        if check and not check["enforced"]:
            out.append({"kind": "budget-ignored", "model": s["model"], "task": s["task"], "prompt": s.get("prompt"),
                        "strategy": s.get("strategy"), "factor": "thinking_budget",
                        "levels": {str(check["thinking_budget"]): check["mean_reasoning"]},
                        "message": f"{s['model']} {s['task']} {s.get('strategy')}: {check['over']} of "
                                   f"{check['samples']} samples thought past the thinking budget of "
                                   f"{check['thinking_budget']} tokens ({check['mean_reasoning']:.0f} reasoning tokens "
                                   "per sample): the server ignores it (try another -M budget-param; docs/compute.md)"})
    for factor, flag in (("reasoning_effort", "--reasoning-effort"), ("thinking_budget", "--thinking-budget")):
        others = [f for f in ("reasoning_effort", "thinking_budget", "max_tokens") if f != factor]
        groups: dict[tuple[Any, ...], dict[Any, Mapping[str, Any]]] = {}
        for s in cells:
            b = s["compute"].get("budget") or {}
            key = (s["model"], s["task"], s.get("prompt"), base_strategy(str(s.get("strategy", ""))),
                   *(b.get(f) for f in others))
            groups.setdefault(key, {})[b.get(factor)] = s
        for key, by_level in groups.items():
            levels = {lv: c["compute"]["per_sample"]["completion"] for lv, c in by_level.items()}
            if len(levels) < 2 or min(levels.values()) <= 0:
                continue
            if factor == "thinking_budget":
                reasoning = max(c["compute"]["per_sample"]["reasoning"] for c in by_level.values())
                budgets = [lv for lv in levels if lv is not None]
                if not budgets or reasoning <= min(budgets):
                    continue  # no budget was below what the model thinks: none had reason to bind
            if max(levels.values()) / min(levels.values()) - 1 < FLAT:
                shown = ", ".join(f"{'default' if lv is None else lv}: {v:.0f}" for lv, v in
                                  sorted(levels.items(), key=lambda kv: str(kv[0])))
                out.append({"kind": "factor-flat", "model": key[0], "task": key[1], "prompt": key[2],
                            "strategy": key[3], "factor": factor, "levels": {str(k): v for k, v in levels.items()},
                            "message": f"{key[0]} {key[1]} {key[2]} {key[3]}: {flag} levels did not move the "
                                       f"completion tokens per sample ({shown}): the server probably ignores it"})
    return out
