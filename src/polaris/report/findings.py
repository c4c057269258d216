"""The report's first section, Findings: what the store's numbers say, in sentences computed from
them, beside the one figure that shows it. The rest of the page (leaderboards, then details) backs
each sentence up.

The figure is the first scaling study's headline metric with the metric that explains it (the
continuous metric under which an emergent curve is smooth, else the study's second metric); without
sizes, the compute figure (accuracy against tokens), else the forest plot of the contrasts, else the
accuracy of every cell with its CI.
A caller with its own sentences (`polaris demo`) passes them as `summary`; they replace the generic
ones, and the figure stays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polaris.report.collect import Cell
from polaris.report.markup import Markup, el, p_is, pct, plural, pts, task_title

MAX_TASKS = 6  # tasks named one by one; beyond, the leaderboard speaks for them


def _setting(c: Cell) -> str:
    return f"{c.prompt}, {c.strategy}"


def _leaders(cells: Sequence[Cell]) -> list[str]:
    tasks: dict[str, list[Cell]] = {}
    for c in cells:
        if c.accuracy is not None and c.summary.get("scored"):
            tasks.setdefault(c.task, []).append(c)
    if len(tasks) > MAX_TASKS:
        return [f"The leaderboard below ranks {plural(len(cells), 'run')} on {plural(len(tasks), 'task')}."]
    out = []
    for task, group in sorted(tasks.items(), key=lambda kv: -len(kv[1])):
        # A partial run (a --limit, a budget stop) leads only when no run has every item.
        whole = [c for c in group if not c.summary.get("partial")] or group
        best = max(whole, key=lambda c: (c.accuracy or 0.0, c.summary["scored"]))
        s = best.summary
        cov = s.get("coverage") or {}
        items = f"{s['scored']:,} of {cov['of']:,} items (partial)" if s.get("partial") and cov.get("of") else \
            plural(s["scored"], "item")
        score = f"{pct(best.accuracy)}% [{pct(s['ci95'][0])}, {pct(s['ci95'][1])}]" if s.get("ci95") else \
            f"{pct(best.accuracy)}%"
        if len(group) > 1:
            out.append(f"On {task_title(task)} ({plural(len(group), 'run')}), the most accurate is {best.model} with "
                       f"{_setting(best)}: {score} over {items}.")
        else:
            out.append(f"On {task_title(task)}, {best.model} with {_setting(best)} scores {score} over {items}.")
    return out


def _contrasts(rows: Sequence[dict[str, Any]]) -> list[str]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("n"):
            by.setdefault(r["name"], []).append(r)
    out = []
    for name, group in by.items():
        if len(group) == 1:
            r = group[0]
            where = f" ({r['setting']})" if r.get("setting") else ""
            out.append(f"{name}{where}: {r.get('a_side', r['a'])} minus {r.get('b_side', r['b'])} is "
                       f"{pts(r['delta'])} points [{pts(r['low'])}, {pts(r['high'])}] over "
                       f"{plural(r['n'], 'item')}, Holm {p_is(r.get('p_holm'))}.")
            continue
        sig = [r for r in group if r.get("p_holm") is not None and r["p_holm"] < 0.05]
        up, down = sum(r["delta"] > 0 for r in sig), sum(r["delta"] < 0 for r in sig)
        lo, hi = min(r["delta"] for r in group), max(r["delta"] for r in group)
        first = name.split(" vs ")[0]
        out.append(f"{name}, {plural(len(group), 'pair')}: {first} is better in {up} and worse in {down} at Holm "
                   f"p < 0.05 ({len(group) - up - down} not significant); the differences run from {pts(lo)} to "
                   f"{pts(hi)} points.")
    return out


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _pct_or(value: float | None, bounded: bool) -> str:
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if bounded else f"{value:.3g}"


def _scaling(items: Sequence[dict[str, Any]]) -> list[str]:
    from polaris.analysis.figures import curve_names, size_label
    from polaris.analysis.itemmetrics import METRICS
    from polaris.analysis.shape import dips, widest_spread

    out = []
    for it in items:
        study = it.get("object")
        if it.get("error") or study is None or not study.metrics:
            continue
        metric = study.metrics[0]
        m = METRICS[metric]
        names = curve_names(study.curves)
        verdicts = {(v["prompt"], v["strategy"], v["family"], v.get("instruct")): v
                    for v in it["study"].get("verdicts") or [] if v["metric"] == metric}
        clauses, shape = [], []
        for c in study.curves:
            if c.metric != metric:
                continue
            v = verdicts.get((c.prompt, c.strategy, c.family, c.instruct))
            if v is None:
                continue
            big = v.get("largest") or {}
            text = f"{names[c.key]} is {v['verdict']}"
            if big.get("observed") is not None and big.get("predicted") is not None:
                text += (f", {_pct_or(big['observed'], m.bounded)} at the largest size where a line through the "
                         f"smaller sizes predicts {_pct_or(big['predicted'], m.bounded)}")
            if v.get("smooth_under"):
                text += f"; it is smooth under {_listed([METRICS[s].title for s in v['smooth_under']])}"
            clauses.append(text)
            for d in dips(c):
                shape.append(f"{names[c.key]} {m.title} is not monotonic in size: "
                             f"{_pct_or(d.before, m.bounded)} at {size_label(d.params_a)} parameters, "
                             f"{_pct_or(d.after, m.bounded)} at {size_label(d.params_b)}.")
            w = widest_spread(c)
            if w is not None and (w.width >= 0.2 if m.bounded else w.width > 0.25 * (max(c.y) - min(c.y))):
                shape.append(f"The {plural(w.models, 'model')} of {names[c.key]} at {size_label(w.params)} "
                             f"parameters range from {_pct_or(w.low, m.bounded)} to {_pct_or(w.high, m.bounded)} "
                             f"{m.title}: one size's mean stands for runs far apart.")
        if clauses:
            sizes = max(len(c.x) for c in study.curves)
            out.append(f"Scaling of {it['task']} ({it['family']}, {plural(sizes, 'size')}) under {m.title}, in Lu "
                       f"et al.'s terms: " + "; ".join(clauses) + ".")
        out += shape
    return out


def sentences(cells: Sequence[Cell], rows: Sequence[dict[str, Any]], scaled: Sequence[dict[str, Any]]) -> list[str]:
    """What the store's numbers say, generically: the leader of each task, each kind of contrast's
    outcome, each scaling study's verdicts and the shape of its curves."""
    return _leaders(cells) + _scaling(scaled) + _contrasts(rows)


def key_figure(scaled: Sequence[dict[str, Any]], forest: dict[str, str] | None,
               compute: dict[str, dict[str, str]], cells: Sequence[Cell],
               figdir: Path) -> tuple[dict[str, str], str] | None:
    """(figure paths, caption) of the findings' figure, drawn into `figdir` when it is not one already drawn."""
    from polaris.analysis.figures import scaling_figure
    from polaris.analysis.itemmetrics import METRICS
    from polaris.report import figures as figs

    for it in scaled:
        study = it.get("object")
        if it.get("error") or study is None or not study.metrics:
            continue
        head = study.metrics[0]
        smooth = [s for v in it["study"].get("verdicts") or [] if v["metric"] == head
                  for s in v.get("smooth_under") or []]
        second = (smooth or [m for m in study.metrics[1:]])[:1]
        metrics = [head, *second]
        with figs._plt().rc_context({"text.parse_math": figs.STYLE["text.parse_math"]}):  # model names are text
            paths = figs.save(scaling_figure(study, metrics), figdir, "findings")
        names = " and ".join(METRICS[m].title for m in metrics)
        return paths, (f"Scaling of {it['task']} ({it['family']}) under {names}; every metric, the verdict table "
                       "and the fits are under Scaling.")
    if compute:
        task = sorted(compute)[0]
        return compute[task], f"Accuracy and truncation against tokens per item on {task}; the table is under Compute."
    if forest:
        return forest, "Paired contrasts (A - B, percentage points, 95% CI); the table is under Contrasts."
    shown = [c for c in cells if c.accuracy is not None]
    if shown:
        return figs.save(figs.accuracy(shown), figdir, "findings"), "Accuracy of every run, 95% CI."
    return None


def section(paragraphs: Sequence[str], fig: tuple[dict[str, str], str] | None) -> Markup | None:
    from polaris.report.sections import figure, section as wrap

    if not paragraphs and fig is None:
        return None
    text = el("div", *(el("p", p) for p in paragraphs), class_="text")
    shown = figure(fig[0], fig[1], fig[1]) if fig else None
    return wrap("summary", "Findings", el("div", text, shown, class_="findings"))
