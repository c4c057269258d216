"""Blocksworld tasks through `polaris run`: prompts, baselines, a fake model in every domain, metrics, options."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import cli_env, polaris
from fakeserver import FakeOpenAI, Policy
from planfake import Planner

from polaris.cli.run_cmd import _task_options
from polaris.tasks.blocksworld import make_task

DATA = Path(__file__).resolve().parent / "planning_data"
ALL = ("blocksworld", "blocksworld/mystery", "blocksworld/random", "blocksworld/pddl", "blocksworld/mystery-pddl",
       "blocksworld/random-pddl")
FORMATS = ("one-shot", "zero-shot", "zero-shot-cot")


def run(store: Path, *args: str) -> list[dict]:
    proc = polaris("run", "--store", str(store), "--json", "--no-progress", *args, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["results"]


def details(store: Path) -> dict[str, dict]:
    db = sqlite3.connect(store)
    return {item: json.loads(data) for item, data in db.execute("SELECT item, data FROM results")}


def test_one_shot_example_is_the_previous_instance():
    task = make_task("blocksworld", instances=4, blocks="3-4")
    items = list(task.dataset.load())
    assert [it.id for it in items] == [f"{n}blocks/{k}" for n in (3, 4) for k in range(1, 5)]
    assert {it.group for it in items} == {"3 blocks", "4 blocks"}
    for prev, it in zip(items, items[1:]):
        if prev.group != it.group:
            continue
        text = task.build_prompt(it, "one-shot", "chat").messages[-1].content
        # The example (the previous instance, with its optimal plan) comes first, then the query.
        assert text.index(prev.question) < text.index(it.question)
        assert task.scorer.gold(prev).removeprefix("[PLAN]").removesuffix("[PLAN END]") in text
    first = task.build_prompt(items[0], "one-shot", "chat").messages[-1].content
    assert not any(other.question in first for other in items[1:4])  # an extra problem, not another item
    # Instance k does not depend on how many are asked for.
    assert [it.question for it in make_task("blocksworld", instances=2, blocks="3-4").dataset.load()] == \
        [it.question for it in items if it.id.endswith(("/1", "/2"))]


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_gold_is_perfect_in_every_domain_and_format(tmp_path, api):
    args = ["-m", "baseline/gold", "--api", api, "-T", "instances=3"]
    args += [a for t in ALL for a in ("--task", t)] + [a for f in FORMATS for a in ("-p", f)]
    results = run(tmp_path / "s.db", *args)
    assert len(results) == len(ALL) * len(FORMATS)
    for res in results:
        p = res["planning"]
        assert res["n"] == 9 and res["accuracy"] == 1.0 and res["strict_accuracy"] == 1.0, res["task"]
        assert p["optimality"]["mean"] == 1.0 and p["optimal"]["mean"] == 1.0
        assert p["executable_prefix"]["mean"] == 1.0 and p["failures"] == {}
        assert set(p["by_blocks"]) == {"3", "4", "5"}


def test_random_baseline_is_near_zero(tmp_path):
    results = run(tmp_path / "s.db", "-m", "baseline/random", "--task", "blocksworld", "--task",
                  "blocksworld/mystery", "-T", "instances=20")
    for res in results:
        p = res["planning"]
        assert res["n"] == 60 and res["extracted"] == 1.0
        assert res["accuracy"] < 0.1 and p["success"]["ci95"][0] < 0.05
        assert p["failures"]["inexecutable"]["count"] >= 50
        assert p["executable_prefix"]["mean"] < 0.3


@pytest.mark.parametrize("task", ["blocksworld", "blocksworld/mystery", "blocksworld/random"])
def test_fake_model_metrics_are_exact(tmp_path, task):
    """Item i: i % 4 == 0 an inexecutable plan, 1 a plan one action short, else the optimal plan."""
    planner = Planner(task, lambda i: {0: ("inexecutable",), 1: ("short",)}.get(i % 4, ()), instances=4)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        [res] = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", task,
                    "-T", "instances=4", "-p", "zero-shot")
    p = res["planning"]
    n = 12
    inexec = sum(1 for i in range(n) if i % 4 == 0)
    short = sum(1 for i in range(n) if i % 4 == 1)
    assert res["n"] == n and res["accuracy"] == pytest.approx((n - inexec - short) / n)
    assert p["failures"]["inexecutable"]["count"] == inexec and p["failures"]["goal-unmet"]["count"] == short
    assert p["executable_prefix"]["mean"] == pytest.approx((n - inexec) / n)  # short plans run to the end
    assert p["optimality"]["mean"] == 1.0 and "modulo" not in p
    assert {b: m["success"]["n"] for b, m in p["by_blocks"].items()} == {"3": 4, "4": 4, "5": 4}
    rows = details(store)
    for i, it in enumerate(planner.items):
        d = rows[it.id]["detail"]
        kind = {0: "inexecutable", 1: "goal-unmet"}.get(i % 4)
        assert d["kind"] == kind and d["valid"] == (kind is None)
        assert d["optimal_length"] == len(it.target.splitlines())
        if kind == "inexecutable":
            assert d["step"] == 1 and d["executable_prefix"] == 0.0
        if kind == "goal-unmet":
            assert d["length"] == d["optimal_length"] - 1 and d["executable_prefix"] == 1.0
    assert sum(planner.calls.values()) == n and not planner.feedback


def test_prose_and_parse_failures_are_categorised(tmp_path):
    replies = iter(["Sure! Here is my plan:\nstack the red block under the blue block", "I cannot solve this.",
                    "[PLAN]\npick up the purple block\n[PLAN END]"])
    lock = __import__("threading").Lock()

    def respond(body):
        with lock:
            return next(replies, "nothing")

    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=respond)) as server:
        [res] = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", "blocksworld",
                    "-T", "instances=1", "--concurrency", "1")
    kinds = sorted(d["detail"]["kind"] or "" for d in details(store).values())
    assert kinds == ["no-plan", "unknown-object", "unreadable-action"]
    assert res["extracted"] == pytest.approx(2 / 3) and res["accuracy"] == 0.0
    # Disagreements: only the first reply, whose action line the strict grammar takes for prose. Neither
    # reading finds a plan in "I cannot solve this."; both read the purple block as unknown.
    assert res["disagree"] == 1


def test_planbench_instance_files(tmp_path):
    res = run(tmp_path / "s.db", "-m", "baseline/gold", "--task", "blocksworld", "--task", "blocksworld/mystery",
              "-T", "instances-dir=" + str(DATA / "blocksworld"))
    assert all(r["accuracy"] == 1.0 and r["n"] == 3 for r in res)
    task = make_task("blocksworld", instances_dir=str(DATA / "blocksworld"))
    items = list(task.dataset.load())
    assert [it.id for it in items] == ["instance-1", "instance-2", "instance-3"]
    assert items[0].meta["example"]["problem"] == items[2].meta["problem"]  # the first takes the last file
    assert items[1].meta["example"]["problem"] == items[0].meta["problem"]
    # Mystery files with their domain file load as they are.
    [mres] = run(tmp_path / "m.db", "-m", "baseline/gold", "--task", "blocksworld/mystery", "-T",
                 "instances-dir=" + str(DATA / "mystery"), "-p", "zero-shot")
    assert mres["n"] == 2 and mres["accuracy"] == 1.0


def test_explicit_defaults_name_the_same_cell(tmp_path):
    store = tmp_path / "s.db"
    [a] = run(store, "-m", "baseline/gold", "--task", "blocksworld", "-T", "instances=2")
    [b] = run(store, "-m", "baseline/gold", "--task", "blocksworld", "-T", "instances=2", "-T", "blocks=3,4,5",
              "-T", "instance-seed=0", "-T", "verifier-rounds=0", "-T", "feedback=first")
    assert a["run_id"] == b["run_id"] and b["requests_sent"] == 0
    # What differs from the defaults names the cell.
    assert _task_options("blocksworld", {"instance-seed": "1", "blocks": "4"}) == \
        ("one-shot", (("blocks", "4"), ("instance_seed", 1)), None)


def _bad(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    return {
        "option on a non-planning task": (["--task", "gsm8k", "-T", "blocks=3"], "-T blocks: task 'gsm8k' has no options"),
        "bad block counts": (["-T", "blocks=3-x"], "-T blocks=3-x: expected a count"),
        "no instances": (["-T", "instances=0"], "-T instances=0: must be at least 1"),
        "too many 3-block problems": (["-T", "blocks=3", "-T", "instances=200"], "too many for 3 blocks"),
        "feedback without rounds": (["-T", "feedback=all"], "-T feedback needs -T verifier-rounds"),
        "unknown feedback": (["-T", "verifier-rounds=2", "-T", "feedback=some"], "-T feedback=some: choose from"),
        "negative rounds": (["-T", "verifier-rounds=-1"], "-T verifier-rounds=-1: must be at least 0"),
        "missing directory": (["-T", "instances-dir=" + str(tmp_path / "nope")], "no such directory"),
        "empty directory": (["-T", "instances-dir=" + str(tmp_path)], "no instance-N.pddl files"),
        "one-shot from a single file": (["-T", "instances-dir=" + str(tmp_path / "one")], "needs a second instance"),
        "seed with a directory": (["-T", "instances-dir=" + str(DATA / "blocksworld"), "-T", "instance-seed=3"],
                                  "-T instance-seed has no effect"),
        "obfuscation on plain blocksworld": (["-T", "obfuscation=words"],
                                             "task 'blocksworld' has no option 'obfuscation' (its options: blocks,"),
        "bad obfuscation": (["--task", "blocksworld/random", "-T", "obfuscation=emoji"], "-T obfuscation=emoji:"),
        "unknown option": (["-T", "block=3"], "no option 'block'"),
        "not NAME=VALUE": (["-T", "blocks"], "-T 'blocks': expected NAME=VALUE"),
        "question-answer format": (["-p", "fewshot-cot"], "no prompt format 'fewshot-cot'"),
        "unknown variant": (["--task", "blocksworld/tetris"], "unknown task 'blocksworld/tetris'"),
        "rounds with samples": (["-T", "verifier-rounds=2", "--samples", "3", "--temperature", "0.7"],
                                "one sample per item"),
    }


@pytest.mark.parametrize("case", list(_bad(Path("/x"))))
def test_bad_options_give_one_line_and_exit_2(tmp_path, case):
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "instance-1.pddl").write_bytes((DATA / "blocksworld" / "instance-1.pddl").read_bytes())
    args, expected = _bad(tmp_path)[case]
    if "--task" not in args:
        args = ["--task", "blocksworld", *args]
    store = tmp_path / "s.db"
    proc = polaris("run", "-m", "baseline/gold", "--store", str(store), *args, env=cli_env())
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], proc.stderr
    assert not store.exists()
