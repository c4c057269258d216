"""The report's figures (matplotlib, Agg backend, imported on first use), written as PNG and SVG.

Labels come from the store (model and task names), so mathtext is off: a `$` in a name is text, not
a formula that could fail to parse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from polaris.report.markup import task_title

STYLE = {"text.parse_math": False, "svg.hashsalt": "polaris", "font.size": 9, "axes.grid": True,
         "grid.alpha": 0.3, "figure.dpi": 100, "savefig.bbox": "tight"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save(fig: Any, out: Path, name: str) -> dict[str, str]:
    """Write `name`.png and `name`.svg into `out` (the report's figures directory); close the figure."""
    plt = _plt()
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    with plt.rc_context(STYLE):
        for ext in ("png", "svg"):
            fig.savefig(out / f"{name}.{ext}", format=ext, metadata={"Date": None} if ext == "svg" else None)
            paths[ext] = f"{out.name}/{name}.{ext}"
    plt.close(fig)
    return paths


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def forest(rows: Sequence[dict[str, Any]]) -> Any:
    """Δ (A - B, percentage points) with its 95% CI per contrast; Holm-significant ones filled. Each row
    is labelled by what tells it from the others (report/pairs.py: forest_labels); what all share is
    the title."""
    from polaris.report.pairs import forest_labels

    plt = _plt()
    shown = [r for r in rows if r.get("n")]
    labels, title = forest_labels(shown)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 1.1 + 0.3 * max(1, len(shown))))
        for i, r in enumerate(shown):
            y = len(shown) - 1 - i
            sig = r.get("p_holm") is not None and r["p_holm"] < 0.05
            ax.errorbar([100 * r["delta"]], [y], xerr=[[100 * max(0.0, r["delta"] - r["low"])], [100 * max(0.0, r["high"] - r["delta"])]],
                        fmt="o", color="C3" if sig else "C0", mfc="C3" if sig else "white", capsize=3)
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels([_short(t) for t in reversed(labels)])
        ax.set_xlabel("Δ accuracy, A - B (percentage points, 95% CI; red: Holm p < 0.05)")
        if title:
            ax.set_title(_short(title, 90), fontsize=9)
        ax.set_ylim(-0.7, len(shown) - 0.3)
    return fig


def accuracy(cells: Sequence[Any], most: int = 40) -> Any:
    """Accuracy with its 95% CI per run, best first within each task (the findings' figure when the
    store has neither sizes nor contrasts); at most `most` runs."""
    plt = _plt()
    tasks = sorted({c.task for c in cells})
    shown = sorted((c for c in cells if c.accuracy is not None),
                   key=lambda c: (tasks.index(c.task), -(c.accuracy or 0.0)))[:most]
    many = len(tasks) > 1
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7.5, 1.0 + 0.28 * max(1, len(shown))))
        for i, c in enumerate(shown):
            y = len(shown) - 1 - i
            lo, hi = c.summary.get("ci95") or (c.accuracy, c.accuracy)
            # A CI bound can sit a rounding error past the estimate (100% of items right): never a negative arm.
            arms = [[100 * max(0.0, c.accuracy - lo)], [100 * max(0.0, hi - c.accuracy)]]
            ax.errorbar([100 * c.accuracy], [y], xerr=arms, fmt="o",
                        color=f"C{tasks.index(c.task) % 10}", capsize=3, ms=4)
        ax.set_yticks(range(len(shown)))
        ax.set_yticklabels([_short((f"{task_title(c.task)} · " if many else "") + f"{c.model} · {c.prompt} · {c.strategy}", 70)
                            for c in reversed(shown)])
        ax.set_xlim(-2, 102)
        ax.set_xlabel("accuracy % (95% CI)")
        if not many and tasks:
            ax.set_title(tasks[0], fontsize=9)
        ax.set_ylim(-0.7, len(shown) - 0.3)
    return fig


def vote_curves(cells: Sequence[Any], title: str) -> Any:
    """maj@k (solid) and pass@k (dashed) against k with 95% CI bands, one colour per cell."""
    plt = _plt()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, c in enumerate(cells):
            s = c.summary
            ks = sorted(int(k) for k in s["maj_at"])
            for key, style in (("maj_at", "-"), ("pass_at", "--")):
                y = [100 * s[key][str(k)] for k in ks]
                lo = [100 * s[key + "_ci"][str(k)][0] for k in ks]
                hi = [100 * s[key + "_ci"][str(k)][1] for k in ks]
                label = f"{key.split('_')[0]}@k {_short(c.model, 30)} {c.prompt} {c.strategy}"
                ax.plot(ks, y, style, color=f"C{i % 10}", marker="o" if key == "maj_at" else None, ms=3, label=label)
                ax.fill_between(ks, lo, hi, color=f"C{i % 10}", alpha=0.12, lw=0)
        ax.set_xscale("log", base=2)
        ks_all = sorted({int(k) for c in cells for k in c.summary["maj_at"]})
        ax.set_xticks(ks_all, [str(k) for k in ks_all])  # plain numbers: mathtext is off
        ax.minorticks_off()
        ax.set_xlabel("k (samples voted / drawn)")
        ax.set_ylabel("accuracy % (95% CI)")
        ax.set_title(_short(title, 80))
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # off the data
    return fig


def _integers() -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


def _curve(ax: Any, xs: Sequence[float], stats: Sequence[dict[str, Any]], label: str, color: str) -> None:
    y = [100 * s["mean"] if s.get("mean") is not None else math.nan for s in stats]
    lo = [100 * (s["mean"] - s["ci95"][0]) if s.get("ci95") else 0.0 for s in stats]
    hi = [100 * (s["ci95"][1] - s["mean"]) if s.get("ci95") else 0.0 for s in stats]
    ax.errorbar(xs, y, yerr=[lo, hi], fmt="-o", ms=3, capsize=3, color=color, label=label)


def _success_plot(curves: Sequence[tuple[Sequence[int], Sequence[dict[str, Any]], str]], xlabel: str) -> Any:
    """Plan success % with 95% CIs against an integer x, one line per (x, stats, label)."""
    plt = _plt()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(7, 4))
        for i, (xs, stats, label) in enumerate(curves):
            _curve(ax, xs, stats, _short(label, 70), f"C{i % 10}")
        ax.xaxis.set_major_locator(_integers())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("plan success % (95% CI)")
        ax.set_ylim(-3, 103)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # off the data
    return fig


def planning_blocks(cells: Sequence[Any]) -> Any:
    """Plan success against the number of blocks, one line per cell."""
    curves = []
    for c in cells:
        by = c.planning["by_blocks"]
        blocks = sorted(by, key=int)
        curves.append(([int(b) for b in blocks], [by[b]["success"] for b in blocks],
                       f"{c.model} {task_title(c.task)} {c.prompt} {c.strategy}"))
    return _success_plot(curves, "blocks")


def planning_rounds(cells: Sequence[Any]) -> Any:
    """LLM-Modulo: success within the first r verifier back-prompts, r = 0..R."""
    curves = [([s["round"] for s in c.planning["modulo"]["success_at"]], c.planning["modulo"]["success_at"],
               f"{c.model} {task_title(c.task)} {c.prompt}") for c in cells]
    return _success_plot(curves, "verifier rounds (back-prompts)")
