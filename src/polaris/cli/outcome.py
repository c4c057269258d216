"""How a command that ran cells ends: refused cells and item errors by reason, then the exit code.

Exit codes (polaris.errors, docs/scale.md): 2 when the server refused a cell's first requests (the
configuration is wrong: the line quotes the server), else 4 when items failed after their retries
(the summary groups them by reason; the next run asks them again), else 3 when a budget stopped the
run, else 0.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from polaris.errors import EXIT_BUDGET, EXIT_ERROR, EXIT_ITEM_ERRORS, EXIT_OK, PolarisError


def finite(value: float | None) -> float | None:
    """typer callback: inf and nan are numbers Python parses but no request or timeout can use."""
    if value is not None and not math.isfinite(value):
        raise PolarisError(f"expected a finite number, got {value}")
    return value


def bounded(name: str, low: float | None = None, high: float | None = None) -> Any:
    """A typer callback for a finite number in [low, high] (typer's own min/max let nan through, and
    say nothing useful about inf)."""

    def check(value: float | None) -> float | None:
        if value is None:
            return None
        if not math.isfinite(value):
            raise PolarisError(f"{name} must be a finite number (got {value})")
        if (low is not None and value < low) or (high is not None and value > high):
            span = f"between {low:g} and {high:g}" if low is not None and high is not None else \
                f"at least {low:g}" if low is not None else f"at most {high:g}"
            raise PolarisError(f"{name} must be {span} (got {value:g})")
        return value

    return check


def failures(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Item errors over all cells by reason (most frequent first), and the refused cells' lines."""
    merged: dict[str, dict[str, Any]] = {}
    counted = [s for s in summaries if not s.get("refused")]  # a refused cell's errors are its one line
    for s in counted:
        for r in s.get("error_reasons") or ():
            m = merged.setdefault(r["reason"], {"reason": r["reason"], "items": 0, "example": r["example"]})
            m["items"] += r["items"]
    reasons = sorted(merged.values(), key=lambda r: (-r["items"], r["reason"]))
    return {"items": sum(s.get("errors") or 0 for s in counted), "reasons": reasons,
            "refused": [s["refused"] for s in summaries if s.get("refused")]}


def report(summaries: Sequence[dict[str, Any]], *, budget_stopped: bool = False) -> int:
    """Print the refused cells and the errors by reason on stderr; return the command's exit code."""
    f = failures(summaries)
    from polaris.cli.display import plain, plural

    for line in f["refused"]:
        print(f"error: {plain(line)}", file=sys.stderr)
    if f["items"]:
        print(f"{plural(f['items'], 'item')} failed after retries; they are not scored, and the next run of the same"
              " command asks them again. By reason:", file=sys.stderr)
        for r in f["reasons"]:
            print(f"  {r['items']:>6}  {r['reason']}: {plain(r['example'])}", file=sys.stderr)
    if f["refused"]:
        return EXIT_ERROR
    if f["items"]:
        return EXIT_ITEM_ERRORS
    return EXIT_BUDGET if budget_stopped else EXIT_OK
