"""Planning a cell for the Ray executor: each item's solver replayed against the store alone (as
`polaris rescore` does), to tell the items already answered from those the workers must solve, and to
ship each worker the samples the store already has for its items."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from polaris.runner.context import CacheMiss, SolveContext
from polaris.runner.runner import PreparedCell, solver_for
from polaris.store.store import SampleRow, Store

Found = dict[str, dict[int, SampleRow]]  # request hash -> the samples of it the store has


class _Recorder:
    """The store as a plan sees it: every non-empty lookup is remembered for the workers."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.seen: dict[str, dict[int, SampleRow]] = {}

    def samples(self, request_hash: str) -> dict[int, SampleRow]:
        got = self.store.samples(request_hash)
        if got:
            self.seen[request_hash] = dict(got)
        return got


async def plan(cell: PreparedCell, store: Store, identity: dict[str, Any], indices: Sequence[int],
               sink: Callable[[int, Any], Awaitable[None]] | None = None) -> tuple[dict[int, Any], dict[int, Found], int]:
    """Replay each item's solver against the store alone: (outputs of the items it completes, the
    other items with the samples found on the way, the number of cached samples used). With `sink`,
    each completed item's outputs go to it instead (and the first dict holds None for them): a large
    cached cell is not held whole."""
    solve = solver_for(cell)
    done: dict[int, Any] = {}
    pending: dict[int, Found] = {}
    cached = 0
    for i in indices:
        recorder = _Recorder(store)
        ctx = SolveContext(recorder, None, identity, cell.spec.run_id)  # type: ignore[arg-type]
        try:
            out = await solve(cell.task, cell.items[i], cell.prompts[i], ctx, cell.spec)
            cached += ctx.stats.cached
        except CacheMiss:
            pending[i] = recorder.seen
            continue
        if sink is None:
            done[i] = out
        else:
            done[i] = None
            await sink(i, out)
    return done, pending, cached


async def discard(i: int, out: Any) -> None:
    """A plan's sink that only counts (the items are replayed once the cell is open)."""
