"""A minimal report page for `polaris demo` when `polaris report` (polaris.report.build) is not
installed: the demo's findings, the scaling figure of each study and its verdict table, in one
self-contained `index.html` (inline CSS, no script, nothing fetched) with PNG figures beside it.
Every text is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from polaris.lab.demotext import NAMES, pct

CSS = ("body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}"
       "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;"
       "text-align:right}th:first-child,td:first-child{text-align:left}img{max-width:100%}")


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _num(metric: str, x: float | None) -> str:
    if x is None:
        return "-"
    return pct(x) if metric in ("exact", "per-token", "strict") else f"{x:.3g}"


def _section(task: str, found: dict[str, Any], figure: str) -> str:
    parts = [f"<h2>Scaling: {escape(task)}</h2>",
             f'<img src="{escape(figure)}" alt="scaling curves of {escape(task)}">']
    for prompt, by_metric in found["curves"].items():
        metrics = list(by_metric)
        sizes = by_metric[metrics[0]]
        rows = [[f"{p['size'] or ''} ({p['params']:,})"] +
                [f"{_num(m, by_metric[m][i]['mean'])} [{_num(m, by_metric[m][i]['low'])}, "
                 f"{_num(m, by_metric[m][i]['high'])}]" for m in metrics] for i, p in enumerate(sizes)]
        parts.append(f"<h3>{escape(prompt)}: size means over seeds [95% CI]</h3>")
        parts.append(_table(["size (params)", *[NAMES.get(m, m) for m in metrics]], rows))
    rows = [[v["prompt"], NAMES.get(v["metric"], v["metric"]), v["verdict"],
             "-" if v.get("z") is None else f"{v['z']:.1f}",
             "-" if v.get("breakthroughness") is None else f"{v['breakthroughness']:.1f}",
             ", ".join(NAMES.get(m, m) for m in v.get("smooth_under") or [])] for v in found["verdicts"]]
    parts.append("<h3>Emergence verdicts (largest size held out)</h3>")
    parts.append(_table(["prompt", "metric", "verdict", "z", "B", "predictable instead under"], rows))
    return "\n".join(parts)


def minimal_report(out: Path, studies: dict[str, Any], found: dict[str, dict[str, Any]], lines: list[str]) -> Path:
    from polaris.analysis.figures import scaling_figure

    (out / "figures").mkdir(parents=True, exist_ok=True)
    sections = []
    for task, study in studies.items():
        name = f"figures/scaling-{task.replace('/', '_')}.png"
        fig = scaling_figure(study)
        fig.savefig(out / name, dpi=110)
        sections.append(_section(task, found[task], name))
    page = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta http-equiv=Content-Security-Policy content=\"default-src 'none'; img-src 'self' file:; "
        "style-src 'unsafe-inline'\"><title>Polaris demo</title>"
        f"<style>{CSS}</style></head><body><h1>Polaris demo: emergence in the lab's tiny transformers</h1>"
        + "".join(f"<p>{escape(line)}</p>" for line in lines) + "\n".join(sections) + "</body></html>\n"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
