"""`polaris analyze scaling`: score vs model size per family, fits, extrapolation and emergence verdicts."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from polaris.cli import app
from polaris.cli.helptext import STORE_HELP

analyze_app = typer.Typer(help="Analyses of stored results (see docs/analysis.md).", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")



@analyze_app.command("scaling")
def scaling_cmd(
    task: list[str] = typer.Option(..., "--task", "-t", help="Task whose stored cells to analyse (repeatable)"),
    family: Optional[str] = typer.Option(None, help="Only this model family (models.yaml `family`)"),
    metric: list[str] = typer.Option([], "--metric", help="exact | strict | per-token | edit | logprob | prob | brier (repeatable; default: every one the results give)"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    models: Optional[Path] = typer.Option(None, "--models", help="Your models.yaml, merged over the shipped one (default: $POLARIS_MODELS, else ./models.yaml)"),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="Only cells of this prompt format"),
    strategy: Optional[str] = typer.Option(None, help="Only cells of this strategy (as in the cell label: greedy, sc40@t0.7, ...)"),
    figure: Optional[Path] = typer.Option(None, "--figure", help="Also save the scaling figure here (.png, .svg or .pdf; one file per task when several)"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document instead of the tables"),
) -> None:
    """Score against log10(parameters) per family with 95% CIs and the random baseline; line,
    logistic (floored at the baseline) and broken-power-law fits with AIC/BIC; leave-the-largest-out
    extrapolation; breakthroughness and metric sensitivity; a verdict per task in Lu et al.'s terms."""
    from polaris.analysis.study import scaling_study
    from polaris.config import store_path
    from polaris.errors import PolarisError
    from polaris.store.store import Store

    if models is not None and not models.is_file():
        raise PolarisError(f"models file {models} not found")
    if figure is not None and figure.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise PolarisError(f"--figure {figure}: use a .png, .svg or .pdf file name")
    path = store_path(store)
    db = Store(path, readonly=True)
    try:
        studies = [scaling_study(db, t, family=family, metrics=metric or None, prompt=prompt, models=models,
                                 strategy=strategy) for t in task]
    finally:
        db.close()
    saved = []
    if figure is not None:
        from polaris.analysis.figures import scaling_figure

        for st in studies:
            out = figure if len(studies) == 1 else figure.with_name(
                f"{figure.stem}-{st.task.replace('/', '_')}{figure.suffix}")
            fig = scaling_figure(st)
            fig.savefig(out, dpi=150)
            saved.append(str(out))
    if as_json:
        doc = {"store": str(path), "studies": [st.to_dict() for st in studies], "figures": saved}
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from polaris.cli.analysis_display import scaling_tables

    for st in studies:
        scaling_tables(st)
    for f in saved:
        print(f"figure: {f}", file=sys.stderr)
