"""Executors: where prepared cells run. `polaris run` and `polaris experiment run` both go through one.

    local   this process: each cell through `run_cell`, one backend per model (the default)
    ray     a Ray cluster (runner/ray_executor.py): cells, and shards of large cells, solved by Ray
            actors that each drive their own backend; every response streams back to this process,
            which alone writes the store, so caching and resume work exactly as with `local`

The interface a command uses (the experiment runner the same way, calling `run` once per batch of
cells it wants done, e.g. between budget checks):

    executor = make_executor("local" | "ray", BackendOptions(...), concurrency=32,
                             ray=RayOptions(address=None, workers=None, shard_size=None))
    async with executor:
        await executor.start(models)    # preflight: one-line errors before anything is stored
        runs = await executor.run(cells, store, bar=bar)   # list[CellRun], in the order of `cells`

`bar(description, total)` returns `update(done, total, errors)` (cli/display.py: `progress()`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

from polaris.errors import PolarisError
from polaris.models.registry import BackendOptions, make_backend
from polaris.runner.budget import Budget
from polaris.runner.monitor import Monitor
from polaris.runner.runner import CellRun, PreparedCell, Progress, run_cell
from polaris.store.store import Store

EXECUTORS = ("local", "ray")
BarFactory = Callable[[str, int], Progress]


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # None: $RAY_ADDRESS, else a Ray instance started on this machine
    workers: int | None = None  # actors per model; None: one per GPU (in-process backends) or per CPU
    shard_size: int | None = None  # items per shard; None: about four shards per worker
    gpus_per_worker: float | None = None  # None: tensor-parallel size for hf/vllm on a GPU cluster, else 0


def describe(cell: PreparedCell) -> str:
    return f"{cell.spec.model} {cell.spec.task} {cell.spec.prompt}"


def backend_key(opts: BackendOptions, spec: Any) -> tuple[str, str]:
    """Cells served by the same backend: the model and the API its answers are generated with. An
    experiment grid mixes chat and completions cells of one model; each gets a backend (and a cache
    identity, and a manifest) naming its own API. Only an HTTP backend's identity names its API: an
    in-process model (hf, vllm, lab) is loaded once for both; log-likelihood cells keep the command's
    `--api` (their requests are the same either way)."""
    from polaris.models.registry import split_name

    per_cell = spec.scoring == "generate" and split_name(spec.model)[0] == "openai"
    return spec.model, (spec.api if per_cell else opts.api)


def options_for(opts: BackendOptions, key: tuple[str, str]) -> BackendOptions:
    return opts if opts.api == key[1] else replace(opts, api=key[1])


class Executor:
    """Runs prepared cells against their models and returns each cell's judged run."""

    name = "executor"

    async def start(self, models: Sequence[str]) -> None:
        """Check every model can be served (raise PolarisError with one line) before anything runs."""

    async def run(self, cells: Sequence[PreparedCell], store: Store, *, bar: BarFactory | None = None) -> list[CellRun]:
        raise NotImplementedError

    async def close(self) -> None:
        """Release backends, workers and connections (idempotent)."""

    async def __aenter__(self) -> Executor:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, opts: BackendOptions, *, concurrency: int = 32) -> None:
        self.opts = opts
        self.concurrency = concurrency
        self.backends: dict[tuple[str, str], Any] = {}  # per (model, API): backend_key
        self.monitor = Monitor()  # one per command: each server quirk is said once (runner/monitor.py)

    async def start(self, models: Sequence[str]) -> None:
        for model in models:
            await self._start((model, self.opts.api))

    async def _start(self, key: tuple[str, str]) -> Any:
        if key not in self.backends:
            backend = make_backend(key[0], options_for(self.opts, key))
            self.backends[key] = backend  # registered first, so close() releases a failed start too
            await backend.start()
        return self.backends[key]

    async def run(self, cells: Sequence[PreparedCell], store: Store, *, bar: BarFactory | None = None,
                  budget: Budget | None = None) -> list[CellRun]:
        for key in dict.fromkeys(backend_key(self.opts, c.spec) for c in cells):
            await self._start(key)
        if bar is not None and getattr(bar, "notice", None) is not None:
            self.monitor.emit = bar.notice
        runs = []
        for cell in cells:
            update = bar(self.describe(cell), len(cell.items)) if bar is not None else None
            backend = self.backends[backend_key(self.opts, cell.spec)]
            # In-process backends batch what is in flight: keep enough requests coming to fill batches.
            wanted = max(self.concurrency, getattr(backend, "in_flight", 0))
            with self.hold(cell):
                runs.append(await run_cell(cell, store=store, backend=backend, concurrency=wanted,
                                           on_progress=update, budget=budget, monitor=self.monitor))
        return runs

    def describe(self, cell: PreparedCell) -> str:
        """The progress bar's text for a cell."""
        return describe(cell)

    def hold(self, cell: PreparedCell) -> AbstractContextManager[Any]:
        """Held while a cell runs (the experiment runner holds a lease in the store)."""
        return nullcontext()

    async def close(self) -> None:
        backends, self.backends = self.backends, {}
        for backend in backends.values():
            await backend.close()


def check_executor(kind: str, ray: RayOptions | None = None) -> None:
    """An unknown executor, or Ray options given to the local one (they would be ignored): one line."""
    if kind not in EXECUTORS:
        raise PolarisError(f"unknown --executor '{kind}' (choose from {', '.join(EXECUTORS)})")
    if kind == "local" and ray is not None and ray != RayOptions():
        raise PolarisError("--ray-address, --ray-workers and --ray-shard-size need --executor ray")


def make_executor(kind: str, opts: BackendOptions, *, concurrency: int = 32, ray: RayOptions | None = None) -> Executor:
    """An executor by name (`check_executor`)."""
    check_executor(kind, ray)
    if kind == "local":
        return LocalExecutor(opts, concurrency=concurrency)
    from polaris.runner.ray_executor import RayExecutor

    return RayExecutor(opts, concurrency=concurrency, options=ray or RayOptions())
