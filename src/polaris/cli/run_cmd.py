"""`polaris run`, `polaris rescore` and `polaris tasks`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import progress, results_table, warn
from polaris.cli.outcome import bounded
from polaris.errors import PolarisError

STORE_HELP = "SQLite store (default: $POLARIS_STORE, else ./polaris.db)"


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


def _task_options(name: str, given: dict[str, Any]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """(default prompt format, task options that differ from the task's defaults) for one task."""
    from polaris.tasks.registry import get_task

    base = get_task(name)
    default_prompt = "fewshot-cot" if "fewshot-cot" in base.formats else base.formats[0]
    for key in given:
        if key not in base.options:
            flag = "--" + key.replace("_", "-")
            raise PolarisError(f"{flag} does not apply to task '{name}' (planning options are for blocksworld tasks)"
                               if not base.options else f"task '{name}' has no option {flag}")
    chosen = get_task(name, **given).options if given else base.options
    return default_prompt, tuple((k, v) for k, v in chosen.items() if v != base.options[k])


@app.command()
def run(
    model: list[str] = typer.Option(..., "--model", "-m", help="openai/<model>, hf/<id-or-path>, vllm/<id-or-path>, baseline/gold, baseline/random (repeatable)"),
    task: list[str] = typer.Option(["gsm8k"], "--task", "-t", help="Task or suite (repeatable); see `polaris tasks`"),
    prompt: Optional[list[str]] = typer.Option(None, "--prompt", "-p", help="fewshot-cot | fewshot-direct | zeroshot-cot | zeroshot-direct; planning: one-shot | zero-shot | zero-shot-cot (repeatable; default: fewshot-cot, fewshot-direct with --scoring loglik, planning one-shot)"),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL (default: $OPENAI_BASE_URL, else OpenAI's)"),
    api: str = typer.Option("chat", help="chat | completions (base models: raw few-shot text with stop sequences)"),
    concurrency: int = typer.Option(32, min=1, help="Requests in flight"),
    limit: Optional[int] = typer.Option(None, min=1, help="Only the first N items, in dataset order"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of the table"),
    samples: int = typer.Option(1, min=1, help="Samples per item (self-consistency; at most 1024)"),
    temperature: float = typer.Option(0.0, callback=bounded("--temperature", 0.0), help="Sampling temperature (0: greedy)"),
    top_p: Optional[float] = typer.Option(None, callback=bounded("--top-p", 0.0, 1.0), help="Nucleus sampling"),
    max_tokens: list[int] = typer.Option([], "--max-tokens", min=1, help="Response token limit (default 1024 CoT, 256 direct; repeatable: a compute factor)"),
    reasoning_effort: list[str] = typer.Option([], "--reasoning-effort", help="minimal | low | medium | high: OpenAI-style reasoning effort (repeatable: a compute factor; docs/compute.md)"),
    thinking_budget: list[int] = typer.Option([], "--thinking-budget", min=0, help="Thinking tokens before the thinking is closed and the model made to answer (repeatable; docs/compute.md)"),
    budget_param: Optional[str] = typer.Option(None, "--budget-param", help="openai: how the thinking budget is sent: thinking_token_budget (vLLM, default) | custom_params (SGLang) | chat_template_kwargs (a template hint)"),
    prices: Optional[Path] = typer.Option(None, "--prices", help="Price table (YAML: model -> input/output USD per million tokens) for the cost column; default: a `prices:` block in your models.yaml"),
    seed: int = typer.Option(0, help="Seed for sampling and for --exemplars random"),
    exemplars: str = typer.Option("default", help="default | complex | random | shuffle | path to a CoT Hub prompt file"),
    exemplar_seeds: int = typer.Option(1, min=1, help="Run each few-shot cell with M exemplar draws (seeds --seed..--seed+M-1) and report the spread"),
    fewshot_as: str = typer.Option("multi", help="Chat few-shot: multi (alternating turns) or single (one message)"),
    system: Optional[str] = typer.Option(None, help="System message for chat models"),
    vote: str = typer.Option("majority", help="majority | complex-top-N (vote among the N longest chains)"),
    think_tags: list[str] = typer.Option([], "--think-tags", help="OPEN,CLOSE reasoning tags to strip before extraction, tried before the built-in <think> etc. (repeatable)"),
    scoring: str = typer.Option("generate", help="generate | loglik (multiple-choice by option log-likelihood)"),
    template: Optional[str] = typer.Option(None, "--template", help="Lu et al.'s multiple-choice templates: open | closed | closed-adv (direct formats; scored by their exact-match rules)"),
    timeout: float = typer.Option(600.0, callback=bounded("--timeout", 0.1), help="Seconds a request attempt may wait with nothing from the server (a streamed response that keeps coming is not cut)"),
    stall_timeout: float = typer.Option(30.0, "--stall-timeout", callback=bounded("--stall-timeout", 0.1), help="Seconds of silence after which a streamed response, or a request the server answered later ones before, counts as stalled and is sent again"),
    no_stream: bool = typer.Option(False, "--no-stream", help="Do not stream responses (for servers that stream badly); stalls are then only caught by --timeout"),
    max_attempts: int = typer.Option(8, min=1, help="Attempts per request before it counts as an error"),
    backoff: float = typer.Option(0.5, callback=bounded("--backoff", 0.0, 60.0), help="First retry backoff in seconds (doubles each attempt, jittered)"),
    device: Optional[str] = typer.Option(None, help="hf: torch device, e.g. cpu, cuda, cuda:1 (default: cuda if available)"),
    dtype: Optional[str] = typer.Option(None, help="hf/vllm: auto | float32 | float16 | bfloat16 (default auto)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="hf: sequences per forward pass (default: 16 on CPU, 64 on GPU halved on out-of-memory)"),
    tp: int = typer.Option(1, "--tp", min=1, help="vllm: tensor-parallel GPUs"),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar"),
    # Planning (blocksworld tasks) options; they are task options, so they name the cell.
    blocks: Optional[str] = typer.Option(None, "--blocks", help="Planning: block counts, e.g. 3-5 (default, PlanBench's sizes), 4, 3,5,8"),
    instances: Optional[int] = typer.Option(None, "--instances", help="Planning: problems per block count (default 100)"),
    instance_seed: Optional[int] = typer.Option(None, "--instance-seed", help="Planning: seed of the generated problems (default 0)"),
    instances_dir: Optional[Path] = typer.Option(None, "--instances-dir", help="Planning: read PlanBench instance-N.pddl files from this directory"),
    obfuscation: Optional[str] = typer.Option(None, "--obfuscation", help="blocksworld/random: tokens (default) or words, optionally :SEED"),
    verifier_rounds: Optional[int] = typer.Option(None, "--verifier-rounds", help="Planning: LLM-Modulo back-prompting rounds after the first answer (default 0)"),
    feedback: Optional[str] = typer.Option(None, "--feedback", help="Planning with --verifier-rounds: binary | first (default) | all"),
    executor: str = typer.Option("local", help="local (this process) | ray (a Ray cluster; see docs/scale.md)"),
    ray_address: Optional[str] = typer.Option(None, help="Ray cluster HOST:PORT (default: $RAY_ADDRESS, else a local Ray)"),
    ray_workers: Optional[int] = typer.Option(None, min=1, help="Ray workers (actors) per model (default: one per GPU or CPU, no more than the work needs)"),
    ray_shard_size: Optional[int] = typer.Option(None, min=1, help="Items per shard sent to a Ray worker (default: about four shards per worker)"),
) -> None:
    """Evaluate models on tasks; cached, resumable, every request and response kept in the store."""
    import asyncio

    from polaris.config import store_path
    from polaris.models.registry import BackendOptions, make_backend
    from polaris.runner.cell import CellSpec
    from polaris.runner.executors import RayOptions, make_executor
    from polaris.runner.runner import prepare
    from polaris.store.store import Store
    from polaris.tasks.registry import expand

    from polaris.runner.sensitivity import exemplar_draws, spreads

    tasks = expand(task)
    given = {"blocks": blocks, "instances": instances, "instance_seed": instance_seed,
             "instances_dir": str(instances_dir) if instances_dir is not None else None,
             "obfuscation": obfuscation, "verifier_rounds": verifier_rounds, "feedback": feedback}
    given = {k: v for k, v in given.items() if v is not None}
    if given.get("verifier_rounds") and samples > 1:
        raise PolarisError("--verifier-rounds works with one sample per item (drop --samples)")
    options = {t: _task_options(t, given) for t in tasks}
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
                     think_tags=tags, task_options=options[t][1], template=template,
                     reasoning_effort=effort, thinking_budget=think),
            exemplar_seeds)
    ]
    price_table = load_prices(prices)  # a bad price file fails before anything runs
    # Validate everything (names, formats, data and exemplar files) before touching the store or network.
    prepared = [prepare(spec, limit=limit) for spec in cells]
    opts = BackendOptions(base_url=base_url, api=api, concurrency=concurrency, timeout=timeout,
                          max_attempts=max_attempts, backoff=backoff, seed=seed, device=device, dtype=dtype,
                          batch_size=batch_size, tensor_parallel=tp, stall_timeout=stall_timeout,
                          stream=not no_stream, budget_param=budget_param)
    for m in model:
        make_backend(m, opts)  # names and options checked before the store is opened
    runner = make_executor(executor, opts, concurrency=concurrency,
                           ray=RayOptions(address=ray_address, workers=ray_workers, shard_size=ray_shard_size))
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


@app.command()
def tasks(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """List every task with its size."""
    from polaris.tasks.registry import list_tasks

    rows = list_tasks()
    if as_json:
        json.dump([{"task": n, "size": s, "description": d} for n, s, d in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("task", "items", "description")
    for n, s, d in rows:
        table.add_row(n, "-" if s is None else str(s), d)
    Console().print(table)
