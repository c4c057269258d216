"""An item's outcome for the export, until results store their own.

Issue 15 stores an `outcome` with every result (correct, wrong, no-answer, truncated, hedged,
invalid-option, error), computed by one pure function. Until that lands this derives it from the fields
results already have; where a result carries an outcome, that one is used. The lead switches this
helper to the stored field when merging.
"""

from __future__ import annotations

from typing import Any

TRUNCATED = ("length", "max_tokens", "model_length")  # finish reasons of a response cut at its limit


def outcome(row: Any) -> str:
    stored = getattr(row, "outcome", None) or row.data.get("outcome")
    if isinstance(stored, str):
        return stored
    if row.error is not None:
        return "error"
    if (row.correct or 0.0) >= 1.0:
        return "correct"
    finishes = [s.get("finish") for s in row.data.get("samples", ()) if isinstance(s, dict)]
    if finishes and all(f in TRUNCATED for f in finishes):
        return "truncated"
    return "wrong" if row.extracted else "no-answer"
