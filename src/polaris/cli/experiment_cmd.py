"""`polaris experiment run | status`: grids of cells from a YAML file, with paired contrasts."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import plural
from polaris.cli.outcome import bounded

experiment_app = typer.Typer(help="Run experiment grids declared in YAML files (see docs/strategies.md).",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")

STORE_HELP = "SQLite store (default: the file's `store:`, else $POLARIS_STORE, else ./polaris.db)"


def _load(file: Path, model: list[str], limit: Optional[int], base_url: Optional[str],
          concurrency: Optional[int]) -> Any:
    from polaris.experiments.spec import load_experiment

    return load_experiment(file, models=model, limit=limit, base_url=base_url, concurrency=concurrency)


def _store_path(exp: Any, store: Optional[Path]) -> Path:
    from polaris.config import store_path

    return store_path(store or exp.store)


@contextmanager
def _existing_store(path: Path) -> Iterator[Any]:
    """The store opened read-only, or None when there is no store yet (none is created)."""
    from polaris.store.store import Store

    db = Store(path, readonly=True) if path.exists() else None
    try:
        yield db
    finally:
        if db is not None:
            db.close()


def _clean(x: Any) -> Any:
    """JSON without NaN (not valid JSON): NaN becomes null."""
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _dump(doc: dict[str, Any]) -> None:
    json.dump(_clean(doc), sys.stdout, indent=2)
    sys.stdout.write("\n")


def _report(exp: Any, cells: list[Any], db: Any, prices: Any = None) -> dict[str, Any]:
    from polaris.analysis.compute import factor_checks
    from polaris.experiments.run import contrast_rows, grid_rows
    from polaris.runner.sensitivity import spreads

    rows = grid_rows(exp, cells, db)
    for r in rows:  # the cost of each cell from the price table (analysis/prices.py)
        s = r["summary"]
        if s and s.get("compute") and prices is not None and prices.find(r["model"]) is not None:
            s["cost"] = prices.cost(r["model"], s["compute"])
    contrasts = contrast_rows(exp, db)
    with_summary = [(c.spec, r["summary"]) for c, r in zip(cells, rows) if r["summary"]]
    spread = spreads([spec for spec, _ in with_summary], [s for _, s in with_summary])
    doc = {"experiment": exp.name, "file": str(exp.path), "cells": rows, "contrasts": contrasts,
           "exemplar_sensitivity": spread, "compute_checks": factor_checks([r["summary"] for r in rows if r["summary"]])}
    if any(r.get("tuning") for r in rows):  # base vs instruct files: Lu et al.'s question, answered per slice
        from polaris.analysis.icl import icl_table

        doc["icl"] = icl_table(rows)
    return doc


def _print_report(doc: dict[str, Any], title: str) -> None:
    from polaris.cli.strategy_display import (comparisons_table, curves_table, grid_table, reasoning_table,
                                              sensitivity_table)

    grid_table(doc["cells"], title)
    summaries = [dict(r["summary"], model=r["model"], task=r["task"], prompt=r["prompt"],
                      strategy=f"{r['strategy']} s{r['seed']}" + (f" d{r['draw']}" if r["draw"] is not None else ""))
                 for r in doc["cells"] if r["summary"]]
    curves_table(summaries)
    reasoning_table(summaries)
    from polaris.cli.compute_display import compute_table

    compute_table(summaries)
    for check in doc.get("compute_checks", ()):
        print(f"warning: {check['message']}", file=sys.stderr)
    sensitivity_table(doc["exemplar_sensitivity"])
    if doc["contrasts"]:
        comparisons_table(doc["contrasts"], title="Contrasts (A - B on shared items; p Holm-adjusted across the file)",
                          holm=True)
    if doc.get("icl"):
        from polaris.cli.analysis_display import icl_table

        icl_table(doc["icl"])


H = {"hidden": True}  # flags replaced by -M in 0.1 (cli/options.py): accepted with a warning until 0.2


@experiment_app.command("run", context_settings={"max_content_width": 120})
def run_cmd(
    file: Path = typer.Argument(..., metavar="FILE", help="Experiment file (YAML)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the cells, requests, tokens and power; send nothing"),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", metavar="N", callback=bounded("--max-tokens", 1), help="Stop before this run's calls could exceed N tokens"),
    max_requests: Optional[int] = typer.Option(None, "--max-requests", metavar="N", callback=bounded("--max-requests", 1), help="Stop before sending more than N requests"),
    model: list[str] = typer.Option([], "--model", "-m", metavar="MODEL", show_default=False, help="Replace the file's models (repeatable)"),
    model_option: list[str] = typer.Option([], "--model-option", "-M", metavar="NAME=VALUE", show_default=False, help="Backend option, repeatable (docs/backends.md)"),
    limit: Optional[int] = typer.Option(None, metavar="N", callback=bounded("--limit", 1), help="N items of each task, stratified (overrides the file)"),
    base_url: Optional[str] = typer.Option(None, metavar="URL", help="OpenAI-compatible server (overrides the file)"),
    concurrency: Optional[int] = typer.Option(None, metavar="N", callback=bounded("--concurrency", 1), help="Requests in flight (overrides the file)"),
    executor: str = typer.Option("local", metavar="local|ray", show_default=False, help="ray: a Ray cluster (docs/scale.md)"),
    prices: Optional[Path] = typer.Option(None, "--prices", metavar="FILE", help="Prices for costs and the dry run's estimate"),
    store: Optional[Path] = typer.Option(None, metavar="PATH", help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="One JSON document instead of the tables"),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bars or progress lines"),
    timeout: Optional[float] = typer.Option(None, "--timeout", **H),
    stall_timeout: Optional[float] = typer.Option(None, "--stall-timeout", **H),
    max_attempts: Optional[int] = typer.Option(None, "--max-attempts", **H),
    budget_param: Optional[str] = typer.Option(None, "--budget-param", **H),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", **H),
    ray_workers: Optional[int] = typer.Option(None, "--ray-workers", **H),
    ray_shard_size: Optional[int] = typer.Option(None, "--ray-shard-size", **H),
) -> None:
    """Run every cell of an experiment file (resumable: finished samples are never asked again), then
    print the grid with CIs and the paired contrasts. Exit codes: 2 a cell's first requests were
    refused by the server; 4 items failed after retries; 3 stopped at a budget cap (run the same
    command again to continue); 130 interrupted."""
    exp = _load(file, model, limit, base_url, concurrency)  # a bad file fails before the heavy imports
    import asyncio

    from polaris.cli.display import progress
    from polaris.experiments.run import BUDGET_EXIT, RunEnv, estimate, prepare_cells, run_experiment
    from polaris.models.registry import BackendOptions
    from polaris.runner.budget import Budget
    from polaris.store.store import Store

    from polaris.analysis.prices import load_prices

    from polaris.cli.display import warn
    from polaris.cli.options import deprecated, merge, model_values, pairs

    old = deprecated({"--timeout": timeout, "--stall-timeout": stall_timeout, "--max-attempts": max_attempts,
                      "--budget-param": budget_param, "--ray-address": ray_address, "--ray-workers": ray_workers,
                      "--ray-shard-size": ray_shard_size}, "-M", warn)
    backend_opts, ray_opts = model_values(merge(pairs(model_option, "-M"), old, "-M"),
                                          list(dict.fromkeys(c.spec.model for c in exp.cells)), executor)
    path = _store_path(exp, store)
    table = load_prices(prices)
    options = BackendOptions(base_url=exp.base_url, concurrency=exp.concurrency, **backend_opts)
    if dry_run:
        from polaris.experiments.power import contrast_power

        cells = prepare_cells(exp)
        with _existing_store(path) as db:
            est = estimate(exp, cells, db, options)
            power = contrast_power(exp, cells, db)
        _print_estimate(exp, path, est, as_json, max_tokens, max_requests, table, power)
        return
    from polaris.cli.run_cmd import option_errors

    budget = Budget(max_tokens=max_tokens, max_requests=max_requests)
    show = not no_progress and (not as_json or sys.stderr.isatty())
    with option_errors(), progress(show) as bar:
        grid_executor = _grid_executor(executor, **ray_opts)
        env = RunEnv(store=path, options=options, concurrency=exp.concurrency, limit=exp.limit, budget=budget,
                     progress=bar)
        outcomes = asyncio.run(run_experiment(exp, env, grid_executor))
    cells = [o.cell for o in outcomes]
    db = Store(path)
    try:
        doc = _report(exp, cells, db, table)
    finally:
        db.close()
    left = [o for o in outcomes if o.state == "stopped"]
    items_left = sum((o.summary or {}).get("remaining", 0) for o in left)
    doc["budget"] = {"max_tokens": max_tokens, "max_requests": max_requests, "tokens_spent": budget.tokens,
                     "requests_sent": budget.requests, "tokens_estimated": budget.estimated}
    doc["stopped"] = ({"reason": budget.exhausted, "cells_incomplete": len(left), "items_left": items_left}
                      if left else None)
    from polaris.cli import outcome

    summaries = [o.summary for o in outcomes if o.summary]
    doc["failures"] = outcome.failures(summaries)
    if as_json:
        _dump(doc)
    else:
        _print_report(doc, f"Experiment {exp.name} ({exp.path})")
    if left:
        print(f"stopped: {budget.exhausted}; {plural(len(left), 'cell')} incomplete, {plural(items_left, 'item')} left."
              f" Everything finished is stored: run the same command again to continue (exit code {BUDGET_EXIT}).",
              file=sys.stderr)
    code = outcome.report(summaries, budget_stopped=bool(left))
    if code:
        raise typer.Exit(code)


def _grid_executor(kind: str, address: Optional[str] = None, workers: Optional[int] = None,
                   shard_size: Optional[int] = None) -> Any:
    """None (the local executor) or the Ray one; Ray options without `--executor ray` are an error."""
    from polaris.runner.executors import RayOptions, check_executor

    ray = RayOptions(address=address, workers=workers, shard_size=shard_size)
    check_executor(kind, ray)
    if kind == "local":
        return None
    from polaris.experiments.ray_grid import RayGridExecutor

    return RayGridExecutor(ray)


def _print_estimate(exp: Any, path: Path, est: list[Any], as_json: bool, max_tokens: Optional[int],
                    max_requests: Optional[int], prices: Any = None, power: Any = ()) -> None:
    total = {"cells": len(est), "requests": sum(e.requests for e in est), "samples": sum(e.samples for e in est),
             "prompt_tokens": sum(e.prompt_tokens for e in est),
             "completion_tokens": sum(e.completion_tokens for e in est)}
    total["tokens"] = total["prompt_tokens"] + total["completion_tokens"]
    costs = [prices.estimate(e.cell.spec.model, e.prompt_tokens, e.completion_tokens) if prices else None for e in est]
    total["cost_usd"] = sum(c for c in costs if c is not None) if any(c is not None for c in costs) else None
    total["unpriced_cells"] = sum(1 for c in costs if c is None) if prices else None
    cells = [{**e.cell.coords, "label": e.cell.spec.label, "run_id": e.cell.spec.run_id, "items": e.items,
              "requests": e.requests, "samples": e.samples, "prompt_tokens": e.prompt_tokens,
              "completion_tokens": e.completion_tokens, "completion_source": e.completion_source, "cost_usd": c}
             for e, c in zip(est, costs)]
    doc = {"experiment": exp.name, "file": str(exp.path), "store": str(path), "dry_run": True, "cells": cells,
           "total": total, "prices": prices.source if prices else None,
           "note": "prompt tokens ~ chars/4 of the rendered prompts; completion tokens from stored"
                   " averages of similar cells, else max_tokens (an upper bound); cost from the price table",
           "contrasts": list(power)}
    if as_json:
        _dump(doc)
        return
    from polaris.cli.compute_display import usd
    from polaris.cli.display import wide_console
    from polaris.cli.tables import Col, Grid

    table = Grid(f"Dry run: {exp.name} ({exp.path}), store {path}", [
        Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
        Col("strategy", key=True), Col("seed", "right", key=True), Col("items", "right"), Col("requests", "right"),
        Col("samples", "right", drop=2), Col("prompt tok", "right"), Col("completion tok", "right"),
        Col("cost", "right", drop=1), Col("completion estimate from", drop=3)])
    for c in cells:
        strategy = c["strategy"] + (f" d{c['draw']}" if c["draw"] is not None else "")
        strategy += "".join(f" {short}={c[ax]}" for ax, short in (("effort", "effort"), ("thinking_budget", "think"),
                                                                   ("max_tokens", "max")) if c.get(ax) is not None)
        table.add_row(c["model"], c["task"], c["prompt"], strategy, str(c["seed"]), str(c["items"]),
                      str(c["requests"]), str(c["samples"]), f"{c['prompt_tokens']:,}", f"{c['completion_tokens']:,}",
                      usd(c["cost_usd"]), c["completion_source"])
    console = table.print(wide_console())
    cost = f"; expected cost {usd(total['cost_usd'])} ({prices.source})" if total["cost_usd"] is not None else ""
    if total.get("unpriced_cells"):
        cost += f", {plural(total['unpriced_cells'], 'cell')} without a price"
    console.print(f"total: {total['cells']} cells, {total['requests']:,} requests, {total['samples']:,} samples,"
                  f" ~{total['tokens']:,} tokens ({total['prompt_tokens']:,} prompt + {total['completion_tokens']:,}"
                  f" completion){cost}; prompt tokens ~ chars/4, completion from stored averages or max_tokens",
                  highlight=False)
    if max_tokens is not None and total["tokens"] > max_tokens:
        console.print(f"--max-tokens {max_tokens:,} is below the estimate: the run would stop early (resumable)",
                      highlight=False)
    if max_requests is not None and total["requests"] > max_requests:
        console.print(f"--max-requests {max_requests:,} is below the estimate: the run would stop early (resumable)",
                      highlight=False)
    _print_power(console, power)


def _print_power(console: Any, power: Any) -> None:
    """The smallest difference each contrast can detect at the grid's size (experiments/power.py)."""
    if not power:
        return
    from polaris.cli.tables import Col, Grid

    table = Grid("Contrasts: minimum detectable difference (80% power, two-sided 5%), points", [
        Col("contrast"), Col("where", key=True), Col("items", "right"), Col("MDE at most", "right"),
        Col("MDE from stored cells", "right"), Col("stored items", "right", drop=2), Col("corr", "right", drop=1)])
    for r in power:
        prior = r["prior"] or {}
        corr = prior.get("corr")
        table.add_row(r["name"], r["where"], str(r["n"]), f"{100 * r['mde_bound']:.1f}",
                      f"{100 * prior['mde']:.1f}" if prior else "-", str(prior.get("prior_items", "-")),
                      "-" if corr is None else f"{corr:.2f}")
    table.print(console)
    console.print("MDE at most: any scores in [0, 1] (both at 50%, uncorrelated); from stored cells: their observed"
                  " paired SE (correlation included) scaled to the grid's items.", style="dim", highlight=False)


@experiment_app.command("status")
def status_cmd(
    file: Path = typer.Argument(..., help="Experiment file (YAML)"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    model: list[str] = typer.Option([], "--model", "-m", help="Replace the file's models (repeatable)"),
    limit: Optional[int] = typer.Option(None, min=1, help="The item limit the grid is run with (overrides the file)"),
    base_url: Optional[str] = typer.Option(None, help="OpenAI-compatible base URL (overrides the file)"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of the table"),
) -> None:
    """Show each cell's state (done, running, partial, failed, missing), its items and the tokens spent."""
    exp = _load(file, model, limit, base_url, None)
    from polaris.experiments.run import grid_rows, prepare_cells

    path = _store_path(exp, store)
    cells = prepare_cells(exp)
    with _existing_store(path) as db:
        rows = grid_rows(exp, cells, db)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    spent = sum({r["run_id"]: r["tokens_spent"] for r in rows}.values())  # cells may share a run (zero-shot draws)
    if as_json:
        _dump({"experiment": exp.name, "file": str(exp.path), "store": str(path), "counts": counts,
               "tokens_spent": spent, "cells": [{k: v for k, v in r.items() if k != "summary"} |
                                                {"accuracy": (r["summary"] or {}).get("accuracy")} for r in rows]})
        return
    from polaris.cli.display import pct, wide_console
    from polaris.cli.tables import Col, Grid

    table = Grid(f"Status: {exp.name} ({exp.path}), store {path}", [
        Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
        Col("strategy", key=True), Col("seed", "right", key=True), Col("state"), Col("items", "right"),
        Col("errors", "right"), Col("accuracy %", "right"), Col("tokens spent", "right", drop=1)])
    for r in rows:
        strategy = r["strategy"] + (f" d{r['draw']}" if r["draw"] is not None else "")
        stored = f"{r['scored']}/{r['items']}"
        if r["state"] == "partial" and r["answered"] > r["scored"]:
            stored += f" ({r['answered']} answered)"  # killed before its item results were stored
        table.add_row(r["model"], r["task"], r["prompt"], strategy, str(r["seed"]), r["state"],
                      stored, str(r["errors"]), pct((r["summary"] or {}).get("accuracy")),
                      f"{r['tokens_spent']:,}")
    console = table.print(wide_console())
    console.print(", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + f"; {spent:,} tokens spent",
                  highlight=False)
