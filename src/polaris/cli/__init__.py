"""The `polaris` command: a thin layer over the library.

Every sub-command lives in its own module and imports heavy libraries inside its functions, so
`polaris --help` stays fast. User errors (`PolarisError`, bad options) print one line and exit 2;
so do SQLite failures on a store (full disk, damage, read-only media: store/health.py). Ctrl-C is
handled here for every command (cli/interrupt.py). Exit codes: polaris.errors.EXIT_*.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.20 vendors its own copy of click
    from typer._click import exceptions as click_exc  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exc  # type: ignore[no-redef]

from polaris import __version__
from polaris.errors import PolarisError

app = typer.Typer(
    name="polaris",
    help="Measure the reasoning and emergent abilities of language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        print(f"polaris {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Measure the reasoning and emergent abilities of language models."""


def _register() -> None:
    # Sub-command modules register themselves on import; each keeps its heavy imports inside functions.
    from polaris.cli import (  # noqa: F401
        analyze_cmd, audit_cmd, board_cmd, compare_cmd, data_cmd, demo_cmd, experiment_cmd, import_cmd, lab_cmd,
        planning_cmd, report_cmd, run_cmd, samples_cmd, tasks_cmd,
    )
    from polaris.cli import compute_cmd  # noqa: F401  (after analyze_cmd: `polaris analyze compute`)


def main(argv: list[str] | None = None) -> None:
    from polaris.cli import interrupt

    interrupt.install()
    _register()
    try:
        from typer.main import get_command

        from polaris.cli.helptext import natural, ordered

        code = ordered(natural(get_command(app)))(args=argv, prog_name="polaris", standalone_mode=False)
    except PolarisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except getattr(click_exc, "NoArgsIsHelpError", ()) as exc:  # `polaris`, `polaris analyze`: the help, as is
        try:
            print(exc.ctx.get_help() if exc.ctx else exc.format_message(), flush=True)
        except BrokenPipeError:  # `polaris | head`: the reader has what it wanted
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except click_exc.UsageError as exc:
        where = f" ({exc.ctx.command_path})" if exc.ctx and " " in exc.ctx.command_path else ""
        print(f"error: {' '.join(exc.format_message().split())}{where}", file=sys.stderr)
        sys.exit(2)
    except click_exc.ClickException as exc:
        print(f"error: {' '.join(exc.format_message().split())}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, getattr(click_exc, "Abort", KeyboardInterrupt)):  # typer's click may lack Abort
        interrupt.leave()
    except Exception as exc:
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is None or not isinstance(exc, sqlite3.Error):
            raise
        from polaris.store.health import describe

        print(f"error: {describe(exc)}", file=sys.stderr)
        sys.exit(2)
    if code == interrupt.EXIT_INTERRUPTED:  # typer turns KeyboardInterrupt into a quiet exit code 130
        interrupt.leave()
    sys.exit(code if isinstance(code, int) else 0)
