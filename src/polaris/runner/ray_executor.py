"""The Ray executor: cells, and shards of large cells, solved on a Ray cluster; one store, one writer.

How a batch of cells of one model runs:
1. Plan (driver): every item's solver is replayed against the store alone, as `polaris rescore`
   does. Items it completes are cached; for the others the samples it looked up on the way are kept.
2. Workers: one Ray actor per worker, each building and starting its own backend once (its own vLLM
   engine on its GPU, an hf model, or a client of a shared API endpoint). Preflight errors (401,
   unreachable server) come back as the usual one-line error before anything is stored.
3. Shards: the missing items, cut into item ranges, go to whichever actor is free, with the samples
   the plan found (so a partly sampled item draws only its missing samples). The actor solves them
   with the ordinary solvers and a context whose "store" is that shipped cache and whose writer is a
   buffer it streams back as calls finish (runner/ray_worker.py).
4. Driver: writes each streamed batch through the group-commit `StoreWriter`, in the one store, then
   tells the worker, whose solvers wait for that as they wait for the local writer; judges each cell
   when its last shard is in.
SQLite never crosses machines and a killed driver loses at most the calls in flight: the same command
(with either executor) resumes. A worker that dies has its shard planned again from the store and
sent to another worker.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from polaris.errors import PolarisError
from polaris.models.base import RequestFailed
from polaris.models.registry import BackendOptions, make_backend, split_name
from polaris.runner.context import CacheMiss, CallStats, SolveContext
from polaris.runner.budget import Budget, BudgetExhausted
from polaris.runner.executors import BarFactory, Executor, RayOptions, backend_key, describe, options_for
from polaris.runner.ray_worker import Secret, Shard, ShardWorker
from polaris.runner.runner import CellRun, PreparedCell, finish_cell, first_error, open_cell, solver_for
from polaris.store.store import SampleRow, Store
from polaris.store.writer import StoreWriter

PIPELINE = 2  # shards in progress per worker
SHARD_RETRIES = 3  # times a shard is re-planned and re-sent after its worker died
IN_PROCESS = ("hf", "vllm", "lab")  # providers that load a model into the worker (GPU-bound)
FORWARDED_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "HF_TOKEN")


def _ray_token_available() -> bool:
    return bool(os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")
                or os.path.isfile(os.path.expanduser("~/.ray/auth_token")))


def import_ray(address: str | None = None, *, check_only: bool = False) -> Any:
    if check_only:  # fail fast without paying for the import (a fully cached run never needs Ray)
        import importlib.util

        if importlib.util.find_spec("ray") is None:
            import_ray(address)
        return None
    if (address or os.environ.get("RAY_ADDRESS")) and "RAY_AUTH_MODE" not in os.environ and _ray_token_available():
        # Ray clusters use token authentication by default, and a client sends its token only in token
        # mode, which Ray reads when it is imported (clusters without authentication accept it too).
        os.environ["RAY_AUTH_MODE"] = "token"
    try:
        import ray
    except ImportError:
        raise PolarisError("--executor ray needs Ray: pip install 'polaris-lab[ray]' (or pip install ray)") from None
    return ray


Found = dict[str, dict[int, SampleRow]]  # request hash -> the samples of it the store has
Key = tuple[str, str]  # (model, API): cells one backend serves (executors.backend_key)


@dataclass
class _CellState:
    cell: PreparedCell
    outputs: list[Any]
    pending: dict[int, Found]  # items to solve -> what the store has for them
    stats: CallStats = field(default_factory=CallStats)
    info: dict[str, Any] = field(default_factory=dict)
    shards_left: int = 0
    done: int = 0
    errors: int = 0
    sent: int = 0  # calls the workers sent for this cell (the progress bar's rate)
    update: Any = None


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


async def plan(cell: PreparedCell, store: Store, identity: dict[str, Any],
               indices: Sequence[int]) -> tuple[dict[int, Any], dict[int, Found], int]:
    """Replay each item's solver against the store alone: (outputs of the items it completes, the
    other items with the samples found on the way, the number of cached samples used)."""
    solve = solver_for(cell)
    done: dict[int, Any] = {}
    pending: dict[int, Found] = {}
    cached = 0
    for i in indices:
        recorder = _Recorder(store)
        ctx = SolveContext(recorder, None, identity, cell.spec.run_id)  # type: ignore[arg-type]
        try:
            done[i] = await solve(cell.task, cell.items[i], cell.prompts[i], ctx, cell.spec)
            cached += ctx.stats.cached
        except CacheMiss:
            pending[i] = recorder.seen
    return done, pending, cached


def _check_reachable(address: str) -> None:
    """Fail in seconds, not minutes, on a cluster address nothing answers at."""
    if address in ("auto", "local"):
        return
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise PolarisError(f"--ray-address '{address}' is not HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise PolarisError(f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); "
                           "is `ray start --head` running there?") from None


class RayExecutor(Executor):
    name = "ray"

    def __init__(self, opts: BackendOptions, *, concurrency: int = 32, options: RayOptions = RayOptions()) -> None:
        import_ray(options.address, check_only=True)
        self._ray: Any = None
        self.opts = opts
        self.concurrency = concurrency
        self.options = options
        if options.workers is not None and options.workers < 1:
            raise PolarisError(f"--ray-workers must be at least 1 (got {options.workers})")
        if options.shard_size is not None and options.shard_size < 1:
            raise PolarisError(f"--ray-shard-size must be at least 1 (got {options.shard_size})")
        self.identities: dict[Key, dict[str, Any]] = {}  # per (model, API): executors.backend_key
        self.pool_model: Key | None = None
        self.budget: Budget | None = None  # the caps of the current `run`, kept in this process
        self.actors: list[Any] = []
        self.shard_ids = 0

    @property
    def ray(self) -> Any:
        if self._ray is None:
            self._ray = import_ray(self.options.address)
        return self._ray

    async def start(self, models: Sequence[str]) -> None:
        # Names are checked and identities (cache keys) computed here; backends start on the workers,
        # which may be the only machines that can reach a model (a vLLM server on each node).
        for model in models:
            self._identity((model, self.opts.api))

    def _identity(self, key: Key) -> dict[str, Any]:
        if key not in self.identities:
            self.identities[key] = make_backend(key[0], options_for(self.opts, key)).identity()
        return self.identities[key]

    def _key(self, cell: PreparedCell) -> Key:
        return backend_key(self.opts, cell.spec)

    # -- the cluster and the actor pool -----------------------------------------------------

    def _connect(self) -> None:
        ray = self.ray
        if ray.is_initialized():
            return
        address = self.options.address
        if address:
            _check_reachable(address)
        try:
            ray.init(address=address or None, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError) as exc:
            detail = f"{exc} {exc.__cause__ or ''}"
            hint = ("; the cluster wants its token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
                    "~/.ray/auth_token) as on the head node") if "auth" in detail.lower() else ""
            raise PolarisError(f"cannot connect to the Ray cluster at {address or 'RAY_ADDRESS/local'}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}{hint}") from None

    def _cause(self, exc: BaseException) -> BaseException:
        """A worker's PolarisError as itself (one line), not wrapped in Ray's traceback."""
        cause = getattr(exc, "cause", None)
        return cause if isinstance(cause, PolarisError) else exc

    async def _pool(self, key: Key, pending: int) -> list[Any]:
        model = key[0]
        if self.pool_model == key and self.actors:
            return self.actors
        await self._kill_pool()  # one model's workers at a time: GPUs go to the next model
        self._connect()
        ray = self.ray
        total = ray.cluster_resources()
        gpus = self.options.gpus_per_worker
        if gpus is None:
            gpus = float(self.opts.tensor_parallel) if split_name(model)[0] in IN_PROCESS and total.get("GPU") else 0.0
        cpus = 0.0 if gpus else 1.0
        capacity = int(total.get("GPU", 0) // gpus) if gpus else int(total.get("CPU", 1))
        wanted = self.options.workers or max(1, min(capacity, math.ceil(pending / (2 * self.concurrency))))
        if wanted > capacity:
            unit = "GPU" if gpus else "CPU"
            raise PolarisError(f"--ray-workers {wanted} needs {wanted * (gpus or cpus):g} {unit}; "
                               f"the Ray cluster has {total.get(unit, 0):g}")
        env = Secret({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
        worker = ray.remote(ShardWorker).options(num_cpus=cpus, num_gpus=gpus, max_restarts=1)
        self.actors = [worker.remote(model, options_for(self.opts, key), env, self.concurrency) for _ in range(wanted)]
        self.pool_model = key
        try:
            ready = await asyncio.gather(*(a.start.remote() for a in self.actors))
        except Exception as exc:
            raise self._cause(exc) from None
        expected = self.identities[key]
        for r in ready:
            if r["identity"] != expected:
                raise PolarisError(f"the worker on {r['node']} serves {model} as {r['identity']}, not as "
                                   f"{expected} like this machine; its responses would not be the same cache entries")
        return self.actors

    async def _kill_pool(self) -> None:
        actors, self.actors, self.pool_model = self.actors, [], None
        for actor in actors:
            self.ray.kill(actor)

    async def close(self) -> None:
        if self.actors:
            await self._kill_pool()

    # -- running cells ----------------------------------------------------------------------

    async def run(self, cells: Sequence[PreparedCell], store: Store, *, bar: BarFactory | None = None,
                  budget: Budget | None = None) -> list[CellRun]:
        """Run the cells, one model (and API) at a time. With a `budget`, every call a worker would send
        is admitted here first, against the same `Budget` a local run checks (ray_worker.BudgetProxy)."""
        self.budget = budget
        runs: dict[int, CellRun] = {}
        for key in dict.fromkeys(self._key(c) for c in cells):
            self._identity(key)
            positions = [i for i, c in enumerate(cells) if self._key(c) == key]
            done = await self._run_model(key, [cells[i] for i in positions], store, bar)
            runs.update(zip(positions, done))
        return [runs[i] for i in range(len(cells))]

    def _shards(self, cell: PreparedCell, pending: dict[int, Found], size: int) -> list[Shard]:
        """Item ranges of at most `size` items, in dataset order, each with the samples it needs."""
        order, out = sorted(pending), []
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            cache = {h: rows for i in idx for h, rows in pending[i].items()}
            out.append(Shard(cell.spec, self.identities[self._key(cell)], idx, [cell.items[i] for i in idx],
                             [cell.prompts[i] for i in idx], cache, budgeted=self.budget is not None))
        return out

    async def _run_model(self, key: Key, cells: list[PreparedCell], store: Store,
                         bar: BarFactory | None) -> list[CellRun]:
        identity = self.identities[key]
        started = time.time()
        states = []
        for cell in cells:
            done, todo, cached = await plan(cell, store, identity, range(len(cell.items)))
            state = _CellState(cell, [done.get(i) for i in range(len(cell.items))], todo)
            state.stats.cached = cached
            states.append(state)
        pending = sum(len(s.pending) for s in states)
        actors = await self._pool(key, pending) if pending else []
        finished: dict[int, CellRun] = {}
        for state in states:
            state.info = open_cell(state.cell, store, identity, executor="ray")
            state.update = bar(describe(state.cell), len(state.cell.items)) if bar is not None else None
            state.done = len(state.cell.items) - len(state.pending)
            if state.update is not None:
                state.update(state.done, len(state.cell.items), 0)
        size = self.options.shard_size or max(self.concurrency, math.ceil(pending / (4 * max(1, len(actors)))))
        queue: asyncio.Queue[tuple[_CellState, Shard, int] | None] = asyncio.Queue()
        outstanding = 0
        for state in states:
            shards = self._shards(state.cell, state.pending, size)
            state.shards_left = len(shards)
            outstanding += len(shards)
            for shard in shards:
                queue.put_nowait((state, shard, 0))

        def shard_done(state: _CellState | None) -> None:
            nonlocal outstanding
            if state is not None:
                state.shards_left -= 1
                outstanding -= 1
            for k, s in enumerate(states):
                if s.shards_left == 0 and k not in finished:
                    finished[k] = finish_cell(s.cell, store, s.info, s.outputs, s.stats, time.time() - started,
                                              self.budget)
            if outstanding == 0:
                for _ in range(len(actors) * PIPELINE):  # wakes every feeder: nothing can be re-queued now
                    queue.put_nowait(None)

        shard_done(None)  # cells the store answered entirely
        if pending:
            writer = StoreWriter(store.path).start()
            alive = [len(actors) * PIPELINE]
            try:
                async with asyncio.TaskGroup() as tg:
                    for actor in actors * PIPELINE:
                        tg.create_task(self._feed(actor, queue, writer, store, shard_done, alive))
            except BaseExceptionGroup as group:
                raise self._cause(first_error(group)) from None
            finally:
                writer.close()
        return [finished[k] for k in range(len(states))]

    async def _feed(self, actor: Any, queue: asyncio.Queue, writer: StoreWriter, store: Store,
                    shard_done: Any, alive: list[int]) -> None:
        """Send shards to one actor until all are done; stream its results into the store."""
        while (job := await queue.get()) is not None:
            state, shard, tries = job
            if self.budget is not None and self.budget.exhausted:
                for i in shard.indices:  # the caps are reached: nothing more is sent; left for the next run
                    self._advance(state, i, None)
                shard_done(state)
                continue
            try:
                await self._solve_shard(actor, state, shard, writer)
            except self.ray.exceptions.RayActorError as exc:
                # The worker died. What it streamed is stored: plan the rest again, for any worker.
                if tries >= SHARD_RETRIES:
                    raise PolarisError(f"a Ray worker died {tries + 1} times on {describe(state.cell)} "
                                       f"({type(exc).__name__}); stored results are kept, run again to resume") from None
                left = [i for i in shard.indices if state.outputs[i] is None]
                done, todo, cached = await plan(state.cell, store, self.identities[self._key(state.cell)], left)
                state.stats.cached += cached
                for i, out in done.items():
                    self._advance(state, i, out)
                if todo:  # the replacement shard takes the dead one's place
                    queue.put_nowait((state, self._shards(state.cell, todo, len(todo))[0], tries + 1))
                else:
                    shard_done(state)
                if not await self._revive(actor):
                    alive[0] -= 1
                    if alive[0] == 0:
                        raise PolarisError("every Ray worker died; stored results are kept, run again to resume")
                    return
                continue
            except Exception as exc:
                raise self._cause(exc) from None
            shard_done(state)

    async def _revive(self, actor: Any, patience: float = 60.0) -> bool:
        """Wait for Ray to restart a dead actor (False if it does not come back)."""
        deadline = time.monotonic() + patience
        while True:
            try:
                await actor.start.remote()  # Ray holds it until the actor is back
                return True
            except getattr(self.ray.exceptions, "ActorDiedError", ()):  # out of restarts
                return False
            except self.ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    return False
                await asyncio.sleep(0.2)

    async def _solve_shard(self, actor: Any, state: _CellState, shard: Shard, writer: StoreWriter) -> None:
        self.shard_ids += 1
        shard_id = self.shard_ids
        stream = actor.solve.options(num_returns="streaming").remote(shard, shard_id)
        grants: list[asyncio.Future[None]] = []
        try:
            await self._stream(actor, state, shard, writer, shard_id, stream, grants)
        finally:
            for g in grants:
                g.cancel()

    async def _grant(self, actor: Any, shard_id: int, request: int, prompt: Any, n: int, max_tokens: int) -> None:
        """Admit one of a worker's calls against the budget (waiting as a local call would), then tell it."""
        try:
            ticket, refused = await self.budget.admit(prompt, n, max_tokens), None  # type: ignore[union-attr]
        except BudgetExhausted as exc:
            ticket, refused = 0, str(exc)
        await actor.granted.remote(shard_id, request, ticket, refused)

    async def _stream(self, actor: Any, state: _CellState, shard: Shard, writer: StoreWriter, shard_id: int,
                      stream: Any, grants: list[asyncio.Future[None]]) -> None:
        async for ref in stream:
            kind, *payload = await ref
            if kind == "stats":
                (stats,) = payload
                state.stats.calls += stats.calls
                state.stats.attempts += stats.attempts
                state.stats.failed += stats.failed
                state.stats.cached += stats.cached
                state.stats.answered += stats.answered
                state.stats.quirks.update(stats.quirks)
                continue
            if kind == "budget":  # calls the worker wants to send, and what finished calls cost
                admits, settles = payload
                for ticket, usage, prompt, texts in settles:
                    self.budget.settle(ticket, usage, prompt, texts)  # type: ignore[union-attr]
                for request, prompt, n, max_tokens in admits:
                    grants.append(asyncio.ensure_future(self._grant(actor, shard_id, request, prompt, n, max_tokens)))
                continue
            batch, calls, finished = payload
            if calls:  # committed before the worker's solvers go on, and before their items count
                await asyncio.gather(*(writer.record_call(**call) for call in calls))
                actor.committed.remote(shard_id, batch)
                state.sent += len(calls)
                if getattr(state.update, "sent", None) is not None:  # the bar's rate: work sent only
                    state.update.sent(state.sent)
            for j, out in finished:
                self._advance(state, shard.indices[j], out)

    def _advance(self, state: _CellState, i: int, out: Any) -> None:
        state.outputs[i] = out
        state.done += 1
        state.errors += isinstance(out, RequestFailed)
        if state.update is not None:
            state.update(state.done, len(state.cell.items), state.errors)
