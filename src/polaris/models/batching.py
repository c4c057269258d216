"""Batching for in-process backends: many concurrent callers, one worker thread, few forward passes.

The runner calls `generate`/`loglik` from many asyncio workers at once, one request each. An
in-process backend submits each request's work units (one per sample, or one per item of options)
here; a single worker task gathers whatever is pending, groups it by key (decoding parameters: a
greedy batch and a temperature-0.7 batch cannot share a `generate` call), and runs one batch at a
time in a worker thread, so the event loop stays free to store results and queue more work while
the model computes. Requests that arrive while a batch runs form the next batch.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

# Loop turns to wait before taking a batch: callers whose results just came back need a few turns
# (store the response, render the next prompt) before they submit again.
_SETTLE_TURNS = 4


@dataclass
class _Request:
    future: asyncio.Future[list[Any]]
    results: list[Any]
    left: int


@dataclass(order=True)
class _Unit:
    seq: int
    request: _Request = field(compare=False)
    index: int = field(compare=False)
    work: Any = field(compare=False)
    weight: int = field(compare=False, default=1)


@dataclass
class BatchStats:
    batches: int = 0
    largest: int = 0


class Batcher:
    """`run(key, works) -> results` (one result per work, same order) is called in a worker thread
    with up to `capacity(key)` total weight of work; a unit heavier than that runs alone."""

    def __init__(self, run: Callable[[Hashable, list[Any]], Sequence[Any]],
                 capacity: Callable[[Hashable], int]) -> None:
        self._run = run
        self._capacity = capacity
        self._queues: dict[Hashable, deque[_Unit]] = {}
        self._seq = itertools.count()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.stats = BatchStats()

    async def submit(self, key: Hashable, works: Sequence[Any], weights: Sequence[int] | None = None) -> list[Any]:
        """Queue `works` under `key`; returns their results once all have run."""
        if not works:
            return []
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # first use, or a new event loop: the old one's worker and callers are gone
            self._loop, self._wake, self._task = loop, asyncio.Event(), None
            self._queues.clear()
        req = _Request(loop.create_future(), [None] * len(works), len(works))
        queue = self._queues.setdefault(key, deque())
        for i, w in enumerate(works):
            queue.append(_Unit(next(self._seq), req, i, w, weights[i] if weights else 1))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._worker())
        assert self._wake is not None
        self._wake.set()
        return await req.future

    def _take(self) -> tuple[Hashable, list[_Unit]] | None:
        """The oldest pending unit's key, and as many of its units as fit in one batch."""
        for q in self._queues.values():
            while q and q[0].request.future.done():  # its caller was cancelled or already failed
                q.popleft()
        live = [(q[0].seq, k) for k, q in self._queues.items() if q]
        if not live:
            return None
        _, key = min(live)
        queue = self._queues[key]
        cap = max(1, self._capacity(key))
        units = [queue.popleft()]
        total = units[0].weight
        while queue and total + queue[0].weight <= cap:
            unit = queue.popleft()
            if unit.request.future.done():
                continue
            total += unit.weight
            units.append(unit)
        return key, units

    async def _worker(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                for _ in range(_SETTLE_TURNS):
                    await asyncio.sleep(0)
                taken = self._take()
                if taken is None:
                    break
                key, units = taken
                self.stats.batches += 1
                self.stats.largest = max(self.stats.largest, len(units))
                try:
                    results = await asyncio.to_thread(self._run, key, [u.work for u in units])
                except Exception as exc:  # every caller in the batch gets the error
                    for u in units:
                        if not u.request.future.done():
                            u.request.future.set_exception(exc)
                    continue
                for u, r in zip(units, results):
                    req = u.request
                    req.results[u.index] = r
                    req.left -= 1
                    if req.left == 0 and not req.future.done():
                        req.future.set_result(req.results)

    async def close(self) -> None:
        if self._task is not None and self._loop is asyncio.get_running_loop():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
