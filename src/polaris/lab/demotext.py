"""What `polaris demo` found, as numbers (`findings`, the `--json` document) and as sentences
(`sentences`), both computed from the scaling study of this run's stored results: nothing here is
a hard-coded result. Percentages are size means over the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

DIRECT, SCRATCHPAD = "zeroshot-direct", "zeroshot-cot"
CONTINUOUS = ("per-token", "edit", "logprob")
NAMES = {"exact": "exact match", "per-token": "per-digit accuracy", "edit": "token edit distance",
         "logprob": "target log-prob", "strict": "strict exact match"}


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def params_text(p: float) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if p >= div:
            v = p / div
            return f"{v:.0f}{unit}" if v >= 10 else f"{v:.1f}{unit}"
    return f"{p:.0f}"


def findings(study: Any, models: Sequence[Any]) -> dict[str, Any]:
    """Per format and metric the size means with 95% CIs, per model the scores, and the verdicts."""
    from polaris.analysis.shape import dips, widest_spread
    from polaris.analysis.studyreport import curve_dict

    size_of = {m.params: m.size for m in models}
    curves: dict[str, dict[str, list[dict[str, Any]]]] = {}
    per_model: dict[str, dict[str, dict[str, float]]] = {}
    shape: dict[str, dict[str, dict[str, Any]]] = {}
    for c in study.curves:
        spread = widest_spread(c)
        shape.setdefault(c.prompt, {})[c.metric] = {
            "dips": [{"from": round(d.params_a), "to": round(d.params_b), "before": d.before, "after": d.after}
                     for d in dips(c)],
            "widest_seeds": None if spread is None else {"params": round(spread.params), "low": spread.low,
                                                         "high": spread.high, "models": spread.models}}
        d = curve_dict(c)
        curves.setdefault(c.prompt, {})[c.metric] = [
            {"size": size_of.get(round(p["params"])), "params": round(p["params"]), "mean": p["y"],
             "low": p["low"], "high": p["high"], "models": len(p["models"])} for p in d["points"]]
        for s in c.models:
            per_model.setdefault(s.model, {}).setdefault(c.prompt, {})[c.metric] = s.mean
    keep = ("prompt", "metric", "verdict", "above_baseline", "above_p", "predictable", "z", "best_fit",
            "breakthroughness", "line_r2", "largest", "metric_sensitivity", "smooth_under")
    verdicts = [{k: v.get(k) for k in keep if k in v} for v in study.verdicts()]
    sizes = sorted({(m.params, m.size) for m in models})
    return {
        "task": study.task,
        "sizes": [{"size": s, "params": p, "seeds": sum(m.params == p for m in models)} for p, s in sizes],
        "curves": curves,
        "models": per_model,
        "verdicts": verdicts,
        "shape": shape,
        "notes": list(study.notes),
    }


def _verdict(f: dict[str, Any], prompt: str, metric: str) -> dict[str, Any] | None:
    return next((v for v in f["verdicts"] if v["prompt"] == prompt and v["metric"] == metric), None)


def _means(f: dict[str, Any], prompt: str, metric: str) -> list[dict[str, Any]]:
    return f["curves"].get(prompt, {}).get(metric, [])


def _largest_step(points: list[dict[str, Any]]) -> tuple[float, dict[str, Any], dict[str, Any]] | None:
    steps = [(b["mean"] - a["mean"], a, b) for a, b in zip(points, points[1:])]
    return max(steps, key=lambda s: s[0]) if steps else None


def _direct(f: dict[str, Any]) -> str | None:
    exact, digits = _means(f, DIRECT, "exact"), _means(f, DIRECT, "per-token")
    if len(exact) < 2:
        return None
    lo, hi = exact[0], exact[-1]
    text = (f"Answering directly ({DIRECT}), exact match goes from {pct(lo['mean'])} at {params_text(lo['params'])} "
            f"parameters to {pct(hi['mean'])} at {params_text(hi['params'])}")
    step = _largest_step(exact)
    if step is not None:
        d, a, b = step
        text += (f"; its largest step between neighbouring sizes is {100 * d:+.1f} points "
                 f"({params_text(a['params'])} to {params_text(b['params'])})")
    if len(digits) == len(exact):
        dstep = _largest_step(digits)
        text += (f". Per-digit accuracy (the figure's per-token accuracy) of the same answers rises from {pct(digits[0]['mean'])} to "
                 f"{pct(digits[-1]['mean'])}, by at most {100 * dstep[0]:+.1f} points a step" if dstep else "")
    return text + "."


def _scratchpad(f: dict[str, Any]) -> str | None:
    direct = {p["params"]: p for p in _means(f, DIRECT, "exact")}
    cot = [p for p in _means(f, SCRATCHPAD, "exact") if p["params"] in direct]
    if not cot:
        return None
    gap, best = max(((p["mean"] - direct[p["params"]]["mean"], p) for p in cot), key=lambda g: g[0])
    if gap <= 0.05:
        return (f"The scratchpad does not help here: its exact match is at most {100 * gap:.1f} points above "
                f"direct answers.")
    return (f"With a scratchpad ({SCRATCHPAD}), exact match reaches {pct(best['mean'])} at {params_text(best['params'])} parameters, "
            f"where direct answers are at {pct(direct[best['params']]['mean'])}.")


def _shape(f: dict[str, Any]) -> list[str]:
    """Where exact match gets worse with size (naming the other metrics that dip at the same step) and
    how far apart the seeds of one size are, when they are far apart."""
    out = []
    shape = f.get("shape") or {}
    for prompt, name in ((DIRECT, "Direct"), (SCRATCHPAD, "Scratchpad")):
        metrics = shape.get(prompt) or {}
        for d in (metrics.get("exact") or {}).get("dips") or []:
            also = [NAMES[m] for m in CONTINUOUS
                    if any(o["from"] == d["from"] for o in (metrics.get(m) or {}).get("dips") or [])]
            text = (f"{name} exact match is not monotonic in size: it falls from {pct(d['before'])} at "
                    f"{params_text(d['from'])} parameters to {pct(d['after'])} at {params_text(d['to'])}")
            if also:
                text += f" ({_listed(also)} {'worsen' if len(also) > 1 else 'worsens'} there too)"
            out.append(text + ".")
    spreads = []
    for prompt, name in ((DIRECT, "direct"), (SCRATCHPAD, "scratchpad")):
        w = ((shape.get(prompt) or {}).get("exact") or {}).get("widest_seeds")
        if w and w["high"] - w["low"] >= 0.2:
            spreads.append(f"{name} exact match from {pct(w['low'])} to {pct(w['high'])} at "
                           f"{params_text(w['params'])}")
    if spreads:
        out.append(f"The seeds of one size disagree widely ({'; '.join(spreads)}): each size's mean stands for "
                   f"training runs far apart, and the CIs in the figure include that spread.")
    return out


def _held_out(v: dict[str, Any]) -> str:
    big = v.get("largest") or {}
    obs, pred, z = big.get("observed"), big.get("predicted"), v.get("z")
    if obs is None or pred is None:
        return ""
    fmt = pct if v["metric"] in ("exact", "per-token", "strict") else (lambda x: f"{x:.3g}")
    return f" ({fmt(obs)} at the largest size vs {fmt(pred)} predicted" + (f", z = {z:.1f})" if z is not None else ")")


def _listed(names: list[str]) -> str:
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _by_verdict(pairs: list[tuple[str, dict[str, Any]]]) -> str:
    """"per-digit accuracy and edit distance are predictable, target log-prob is emergent"."""
    groups: dict[str, list[str]] = {}
    for metric, v in pairs:
        groups.setdefault(v["verdict"], []).append(NAMES[metric])
    return ", ".join(f"{_listed(names)} {'are' if len(names) > 1 else 'is'} {label}" for label, names in groups.items())


def _verdicts(f: dict[str, Any]) -> list[str]:
    out = []
    exact = _verdict(f, DIRECT, "exact")
    if exact is not None:
        others = [(m, _verdict(f, DIRECT, m)) for m in CONTINUOUS]
        others = [(m, v) for m, v in others if v is not None]
        text = (f"Verdicts (Lu et al.: is the largest size above chance, and does a line through the smaller "
                f"sizes predict it?): direct exact match is {exact['verdict']}{_held_out(exact)}")
        if others:
            text += "; on the same answers " + _by_verdict(others)
        b = exact.get("breakthroughness")
        digits = _verdict(f, DIRECT, "per-token")
        if b is not None and digits is not None and digits.get("breakthroughness") is not None:
            text += (f". Breakthroughness B is {b:.1f} for exact match and {digits['breakthroughness']:.1f} "
                     f"for per-digit accuracy")
        out.append(text + ".")
        smooth = exact.get("smooth_under") or []
        if smooth:
            names = [NAMES[m] for m in smooth]
            out.append(f"So the jump is in the metric (Schaeffer et al.): exact match leaps above the trend of the "
                       f"smaller models while {_listed(names)} {'are' if len(names) > 1 else 'is'} predictable on the "
                       f"same answers.")
        elif exact["verdict"] == "emergent":
            out.append("No continuous metric here removes the jump: it is emergent under every metric measured.")
    cot = _verdict(f, SCRATCHPAD, "exact")
    if cot is not None:
        text = f"With a scratchpad, exact match is {cot['verdict']}{_held_out(cot)}"
        observed = (cot.get("largest") or {}).get("observed")
        if cot["verdict"] == "below trend" and observed is not None and observed >= 0.95:
            text += ": it has reached its ceiling, where a straight line overshoots"
        out.append(text + ".")
    return out


def sentences(f: dict[str, Any], description: str, n_models: int, n_items: int) -> list[str]:
    sizes = f["sizes"]
    seeds = sorted({s["seeds"] for s in sizes})
    intro = (f"{description} ({f['task']}): {n_models} models of the shipped ladder ({len(sizes)} sizes, "
             f"{params_text(sizes[0]['params'])} to {params_text(sizes[-1]['params'])} parameters, "
             f"{'/'.join(map(str, seeds))} seeds each), {n_items} test items, greedy.")
    return [s for s in (intro, _direct(f), _scratchpad(f), *_shape(f), *_verdicts(f)) if s]
