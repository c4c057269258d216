"""`polaris report` (a self-contained HTML page from a store) and `polaris view` (the sample viewer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from polaris.cli import app
from polaris.cli.helptext import STORE_HELP
from polaris.errors import PolarisError



def _pair(text: str) -> tuple[str, str, str]:
    a, sep, b = text.partition(" vs ")
    if not sep or not a.strip() or not b.strip():
        raise PolarisError(f"--pair takes 'CELL_A vs CELL_B' (got '{text}')")
    return (f"{a.strip()} vs {b.strip()}", a.strip(), b.strip())


@app.command()
def report(
    out: Path = typer.Option(..., "--out", "-o", help="Directory for index.html, figures/, report.json, manifests.json"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    experiment: list[Path] = typer.Option([], "--experiment", "-e", help="Experiment file whose contrasts replace the store's natural pairs (repeatable)"),
    pair: list[str] = typer.Option([], "--pair", help="Extra contrast 'CELL_A vs CELL_B', cells named as in `polaris compare` (repeatable)"),
    title: Optional[str] = typer.Option(None, help="Page title"),
    prices: Optional[Path] = typer.Option(None, "--prices", help="Price table for the compute section's cost (default: the `prices:` block of your models.yaml)"),
    as_json: bool = typer.Option(False, "--json", help="Print where things were written as JSON"),
) -> None:
    """Write an HTML report of a store: leaderboard, per-task tables with CIs, paired contrasts (forest
    plot), self-consistency curves, planning curves, scaling and emergence, run manifests."""
    from polaris.config import store_path
    from polaris.report.build import build_report

    path = store_path(store)
    for f in experiment:
        if not f.is_file():
            raise PolarisError(f"--experiment {f}: no such file")
    from polaris.analysis.prices import load_prices

    rep = build_report(path, out, experiments=experiment, pairs=[_pair(p) for p in pair], title=title,
                       prices=load_prices(prices))
    if as_json:
        json.dump({"index": str(rep.index), "sections": rep.sections, "figures": rep.figures, "cells": rep.cells,
                   "contrasts": rep.contrasts}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    print(f"wrote {rep.index} ({rep.cells} runs; sections: {', '.join(rep.sections) or 'none'};"
          f" {len(rep.figures) // 2} figures as PNG and SVG)", file=sys.stderr)
    print(rep.index.resolve().as_uri())


@app.command()
def view(
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    port: int = typer.Option(8765, min=0, max=65535, help="Port (0: any free port)"),
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but a loopback address exposes your samples to the network"),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request"),
) -> None:
    """Browse stored samples in a local web app: filter by model, task, prompt, verdict, extraction and
    strict/flexible disagreement; see prompts, responses, answers, gold, votes and planning failures."""
    from polaris.config import store_path
    from polaris.report.viewer import make_server

    from polaris.cli import interrupt

    server = make_server(store_path(store), host, port, verbose)
    interrupt.expect("viewer stopped", 0)  # Ctrl-C is how a viewer ends: exit code 0
    try:  # the address is printed inside: a Ctrl-C as soon as it is seen still stops quietly
        if not server.loopback:
            print(f"warning: the viewer listens on {host}, beyond this machine: anyone who can reach it can read"
                  f" every stored prompt and response; it answers requests addressed to {host},"
                  " localhost, 127.0.0.1 or [::1] only", file=sys.stderr)
        print(f"Polaris viewer for {server.source.path} at {server.url} (Ctrl-C to stop)", file=sys.stderr)
        sys.stderr.flush()
        server.serve_forever()
    finally:  # a Ctrl-C goes on to cli.main, which prints the expected line and exits (cli/interrupt.py)
        server.server_close()
