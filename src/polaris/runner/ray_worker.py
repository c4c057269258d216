"""The worker side of the Ray executor: an actor that drives one backend and streams its calls back.

A worker never touches the store. It gets a shard (item range of one cell, its prompts, and the
samples the driver's store already has for those items), solves it with the ordinary solvers through
a `SolveContext` whose store is that shipped cache and whose writer is a buffer, and streams back what
finished as soon as it finishes: the call rows (for the driver's StoreWriter) and the items' outputs.
Like the local writer, a call's solver waits until the driver reports the call committed, so the
calls not yet in the store are never more than those in flight. Under budget caps (`--max-tokens`,
`--max-requests`) every call is first admitted by the driver, which keeps the one `Budget` for all
workers (`BudgetProxy`): the caps hold across the cluster exactly as they do in one process.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from typing import Any

from polaris.models.registry import BackendOptions, make_backend
from polaris.runner.cell import CellSpec
from polaris.runner.context import SolveContext
from polaris.runner.runner import PreparedCell, load_task, solve_items
from polaris.store.store import SampleRow

class Secret:
    """Environment values handed to the workers; never shown by repr (Ray prints arguments in errors)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values

    def __repr__(self) -> str:
        return "Secret(<redacted>)"


# -- worker side ---------------------------------------------------------------------------------


class _ShardCache:
    """The part of the store a shard needs: the samples the driver found for its items."""

    def __init__(self, cache: dict[str, dict[int, SampleRow]]) -> None:
        self.cache = cache

    def samples(self, request_hash: str) -> dict[int, SampleRow]:
        return dict(self.cache.get(request_hash, {}))


class _CallBuffer:
    """Stands in for the StoreWriter in a worker. A solver's call waits here until the driver has
    committed it (as with the local writer), so a killed driver loses at most the calls in flight."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.waiting: list[asyncio.Future[None]] = []
        self.news = asyncio.Event()  # something to send: a call, a finished item, a budget message
        self.admits: list[tuple[int, Any, int, int]] = []  # (request, prompt, n, max_tokens) to admit
        self.settles: list[tuple[int, Any, Any, list[str]]] = []  # (ticket, usage, prompt, texts)

    async def record_call(self, **call: Any) -> None:
        request = call.pop("request")  # the store keeps body_json; these three fields index it
        call["request"] = {k: request.get(k) for k in ("model", "endpoint", "kind")}
        committed = asyncio.get_running_loop().create_future()
        self.calls.append(call)
        self.waiting.append(committed)
        self.news.set()
        await committed

    def take(self) -> tuple[list[dict[str, Any]], list[asyncio.Future[None]]]:
        calls, waiting, self.calls, self.waiting = self.calls, self.waiting, [], []
        return calls, waiting

    def take_budget(self) -> tuple[list[Any], list[Any]]:
        admits, settles, self.admits, self.settles = self.admits, self.settles, [], []
        return admits, settles


class BudgetProxy:
    """The worker's view of the driver's `Budget`: `admit` asks the driver (through the shard's stream)
    and waits for its answer, `settle` reports what a call cost. Once the driver refuses a call, every
    later one is refused here at once (the budget stays exhausted, as it does locally)."""

    def __init__(self, buffer: _CallBuffer, grants: dict[int, asyncio.Future[tuple[int, str | None]]]) -> None:
        self.buffer = buffer
        self.grants = grants
        self.refused: str | None = None

    async def admit(self, prompt: Any, n: int, max_tokens: int) -> int:
        from polaris.runner.budget import BudgetExhausted

        if self.refused is not None:
            raise BudgetExhausted(self.refused)
        request = len(self.grants) + 1
        answer = asyncio.get_running_loop().create_future()
        self.grants[request] = answer
        self.buffer.admits.append((request, prompt, n, max_tokens))
        self.buffer.news.set()
        ticket, refused = await answer
        if refused is not None:
            self.refused = refused
            raise BudgetExhausted(refused)
        return ticket

    def settle(self, ticket: int, usage: Any, prompt: Any, texts: list[str]) -> None:
        self.buffer.settles.append((ticket, usage, prompt, list(texts)))
        self.buffer.news.set()


@dataclass
class Shard:
    spec: CellSpec
    identity: dict[str, Any]
    indices: list[int]  # item positions in the cell
    items: list[Any]
    prompts: list[Any]
    cache: dict[str, dict[int, SampleRow]]
    budgeted: bool = False  # calls are admitted by the driver's budget first (BudgetProxy)


class ShardWorker:
    """A Ray actor: one backend, started once, solving the shards it is sent (two at a time, so one's
    tail overlaps the next one's start; `concurrency` items in flight in all)."""

    def __init__(self, model: str, opts: BackendOptions, env: Secret, concurrency: int) -> None:
        # The driver's key and base URL: this process serves only this actor.
        os.environ.update(env.values)
        self.backend = make_backend(model, opts)
        self.concurrency = concurrency
        self.started = False
        self.tasks: dict[tuple[str, Any], Any] = {}
        self.uncommitted: dict[tuple[int, int], list[asyncio.Future[None]]] = {}
        self.grants: dict[int, dict[int, asyncio.Future[tuple[int, str | None]]]] = {}  # shard -> request -> answer
        self.slots: asyncio.Semaphore | None = None  # `concurrency` items in flight across this worker's shards

    async def start(self) -> dict[str, Any]:
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.concurrency)
        if not self.started:
            await self.backend.start()
            self.started = True
        return {"identity": self.backend.identity(), "node": socket.gethostname()}

    async def solve(self, shard: Shard, shard_id: int):  # an async generator: Ray streams what it yields
        """Yields ("batch", batch number, call rows, finished items) as they come, then ("stats", CallStats).
        The calls of batch b are held until the driver has committed them and called `committed`."""
        await self.start()  # again after Ray restarted this actor
        key = (shard.spec.task, shard.spec.task_options)
        if key not in self.tasks:
            self.tasks[key] = load_task(shard.spec)  # tasks hold closures: rebuilt here, by name
        cell = PreparedCell(shard.spec, self.tasks[key], shard.items, shard.prompts, {})
        buffer = _CallBuffer()
        budget = BudgetProxy(buffer, self.grants.setdefault(shard_id, {})) if shard.budgeted else None
        ctx = SolveContext(_ShardCache(shard.cache), self.backend, shard.identity, shard.spec.run_id,  # type: ignore[arg-type]
                           buffer, budget=budget)  # type: ignore[arg-type]
        finished: list[tuple[int, Any]] = []

        def on_item(j: int, out: Any) -> None:
            finished.append((j, out))
            buffer.news.set()

        work = asyncio.ensure_future(solve_items(cell, ctx, range(len(shard.items)), concurrency=self.concurrency,
                                                 on_item=on_item, limit=self.slots))
        batch = 0
        while True:
            news = asyncio.ensure_future(buffer.news.wait())
            await asyncio.wait({work, news}, return_when=asyncio.FIRST_COMPLETED)
            news.cancel()
            # Cleared before anything is taken: whatever arrives while this batch is sent wakes the next.
            buffer.news.clear()
            admits, settles = buffer.take_budget()
            if admits or settles:
                yield ("budget", admits, settles)
            calls, waiting = buffer.take()
            items, finished = finished, []
            if calls or items:
                batch += 1
                self.uncommitted[(shard_id, batch)] = waiting
                yield ("batch", batch, calls, items)
            elif work.done():
                break
        self.grants.pop(shard_id, None)
        work.result()  # a PolarisError (401 mid-run) reaches the driver as itself
        yield ("stats", ctx.stats)

    async def granted(self, shard_id: int, request: int, ticket: int, refused: str | None) -> None:
        """The driver's answer to a call's admission: a ticket, or why the budget refuses it."""
        answer = self.grants.get(shard_id, {}).get(request)
        if answer is not None and not answer.done():
            answer.set_result((ticket, refused))

    async def committed(self, shard_id: int, batch: int) -> None:
        """The driver has stored this batch's calls: their solvers may go on."""
        for fut in self.uncommitted.pop((shard_id, batch), []):
            if not fut.done():
                fut.set_result(None)
