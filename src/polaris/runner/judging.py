"""Judging a cell in chunks as its outputs complete, so that memory does not grow with items x K.

The runner hands each item's outputs (its K samples) to `ChunkJudge.add` as the item finishes. Once
`chunk_size(K)` items are waiting (about `CHUNK_SAMPLES` samples, at most `CHUNK_ITEMS` items), they
are judged together: `judge` still scores each distinct answer of the chunk once, in one batch, so
MATH's process pool gets whole batches. The chunk's item results are written to the store at once,
with the invocation that judged them (`result_sources`), and reduced to compact records
(runner/tally.py); the sample texts and full rows are then dropped. The records are folded in dataset
order (an item that finished early waits, as a compact record, for the items before it), so every
number is what judging the whole run at once gives.

Peak memory is then about (concurrency + 2 chunks) x K samples with their texts (the items in flight,
those waiting for their chunk and the chunk being judged) plus a compact record per item, instead of
every item's samples and records until the end (docs/scale.md, "Memory").

A chunk is judged in a worker thread (extraction and scoring are CPU work; a long MATH batch must not
stall the event loop that streams responses), while reading the calls and writing the results stay on
the loop's thread, which owns the store's connection. A process killed between chunks keeps the chunks
it wrote: their results name the invocation that judged them (which never finished), and the next run
judges every item again from the cached samples.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from polaris.runner.compute import _sample_values, latency_parts, round_records, spec_budget
from polaris.runner.judge import judge
from polaris.runner.monitor import identical_samples
from polaris.runner.tally import CellTally, ItemTally, item_tally
from polaris.store.store import ResultRow, Store

if TYPE_CHECKING:
    from polaris.runner.runner import PreparedCell

CHUNK_SAMPLES = 2048  # samples judged together: the batch the scorer sees
CHUNK_ITEMS = 256  # and at most this many items (greedy runs: a few round trips to the store per run)


def chunk_size(samples: int) -> int:
    """Items per chunk for K samples per item."""
    return max(1, min(CHUNK_ITEMS, CHUNK_SAMPLES // max(1, samples)))


class ChunkJudge:
    """Judges a cell's items in chunks (module docstring). `add` every item as it finishes (None: not
    asked), `await drain()` when `add` says a chunk is ready, and `close()` at the end."""

    def __init__(self, cell: PreparedCell, store: Store, *, size: int | None = None) -> None:
        self.cell, self.store = cell, store
        self.size = size or chunk_size(cell.spec.samples)
        self.tally = CellTally(spec_budget(cell.spec))
        self.asked = 0  # items with outputs (None: left unasked, e.g. by a budget)
        self.judged = 0  # item results written
        self._buffer: list[tuple[int, Any]] = []
        self._resolved: set[int] = set()  # items added (judged or not asked) at or after `_next`
        self._next = 0  # every item before it is folded into the tally
        self._waiting: dict[int, ItemTally] = {}  # judged, waiting for the items before them
        self._busy: asyncio.Future[None] | None = None

    def add(self, i: int, out: Any) -> bool:
        """Item i's outputs (an `Outputs`, a `RequestFailed`, or None when it was not asked); True when a
        chunk is ready to judge."""
        if out is None:
            self._resolve(i)
        else:
            self.asked += 1
            self._buffer.append((i, out))
        return self.ready()

    def ready(self) -> bool:
        return len(self._buffer) >= self.size

    async def drain(self) -> None:
        """Judge the ready chunks, one at a time, in a worker thread. Callers wait (so items stop piling
        up), but the judging itself is a task of its own: a caller that is cancelled (the cell stopped)
        does not cancel a chunk half way."""
        while self.ready():
            if self._busy is None or self._busy.done():
                chunk, self._buffer = self._buffer[: self.size], self._buffer[self.size:]
                self._busy = asyncio.ensure_future(self._judge_async(chunk))
            await asyncio.shield(self._busy)

    async def settle(self) -> None:
        """Wait for a chunk being judged (before `close`)."""
        if self._busy is not None:
            await asyncio.shield(self._busy)

    def close(self) -> CellTally:
        """Judge what is left, here and now, and fold every item: the cell's tally."""
        if self._busy is not None and not self._busy.done():
            raise RuntimeError("ChunkJudge.close() while a chunk is being judged: await settle() first")
        while self._buffer:
            chunk, self._buffer = self._buffer[: self.size], self._buffer[self.size:]
            calls = self._calls(chunk)
            self._write(*self._judge(chunk, calls), calls)
        for i in sorted(self._waiting):  # items never added (a cell stopped half way) leave gaps
            self.tally.add(self._waiting.pop(i))
        self._resolved.clear()
        return self.tally

    # -- one chunk ------------------------------------------------------------------------------

    async def _judge_async(self, chunk: list[tuple[int, Any]]) -> None:
        calls = self._calls(chunk)
        rows, tallies = await asyncio.to_thread(self._judge, chunk, calls)
        self._write(rows, tallies, calls)

    def _calls(self, chunk: Sequence[tuple[int, Any]]) -> dict[tuple[str, int], Any]:
        return self.store.sample_calls([o.request for _, o in chunk if not isinstance(o, BaseException)])

    def _judge(self, chunk: Sequence[tuple[int, Any]], calls: Any) -> tuple[list[ResultRow], list[ItemTally]]:
        """Pure work (no store): the chunk's item results and their compact records (without the parts
        that read the store)."""
        cell, think = self.cell, spec_budget(self.cell.spec).get("thinking_budget")
        rows = judge(cell.task, cell.spec, [cell.items[i] for i, _ in chunk], [o for _, o in chunk], calls)
        for row, (i, out) in zip(rows, chunk):
            row.idx = i  # dataset position, also when some items were left unasked
            if cell.items[i].meta:  # level, subject, category: breakdowns from the store alone
                row.data["meta"] = dict(cell.items[i].meta)
            if identical_samples(out):  # K samples, one text: maj@k and pass@k cannot vary (curves.py)
                row.data["identical_samples"] = True
        return rows, [item_tally(r, think=think) for r in rows]

    def _write(self, rows: list[ResultRow], tallies: list[ItemTally], calls: Any) -> None:
        # Recorded with the invocation that judged them (endpoint, versions): runner.history.
        self.store.put_results(self.cell.spec.run_id, rows, invocation=self.cell.invocation)
        self.judged += len(rows)
        extra = round_records(self.store, rows)  # earlier LLM-Modulo rounds (their samples are in the store)
        for row, t, lat in zip(rows, tallies, latency_parts(self.store, rows, calls)):
            t.latency = lat
            if row.error is None and row.item in extra:
                t.extra = [_sample_values(e) for e in extra[row.item]]
            self._waiting[row.idx] = t
            self._resolve(row.idx)

    def _resolve(self, i: int) -> None:
        """Item i is settled; fold every item whose predecessors all are."""
        self._resolved.add(i)
        while self._next in self._resolved:
            self._resolved.discard(self._next)
            t = self._waiting.pop(self._next, None)
            if t is not None:
                self.tally.add(t)
            self._next += 1
