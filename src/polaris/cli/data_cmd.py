"""`polaris data fetch` and `polaris data status`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from polaris.cli import app

data_app = typer.Typer(help="Download and check benchmark data.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("fetch")
def fetch_cmd(
    names: list[str] = typer.Argument(..., help="gsm8k, math, bbh, mmlu, cot_hub_prompts, or all"),
    dest: Optional[Path] = typer.Option(None, help="Data directory (default: $POLARIS_DATA_DIR, else the user cache)"),
    mirror: Optional[str] = typer.Option(None, help="Base URL replacing https://raw.githubusercontent.com/"),
    force: bool = typer.Option(False, help="Download again even if the files are present and correct"),
) -> None:
    """Download official benchmark files (pinned commits, SHA-256 checked) into the data directory."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from polaris.config import data_dir
    from polaris.tasks.fetch import fetch, sources

    from polaris.cli.display import plural

    wanted = list(sources()) if names == ["all"] else names
    target = dest or data_dir()
    with Progress(TextColumn("fetching"), BarColumn(), MofNCompleteColumn(), transient=True) as prog:
        tid = prog.add_task("fetch", total=None)
        got = fetch(wanted, target, mirror=mirror, force=force,
                    on_total=lambda n: prog.update(tid, total=n), on_file=lambda: prog.advance(tid))
    typer.echo(f"{plural(got, 'file')} downloaded; {', '.join(wanted)} ready in {target}")


@data_app.command("status")
def status_cmd(dest: Optional[Path] = typer.Option(None, help="Data directory to check")) -> None:
    """Which datasets are present and intact."""
    from polaris.config import data_dir
    from polaris.tasks.fetch import status

    target = dest or data_dir()
    typer.echo(f"data directory: {target}")
    for name, (ok, total) in status(target).items():
        state = "ready" if ok == total else ("missing" if ok == 0 else f"incomplete ({ok}/{total} files)")
        typer.echo(f"  {name:16s} {state}")
