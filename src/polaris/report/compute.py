"""The report's test-time compute section and its figure: accuracy (and truncation) against completion
tokens per item, per task, one curve per model with its frontier (analysis/compute.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polaris.report.markup import Markup, ci, el, num, pct, run_link, table

MARKERS = {"cell": "o", "maj": "s", "pass": "^", "round": "D"}
EXPLAIN = ("Every cell is placed on one axis of compute: completion tokens per item (reasoning and answer, "
           "all samples and all LLM-Modulo rounds; or reasoning tokens alone where the figure says so). A cell with K samples gives maj@k (the vote of k samples) and "
           "pass@k (any of k right: an oracle, never on the frontier) at k samples' tokens. The frontier "
           "(*, the solid line) is a model's best accuracy at each compute level. Truncated: the share of "
           "samples that ran out of tokens before giving an answer, so a collapse caused by the budget is told "
           "apart from wrong answers; budget-forced: samples whose thinking a thinking budget cut short (they "
           "were then made to answer). 95% CIs over items.")


def compute_figure(study: Any, tasks: Sequence[str] | None = None) -> Any:
    """Accuracy (top) and truncation rate (bottom) against tokens per item, one column per task."""
    from polaris.report.figures import STYLE, _plt

    plt = _plt()
    tasks = list(tasks or sorted({t for t, _ in study.curves}))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, max(1, len(tasks)), figsize=(6.5 * max(1, len(tasks)), 6.5), squeeze=False,
                                 sharex="col", gridspec_kw={"height_ratios": [3, 1.3]})
        for col, task in enumerate(tasks):
            top, bottom = axes[0][col], axes[1][col]
            curves = [(g, ps) for (t, g), ps in study.curves.items() if t == task]
            positive = all(p.tokens > 0 for _, ps in curves for p in ps)
            for i, (group, ps) in enumerate(curves):
                color = f"C{i % 10}"
                for kind, marker in MARKERS.items():
                    sel = [p for p in ps if p.kind == kind]
                    if not sel:
                        continue
                    top.errorbar([p.tokens for p in sel], [100 * p.accuracy for p in sel],
                                 yerr=[[100 * (p.accuracy - p.low) for p in sel], [100 * (p.high - p.accuracy) for p in sel]],
                                 fmt=marker, color=color, mfc="white" if kind == "pass" else color, ms=4, capsize=2,
                                 lw=0.8, alpha=0.85)
                front = [p for p in ps if p.frontier]
                right = max(p.tokens for p in ps)  # the frontier holds its best accuracy to the last point
                top.plot([p.tokens for p in front] + [right], [100 * p.accuracy for p in front] + [100 * front[-1].accuracy],
                         "-", color=color, lw=1.5, label=group, drawstyle="steps-post")
                seen = [p for p in ps if p.kind != "pass"]
                bottom.plot([p.tokens for p in seen], [100 * p.truncation for p in seen], "o", color=color, ms=4)
                if any(p.forced for p in seen):
                    bottom.plot([p.tokens for p in seen], [100 * p.forced for p in seen], "x", color=color, ms=4)
            if positive:
                top.set_xscale("log")
            top.set_title(task)
            top.set_ylabel("accuracy % (95% CI)")
            top.set_ylim(-2, 102)
            bottom.set_ylabel("truncated % (o)\nbudget-forced % (x)", fontsize=8)
            bottom.set_ylim(-2, 102)
            bottom.set_xlabel(f"{study.axis} tokens per item" + (" (log scale)" if positive else ""))
            if curves:  # beside the panel, off the data
                top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
        fig.text(0.01, 0.005, "markers: o cell, s maj@k, ^ pass@k (hollow), D LLM-Modulo round; line: the frontier "
                 "(best accuracy at no more tokens)", fontsize=7)
    return fig


def section(study: Any, figs: dict[str, dict[str, str]], explanation: Sequence[str] = ()) -> Markup | None:
    """The section: per task the figure, then per curve its points by tokens with the frontier marked."""
    if study is None or not study.curves:
        return None
    from polaris.report.sections import figure, section as make

    body: list[Any] = [el("p", p) for p in explanation] + [el("p", EXPLAIN, class_="note")]
    for check in study.checks:
        body.append(el("p", "Check: ", check["message"], class_="note"))
    for task in sorted({t for t, _ in study.curves}):
        body.append(el("h3", task))
        if task in figs:
            body.append(figure(figs[task], f"Accuracy and truncation against tokens per item on {task}"))
        rows = []
        for (t, group), ps in study.curves.items():
            if t != task:
                continue
            for p in ps:
                rows.append(({"data_table": "compute", "data_group": group}, [
                    group, "*" if p.frontier else "", p.setting,
                    "-" if p.completion is None else num(p.completion, 0),
                    "-" if p.reasoning is None else num(p.reasoning, 0),
                    "-" if p.prompt_tokens is None else num(p.prompt_tokens, 0),
                    ci(p.accuracy, (p.low, p.high)), pct(p.truncation), pct(p.forced),
                    "-" if p.cost is None else f"${p.cost:.6f}", p.n,
                    el("span", *[run_link(r) for r in p.runs[:3]], "…" if len(p.runs) > 3 else "")]))
        body.append(table(["curve", "frontier", "setting", "completion tokens / item", "reasoning / item",
                           "prompt tokens / item", "accuracy % [95% CI]", "truncated %", "budget-forced %",
                           "cost / item", "n", "runs"], rows, numeric_from=3))
    return make("compute", "Test-time compute: accuracy against tokens", *body)
