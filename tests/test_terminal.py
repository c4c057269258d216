"""What the CLI prints in 80- and 120-column terminals: tables that fit with whole-word headers, `polaris
tasks` by suite, help that fits a screen, -T/-M options, plain progress lines when stderr is not a terminal.

Every command runs in a subprocess with COLUMNS set and stdout/stderr piped (not a terminal)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy
from hypothesis import given, settings
from hypothesis import strategies as st
from termcheck import check, lines_fit, whole

from polaris.cli.tables import Col, Grid

WIDTHS = (80, 120)
RESULTS = ["model", "task", "prompt", "strategy", "n", "accuracy % [95% CI]", "truncated %", "no answer %", "strict %",
           "extracted %", "disagree", "errors", "requests", "outcomes"]
CHANCE = ["accuracy %", "chance %", "normalised (p)", "chance from"]
COMPUTE = ["cell", "prompt tok", "completion tok", "reasoning", "answer", "truncated %", "forced", "latency s", "cost"]
CURVES = ["cell", "metric", "k=1", "k=2", "k=4"]
VARIANCE = ["K", "± total", "± items", "± sampling", "sampling share", "± at K=1", "± at K=∞"]
PLANNING = ["success % [95% CI]", "by blocks: success %", "optimality", "exec. prefix %", "failures %",
            "LLM-Modulo success@round %"]
GRID = ["seed", "state", "n", "accuracy % [95% CI]", "chance %", "vs chance (p)", "pass@K %", "extracted %", "tokens"]
CONTRASTS = ["contrast", "A %", "B %", "Δ pts [95% CI]", "SE", "a_only", "b_only", "McNemar p", "p (Holm)", "corr",
             "MDE pts"]
DRY = ["items", "requests", "samples", "prompt tok", "completion tok", "cost", "completion estimate from"]
STATUS = ["state", "items", "errors", "accuracy %", "tokens spent"]

GRID_YAML = """
name: widths
models: [baseline/gold, baseline/random]
tasks: [gsm8k]
prompts: [fewshot-cot, zeroshot-direct]
strategies:
  greedy: {}
  sc4: {samples: 4, temperature: 0.7}
limit: 12
contrasts:
  - sc4 vs greedy
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("terminal")
    data = write_gsm8k(root / "data", 30)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    (root / "grid.yaml").write_text(GRID_YAML)
    return {"root": root, "env": env, "store": root / "s.db"}


def cli(world, width: int, *args: str, code: int = 0):
    proc = polaris(*args, env={**world["env"], "COLUMNS": str(width)})
    assert proc.returncode == code, proc.stderr
    return proc


@pytest.mark.parametrize("width", WIDTHS)
def test_run_tables_fit_with_whole_headers(world, width):
    store = str(world["store"])
    out = cli(world, width, "run", "-m", "baseline/gold", "-m", "baseline/random", "-t", "gsm8k", "-p", "fewshot-cot",
              "-p", "zeroshot-direct", "--limit", "20", "--store", store).stdout
    check(out, width, RESULTS + CHANCE + COMPUTE)
    assert "fewshot-cot" in out and "zeroshot-direct" in out  # prompts differ by row: never hoisted
    assert "(every row: task gsm8k, strategy greedy)" in out  # the same on every row: said once
    if width == 80:  # lesser columns go, and the table says which
        assert "left out at 80 columns: truncated %, no answer %" in " ".join(out.split())
    sampled = cli(world, width, "run", "-m", "baseline/random", "-t", "gsm8k", "--samples", "4", "--temperature",
                  "0.7", "--limit", "10", "--store", store).stdout
    check(sampled, width, RESULTS + CURVES + VARIANCE)
    assert "Self-consistency" in sampled and "Where the interval comes from" in sampled
    plan = cli(world, width, "run", "-m", "baseline/gold", "-t", "blocksworld", "-T", "blocks=3", "-T", "instances=2",
               "-T", "verifier-rounds=1", "--store", store).stdout
    check(plan, width, RESULTS + PLANNING)
    assert "Planning" in plan and "100.0" in plan


@pytest.mark.parametrize("width", WIDTHS)
def test_leaderboard_and_experiment_tables_fit(world, width):
    store = str(world["store"])
    cli(world, 200, "run", "-m", "baseline/gold", "-m", "baseline/random", "-t", "gsm8k", "--store", store)
    board = cli(world, width, "leaderboard", "--store", store).stdout
    check(board, width, ["model", "GSM8K", "MATH", "MMLU", "BBH"])
    assert whole(board, "baseline/random")  # model names are never cut
    breakdown = cli(world, width, "leaderboard", "--store", store, "-t", "gsm8k").stdout
    lines_fit(breakdown, width)
    grid = str(world["root"] / "grid.yaml")
    dry = cli(world, width, "experiment", "run", grid, "--store", store, "--dry-run").stdout
    check(dry, width, DRY + ["contrast", "MDE at most", "MDE from stored cells"])
    ran = cli(world, width, "experiment", "run", grid, "--store", store).stdout
    check(ran, width, GRID + CONTRASTS + CURVES)
    status = cli(world, width, "experiment", "status", grid, "--store", store).stdout
    check(status, width, STATUS)


@pytest.mark.parametrize("width", WIDTHS)
def test_tasks_one_line_per_suite(world, width):
    out = cli(world, width, "tasks").stdout
    check(out, width, ["task", "items", "subtasks", "prompt formats", "about"])
    cells = [re.sub("[│┃]", " ", line).split() for line in out.splitlines()]
    suites = ["gsm8k", "math", "math500", "bbh", "mmlu", "blocksworld", "lab/<task>", "cot-hub"]
    assert [c[0] for c in cells if c and c[0] in suites] == suites  # one line each, in the registry's order
    assert "bbh/" not in out and len(out.splitlines()) < 25
    assert next(c for c in cells if c and c[0] == "bbh")[1:3] == ["6,511", "27"]  # items, subtasks
    every = cli(world, width, "tasks", "--all").stdout
    lines_fit(every, width)
    for name in ("bbh/logical_deduction_five_objects", "bbh/tracking_shuffled_objects_seven_objects",
                 "mmlu/high_school_government_and_politics", "blocksworld/mystery-pddl", "lab/add-3"):
        assert whole(every, name), name  # never cut ("bbh/logical_deduction_five_objec...")
    assert "..." not in every and "…" not in every


def test_tasks_task_shows_its_options(world):
    out = cli(world, 80, "tasks", "blocksworld/random").stdout
    lines_fit(out, 80)
    for name in ("blocks", "instances", "instance-seed", "instances-dir", "obfuscation", "verifier-rounds",
                 "feedback"):
        assert re.search(rf"^{name}\s", out, re.M), name
    assert "-T NAME=VALUE" in out and "one-shot (default)" in out
    mc = cli(world, 80, "tasks", "mmlu").stdout
    assert re.search(r"^template\s", mc, re.M) and "subtasks (57)" in mc
    assert "task options (-T): none" in cli(world, 80, "tasks", "gsm8k").stdout
    doc = json.loads(cli(world, 80, "tasks", "blocksworld", "--json").stdout)
    assert [o["name"] for o in doc["options"]][:3] == ["blocks", "instances", "instance-seed"]
    assert "error: unknown task 'nope'" in cli(world, 80, "tasks", "nope", code=2).stderr


def test_run_help_fits_a_screen(world):
    out = cli(world, 80, "run", "--help").stdout
    lines_fit(out, 80)
    assert len(out.splitlines()) <= 45, len(out.splitlines())
    assert "-T, --task-option NAME=VALUE" in out and "-M, --model-option NAME=VALUE" in out
    for gone in ("--blocks", "--device", "--timeout", "--ray-address", "--template"):  # now -T / -M: hidden
        assert gone not in out
    for command in (["run"], ["experiment", "run"], ["experiment", "status"], ["leaderboard"], ["samples"], ["audit"],
                    ["compare"], ["analyze", "scaling"], ["report"], ["tasks"], ["data", "fetch"], ["demo"],
                    ["planning", "validate"], ["lab", "train"]):
        text = cli(world, 80, *command, "--help").stdout
        assert not re.search(r"<(list|int|float|str|path)|x>=|x<=", text), (command, text)


def test_task_and_model_options_are_checked(world):
    run = ["run", "-m", "baseline/gold", "--store", str(world["root"] / "never.db")]
    cases = [
        (["-t", "blocksworld", "-T", "block=3"], "-T block: task 'blocksworld' has no option 'block' (its options: "
                                                   "blocks, instances, instance-seed, instances-dir, verifier-rounds,"
                                                   " feedback; `polaris tasks blocksworld`)"),
        (["-t", "gsm8k", "-T", "blocks=3"], "-T blocks: task 'gsm8k' has no options"),
        (["-t", "blocksworld", "-T", "instances=many"], "-T instances=many: expected a whole number"),
        (["-t", "gsm8k", "-M", "device=cuda"], "-M device: not an option of the models given (baseline/: none;"),
        (["-m", "openai/x", "-t", "gsm8k", "-M", "batch-size=4"],
         "(baseline/: none; openai/: timeout, stall-timeout, max-attempts, backoff, stream, budget-param;"),
        (["-t", "gsm8k", "-M", "ray-workers=2"], "-M ray-workers needs --executor ray"),
        (["-t", "gsm8k", "-M", "timeout"], "-M 'timeout': expected NAME=VALUE"),
    ]
    for args, message in cases:
        proc = cli(world, 80, *run, *args, code=2)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, proc.stderr)
    assert not (world["root"] / "never.db").exists()


def test_old_flags_still_work_with_a_deprecation_note(world, tmp_path):
    store = str(tmp_path / "s.db")
    new = json.loads(cli(world, 80, "run", "-m", "baseline/gold", "-t", "blocksworld", "-T", "blocks=3", "-T",
                         "instances=2", "--store", store, "--json").stdout)["results"][0]
    old = cli(world, 80, "run", "-m", "baseline/gold", "-t", "blocksworld", "--blocks", "3", "--instances", "2",
              "--store", store, "--json")
    assert json.loads(old.stdout)["results"][0]["run_id"] == new["run_id"]  # the same cell
    assert "warning: --blocks is deprecated: use -T blocks=3 (the old flags go in 0.2)" in old.stderr
    assert "warning: --instances is deprecated: use -T instances=2" in old.stderr


def test_progress_lines_without_a_terminal(world, tmp_path):
    """stderr piped: whole progress lines (never a redrawn bar cut short), rates only for work sent."""
    store = str(tmp_path / "p.db")
    env = dict(world["env"], COLUMNS="80")
    line = re.compile(r"^openai/fake-model gsm8k fewshot-cot: (\d+)/(\d+) \((\d+)%\)"
                      r"(?:, (answered from the store|(\d+\.\d)/s(?:, eta \d+:\d\d:\d\d)?))?, \d+ errors(?:, .+)?$")
    with FakeOpenAI(Policy(answers=answers_for("gsm8k", world["env"]["POLARIS_DATA_DIR"]), latency=0.3)) as server:
        args = ["run", "-m", "openai/fake-model", "--base-url", server.base_url, "-t", "gsm8k", "--concurrency", "2",
                "--store", store]
        first = polaris(*args, "--limit", "20", env=env)
        assert first.returncode == 0, first.stderr
        got = [line.match(x) for x in first.stderr.splitlines()]
        assert got and all(got), first.stderr
        assert len(got) >= 2 and got[-1].group(1) == got[-1].group(2) == "20", first.stderr  # 10% steps, then the end
        assert all(m.group(4) != "answered from the store" for m in got)
        again = polaris(*args, env=env)  # 20 answered from the store, 10 sent
        m = line.match(again.stderr.strip().splitlines()[-1])
        assert m and m.group(1) == "30" and m.group(5), again.stderr
        # 10 items sent at about 6/s (2 at a time, 0.3 s each), not 30 items over a second and a half
        assert float(m.group(5)) < 12, again.stderr
        cached = polaris(*args, env=env)
    assert cached.stderr.strip().splitlines() == [
        "openai/fake-model gsm8k fewshot-cot: 30/30 (100%), answered from the store, 0 errors"]


def test_read_commands_point_at_the_demo_store(world, tmp_path):
    """After `polaris demo` (its store in polaris-demo/), read commands in the same directory say where it is."""
    (tmp_path / "polaris-demo").mkdir()
    cli(world, 80, "run", "-m", "baseline/gold", "-t", "gsm8k", "--limit", "2", "--store",
        str(tmp_path / "polaris-demo" / "polaris.db"))
    env = {**world["env"], "COLUMNS": "80"}
    for command in (["leaderboard"], ["samples", "-t", "gsm8k"], ["compare", "a", "b"], ["audit"], ["rescore"]):
        proc = polaris(*command, env=env, cwd=tmp_path)
        assert proc.returncode == 2 and proc.stderr.strip() == (
            "error: no store at ./polaris.db; the demo's is polaris-demo/polaris.db: --store polaris-demo/polaris.db"), \
            (command, proc.stderr)
    assert not (tmp_path / "polaris.db").exists()
    ok = polaris("samples", "-t", "gsm8k", "--store", "polaris-demo/polaris.db", env=env, cwd=tmp_path)
    assert ok.returncode == 0 and "gsm8k" in ok.stdout


def test_docs_list_every_model_option():
    from polaris.cli.options import MODEL_OPTIONS, RAY_OPTIONS

    docs = (Path(__file__).resolve().parents[1] / "docs" / "backends.md").read_text()
    for opts in (*MODEL_OPTIONS.values(), RAY_OPTIONS):
        for o in opts:
            assert f"-M {o.name}=" in docs, o.name


# -- the table layout itself, at every width ------------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-.%", min_size=1, max_size=14)


def _grid_case():
    header = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
    cell = st.lists(WORD, min_size=0, max_size=4).map(" ".join)
    col = st.tuples(header, st.sampled_from(["left", "right"]), st.integers(0, 3), st.booleans(), st.booleans())
    return st.tuples(st.lists(col, min_size=1, max_size=9, unique_by=lambda c: c[0]), st.integers(0, 6),
                     st.integers(40, 200), st.data())


@settings(max_examples=150, deadline=None)
@given(_grid_case())
def test_grid_fits_every_width_without_splitting_words(case):
    """Random tables at 40 to 200 columns: no line wider than the console; when every word has room,
    none is split; only lesser columns are ever left out."""
    import io

    from rich.console import Console

    cols, n_rows, width, data = case
    spec = [Col(h, j, drop=d, wrap=w, key=k) for h, j, d, w, k in cols]
    grid = Grid("title", spec)
    rows = [[data.draw(st.lists(WORD, max_size=4).map(" ".join)) for _ in spec] for _ in range(n_rows)]
    for r in rows:
        grid.add_row(*r)
    shown, cells, widths, hoisted, dropped, light = grid.layout(width)
    out = io.StringIO()
    grid.print(Console(file=out, width=width, markup=False, highlight=False))
    text = out.getvalue()
    lines_fit(text, width)
    minimum = [max([len(w) for w in c.header.split()] + [len(w) if c.wrap else len(r[j])
                                                         for r in cells for w in (r[j].split() if c.wrap else [r[j]])])
               for j, c in enumerate(shown)]
    if sum(minimum) + grid._chrome(len(shown), light) <= width:  # room for every word: none is split
        assert widths == [max(w, m) for w, m in zip(widths, minimum)]
        for c in shown:
            for word in c.header.split():
                assert whole(text, word), (word, text)
    assert all(c.drop for c in grid.cols if c.header in dropped)  # only lesser columns are left out


def _bar(total: int):
    import io

    from polaris.cli.progress import PlainBar

    now = [0.0]
    out = io.StringIO()
    return PlainBar("m t p", total, out, clock=lambda: now[0]), now, out


def test_plain_progress_says_each_step_and_the_end():
    bar, now, out = _bar(100)
    bar.sent(1)  # the first request goes out at t = 0
    for i in range(1, 101):  # then 10 items a second
        now[0] = i / 10
        bar.update(i, 100, 0)
    assert out.getvalue().splitlines() == [  # 10% steps, at most one line every 2 s; then the last
        "m t p: 20/100 (20%), 10.0/s, eta 0:00:08, 0 errors",
        "m t p: 40/100 (40%), 10.0/s, eta 0:00:06, 0 errors",
        "m t p: 60/100 (60%), 10.0/s, eta 0:00:04, 0 errors",
        "m t p: 80/100 (80%), 10.0/s, eta 0:00:02, 0 errors",
        "m t p: 100/100 (100%), 10.0/s, 0 errors",
    ]


def test_plain_progress_rates_count_only_work_sent():
    bar, now, out = _bar(100)
    bar.update(50, 100, 0)  # half the items answered from the store at once: no rate from them
    bar.sent(1)
    for i in range(51, 101):
        now[0] = (i - 50) / 5
        bar.update(i, 100, 0)
    assert out.getvalue().splitlines()[-1] == "m t p: 100/100 (100%), 5.0/s, 0 errors"
    cached, _, out = _bar(7)
    cached.update(7, 7, 0)
    assert out.getvalue().splitlines() == ["m t p: 7/7 (100%), answered from the store, 0 errors"]


def test_plain_progress_speaks_when_nothing_finishes():
    from polaris.cli.progress import PLAIN_EVERY

    bar, now, out = _bar(10)
    bar.sent(4)
    while now[0] < PLAIN_EVERY + 1:  # the status ticks every second (runner/monitor.py)
        now[0] += 1
        bar.status(f"4 in flight · silent {now[0]:.0f} s")
    assert out.getvalue().splitlines() == ["m t p: 0/10 (0%), 0 errors, 4 in flight · silent 30 s"]
    bar.close()  # stopped short (Ctrl-C, a budget): its last line, whole
    assert out.getvalue().splitlines()[-1] == "m t p: 0/10 (0%), 0 errors, 4 in flight · silent 31 s"
