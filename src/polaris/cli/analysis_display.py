"""Tables for the analyses: the ICL question of experiment files, scaling curves, fits and verdicts.

Tables go to stdout (rich, imported lazily); `--json` replaces them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from polaris.cli.display import p_is, p_text, pct, wide_console
from polaris.cli.tables import Brief, Col, Grid


def _num(x: Any, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def icl_table(entries: Sequence[dict[str, Any]]) -> None:
    """Experiment files with base vs instruct models: does the ability appear without ICL?"""
    table = Grid("Without in-context learning? accuracy % vs chance % per setting"
                 " (* above chance, one-sided, Holm-adjusted across this table)", [
                     Col("base model", key=True, wrap=False), Col("task", key=True, wrap=False),
                     Col("strategy", key=True), Col("chance %", "right"),
                     *(Col(c, "right") for c in ("base 0-shot", "instruct 0-shot", "base few-shot", "instruct few-shot")),
                     Col("answer")])
    for e in entries:
        cells = []
        base = next((c["baseline"] for c in e["settings"].values() if c["baseline"] is not None), None)
        for name in ("base-zero", "instruct-zero", "base-few", "instruct-few"):
            c = e["settings"][name]
            if c["accuracy"] is None:
                cells.append("-")
                continue
            mark = "*" if c["above"] else ""
            cells.append(f"{pct(c['accuracy'])}{mark} ({p_is(c['p_holm'])})")
        strategy = str(e["strategy"]) + (f" s{e['seed']}" if e["seed"] else "")
        table.add_row(str(e["lineage"]), str(e["task"]), strategy, pct(base), *cells, e["answer"])
    console = table.print(wide_console())
    console.print("answer: 'without ICL' = the base model is above chance zero-shot; 'instruction tuning' = only the"
                  " tuned model is (implicit ICL, Lu et al. 2024); 'needs examples' = only few-shot settings are.",
                  style="dim", highlight=False)


def _value(metric: str, x: float | None) -> str:
    from polaris.analysis.itemmetrics import METRICS

    if x is None or not math.isfinite(x):
        return "-"
    return pct(x) if METRICS[metric].bounded else f"{x:.3g}"


def _params(p: float) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if p >= div:
            return f"{p / div:.3g}{unit}"
    return f"{p:.3g}"


def scaling_tables(study: Any) -> None:
    """`polaris analyze scaling`: models, fits, verdicts and what they say, for one task."""
    from polaris.analysis.itemmetrics import METRICS

    console = wide_console()
    metrics = study.metrics
    unit = {m: "%" if METRICS[m].bounded else "" for m in metrics}
    seen: dict[str, dict[tuple[Any, ...], dict[str, dict[str, Any]]]] = {}
    for c in study.curves:
        for s in c.models:
            seen.setdefault(c.name, {}).setdefault((s.params, s.model), {})[c.metric] = {"s": s}
    # One table per curve (the curve's name is long and the same on each of its rows); in a narrow
    # terminal the means are shown without their intervals rather than wrapped over three lines.
    for name, rows in seen.items():
        table = Grid(f"Scaling: {study.task}, {name} (mean [95% CI] per model; chance = random baseline)", [
            Col("model", wrap=False), Col("params", "right"),
            *(Col(f"{METRICS[m].title} {unit[m]}".strip(), "right") for m in metrics),
            Col("chance %", "right", drop=1)], brief="95% CIs")
        for (params, model), by in rows.items():
            cells: list[str] = []
            for m in metrics:
                s = by.get(m, {}).get("s")
                cells.append("-" if s is None else
                             Brief(f"{_value(m, s.mean)} [{_value(m, s.low)}, {_value(m, s.high)}]", _value(m, s.mean)))
            exact = by.get("exact", {}).get("s")
            table.add_row(model, _params(params), *cells,
                          pct(exact.baseline) if exact and exact.baseline is not None else "-")
        table.print(console)

    fits = Grid("Fits against log10(parameters) (AICc, lower is better; * best; BNSL needs 6 sizes and AICc"
                " 8 to be judged)", [Col("curve", key=True), Col("metric", key=True),
                                     *(Col(c, "right") for c in ("line", "logistic", "onset (logistic x0)",
                                                                 "broken power law")),
                                     Col("best BIC", "right", drop=1)])
    names = {c.name for c in study.curves if c.analysis is not None}
    last: dict[int, str] = {}

    def shown(name: str, grid: Any) -> str:
        """A curve's name on its first row only, its rows a section: a long name wraps beside its metrics'
        rows instead of on every row (with one curve, the name is said once above the table)."""
        if len(names) == 1:
            return name
        if last.get(id(grid)) == name:
            return ""
        if id(grid) in last:
            grid.add_section()
        last[id(grid)] = name
        return name

    for c in study.curves:
        a = c.analysis
        if a is None:
            continue

        def aicc(name: str, a: Any = a) -> str:
            f = a.fits[name]
            if not f.fitted:
                return "-"
            return (_num(f.aicc) if math.isfinite(f.aicc) else "n/a") + ("*" if a.best == name else "")

        lg = a.fits["logistic"]
        onset = "-"
        if lg.fitted:
            se = lg.se.get("x0", math.nan)
            onset = _params(10 ** lg.params["x0"]) + (f" ±{se:.2f} dex" if math.isfinite(se) and se <= 3
                                                       else " (not identified)")
        best = a.fits.get(a.best) if a.best else None
        fits.add_row(shown(c.name, fits), METRICS[c.metric].title, aicc("line"), aicc("logistic"), onset, aicc("bnsl"),
                     _num(best.bic) if best is not None else "-")
    fits.print(console)

    verdicts = study.verdicts()
    vt = Grid("Emergence (Lu et al.): above baseline? x predictable from the smaller models?"
              " (largest size held out, line fit to the rest)", [
                  Col("curve", key=True), Col("metric", key=True), Col("above chance (p)", "right"),
                  Col("largest: observed vs predicted", "right"), Col("z", "right"), Col("verdict"),
                  Col("B", "right", drop=2), Col("line R²", "right", drop=2),
                  Col("B(exact) - B(metric)", "right", drop=1)])
    sens: dict[tuple[Any, ...], dict[str, float]] = {}
    for v in verdicts:
        if "metric_sensitivity" in v:
            sens[(v["family"], v["instruct"], v["prompt"], v["strategy"])] = v["metric_sensitivity"]
    for v, c in zip(verdicts, [c for c in study.curves if c.analysis is not None]):
        above = "n/a" if v["above_baseline"] is None else ("yes" if v["above_baseline"] else "no") + \
            f" ({p_text(v['above_p'])})"
        big = v["largest"]
        obs = (f"{_value(v['metric'], big['observed'])} vs {_value(v['metric'], big['predicted'])}"
               if big["predicted"] is not None else "-")
        s = sens.get((v["family"], v["instruct"], v["prompt"], v["strategy"]), {}).get(v["metric"])
        vt.add_row(shown(c.name, vt), METRICS[v["metric"]].title, above, obs, _num(v["z"]), v["verdict"],
                   _num(v["breakthroughness"]), _num(v["line_r2"], 2), _num(s))
    vt.print(console)
    for line in conclusions(verdicts):
        console.print(line, highlight=False)
    for note in study.notes:
        console.print(f"note: {note}", style="dim", highlight=False)


def conclusions(verdicts: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per curve whose discrete metric is emergent: is the jump in the metric?"""
    from polaris.analysis.itemmetrics import METRICS

    out = []
    for v in verdicts:
        if METRICS[v["metric"]].kind != "discrete":
            continue
        where = f"{v['family']}{' instruct' if v['instruct'] else ''} {v['prompt']} {v['strategy']}"
        if v["verdict"] == "emergent" and v.get("smooth_under"):
            names = " and ".join(METRICS[m].title for m in v["smooth_under"])
            verb = "are" if len(v["smooth_under"]) > 1 else "is"
            out.append(f"{where}: {METRICS[v['metric']].title} jumps above the trend of the smaller models, but "
                       f"{names} {verb} predictable on the same outputs: the jump is in the metric (Schaeffer et al.).")
        elif v["verdict"] == "emergent":
            out.append(f"{where}: {METRICS[v['metric']].title} is emergent in Lu et al.'s sense (above chance and"
                       f" above the extrapolated trend, z = {v['z']:.1f}); no continuous metric here removes the jump.")
    return out
