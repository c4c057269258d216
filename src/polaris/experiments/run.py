"""Run an experiment grid: prepare every cell, execute them, then report cells and contrasts.

Execution goes through an `Executor`: `LocalExecutor` runs the cells one after another in this
process (one backend per model, one store, the shared sample cache). Another executor (Ray, issue 8)
implements the same `run(cells, env)`; it gets prepared cells (`cell.spec` and `env.limit` are
enough to prepare them again on a worker) and must return one `CellOutcome` per cell, honour
`env.budget` before each call and hold a lease (`lease`) on each cell while it runs, so
`polaris experiment status` can tell a running cell from a stopped one.

Everything that reports (grid rows, contrasts, status) reads the store, never the process's memory,
so a report after a kill, a budget stop or another machine's run is the same report.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from polaris.experiments.spec import AXES, Experiment, ExperimentCell
from polaris.models.registry import BackendOptions
from polaris.runner import executors
from polaris.runner.budget import Budget, estimate_tokens, prompt_chars
from polaris.runner.runner import PreparedCell, prepare
from polaris.store.store import Store

LEASE = "running:"
BUDGET_EXIT = 3  # `polaris experiment run` stopped at --max-tokens/--max-requests; run it again to go on


@dataclass
class CellOutcome:
    cell: PreparedCell
    state: str  # done | failed (items errored) | stopped (budget: items left) | error (the cell could not run)
    summary: dict[str, Any] | None = None
    message: str | None = None


@dataclass
class RunEnv:
    """What an executor needs besides the cells."""

    store: Path
    options: BackendOptions
    concurrency: int = 32
    limit: int | None = None
    budget: Budget = field(default_factory=Budget)
    progress: Callable[[str, int], Callable[[int, int, int], None]] | None = None


class Executor(Protocol):
    async def run(self, cells: Sequence[PreparedCell], env: RunEnv) -> list[CellOutcome]: ...


@contextmanager
def lease(store: Store, run_id: str) -> Iterator[None]:
    """Mark a cell as running in the store (pid and host) for as long as the block runs."""
    store.put_meta(LEASE + run_id, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}))
    try:
        yield
    finally:
        store.put_meta(LEASE + run_id, None)


def lease_alive(value: str) -> bool:
    """A lease left by a killed process is stale: its pid is gone (checked on the same host)."""
    try:
        info = json.loads(value)
    except ValueError:
        return False
    if info.get("host") != socket.gethostname():
        return True  # another machine's process: assume it is still going
    try:
        os.kill(int(info["pid"]), 0)
    except (ProcessLookupError, ValueError, KeyError, TypeError):
        return False
    except PermissionError:
        return True
    return True


class _Leased(executors.LocalExecutor):
    """runner's local executor with each cell under a lease, its bar naming the strategy too."""

    def __init__(self, store: Store, env: RunEnv) -> None:
        super().__init__(env.options, concurrency=env.concurrency)
        self.store = store

    def describe(self, cell: PreparedCell) -> str:
        return f"{super().describe(cell)} {cell.spec.strategy}"

    def hold(self, cell: PreparedCell) -> Any:
        return lease(self.store, cell.spec.run_id)


class LocalExecutor:
    """Cells one after another in this process; items of a cell run `env.concurrency` at a time (more
    for an in-process backend, to fill its batches)."""

    async def run(self, cells: Sequence[PreparedCell], env: RunEnv) -> list[CellOutcome]:
        store = Store(env.store)
        try:
            async with _Leased(store, env) as executor:
                runs = await executor.run(cells, store, bar=env.progress, budget=env.budget)
        finally:
            store.close()
        return [CellOutcome(cell, "error" if res.refused else "stopped" if res.stopped else
                            "failed" if res.summary["errors"] else "done", res.summary, res.refused or res.stopped)
                for cell, res in zip(cells, runs)]


def prepare_cells(exp: Experiment) -> list[PreparedCell]:
    """Every cell prepared (names, data files, exemplar files checked) before anything runs."""
    from polaris.errors import PolarisError

    out = []
    for cell in exp.cells:
        try:
            out.append(prepare(cell.spec, limit=exp.limit, source="experiment"))
        except PolarisError as exc:
            raise PolarisError(f"{exp.path}: cell {cell.name}: {exc}") from None
    return out


async def run_experiment(exp: Experiment, env: RunEnv, executor: Executor | None = None) -> list[CellOutcome]:
    cells = prepare_cells(exp)
    return await (executor or LocalExecutor()).run(cells, env)


# -- reading the store: grid rows, contrasts, status ----------------------------------------------


def cell_state(store: Store | None, cell: PreparedCell, rows: Sequence[Any] = ()) -> tuple[str, int, int]:
    """(state, items scored, items with errors) of a cell from the store, given its stored `rows` (on
    the cell's items): done | running | partial | failed | missing. A cell whose invocation was killed
    (or stopped) before it stored item results, but whose calls were answered, is partial too."""
    if store is None:
        return "missing", 0, 0
    scored = sum(1 for r in rows if r.error is None)
    errors = len(rows) - scored
    leases = store.meta(LEASE + cell.spec.run_id)
    if any(lease_alive(v) for v in leases.values()):
        return "running", scored, errors
    if errors:
        return "failed", scored, errors
    if scored >= len({it.id for it in cell.items}):
        return "done", scored, errors
    return ("partial" if scored or store.answered(cell.spec.run_id) else "missing"), scored, errors


def grid_rows(exp: Experiment, cells: Sequence[PreparedCell], store: Store | None) -> list[dict[str, Any]]:
    """One row per cell, with the state and a summary recomputed from the stored results."""
    from polaris.runner.compute import cell_compute, spec_budget
    from polaris.runner.summary import summarize

    rows = []
    for ec, cell in zip(exp.cells, cells):
        results = store.results(cell.spec.run_id, items=[it.id for it in cell.items]) if store is not None else []
        state, scored, errors = cell_state(store, cell, results)
        summary = summarize(results, headline=cell.task.headline) if results else None
        if summary is not None:  # tokens per item, truncation, budget check (runner/compute.py)
            summary.update(model=cell.spec.model, task=cell.task.name, prompt=cell.spec.prompt,
                           strategy=cell.spec.strategy, compute=cell_compute(results, spec_budget(cell.spec)))
            from polaris.runner.history import coverage  # a grid with `limit:` covers part of each task

            summary["coverage"] = coverage(results, cell.total, cell.limit)
            summary["partial"] = summary["coverage"]["partial"]
        spent = store.usage(cell.spec.run_id) if store is not None else {}
        answered = min(store.answered(cell.spec.run_id), len(cell.items)) if store is not None else 0
        rows.append({**ec.coords, "label": cell.spec.label, "run_id": cell.spec.run_id, "state": state,
                     "items": len(cell.items), "scored": scored, "errors": errors, "answered": answered,
                     "tokens_spent": spent_total(spent), "summary": summary})
    return rows


def spent_total(usage: dict[str, int]) -> int:
    if "total_tokens" in usage:
        return usage["total_tokens"]
    return usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)


def varying_axes(exp: Experiment) -> list[str]:
    return [ax for ax in (*AXES, "draw") if len({c.coords[ax] for c in exp.cells}) > 1]


def where(a: ExperimentCell, contrast: Any, varying: Sequence[str]) -> str:
    """The coordinates a contrast's pair was taken at (the varying axes the contrast does not set)."""
    return " ".join(f"s{a.seed}" if ax == "seed" else f"d{a.draw}" if ax == "draw" else str(a.coords[ax])
                    for ax in varying if ax not in contrast.a and a.coords[ax] is not None)


def contrast_rows(exp: Experiment, store: Store | None) -> list[dict[str, Any]]:
    """Every paired contrast the file asks for, on the items both cells have scored, Holm-corrected
    across all of them."""
    from polaris.analysis.compare import compare_rows
    from polaris.analysis.stats import with_holm

    varying = varying_axes(exp)
    out: list[dict[str, Any]] = []
    cache: dict[str, Any] = {}

    def results(run_id: str) -> Any:
        if run_id not in cache:
            cache[run_id] = store.results(run_id) if store is not None else []
        return cache[run_id]

    for contrast in exp.contrasts:
        for a, b in exp.pairs(contrast):
            fixed = where(a, contrast, varying)
            res = compare_rows(results(a.spec.run_id), results(b.spec.run_id))
            out.append({"name": contrast.name, "where": fixed,
                        "a": a.spec.label, "b": b.spec.label, "a_run": a.spec.run_id, "b_run": b.spec.run_id,
                        **{ax: a.coords[ax] for ax in varying if ax not in contrast.a}, **res.as_dict()})
    return with_holm(out)


# -- dry run ---------------------------------------------------------------------------------------


@dataclass
class CellEstimate:
    cell: ExperimentCell
    items: int
    requests: int  # calls still to send
    samples: int  # samples still to draw
    prompt_tokens: int  # chars/4 of the prompts of those calls
    completion_tokens: int
    completion_source: str  # where the tokens per sample came from


def _avg_completion(store: Store | None, spec: Any, memo: dict[tuple[str, ...], tuple[float, str] | None]) -> tuple[float, str] | None:
    """Mean completion tokens per sample in stored cells like this one: same model, task, prompt format
    and compute levels (effort, thinking budget, max tokens), else same model, task and format (any
    strategy), else same task and format (any model)."""
    if store is None:
        return None

    def levels(d: Any) -> tuple[Any, ...]:
        return (d.get("reasoning_effort"), d.get("thinking_budget"), d.get("max_tokens"))

    own = levels({"reasoning_effort": spec.reasoning_effort, "thinking_budget": spec.thinking_budget,
                  "max_tokens": spec.max_tokens})
    for key, match in (((spec.model, spec.task, spec.prompt, *map(str, own)),
                        lambda r: (r.spec.get("model"), r.spec.get("task"), r.spec.get("prompt"),
                                   *map(str, levels(r.spec)))),
                       ((spec.model, spec.task, spec.prompt), lambda r: (r.spec.get("model"), r.spec.get("task"),
                                                                         r.spec.get("prompt"))),
                       (("*", spec.task, spec.prompt), lambda r: ("*", r.spec.get("task"), r.spec.get("prompt")))):
        if key not in memo:
            tokens: list[float] = []
            for run in store.runs():
                if match(run) == key:
                    for row in store.results(run.id):
                        tokens += [s["tokens"] for s in row.data.get("samples", ()) if s.get("tokens") is not None]
                if len(tokens) >= 2000:
                    break
            where = "same model and budget" if len(key) > 3 else "same model" if key[0] != "*" else "other models"
            memo[key] = (sum(tokens) / len(tokens), f"mean of {len(tokens)} stored ({where})") if tokens else None
        if memo[key] is not None:
            return memo[key]
    return None


def estimate(exp: Experiment, cells: Sequence[PreparedCell], store: Store | None,
             options: BackendOptions) -> list[CellEstimate]:
    """What running the grid would still send, from the rendered prompts and the cache."""
    from polaris.models.registry import make_backend
    from polaris.runner import solvers
    from polaris.runner.context import SolveContext

    backends: dict[str, Any] = {}
    memo: dict[tuple[str, ...], tuple[float, str] | None] = {}
    planned: dict[str, int] = {}  # samples earlier cells of this grid will have drawn, per request
    out = []
    for ec, cell in zip(exp.cells, cells):
        spec = cell.spec
        key = executors.backend_key(options, spec)
        if key not in backends:
            backends[key] = make_backend(spec.model, executors.options_for(options, key))  # identity only
        backend = backends[key]
        decoding = solvers.decoding(spec)
        K = spec.samples
        have: dict[str, int] = {}
        hashes = []
        if spec.scoring == "generate":
            ctx = SolveContext(store, None, backend.identity(), spec.run_id)  # type: ignore[arg-type]
            hashes = [ctx.request_key(p, decoding, it.id)[2] for p, it in zip(cell.prompts, cell.items)]
            if store is not None:
                have = store.sample_counts(hashes, K)
        requests = samples = prompt_tokens = 0
        for i, p in enumerate(cell.prompts):
            # Cells that share requests (same prompt and decoding, other vote) share their samples.
            got = max(have.get(hashes[i], 0), planned.get(hashes[i], 0)) if hashes else 0
            missing = K - got
            if hashes:
                planned[hashes[i]] = max(got, K)
            if missing <= 0:
                continue
            calls = 1 if backend.supports_n else missing
            requests += calls
            samples += missing
            prompt_tokens += calls * estimate_tokens(prompt_chars(p))
        avg = _avg_completion(store, spec, memo)
        per_sample, source = (min(avg[0], decoding.max_tokens), avg[1]) if avg else (float(decoding.max_tokens),
                                                                                       "max_tokens (bound)")
        out.append(CellEstimate(ec, len(cell.items), requests, samples, prompt_tokens, round(samples * per_sample),
                                source))
    return out
