"""`polaris lab train | models | eval`: the emergence lab's ladder of tiny transformers."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import typer

from polaris.cli import app
from polaris.errors import PolarisError

lab_app = typer.Typer(
    help="The emergence lab: train and inspect a ladder of tiny transformers on synthetic arithmetic.",
    no_args_is_help=True,
)
app.add_typer(lab_app, name="lab")


def _need_torch(what: str) -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise PolarisError(
            f"{what} needs torch (the lab extra): pip install torch==2.13.0, then pip install 'polaris-lab[lab]'"
            " (running lab models does not: polaris run, polaris lab eval and polaris demo use numpy)"
        ) from None


def _split(values: list[str]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@lab_app.command("train")
def train(
    task: list[str] = typer.Option(["lab/add-3"], "--task", help="Lab task(s) to train on (repeat or comma-separate)."),
    sizes: str = typer.Option("s1,s2,s3,s4,s5,s6", "--sizes", help="Model sizes, s1 (~10k params) .. s10 (~4.8M)."),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per size (0..N-1)."),
    steps: int = typer.Option(1600, "--steps", help="Optimiser steps per model."),
    batch_size: int = typer.Option(32, "--batch-size", help="Sequences per step."),
    lr: float | None = typer.Option(None, "--lr", help="Peak learning rate (default: per size, 3e-3 .. 1e-3)."),
    n_train: int = typer.Option(30_000, "--n-train", help="Training problems per task."),
    data_seed: int = typer.Option(0, "--data-seed", help="Which training set to draw (the test set is fixed)."),
    name: str | None = typer.Option(None, "--name", help="Ladder name, the prefix of model ids (default from tasks)."),
    dtype: str = typer.Option("float16", "--dtype", help="Checkpoint storage: float16 (small) or float32."),
    jobs: int = typer.Option(1, "--jobs", help="Models trained at once (one CPU thread each)."),
    eval_items: int = typer.Option(
        500, "--eval-items", help="Test items per task and format evaluated after training."
    ),
    out: Path = typer.Option(Path("lab-ladder"), "--out", help="Ladder directory (rerun to resume)."),
    json_out: bool = typer.Option(False, "--json", help="Print the ladder index as JSON on stdout."),
) -> None:
    """Train a ladder of GPT-style models (every size x seed), deterministically from the seeds."""
    _need_torch("polaris lab train")
    from polaris.lab.ladder_train import train_ladder

    size_list = _split([sizes])
    command = "polaris lab " + shlex.join(sys.argv[sys.argv.index("train") :] if "train" in sys.argv else ["train"])
    index = train_ladder(
        out,
        tuple(_split(task)),
        size_list,
        seeds,
        steps,
        batch_size=batch_size,
        lr=lr,
        n_train=n_train,
        data_seed=data_seed,
        name=name,
        dtype=dtype,
        jobs=jobs,
        eval_items=eval_items,
        command=command,
    )
    if json_out:
        print(json.dumps(index, indent=1))
    else:
        _table(index["models"], f"ladder {index['name']} in {out} ({index.get('wall_seconds', 0):.0f}s)")


def _table(models: list[dict], title: str) -> None:
    from polaris.cli.tables import Col, Grid, table_console

    # Model ids are never cut short (cli/tables.py: the light frame below 100 columns).
    table = Grid(title, [Col("model", wrap=False), Col("params", "right"), Col("seed", "right"), Col("task", key=True),
                         Col("format", wrap=False), Col("exact", "right"), Col("digits", "right")])
    for m in models:
        for task, per_fmt in (m.get("eval") or {"": {}}).items():
            for fmt, r in (per_fmt or {"": {}}).items():
                exact = f"{r['exact']:.3f}" if "exact" in r else ""
                digits = f"{r['digits']:.3f}" if "digits" in r else ""
                table.add_row(m["id"], f"{m['params']:,}", str(m["seed"]), task, fmt, exact, digits)
    table.print(table_console(sys.stderr))


@lab_app.command("models")
def models(
    ladder: Path | None = typer.Option(None, "--ladder", help="A trained ladder directory (default: the shipped one)."),
    json_out: bool = typer.Option(False, "--json", help="Print {model name: metadata} as JSON on stdout."),
) -> None:
    """List a ladder's models: parameters, seed and the accuracy measured after training."""
    from polaris.lab.ladder import list_models

    infos = list_models(ladder)
    if json_out:
        print(json.dumps({m.name: m.metadata() | {"eval": m.eval} for m in infos}, indent=1))
        return
    rows = [{"id": m.name, "params": m.params, "seed": m.seed, "eval": m.eval} for m in infos]
    _table(rows, f"lab models ({ladder or 'shipped ladder'})")


@lab_app.command("eval")
def evaluate(
    model: str = typer.Argument(..., help="lab/<model id> or a checkpoint directory."),
    task: list[str] = typer.Option(["lab/add-3"], "--task", help="Lab task(s)."),
    fmt: list[str] = typer.Option(["zeroshot-direct", "zeroshot-cot"], "--format", help="Prompt format(s)."),
    limit: int = typer.Option(200, "--limit", help="Test items per task."),
    json_out: bool = typer.Option(False, "--json", help="Print results as JSON on stdout."),
) -> None:
    """Greedy exact match and per-digit accuracy of one model (quick check; `polaris run` stores results)."""
    from polaris.lab.engine import engine_name, load_engine, one_thread
    from polaris.lab.evaluate import evaluate as run_eval
    from polaris.lab.ladder import resolve
    from polaris.lab.tasks import make_task

    if limit < 1:
        raise PolarisError(f"--limit: must be at least 1 (got {limit})")
    path = resolve(model)
    engine, tok, config = load_engine(path, engine_name())
    results = {}
    with one_thread(engine):
        for t in _split(task):
            lab_task = make_task(t)
            results[lab_task.name] = {}
            for f in _split(fmt):
                if f not in lab_task.formats:
                    raise PolarisError(f"--format: {lab_task.name} offers {', '.join(lab_task.formats)} (got {f})")
                results[lab_task.name][f] = run_eval(engine, tok, lab_task.name, f, limit).to_json()
    if json_out:
        print(json.dumps({"model": model, "eval": results}, indent=1))
    else:
        _table([{"id": model, "params": int(config.get("params", 0)), "seed": config.get("seed", ""),
                 "eval": results}], model)
