"""`polaris analyze compute`: accuracy against test-time compute per model x task (docs/compute.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from polaris.cli.analyze_cmd import analyze_app
from polaris.cli.helptext import STORE_HELP


@analyze_app.command("compute")
def compute_cmd(
    task: list[str] = typer.Option([], "--task", "-t", help="Only these tasks (repeatable; default: every task stored)"),
    model: list[str] = typer.Option([], "--model", "-m", help="Only these models (repeatable)"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    prices: Optional[Path] = typer.Option(None, "--prices", help="Price table (model -> input/output USD per million tokens); default: the `prices:` block of your models.yaml"),
    models: Optional[Path] = typer.Option(None, "--models", help="Your models.yaml (for `--by size` and its `prices:` block; default: $POLARIS_MODELS, else ./models.yaml)"),
    by: str = typer.Option("model", "--by", help="model: one curve per model | size: models of one family and size pooled (a lab size's seeds)"),
    axis: str = typer.Option("completion", "--axis", help="completion: completion tokens per item (reasoning + answer) | reasoning: thinking tokens alone"),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Also save the figure (accuracy and truncation against tokens) here (.png, .svg or .pdf)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of the tables"),
) -> None:
    """For each model x task: accuracy against completion tokens per item across budgets (effort, thinking
    budget, max tokens), self-consistency k (maj@k and pass@k at k samples' tokens) and LLM-Modulo rounds,
    with 95% CIs; the frontier (best accuracy at each compute level); the truncation rate beside each point;
    cost where the model has a price; and budgets a server ignored."""
    import os

    from polaris.analysis.compute_store import size_group, store_study
    from polaris.analysis.prices import load_prices
    from polaris.config import store_path
    from polaris.errors import PolarisError
    from polaris.store.store import Store

    if by not in ("model", "size"):
        raise PolarisError(f"--by {by}: choose model or size")
    if axis not in ("completion", "reasoning"):
        raise PolarisError(f"--axis {axis}: choose completion or reasoning")
    if figure is not None and figure.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise PolarisError(f"--figure {figure}: use a .png, .svg or .pdf file name")
    if models is not None:
        if not models.is_file():
            raise PolarisError(f"models file {models} not found")
        os.environ["POLARIS_MODELS"] = str(models)  # for --by size's catalog, in this process only
    table = load_prices(prices, models)
    path = store_path(store)
    db = Store(path, readonly=True)
    try:
        study = store_study(db, tasks=task, models=model, prices=table,
                            group_of=size_group() if by == "size" else None, axis=axis)
    finally:
        db.close()
    doc = {"store": str(path), "by": by, "prices": table.source if table else None, **study.to_dict()}
    if figure is not None:
        from polaris.report.compute import compute_figure

        fig = compute_figure(study)
        fig.savefig(figure, dpi=150)
        doc["figure"] = str(figure)
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from polaris.cli.compute_display import frontier_tables

    frontier_tables(doc)
    if figure is not None:
        print(f"figure: {figure}", file=sys.stderr)
