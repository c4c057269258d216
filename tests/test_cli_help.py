"""Help that reads naturally for every command (value names such as N, PATH, SECONDS rather than an option's
own name or typer's `<int range>`; usage lines as click writes them), and what the commands print where a
reader would otherwise be lost: an empty leaderboard says what the store holds, an import's tables fit 80
and 120 columns, table titles wrap at the terminal's width."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from conftest import SHARED, cli_env, polaris
from termcheck import check

HERE = Path(__file__).resolve().parent / "importer_data"
LM_EVAL = HERE / "samples_tiny_gsm8k_2026-12-03T10-06-29.661692.jsonl"
VALUE_TYPES = {"int", "float", "Path", "list[int]", "list[float]", "list[Path]"}


def _commands():
    """(command path, click command, its help at 80 columns) for every command and sub-command."""
    import typer
    from typer.main import get_command

    from polaris.cli import _register, app
    from polaris.cli.helptext import natural, ordered

    _register()
    root = ordered(natural(get_command(app)))
    out = []

    def walk(cmd, path, parent):
        ctx = typer._click.Context(cmd, info_name=path[-1] if path else "polaris", parent=parent,
                                   terminal_width=80, max_content_width=80)
        out.append((path, cmd, cmd.get_help(ctx)))
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name], ctx)

    walk(root, [], None)
    return out


def test_every_value_has_a_natural_name_and_usage_lines_read_as_click_writes_them():
    commands = _commands()
    assert len(commands) > 25
    checked = 0
    for path, cmd, text in commands:
        where = " ".join(["polaris", *path])
        usage = text.splitlines()[0]
        assert "{" not in usage and "}" not in usage and "...]..." not in usage, (where, usage)
        assert not re.search(r"<(list|int|float|str|path)|x>=|x<=", text), (where, text)
        for p in cmd.params:
            if p.param_type_name != "option" or p.is_flag or p.hidden or p.bare_type() not in VALUE_TYPES:
                continue
            shown = re.search(rf"{re.escape(max(p.opts, key=len))} (\S+)", text)
            assert shown, (where, p.opts, text)
            # a number or a path is named for what it is, never for the option (`--limit LIMIT`)
            assert shown.group(1) != (p.name or "").upper().replace("_", "-"), (where, shown.group(0))
            checked += 1
    assert checked > 40
    by_path = {" ".join(path): text for path, _, text in commands}
    assert "Usage: polaris import [OPTIONS] FORMAT FILE..." in by_path["import"]
    assert "Usage: polaris compare [OPTIONS] CELL_A CELL_B" in by_path["compare"]
    assert "--limit N" in by_path["samples"] and "--timeout SECONDS" in by_path["audit"]
    assert "-o, --out FILE" in by_path["export"] and "--map FIELD=PATH" in by_path["import"]


def test_a_title_wraps_at_the_terminal_not_at_a_narrow_table():
    from polaris.cli.tables import Grid, table_console

    grid = Grid("Agreement with the source's verdicts, per file, and what each column means", ["n", "k"])
    grid.add_row("1", "2")
    buf = io.StringIO()
    grid.print(table_console(buf, width=80))
    first = buf.getvalue().splitlines()[0]
    assert first.rstrip() == "Agreement with the source's verdicts, per file, and what each column means"


def test_brief_cells_go_short_only_below_100_columns_and_say_so():
    from polaris.cli.tables import Brief, Col, Grid, table_console

    def shown(width: int) -> str:
        grid = Grid("t", [Col("model", wrap=False), *(Col(f"metric {i}", "right") for i in range(5))], brief="95% CIs")
        grid.add_row("openai/some-model", *(Brief(f"{i}2.5 [{i}0.1, {i}4.9]", f"{i}2.5") for i in range(5)))
        buf = io.StringIO()
        grid.print(table_console(buf, width=width))
        return buf.getvalue()

    narrow, wide = shown(80), shown(120)
    assert "[" not in narrow and "42.5" in narrow and "left out at 80 columns: 95% CIs" in narrow
    assert "42.5 [40.1, 44.9]" in " ".join(wide.replace("│", " ").split()) or "[40.1," in wide
    assert "95% CIs" not in wide


def test_an_empty_leaderboard_says_what_the_store_holds(tmp_path):
    store = tmp_path / "plan.db"
    env = cli_env(COLUMNS="80")
    ran = polaris("run", "-m", "baseline/gold", "-t", "blocksworld", "-T", "blocks=3", "-T", "instances=2",
                  "--store", str(store), env=env)
    assert ran.returncode == 0, ran.stderr
    board = polaris("leaderboard", "--store", str(store), env=env)
    assert board.returncode == 0 and board.stdout == "", board.stdout  # no empty table
    message = " ".join(board.stderr.split())
    assert f"no runs of GSM8K, MATH, MMLU or BBH in {store}, only of blocksworld" in message, message
    assert f"`polaris samples --store {store}`" in message and f"`polaris view --store {store}`" in message


@pytest.mark.skipif(SHARED is None, reason="benchmark data (../shared/datasets) not available")
@pytest.mark.parametrize("width", (80, 120))
def test_import_tables_fit(tmp_path, width):
    env = cli_env(POLARIS_DATA_DIR=str(SHARED), COLUMNS=str(width))
    proc = polaris("import", "lm-eval", str(LM_EVAL), "--task", "gsm8k", "--prompt", "zeroshot-cot", "--model",
                   "scripted", "--store", str(tmp_path / "s.db"), env=env)
    assert proc.returncode == 0, proc.stderr
    check(proc.stdout, width, ["run", "matched", "accuracy % [95% CI]", "source %", "agree %", "items",
                               "Polaris %", "agree % (n)"])
    assert "Imported 1 new run, 0 already imported" in " ".join(proc.stdout.split())
    assert "(s)" not in proc.stdout and "(s)" not in proc.stderr
    assert re.search(r"^(│ )?[0-9a-f]{16}\s", proc.stdout, re.M)  # the run id, whole, starts its row


def test_polaris_alone_prints_its_help_with_the_commands_in_a_new_users_order():
    from termcheck import lines_fit

    for args in ([], ["--help"]):
        proc = polaris(*args, env=cli_env(COLUMNS="80"))
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # not "error: Usage: ..." on one line
        lines_fit(proc.stdout, 80)
        names = [line.split()[0] for line in proc.stdout.split("Commands:")[1].splitlines() if line.strip()]
        assert names[:3] == ["demo", "run", "tasks"] and "import" in names and "export" in names, names
        assert "..." not in proc.stdout.split("Commands:")[1]  # each command's phrase is whole
    group = polaris("analyze", env=cli_env(COLUMNS="80"))
    assert group.returncode == 0 and "scaling" in group.stdout and group.stderr == ""
    for path, _, text in _commands():
        if "Commands:" in text:
            assert "..." not in text.split("Commands:")[1], (path, text)
