"""Tables for test-time compute (docs/compute.md): what each cell spent, and accuracy against compute.

Tables go to stdout like the other result tables; rich is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polaris.cli.display import pct, wide_console
from polaris.cli.tables import Col, Grid


def _n(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def usd(x: float | None) -> str:
    if x is None:
        return "-"
    return f"${x:,.2f}" if x >= 1 else f"${x:.4f}" if x >= 0.0001 else f"${x:.2e}"


def compute_table(summaries: Sequence[dict[str, Any]]) -> None:
    """Per cell: tokens per item (prompt, completion = reasoning + answer), truncation, latency, cost."""
    rows = [s for s in summaries if s.get("compute")]
    if not rows:
        return
    table = Grid("Compute per item (~ = estimated from text length; truncated: out of tokens before an answer)", [
        Col("cell"), Col("prompt tok", "right", drop=2), Col("completion tok", "right"), Col("reasoning", "right"),
        Col("answer", "right", drop=1), Col("truncated %", "right"), Col("forced", "right", drop=2),
        Col("latency s", "right", drop=1), Col("cost", "right")])
    for s in rows:
        c = s["compute"]
        per = c["per_item"]
        est = "~" if c.get("estimated") else ""
        rest = "~" if c.get("reasoning_estimated") else ""
        cost = s.get("cost")
        table.add_row(f"{s['model']} {s['task']} {s['prompt']} {s['strategy']}", _n(per["prompt"]),
                      est + _n(per["completion"]), rest + _n(per["reasoning"]), rest + _n(per["answer"]),
                      pct(c["truncation_rate"]), str(c.get("forced", 0)), _n((s.get("latency") or {}).get("per_item"), 2),
                      f"{usd(cost['usd'])} ({usd(cost['per_item'])}/item)" if cost else "-")
    table.print(wide_console())


def frontier_tables(doc: dict[str, Any]) -> None:
    """`polaris analyze compute`: per task x model, the points by tokens with the frontier marked."""
    console = wide_console()
    for curve in doc["curves"]:
        table = Grid(f"{curve['task']}: {curve['group']} (accuracy against {doc.get('axis', 'completion')}"
                     " tokens per item; * frontier)", [
                         Col(""), Col("setting"), Col("completion/item", "right"), Col("reasoning/item", "right"),
                         Col("prompt/item", "right", drop=2), Col("accuracy % [95% CI]", "right", wrap=False),
                         Col("truncated %", "right"), Col("forced %", "right", drop=2), Col("cost/item", "right", drop=1),
                         Col("n", "right", drop=1)])
        for p in curve["points"]:
            table.add_row("*" if p["frontier"] else "", p["setting"], _n(p["completion"]), _n(p["reasoning"]),
                          _n(p["prompt_tokens"]),
                          f"{pct(p['accuracy'])} [{pct(p['low'])}, {pct(p['high'])}]", pct(p["truncation"]),
                          pct(p["forced"]), usd(p["cost"]), str(p["n"]))
        table.print(console)
    if not doc["curves"]:
        console.print("No model x task has two or more compute points yet (cells that differ in effort, thinking "
                      "budget, max tokens, samples or rounds).", highlight=False)
    for check in doc.get("checks", ()):
        console.print(f"check: {check['message']}", style="yellow", highlight=False)
