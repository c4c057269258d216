"""Compute factors as axes of an experiment grid (docs/compute.md): reasoning effort, thinking budget
and the response limit, crossed with everything else like prompts or seeds.

    reasoning_efforts: [low, medium, high]    # axis `effort`
    thinking_budgets: [256, 1024, 4096]       # axis `thinking_budget`
    max_tokens: [1024, 8192]                  # axis `max_tokens` (the response limit of each cell)

A strategy may set one of them itself (`thinking_budget: 512`) unless the file crosses it as an axis.
Contrasts name the axes like any other (`effort: [high, low]`, or "high vs low").
"""

from __future__ import annotations

from itertools import product
from typing import Any

AXES = ("effort", "thinking_budget", "max_tokens")
FILE_FIELDS = {"effort": "reasoning_efforts", "thinking_budget": "thinking_budgets", "max_tokens": "max_tokens"}
SPEC_FIELDS = {"effort": "reasoning_effort", "thinking_budget": "thinking_budget", "max_tokens": "max_tokens"}
INT_AXES = ("seed", "thinking_budget", "max_tokens")


def levels(doc: Any) -> list[dict[str, Any]]:
    """Every combination of the crossed compute axes' values ({} once when none is crossed)."""
    lists = [[(ax, v) for v in getattr(doc, FILE_FIELDS[ax])] for ax in AXES if getattr(doc, FILE_FIELDS[ax])]
    return [dict(combo) for combo in product(*lists)] if lists else [{}]


def spec_values(strategy: Any, level: dict[str, Any]) -> dict[str, Any]:
    """The CellSpec compute fields of a strategy at one level; a field set both ways is an error."""
    out = {}
    for ax, field in SPEC_FIELDS.items():
        own = getattr(strategy, field)
        if ax in level and own is not None:
            raise ValueError(f"{field} is also crossed by the file's {FILE_FIELDS[ax]}: set it in one place")
        out[field] = level.get(ax, own)
    return out


def axis_values(doc: Any) -> dict[str, list[Any]]:
    """The crossed axes' values, for contrasts."""
    return {ax: list(getattr(doc, FILE_FIELDS[ax])) for ax in AXES if getattr(doc, FILE_FIELDS[ax])}
