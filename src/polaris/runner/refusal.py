"""A cell whose first requests the server refuses for good is stopped at once, quoting the server.

A permanent error (a 4xx other than 408/409/425/429: wrong model name, unsupported parameter,
log-likelihood on a server without prompt log-probs) on one item among answered ones is that
item's error. On the first requests of a cell, before anything was answered, it says the cell's
configuration is wrong: every item would fail the same way, so the cell stops after REFUSALS such
refusals (fewer if the cell has fewer items) rather than sending the rest.
"""

from __future__ import annotations

from typing import Any

from polaris.errors import PolarisError
from polaris.models.base import RequestFailed

REFUSALS = 3


class CellRefused(PolarisError):
    """The server refused a cell's first requests; `outputs` holds what finished before it stopped."""

    def __init__(self, message: str, outputs: dict[int, Any] | None = None) -> None:
        super().__init__(message)
        self.outputs = outputs or {}


class FirstRequests:
    """Counts permanent refusals until the cell's first answered request."""

    def __init__(self, items: int) -> None:
        self.needed = max(1, min(REFUSALS, items))
        self.refused = 0

    def check(self, out: Any, answered: int, cell: str, hint: str = "") -> None:
        """Raise CellRefused when this refusal makes the cell's first `needed` requests all refused."""
        if not isinstance(out, RequestFailed) or not out.permanent or answered:
            return
        self.refused += 1
        if self.refused >= self.needed:
            raise CellRefused(f"{cell}: stopped, the server refused its first {self.refused} request(s):"
                              f" {out.detail}{hint}")
