"""Run one cell: items -> prompts -> solver (through the cache) -> judge -> store -> summary.

`concurrency` workers pull items in dataset order and keep that many solver calls in flight.
Every response is committed as it arrives; item results are written once the cell is judged. A
request that exhausts its retries makes its item an error (asked again next run); a backend that
cannot serve at all (401, unreachable) stops the run with one line, keeping what was stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from polaris import __version__
from polaris.errors import PolarisError
from polaris.models.base import Backend, RequestFailed
from polaris.prompts.exemplars import STRATEGIES, select
from polaris.prompts.render import Format, Prompt, render
from polaris.runner import solvers
from polaris.runner.budget import Budget, BudgetExhausted
from polaris.runner.cell import CellSpec
from polaris.runner.compute import cell_compute, cell_latency, round_records, spec_budget
from polaris.runner.context import CacheMiss, CallStats, SolveContext
from polaris.runner.judge import judge
from polaris.runner.monitor import Monitor, Ticker, error_reasons, identical_samples
from polaris.runner.refusal import CellRefused, FirstRequests
from polaris.runner.summary import summarize
from polaris.store.store import ResultRow, Store
from polaris.store.writer import StoreWriter
from polaris.tasks.base import FORMATS, Exemplar, Item, Task
from polaris.tasks.data import files_hash
from polaris.tasks.registry import get_task

Progress = Callable[[int, int, int], None]  # (done, total, errors)


@dataclass
class CellRun:
    spec: CellSpec
    task: Task
    rows: list[ResultRow]
    summary: dict[str, Any]
    manifest: dict[str, Any]
    stats: CallStats
    stopped: str | None = None  # why items were left unasked (budget); None: the cell ran in full
    refused: str | None = None  # the server refused the cell's first requests for good (runner/refusal.py)


def load_task(spec: CellSpec) -> Task:
    task = get_task(spec.task, **dict(spec.task_options))
    if spec.template is not None:  # Lu et al.'s templates replace the task's prompts and scorer
        from polaris.prompts import icl

        task = icl.apply(task, spec.template)
    if spec.prompt not in task.formats:
        raise PolarisError(
            f"task '{task.name}' has no prompt format '{spec.prompt}' (choose from {', '.join(task.formats)})"
        )
    return task


def build_prompts(task: Task, spec: CellSpec, items: Sequence[Item]) -> tuple[list[Prompt], dict[str, list[str]]]:
    """Prompts for the items, and the exemplar ids used per group (for the manifest)."""
    if spec.template is not None:
        from polaris.prompts.icl import build_prompts as template_prompts

        return template_prompts(task, spec, items)
    if task.build_prompt is not None:
        return [task.build_prompt(it, spec.prompt, spec.api) for it in items], {}
    fmt = Format.parse(spec.prompt)
    chosen: dict[str, list[Exemplar]] = {}
    prompts = []
    for it in items:
        if fmt.fewshot and it.group not in chosen:
            chosen[it.group] = select(task, it.group, spec.exemplars, spec.exemplar_seed, cot=fmt.cot)
        shots = chosen.get(it.group, []) if fmt.fewshot else []
        template = task.template_for(it.group)
        prompts.append(
            render(template, spec.prompt, template.item_text(it), shots,
                   api=spec.api, fewshot_as=spec.fewshot_as, system=spec.system)
        )
    return prompts, {g: [e.id for e in ex] for g, ex in chosen.items()}


def manifest(task: Task, spec: CellSpec, identity: dict[str, Any], exemplar_ids: dict[str, list[str]],
             n_items: int) -> dict[str, Any]:
    files = list(task.dataset.files())
    return {
        "polaris_version": __version__,
        "run_id": spec.run_id,
        "label": spec.label,
        "model": spec.model,
        "task": task.name,
        "task_options": dict(spec.task_options),
        "prompt": spec.prompt,
        "strategy": spec.strategy,
        "backend": identity,
        "decoding": solvers.decoding(spec).params(),
        "samples": spec.samples,
        "api": spec.api,
        "exemplars": exemplars_record(task, spec, exemplar_ids),
        "scorer_version": task.scorer.version,
        "dataset": {"files": [f.name for f in files], "sha256": files_hash(files) if files else None,
                    "size": task.dataset.size, "items_run": n_items},
    }


def exemplars_record(task: Task, spec: CellSpec, ids: dict[str, list[str]]) -> dict[str, Any]:
    """What the manifest says about the exemplars: the strategy, the published prompt it is (named),
    and the ids shown per group. Zero-shot cells show none, whatever `--exemplars` says."""
    if spec.prompt in FORMATS and not Format.parse(spec.prompt).fewshot:
        return {"strategy": "none", "prompt": "zero-shot: no exemplars", "ids": {}}
    out: dict[str, Any] = {"strategy": spec.exemplars, "seed": spec.exemplar_seed, "ids": ids}
    name = task.dataset.prompt_name(spec.prompt not in FORMATS or Format.parse(spec.prompt).cot)
    if spec.exemplars == "default" and name:
        out["prompt"] = name
    elif spec.exemplars == "shuffle" and name:
        out["prompt"] = f"{name}, in an order drawn with seed {spec.exemplar_seed}"
    elif spec.exemplars == "complex":
        out["prompt"] = "the training problems with the most reasoning steps (Fu et al. 2023)"
    elif spec.exemplars == "random":
        out["prompt"] = f"training problems drawn with seed {spec.exemplar_seed}"
    elif spec.exemplars not in STRATEGIES:
        out["prompt"] = f"prompt file {spec.exemplars}"
    tag = spec.prompt_tag()
    if tag is not None:
        out["tag"] = tag
    return out


@dataclass
class PreparedCell:
    """Everything a cell needs before any model is called; preparing all cells first means bad
    input (names, data files, exemplar files) is reported before anything runs."""

    spec: CellSpec
    task: Task
    items: list[Item]
    prompts: list[Prompt]
    exemplar_ids: dict[str, list[str]]
    limit: int | None = None  # --limit the items were taken with (runner.history records it)
    total: int | None = None  # items in the whole task, before --limit
    source: str = "run"  # what is filling the run: run | experiment | rescore (runner.history)
    invocation: int | None = None  # this invocation's id in the store, once the cell is open


def limited(items: Sequence[Item], limit: int, headline: str = "micro") -> list[Item]:
    """`--limit N`: N items, a stratified sample of the task's groups (BBH tasks, MMLU and MATH
    subjects) rather than the first group alone. Each group gives its first items in dataset order:
    as many from each group for a macro headline (a mean over groups needs every group), in
    proportion to the groups' sizes for a micro one. The items are a prefix of one fixed order of
    the task, so a larger limit takes every item a smaller one took (its results are reused)."""
    rank: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for it in items:
        sizes[it.group] = sizes.get(it.group, 0) + 1
    if len(sizes) <= 1:
        return list(items[:limit])
    order = {g: k for k, g in enumerate(sizes)}
    keys = []
    for i, it in enumerate(items):
        r = rank.get(it.group, 0)
        rank[it.group] = r + 1
        position = float(r) if headline == "macro" else (r + 0.5) / sizes[it.group]
        keys.append((position, order[it.group], i))
    chosen = sorted(i for *_, i in sorted(keys)[:limit])
    return [items[i] for i in chosen]


def prepare(spec: CellSpec, *, limit: int | None = None, only: set[str] | None = None,
            source: str = "run") -> PreparedCell:
    spec = spec.resolved()
    task = load_task(spec)
    items = list(task.dataset.load())
    total = len(items)
    if only is not None:
        items = [it for it in items if it.id in only]
    if limit is not None:
        items = limited(items, limit, task.headline)
    if spec.scoring == "loglik":
        from polaris.runner.loglik import check_cell

        check_cell(task, spec, items)
    prompts, exemplar_ids = build_prompts(task, spec, items)
    return PreparedCell(spec, task, items, prompts, exemplar_ids, limit, total, source)


def open_cell(cell: PreparedCell, store: Store, identity: dict[str, Any], *, executor: str = "local",
              data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record in the store that this invocation starts filling the cell's run (runner.history), and
    the run's manifest, before any response is written. `data`: more to keep with the invocation."""
    from polaris.runner import history

    spec = cell.spec
    cell.invocation = history.begin(store, spec.run_id, identity, source=cell.source, limit=cell.limit,
                                    items_asked=len(cell.items), scorer_version=cell.task.scorer.version,
                                    executor=executor, data=data)
    base = manifest(cell.task, spec, identity, cell.exemplar_ids, len(cell.items))
    return history.refresh(store, spec.run_id, spec.label, spec.as_dict(), base, total=cell.total,
                           headline=cell.task.headline, with_summary=False)


def solver_for(cell: PreparedCell) -> solvers.Solver:
    return solvers.get("loglik" if cell.spec.scoring == "loglik" else cell.task.solver)


async def solve_items(cell: PreparedCell, ctx: SolveContext, indices: Sequence[int], *, concurrency: int,
                      on_item: Callable[[int, Any], None] | None = None,
                      limit: asyncio.Semaphore | None = None) -> dict[int, Any]:
    """Solve the cell's items at `indices` with `concurrency` in flight: index -> Outputs or RequestFailed.
    `limit` caps the items in flight across several concurrent calls (a Ray worker's shards).

    Failed requests (retry budget exhausted, or a response missing from a cache-only context) become
    the item's outcome, never an exception; anything else (401, unreachable) stops the whole cell.
    Permanent refusals of the cell's first requests raise CellRefused (with the outputs so far).
    An item whose call would exceed a token/request budget is left out (not an error): the next run
    picks it up.
    """
    spec, task = cell.spec, cell.task
    solve = solver_for(cell)
    outputs: dict[int, Any] = {}
    todo = iter(indices)
    first = FirstRequests(len(indices))
    name = f"{spec.model} {task.name} {spec.prompt}"
    hint = ("; --scoring loglik needs /completions with a list of prompts, echo and logprobs (as vLLM serves it)"
            if spec.scoring == "loglik" else "")

    async def worker() -> None:
        for i in todo:
            try:
                if limit is None:
                    out: Any = await solve(task, cell.items[i], cell.prompts[i], ctx, spec)
                else:
                    async with limit:
                        out = await solve(task, cell.items[i], cell.prompts[i], ctx, spec)
            except RequestFailed as exc:
                out = exc
            except CacheMiss:
                out = RequestFailed("missing", "no stored response")
            except BudgetExhausted:
                out = None  # left for the next run; cached items after it are still judged
            outputs[i] = out
            if on_item is not None:
                on_item(i, out)
            first.check(out, ctx.stats.answered, name, hint)

    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(max(1, min(concurrency, len(indices)))):
                tg.create_task(worker())
    except BaseExceptionGroup as group:
        error = first_error(group)
        if isinstance(error, CellRefused):
            error.outputs = outputs
        raise error from None
    return outputs


def first_error(group: BaseExceptionGroup) -> BaseException:
    """The first user-facing error (401, unreachable server) of a task group's failures, to raise
    as itself rather than as a group; else its first exception."""
    return next((e for e in group.exceptions if isinstance(e, PolarisError)), group.exceptions[0])


def finish_cell(cell: PreparedCell, store: Store, info: dict[str, Any], outputs: Sequence[Any],
                stats: CallStats, seconds: float, budget: Budget | None = None, refused: str | None = None) -> CellRun:
    """Judge the outputs (None: item not asked), store the item results and the summary (in the
    manifest), return the run."""
    spec, task, items = cell.spec, cell.task, cell.items
    asked = [i for i, out in enumerate(outputs) if out is not None]
    hashes = [o.request for o in outputs if o is not None and not isinstance(o, BaseException)]
    calls = store.sample_calls(hashes)
    rows = judge(task, spec, [items[i] for i in asked], [outputs[i] for i in asked], calls)
    for row, i in zip(rows, asked):
        row.idx = i  # dataset position, also when some items were left unasked
        if items[i].meta:  # level, subject, category: breakdowns from the store alone
            row.data["meta"] = dict(items[i].meta)
        if identical_samples(outputs[i]):  # K samples, one text: maj@k and pass@k cannot vary (curves.py)
            row.data["identical_samples"] = True
    # Recorded with the invocation that judged them (endpoint, versions): runner.history.
    store.put_results(spec.run_id, rows, invocation=cell.invocation)
    summary = summarize(rows, headline=task.headline)
    if task.summarize is not None:  # task-specific metrics (planning), beside the generic ones
        summary.update(task.summarize(rows))
    retries = stats.attempts - stats.calls
    summary.update(
        model=spec.model, task=task.name, prompt=spec.prompt, strategy=spec.strategy, run_id=spec.run_id,
        requests_sent=stats.calls, retries=retries, cached=stats.cached, failed_requests=stats.failed,
        # Retries per request sent: 0.2 means one retry for every five requests.
        retry_rate=round(retries / stats.calls, 4) if stats.calls else 0.0,
        seconds=round(seconds, 3), label=spec.label,
        tokens_spent=store.usage(spec.run_id),  # everything calls under this run id were billed, all runs
    )
    # Tokens per item and sample, truncation, latency, budget check (runner/compute.py, docs/compute.md).
    summary["compute"] = cell_compute(rows, spec_budget(spec), round_records(store, rows))
    summary["latency"] = cell_latency(store, rows, calls)  # wall-clock seconds per item and sample (volatile)
    if summary["errors"]:
        summary["error_reasons"] = error_reasons(rows)
    if stats.quirks:
        summary["quirks"] = dict(stats.quirks)
    if refused is not None:
        summary["refused"] = refused
    stopped = None
    if len(asked) < len(items):
        stopped = budget.exhausted if budget is not None and budget.exhausted else "not asked"
        summary.update(stopped=stopped, remaining=len(items) - len(asked))
    from polaris.runner import history

    # This invocation's items (what the command prints) and, in the store, the whole run's record.
    summary["coverage"] = history.coverage(rows, cell.total, cell.limit)
    summary["partial"] = summary["coverage"]["partial"]
    if cell.invocation is not None:
        store.end_invocation(cell.invocation, items_scored=summary["scored"], errors=summary["errors"],
                             data={"requests_sent": stats.calls, "cached": stats.cached, "retries": retries,
                                   "failed_requests": stats.failed, **({"stopped": stopped} if stopped else {})})
    info = history.refresh(store, spec.run_id, spec.label, spec.as_dict(), info, total=cell.total,
                           headline=task.headline, summarize_task=task.summarize, judged=(len(rows), summary))
    summary["run"] = {"items": info["coverage"]["items"], "partial": info["coverage"]["partial"],
                      "endpoints": info["endpoints"]}
    return CellRun(spec, task, rows, summary, info, stats, stopped, refused)


async def run_cell(
    spec: CellSpec | PreparedCell,
    *,
    store: Store,
    backend: Backend | None,
    identity: dict[str, Any] | None = None,
    limit: int | None = None,
    only: set[str] | None = None,
    concurrency: int = 32,
    on_progress: Progress | None = None,
    budget: Budget | None = None,
    source: str = "run",
    monitor: Monitor | None = None,
) -> CellRun:
    """Run (or, with backend=None, rescore from the store) one cell.

    With a `budget`, a call that could exceed it is not sent: its item is left out of the results
    (not an error), the remaining items are still served from the cache, and `CellRun.stopped` says
    why. Running the cell again picks up exactly the items left.
    """
    cell = spec if isinstance(spec, PreparedCell) else prepare(spec, limit=limit, only=only, source=source)
    identity = identity if identity is not None else backend.identity()  # type: ignore[union-attr]
    info = open_cell(cell, store, identity)
    writer = StoreWriter(store.path).start() if backend is not None else None
    monitor = monitor if monitor is not None else Monitor()
    ctx = SolveContext(store, backend, identity, cell.spec.run_id, writer, budget=budget, monitor=monitor)
    done = errors = 0

    def on_item(i: int, out: Any) -> None:
        nonlocal done, errors
        done += 1
        errors += isinstance(out, RequestFailed)
        monitor.item(cell.spec, out)
        if sent is not None:  # the bar's rate counts only work sent (cli/progress.py), not cached items
            sent(ctx.stats.calls)
        if on_progress is not None:
            on_progress(done, len(cell.items), errors)
        if tick is not None:
            tick.tick(at_most_every=0.1)

    status = getattr(on_progress, "status", None)  # the bar's status line (cli/display.py), if it has one
    sent = getattr(on_progress, "sent", None)  # and its count of requests sent
    tick = Ticker(monitor, backend, status) if status is not None and backend is not None else None
    ticker = asyncio.ensure_future(tick.run()) if tick is not None else None
    started = time.time()
    refused = None
    try:
        got = await solve_items(cell, ctx, range(len(cell.items)), concurrency=concurrency, on_item=on_item)
    except CellRefused as exc:
        got, refused = exc.outputs, str(exc)
    finally:
        if ticker is not None:
            ticker.cancel()
        if writer is not None:
            writer.close()
    if refused is not None and status is not None:
        status("stopped: the server refused the first requests")
    return finish_cell(cell, store, info, [got.get(i) for i in range(len(cell.items))], ctx.stats,
                       time.time() - started, budget, refused)
