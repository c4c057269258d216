"""`polaris run` and `polaris rescore` (`polaris tasks`: tasks_cmd.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import progress, results_table, warn
from polaris.cli.helptext import STORE_HELP
from polaris.cli.outcome import bounded
from polaris.errors import PolarisError



def _json_out(summaries: list[dict[str, Any]], extra: dict[str, Any] | None = None) -> None:
    keys = ("model", "task", "prompt", "strategy", "n", "accuracy", "ci95", "strict_accuracy", "extracted",
            "disagree", "errors", "requests_sent", "retries", "cached", "run_id", "groups", "headline", "scored",
            "unterminated_thinking", "outcomes", "truncated_rate", "no_answer_rate", "scored_with")
    out = [{k: s.get(k) for k in keys} | {k: v for k, v in s.items() if k not in keys and k != "seconds"}
           for s in summaries]
    json.dump({"results": out, **(extra or {})}, sys.stdout, indent=2)
    sys.stdout.write("\n")


async def _run_all(cells: list[Any], executor: Any, store: Any, *, show: bool) -> list[dict[str, Any]]:
    async with executor:
        # Preflight every model before any progress output or stored row.
        await executor.start(list(dict.fromkeys(c.spec.model for c in cells)))
        with progress(show) as bar:
            runs = await executor.run(cells, store, bar=bar)
    return [r.summary for r in runs]


def _task_options(name: str, given: dict[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...], str | None]:
    """(default prompt format, task options that differ from the task's defaults, template) for one task;
    `given`: the -T pairs (cli/options.py)."""
    from polaris.cli.options import task_values
    from polaris.tasks.registry import get_task

    base = get_task(name)
    default_prompt = "fewshot-cot" if "fewshot-cot" in base.formats else base.formats[0]
    values = task_values(name, base, given)
    template = values.pop("template", None)
    chosen = get_task(name, **values).options if values else base.options
    return default_prompt, tuple((k, v) for k, v in chosen.items() if v != base.options[k]), template


@contextmanager
def option_errors() -> Iterator[None]:
    """Errors of task and backend options, written by tasks and backends for the old flags (--blocks,
    --device), in the -T / -M form."""
    from polaris.cli.options import flag_text

    try:
        yield
    except PolarisError as exc:
        exc.args = (flag_text(str(exc)),)
        raise


def _each(name: str, low: int) -> Any:
    """typer callback: every value of a repeatable whole-number option at least `low` (typer's min=
    would print `<int range>` and `[x>=1]` in the help)."""

    def check(values: Any) -> Any:
        for v in values if isinstance(values, list) else [values]:
            if v is not None and v < low:
                raise PolarisError(f"{name} must be at least {low} (got {v})")
        return values

    return check


H = {"hidden": True}  # flags replaced by -T / -M in 0.1 (cli/options.py): accepted with a warning until 0.2


@app.command(context_settings={"max_content_width": 120})
def run(
    model: list[str] = typer.Option(..., "--model", "-m", metavar="MODEL", show_default=False, help="openai/NAME, hf/PATH, vllm/NAME, lab/NAME, baseline/gold, baseline/random (repeatable)"),
    task: list[str] = typer.Option(["gsm8k"], "--task", "-t", metavar="TASK", help="Task or suite, repeatable"),
    prompt: Optional[list[str]] = typer.Option(None, "--prompt", "-p", metavar="FORMAT", help="Repeatable: fewshot-cot (default), fewshot-direct, zeroshot-cot, zeroshot-direct; planning: one-shot, zero-shot, zero-shot-cot"),
    task_option: list[str] = typer.Option([], "--task-option", "-T", metavar="NAME=VALUE", show_default=False, help="Task option, repeatable: `polaris tasks TASK`"),
    model_option: list[str] = typer.Option([], "--model-option", "-M", metavar="NAME=VALUE", show_default=False, help="Backend option, repeatable (docs/backends.md)"),
    limit: Optional[int] = typer.Option(None, metavar="N", callback=_each("--limit", 1), help="N items, stratified over the task's groups"),
    samples: int = typer.Option(1, metavar="K", callback=_each("--samples", 1), show_default=False, help="Samples per item, for self-consistency"),
    temperature: float = typer.Option(0.0, metavar="T", callback=bounded("--temperature", 0.0), show_default=False, help="Sampling temperature; 0 (default): greedy"),
    top_p: Optional[float] = typer.Option(None, metavar="P", callback=bounded("--top-p", 0.0, 1.0), help="Nucleus sampling"),
    max_tokens: list[int] = typer.Option([], "--max-tokens", metavar="N", callback=_each("--max-tokens", 1), show_default=False, help="Token limit: 1024 CoT, 256 direct; repeatable"),
    reasoning_effort: list[str] = typer.Option([], "--reasoning-effort", metavar="LEVEL", show_default=False, help="minimal | low | medium | high; repeatable"),
    thinking_budget: list[int] = typer.Option([], "--thinking-budget", metavar="N", callback=_each("--thinking-budget", 0), show_default=False, help="Thinking tokens before the answer; repeatable"),
    seed: int = typer.Option(0, metavar="N", show_default=False, help="Seed of sampling and --exemplars random"),
    exemplars: str = typer.Option("default", metavar="WHICH", show_default=False, help="default | complex | random | shuffle | FILE"),
    exemplar_seeds: int = typer.Option(1, metavar="M", callback=_each("--exemplar-seeds", 1), show_default=False, help="Draws of exemplars per cell, and their spread"),
    fewshot_as: str = typer.Option("multi", metavar="multi|single", show_default=False, help="Chat few-shot: turns (default) or one message"),
    system: Optional[str] = typer.Option(None, metavar="TEXT", help="System message for chat models"),
    vote: str = typer.Option("majority", metavar="majority|complex-top-N", help="How K samples are voted"),
    think_tags: list[str] = typer.Option([], "--think-tags", metavar="OPEN,CLOSE", show_default=False, help="Reasoning tags stripped before extraction"),
    scoring: str = typer.Option("generate", metavar="generate|loglik", show_default=False, help="loglik: multiple choice by log-likelihood"),
    base_url: Optional[str] = typer.Option(None, metavar="URL", help="Server URL (default: $OPENAI_BASE_URL)"),
    api: str = typer.Option("chat", metavar="chat|completions", show_default=False, help="completions: raw text for base models"),
    concurrency: int = typer.Option(32, metavar="N", callback=_each("--concurrency", 1), help="Requests in flight"),
    executor: str = typer.Option("local", metavar="local|ray", show_default=False, help="ray: a Ray cluster (docs/scale.md)"),
    prices: Optional[Path] = typer.Option(None, "--prices", metavar="FILE", help="Prices for the cost column (docs/compute.md)"),
    store: Optional[Path] = typer.Option(None, metavar="PATH", help="Store (default: $POLARIS_STORE, ./polaris.db)"),
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of the tables"),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar or progress lines"),
    # Deprecated in 0.1, removed in 0.2: the -T / -M options' old flags.
    template: Optional[str] = typer.Option(None, "--template", **H),
    blocks: Optional[str] = typer.Option(None, "--blocks", **H),
    instances: Optional[int] = typer.Option(None, "--instances", **H),
    instance_seed: Optional[int] = typer.Option(None, "--instance-seed", **H),
    instances_dir: Optional[Path] = typer.Option(None, "--instances-dir", **H),
    obfuscation: Optional[str] = typer.Option(None, "--obfuscation", **H),
    verifier_rounds: Optional[int] = typer.Option(None, "--verifier-rounds", **H),
    feedback: Optional[str] = typer.Option(None, "--feedback", **H),
    timeout: Optional[float] = typer.Option(None, "--timeout", **H),
    stall_timeout: Optional[float] = typer.Option(None, "--stall-timeout", **H),
    no_stream: bool = typer.Option(False, "--no-stream", **H),
    max_attempts: Optional[int] = typer.Option(None, "--max-attempts", **H),
    backoff: Optional[float] = typer.Option(None, "--backoff", **H),
    budget_param: Optional[str] = typer.Option(None, "--budget-param", **H),
    device: Optional[str] = typer.Option(None, "--device", **H),
    dtype: Optional[str] = typer.Option(None, "--dtype", **H),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", **H),
    tp: Optional[int] = typer.Option(None, "--tp", **H),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", **H),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", **H),
    ray_shard_size: Optional[int] = typer.Option(None, "--ray-shard-size", **H),
) -> None:
    """Evaluate models on tasks; cached, resumable, every request and response kept in the store.
    Task options (-T): `polaris tasks TASK`; backend options (-M): docs/backends.md."""
    import asyncio

    from polaris.cli.options import deprecated, merge, model_values, pairs
    from polaris.config import store_path
    from polaris.models.registry import BackendOptions, make_backend
    from polaris.runner.cell import CellSpec
    from polaris.runner.executors import RayOptions, make_executor
    from polaris.runner.runner import prepare
    from polaris.store.store import Store
    from polaris.tasks.registry import expand

    from polaris.runner.sensitivity import exemplar_draws, spreads

    old_t = deprecated({"--template": template, "--blocks": blocks, "--instances": instances,
                        "--instance-seed": instance_seed, "--instances-dir": instances_dir, "--obfuscation": obfuscation,
                        "--verifier-rounds": verifier_rounds, "--feedback": feedback}, "-T", warn)
    old_m = deprecated({"--timeout": timeout, "--stall-timeout": stall_timeout, "--no-stream": no_stream,
                        "--max-attempts": max_attempts, "--backoff": backoff, "--budget-param": budget_param,
                        "--device": device, "--dtype": dtype, "--batch-size": batch_size, "--tp": tp,
                        "--ray-address": ray_address, "--ray-workers": ray_workers,
                        "--ray-shard-size": ray_shard_size}, "-M", warn)
    given = merge(pairs(task_option, "-T"), old_t, "-T")
    backend_opts, ray_opts = model_values(merge(pairs(model_option, "-M"), old_m, "-M"), model, executor)
    tasks = expand(task)
    with option_errors():
        options = {t: _task_options(t, given) for t in tasks}
        if any(dict(o[1]).get("verifier_rounds") for o in options.values()) and samples > 1:
            raise PolarisError("-T verifier-rounds works with one sample per item (drop --samples)")
        tags = parse_think_tags(think_tags)
        cells = [
            draw
            for m in model for t in tasks
            for p in (prompt or ["fewshot-direct" if scoring == "loglik" else options[t][0]])
            for effort, think, limit_tokens in compute_levels(reasoning_effort, thinking_budget, max_tokens)
            for draw in exemplar_draws(
                CellSpec(model=m, task=t, prompt=p, api=api, fewshot_as=fewshot_as, exemplars=exemplars,
                         exemplar_seed=seed, samples=samples, temperature=temperature, top_p=top_p,
                         max_tokens=limit_tokens, seed=seed, vote=vote, scoring=scoring, system=system,
                         think_tags=tags, task_options=options[t][1], template=options[t][2],
                         reasoning_effort=effort, thinking_budget=think),
                exemplar_seeds)
        ]
        price_table = load_prices(prices)  # a bad price file fails before anything runs
        # Validate everything (names, formats, data and exemplar files) before touching the store or network.
        prepared = [prepare(spec, limit=limit) for spec in cells]
    opts = BackendOptions(base_url=base_url, api=api, concurrency=concurrency, seed=seed, **backend_opts)
    with option_errors():
        for m in model:
            make_backend(m, opts)  # names and options checked before the store is opened
        runner = make_executor(executor, opts, concurrency=concurrency, ray=RayOptions(**ray_opts))
        db = Store(store_path(store))
        try:
            summaries = asyncio.run(_run_all(prepared, runner, db,
                                             show=not no_progress and (not as_json or sys.stderr.isatty())))
        finally:
            db.close()
    for s in summaries:
        ends = (s.get("run") or {}).get("endpoints") or []
        if len(ends) > 1:
            warn(f"{s['label']}: run {s['run_id']} holds results from {len(ends)} endpoints ("
                 + ", ".join(f"{e['endpoint']}: {e['items']} items" for e in ends) + "); see its manifest")
    from polaris.cli import outcome

    spread = spreads([c.spec for c in prepared], summaries)
    checks = add_costs(summaries, price_table)
    if as_json:
        _json_out(summaries, {"failures": outcome.failures(summaries)} |
                  ({"exemplar_sensitivity": spread} if exemplar_seeds > 1 else {}) | {"compute_checks": checks})
    else:
        from polaris.cli.compute_display import compute_table
        from polaris.cli.display import chance_table
        from polaris.cli.strategy_display import curves_table, reasoning_table, sensitivity_table

        results_table(summaries)
        chance_table(summaries)
        curves_table(summaries)
        reasoning_table(summaries)
        sensitivity_table(spread)
        compute_table(summaries)
    for check in checks:
        warn(check["message"])
    code = outcome.report(summaries)
    if code:
        raise typer.Exit(code)


def compute_levels(efforts: list[str], budgets: list[int], limits: list[int]) -> list[tuple[Any, Any, Any]]:
    """The compute factors' levels crossed: (effort, thinking budget, max tokens), None where not given."""
    return [(e, b, m) for e in (efforts or [None]) for b in (budgets or [None]) for m in (limits or [None])]


def load_prices(path: Path | None) -> Any:
    from polaris.analysis.prices import load_prices as load

    return load(path)


def add_costs(summaries: list[dict[str, Any]], prices: Any) -> list[dict[str, Any]]:
    """Each summary's `cost` from the price table (where it has the model), and the compute checks
    (budgets a server ignored) over the summaries together."""
    from polaris.analysis.compute import factor_checks

    for s in summaries:
        if s.get("compute") and prices is not None:
            cost = prices.cost(s["model"], s["compute"])
            if cost is not None:
                s["cost"] = cost
    return factor_checks(summaries)


def parse_think_tags(values: list[str]) -> tuple[tuple[str, str], ...]:
    """["<scratch>,</scratch>"] -> (("<scratch>", "</scratch>"),); a malformed pair is a one-line error."""
    from polaris.errors import PolarisError

    pairs = []
    for v in values:
        open_tag, sep, close_tag = v.partition(",")
        if not sep or not open_tag.strip() or not close_tag.strip():
            raise PolarisError(f"--think-tags '{v}': expected OPEN,CLOSE, e.g. '<think>,</think>'")
        pairs.append((open_tag.strip(), close_tag.strip()))
    return tuple(pairs)


@app.command()
def rescore(
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    model: Optional[str] = typer.Option(None, help="Only runs of this model"),
    task: Optional[str] = typer.Option(None, help="Only runs of this task"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the table"),
) -> None:
    """Re-score stored responses with the current extractors and scorers, without calling any model."""
    import asyncio

    from polaris.config import store_path
    from polaris.runner import history
    from polaris.runner.cell import CellSpec
    from polaris.runner.runner import run_cell
    from polaris.store.store import Store

    Store(store_path(store), readonly=True).close()  # a missing store is a one-line error, not a new empty one
    db = Store(store_path(store))
    summaries = []
    try:
        for r in db.runs():
            spec = CellSpec.from_dict(r.spec)
            if (model and spec.model != model) or (task and spec.task != task):
                continue
            if spec.judge:  # scored by a judge model's readings: `polaris audit --score-with judge` re-scores it
                warn(f"{r.label}: scored by a judge; run `polaris audit --run {r.id} --judge {spec.judge}"
                     " --score-with judge` on its source run to score it again")
                continue
            # Each item is rescored under the backend identity that answered it (a run filled from
            # two endpoints keeps both sets of samples): one rescore invocation per identity.
            cached = 0
            for identity, ids in history.identities(db, r.id):
                res = asyncio.run(run_cell(spec, store=db, backend=None, identity=identity or r.manifest["backend"],
                                           only=ids, source="rescore"))
                cached += res.summary.get("cached") or 0
            # The run's summary over every stored item (the record's), with this rescore's own calls: none.
            summaries.append({**res.manifest.get("summary", res.summary), "requests_sent": 0, "retries": 0,
                              "retry_rate": 0.0, "failed_requests": 0, "cached": cached})
    finally:
        db.close()
    if not summaries:
        warn("no stored runs match")
    if as_json:
        _json_out(summaries)
    elif summaries:
        results_table(summaries, title="Rescored")
