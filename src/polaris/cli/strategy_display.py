"""Tables for prompting strategies: self-consistency curves, exemplar spread, paired contrasts, grids.

Tables go to stdout like `results_table` (stderr carries progress and warnings); `--json` replaces
them. rich is imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from polaris.cli.display import chance_text, ci_text, p_text, pct, wide_console
from polaris.cli.tables import Col, Grid


def curve_ks(K: int) -> list[int]:
    """The k shown in a curve table: 1, 2, 4, ... and K itself."""
    from polaris.analysis.sampling import doubling_ks

    return doubling_ks(K)


def curves_table(summaries: Sequence[dict[str, Any]]) -> None:
    """maj@k and pass@k against k for every sampled cell (accuracy-vs-k curves)."""
    sampled = [s for s in summaries if s.get("maj_at")]
    if not sampled:
        return
    ks = sorted({k for s in sampled for k in curve_ks(int(s["samples_per_item"]))})
    table = Grid("Self-consistency: accuracy % against samples voted (k)",
                 [Col("cell"), Col("metric"), *(Col(f"k={k}", "right") for k in ks)])
    for s in sampled:
        cell = f"{s['model']} {s['task']} {s['prompt']} {s['strategy']}"
        if s.get("sampling_degenerate"):
            cell += " (degenerate)"
        for metric in ("maj", "pass"):
            values = s[f"{metric}_at"]
            table.add_row(cell if metric == "maj" else "", f"{metric}@k",
                          *[pct(values.get(str(k))) if str(k) in values else "" for k in ks])
    console = table.print(wide_console())
    if any(s.get("sampling_degenerate") for s in sampled):
        console.print("degenerate: every item's samples are identical (the server ignores temperature?); these"
                      " curves are flat by construction.", style="dim", highlight=False)
    if any("complex-top" in s.get("strategy", "") for s in sampled):
        console.print("complex-top-N cells: accuracy is the complexity vote; their maj@k row is the plain vote over"
                      " all samples, for comparison.", style="dim", highlight=False)
    variance_table(sampled)


def variance_table(summaries: Sequence[dict[str, Any]]) -> None:
    """For K-sample cells: how much of the per-sample accuracy's interval comes from the items and how
    much from sampling (analysis/variance.py), and what other K would give."""
    rows = [s for s in summaries if s.get("variance")]
    if not rows:
        return
    table = Grid("Where the interval comes from (per-sample accuracy, ±1.96·SE in points): items vs sampling",
                 [Col("cell"), *(Col(c, "right", wrap=False) for c in ("K", "± total", "± items", "± sampling")),
                  Col("sampling share", "right"), Col("± at K=1", "right", wrap=False, drop=1),
                  Col("± at K=∞", "right", wrap=False, drop=1)])
    for s in rows:
        v = s["variance"]
        half = lambda se: f"{196 * se:.1f}"  # noqa: E731
        table.add_row(f"{s['model']} {s['task']} {s['prompt']} {s['strategy']}", str(v["samples_per_item"]),
                      half(v["se"]), half(v["se_items"]), half(v["se_sampling"]), f"{100 * v['sampling_share']:.0f}%",
                      half(v["se_at_k1"]), half(v["se_at_k_infinite"]))
    console = table.print(wide_console())
    console.print("More samples per item shrink only the sampling part (K=∞ is the floor); more items shrink both.",
                  style="dim", highlight=False)


def tokens_line(s: dict[str, Any]) -> str:
    t = s.get("tokens")
    if not t:
        return "-"
    est = "~" if t.get("reasoning_estimated") else ""
    return f"{t['completion']} ({est}{t['reasoning']} reasoning)" if t.get("reasoning") else str(t["completion"])


def reasoning_table(summaries: Sequence[dict[str, Any]]) -> None:
    """Reasoning vs answer tokens, and unterminated thinking, for cells where the model reasoned."""
    rows = [s for s in summaries if (s.get("tokens") or {}).get("reasoning") or s.get("unterminated_thinking")]
    if not rows:
        return
    table = Grid("Reasoning (~ = estimated from text length)",
                 [Col("cell"), *(Col(c, "right") for c in ("completion tokens", "reasoning", "answer",
                                                           "unterminated thinking"))])
    for s in rows:
        t = s.get("tokens") or {}
        est = "~" if t.get("reasoning_estimated") else ""
        table.add_row(f"{s['model']} {s['task']} {s['prompt']} {s['strategy']}", str(t.get("completion", "-")),
                      f"{est}{t.get('reasoning', '-')}", f"{est}{t.get('answer', '-')}",
                      str(s.get("unterminated_thinking", 0)))
    table.print(wide_console())


def _num(x: float | None, scale: float = 100.0, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{scale * x:.{digits}f}"


def sensitivity_table(spreads: Sequence[dict[str, Any]]) -> None:
    if not spreads:
        return
    table = Grid("Exemplar sensitivity: accuracy % across exemplar draws", [
        Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
        Col("strategy", key=True), *(Col(c, "right") for c in ("draws", "mean", "SD", "min-max")),
        Col("CI half-width", "right", drop=1), Col("SD / SE", "right")])
    for s in spreads:
        table.add_row(s["model"], s["task"], s["prompt"], s["strategy"], str(s["draws"]), _num(s["mean"]),
                      _num(s["sd"]), f"{_num(s['min'])}-{_num(s['max'])}", _num(s["ci_halfwidth"]),
                      _num(s["sd_over_se"], 1.0, 2))
    console = table.print(wide_console())
    console.print("SD / SE above 1: changing only the exemplars moves accuracy more than the items' sampling error"
                  " does; gaps smaller than the spread are exemplar noise.", style="dim", highlight=False)


def comparisons_table(rows: Sequence[dict[str, Any]], title: str = "Paired comparisons (A - B on shared items)",
                      holm: bool = False) -> None:
    where = any(r.get("where") for r in rows)
    num = {"A %": 0, "B %": 0, "n": 0, "Δ pts [95% CI]": 0, "SE": 2, "a_only": 2, "b_only": 2, "McNemar p": 0,
           "p (Holm)": 0, "corr": 3, "MDE pts": 1}
    cols = ["contrast"] + (["where"] if where else []) + ["A %", "B %", "n", "Δ pts [95% CI]", "SE", "a_only",
                                                         "b_only", "McNemar p"]
    if holm:
        cols += ["p (Holm)"]
    cols += ["corr", "MDE pts"]
    table = Grid(title, [Col(c, key=c == "where") if c in ("contrast", "where")
                         else Col(c, "right", wrap=c == "Δ pts [95% CI]", drop=num[c]) for c in cols])
    for r in rows:
        head = [r["name"]] + ([r.get("where", "")] if where else [])
        if r.get("n", 0) == 0:
            table.add_row(*head, *["-"] * (len(cols) - len(head)))
            continue
        cells = [*head, _num(r["mean_a"]), _num(r["mean_b"]), str(r["n"]),
                 f"{_num(r['delta'])} [{_num(r['low'])}, {_num(r['high'])}]", _num(r["se"]),
                 "-" if r["a_only"] is None else str(r["a_only"]), "-" if r["b_only"] is None else str(r["b_only"]),
                 _p(r.get("mcnemar_p"))]
        if holm:
            cells.append(_p(r.get("p_holm")))
        cells.append(_num(r.get("corr"), 1.0, 2))
        cells.append(_num(r.get("mde")))
        table.add_row(*cells)
    console = table.print(wide_console())
    console.print("MDE: the smallest |Δ| these items detect with 80% power at 5% (two-sided), from the paired SE;"
                  " a non-significant Δ says little about effects below it.", style="dim", highlight=False)


def _p(p: float | None) -> str:
    return p_text(p)  # "<1e-300" for an underflow, never "0.0e+00"


def _scored(s: dict[str, Any]) -> str:
    """Items scored; "60 of 1319 (partial)" when the grid's `limit` covers part of the task."""
    cov = s.get("coverage") or {}
    if s.get("partial") and cov.get("of"):
        return f"{s.get('scored')} of {cov['of']} (partial)"
    return str(s.get("scored", "-"))


def grid_table(rows: Sequence[dict[str, Any]], title: str) -> None:
    """One row per experiment cell: state, accuracy with CI, maj/pass at K, tokens."""
    table = Grid(title, [
        Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
        Col("strategy", key=True), Col("seed", "right", key=True), Col("state"), Col("n", "right"),
        Col("accuracy % [95% CI]", "right", wrap=False), Col("chance %", "right", drop=2),
        Col("vs chance (p)", "right", drop=2), Col("pass@K %", "right", drop=1), Col("extracted %", "right", drop=3),
        Col("tokens", "right", drop=2)])
    for r in rows:
        s = r.get("summary") or {}
        K = s.get("samples_per_item")
        passk = pct(s["pass_at"][str(K)]) if K and s.get("pass_at") else "-"
        strategy = r["strategy"] + (f" d{r['draw']}" if r.get("draw") is not None else "")
        base, norm = chance_text(s)
        table.add_row(r["model"], r["task"], r["prompt"], strategy, str(r["seed"]), r["state"],
                      _scored(s), ci_text(s) if s else "-", base, norm, passk,
                      pct(s.get("extracted")) if s else "-", tokens_line(s) if s else "-")
    table.print(wide_console())
