"""Tables for test-time compute (docs/compute.md): what each cell spent, and accuracy against compute.

Tables go to stdout like the other result tables; rich is imported lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polaris.cli.display import pct, wide_console


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
    from rich.table import Table

    table = Table(title="Compute per item (~ = estimated from text length; truncated: out of tokens before an"
                        " answer)", title_justify="left")
    for col in ("cell", "prompt tok", "completion tok", "reasoning", "answer", "truncated %", "forced",
                "latency s", "cost"):
        table.add_column(col, justify="left" if col == "cell" else "right")
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
    wide_console(140).print(table)


def frontier_tables(doc: dict[str, Any]) -> None:
    """`polaris analyze compute`: per task x model, the points by tokens with the frontier marked."""
    from rich.table import Table

    console = wide_console(140)
    for curve in doc["curves"]:
        table = Table(title=f"{curve['task']}: {curve['group']} (accuracy against {doc.get('axis', 'completion')}"
                            " tokens per item; * frontier)", title_justify="left")
        for col in ("", "setting", "completion/item", "reasoning/item", "prompt/item", "accuracy % [95% CI]",
                    "truncated %", "forced %", "cost/item", "n"):
            table.add_column(col, justify="left" if col in ("", "setting") else "right")
        for p in curve["points"]:
            table.add_row("*" if p["frontier"] else "", p["setting"], _n(p["completion"]), _n(p["reasoning"]),
                          _n(p["prompt_tokens"]),
                          f"{pct(p['accuracy'])} [{pct(p['low'])}, {pct(p['high'])}]", pct(p["truncation"]),
                          pct(p["forced"]), usd(p["cost"]), str(p["n"]))
        console.print(table)
    if not doc["curves"]:
        console.print("No model x task has two or more compute points yet (cells that differ in effort, thinking "
                      "budget, max tokens, samples or rounds).", highlight=False)
    for check in doc.get("checks", ()):
        console.print(f"check: {check['message']}", style="yellow", highlight=False)
