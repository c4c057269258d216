"""`polaris planning generate|solve|validate`, run as a user runs them: a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "planning_data"
BW1 = DATA / "blocksworld" / "instance-1.pddl"
MY1 = DATA / "mystery" / "instance-1.pddl"
OPTIMAL_BW1 = ["(unstack c b)", "(put-down c)", "(unstack b a)", "(put-down b)", "(pick-up a)", "(stack a b)", "(pick-up c)", "(stack c a)"]


def polaris(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "polaris", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_generate_writes_planbench_files_and_an_index(tmp_path):
    out = tmp_path / "bw"
    r = polaris("planning", "generate", "--blocks", "3-20", "--count", "36", "--seed", "5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    assert "wrote 36 problems" in r.stderr
    rows = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    assert [row["file"] for row in rows] == [f"instance-{k}.pddl" for k in range(1, 37)]
    assert sorted({row["blocks"] for row in rows}) == list(range(3, 21))
    assert (out / "generated_domain.pddl").read_text() == (DATA / "blocksworld" / "generated_domain.pddl").read_text()
    first = (out / "instance-1.pddl").read_text()
    assert first.startswith("\n\n(define (problem BW-rand-3)\n(:domain blocksworld-4ops)\n(:objects a b c )\n(:init\n(handempty)\n")
    # every problem solves to its recorded optimal length through the CLI
    last = rows[-1]
    solved = json.loads(polaris("planning", "solve", str(out / last["file"]), "--json").stdout)
    assert solved["optimal_length"] == last["optimal_length"] and solved["blocks"] == 20
    # same seed, same files; an existing directory is not overwritten without --force
    again = tmp_path / "again"
    polaris("planning", "generate", "--blocks", "3-20", "--count", "36", "--seed", "5", "--out", str(again))
    assert all((again / f.name).read_text() == f.read_text() for f in out.iterdir())
    refused = polaris("planning", "generate", "--count", "2", "--out", str(out))
    assert refused.returncode == 2 and "already has 36 problem files" in refused.stderr
    assert polaris("planning", "generate", "--count", "2", "--out", str(out), "--force").returncode == 0
    assert len(list(out.glob("instance-*.pddl"))) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--blocks", "5-3"], "ranges ascending"),
    (["--blocks", "three"], "expected a count"),
    (["--count", "0"], "--count must be at least 1"),
    (["--blocks", "2", "--count", "9"], "only 4 distinct 2-block problems"),
])  # fmt: skip
def test_generate_bad_options(tmp_path, args, message):
    base = {"--count": "3", "--out": str(tmp_path / "x")}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    r = polaris("planning", "generate", *[x for kv in base.items() for x in kv])
    assert r.returncode == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_solve_prints_an_optimal_plan_file():
    r = polaris("planning", "solve", str(BW1))
    assert r.returncode == 0
    assert r.stdout.splitlines() == [*OPTIMAL_BW1, "; cost = 8 (unit cost)"]
    j = json.loads(polaris("planning", "solve", str(BW1), "--json").stdout)
    assert j["optimal_length"] == 8 and j["plan"] == OPTIMAL_BW1
    # a Mystery file gets a Mystery plan
    assert polaris("planning", "solve", str(MY1)).stdout.splitlines()[0] == "(feast c b)"


def test_solve_unsolvable_and_bad_file(tmp_path):
    p = tmp_path / "p.pddl"
    p.write_text("(define (problem p) (:objects a b) (:init (handempty) (ontable a) (ontable b) (clear a) (clear b)) (:goal (and (on a b) (on b a))))")
    r = polaris("planning", "solve", str(p), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["optimal_length"] is None
    p.write_text("(define (problem p)\n(:objects a)\n(:init (handempty) (ontable a) (clear a))\n(:goal (on a zz)))")
    r = polaris("planning", "solve", str(p))
    assert r.returncode == 2 and r.stderr.strip() == f"error: {p}:4: unknown object 'zz'"


def test_validate_valid_plan_in_planbench_files(tmp_path):
    plan = tmp_path / "sas_plan"
    plan.write_text("\n".join(OPTIMAL_BW1) + "\n; cost = 8 (unit cost)\n")
    r = polaris("planning", "validate", str(BW1), str(plan), "--json")
    assert r.returncode == 0
    out = json.loads(r.stdout)
    assert {k: out[k] for k in ("valid", "actions", "failure", "length", "optimal_length", "reading")} == {
        "valid": True, "actions": OPTIMAL_BW1, "failure": None, "length": 8, "optimal_length": 8, "reading": "flexible"}
    assert out["strict"] == {"valid": True, "actions": OPTIMAL_BW1, "failure": None, "length": 8}
    assert [line["how"] for line in out["lines"]] == ["action"] * 8 + ["prose"]  # the cost comment
    human = polaris("planning", "validate", str(BW1), str(plan)).stdout.splitlines()
    assert human[:2] == ["valid: 8 actions (optimal 8)", "  strict reading: valid: 8 actions (optimal 8)"]


def test_validate_prints_both_readings_and_how_each_line_was_read(tmp_path):
    plan = tmp_path / "answer.txt"
    plan.write_text("Here is the plan:\n\n1. **Unstack the orange block from the blue block** (now holding it)\n"
                    "   - The orange block was clear.\n2. Stack the orange block on top of the red block.\n")
    r = polaris("planning", "validate", str(BW1), str(plan), "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["failure"] == {"kind": "inexecutable", "step": 2, "action": "(stack c a)", "detail": "unmet precondition(s): (clear a)"}
    assert out["actions"] == ["(unstack c b)", "(stack c a)"] and out["optimal_length"] == 8
    assert out["strict"]["failure"]["kind"] == "unparseable" and out["strict"]["failure"]["step"] == 1
    assert [(line["line"], line["how"]) for line in out["lines"]] == [(1, "heading"), (3, "action"), (4, "explanation"), (5, "action")]
    assert out["lines"][1]["read"] == ["(unstack c b)"] and out["lines"][1]["skipped"] == "(now holding it)"
    human = polaris("planning", "validate", str(BW1), str(plan)).stdout.splitlines()
    assert human[0] == "invalid (inexecutable): step 2: (stack c a): unmet precondition(s): (clear a)"
    assert human[1].startswith("  strict reading: invalid (unparseable): step 1: Here is the plan:")
    assert any(line.split()[:2] == ["4", "explanation"] for line in human)
    # --strict makes the format-compliance reading the headline (and the exit code)
    strict = json.loads(polaris("planning", "validate", str(BW1), str(plan), "--json", "--strict").stdout)
    assert strict["reading"] == "strict" and strict["failure"]["kind"] == "unparseable"
    assert strict["flexible"]["actions"] == ["(unstack c b)", "(stack c a)"]


def test_validate_reports_unreadable_lines_and_missing_plans(tmp_path):
    plan = tmp_path / "answer.txt"
    plan.write_text("1. Unstack the orange block from the blue block\n2. Move the red block onto the blue block\n")
    out = json.loads(polaris("planning", "validate", str(BW1), str(plan), "--json").stdout)
    assert out["failure"]["kind"] == "unreadable-action" and out["failure"]["step"] == 2
    plan.write_text("I am not sure how to solve this.")
    r = polaris("planning", "validate", str(BW1), str(plan), "--json")
    assert r.returncode == 1 and json.loads(r.stdout)["failure"]["kind"] == "no-plan"
    assert json.loads(r.stdout)["plan_lines"] is None


def test_validate_mystery_text(tmp_path):
    plan = tmp_path / "answer.txt"
    plan.write_text("feast object c from object b\nsuccumb object c\n[PLAN END]\n")
    r = polaris("planning", "validate", str(BW1), str(plan), "--domain", "mystery", "--json")
    assert json.loads(r.stdout)["failure"]["kind"] == "goal-unmet"
    # without --domain, a Mystery problem file reads Mystery text
    assert json.loads(polaris("planning", "validate", str(MY1), str(plan), "--json").stdout)["actions"] == ["(unstack c b)", "(put-down c)"]
    unread = json.loads(polaris("planning", "validate", str(BW1), str(plan), "--json").stdout)
    assert unread["failure"]["kind"] == "unknown-action" and unread["strict"]["failure"]["kind"] == "unparseable"


def test_validate_bad_input_is_one_line_exit_2(tmp_path):
    plan = tmp_path / "plan"
    plan.write_text("(pick-up a)")
    cases = [
        (["planning", "validate", str(BW1), str(tmp_path / "none.txt")], "no such plan file"),
        (["planning", "validate", str(BW1), str(plan), "--domain", "elvish"], "unknown rendering 'elvish'"),
        (["planning", "validate", str(BW1)], "give PROBLEM and PLAN_FILE"),
    ]
    for args, message in cases:
        r = polaris(*args)
        assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_batch_validation_keeps_order_and_resolves_relative_paths(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "p1.pddl").write_text(BW1.read_text())
    rows = [
        {"problem": "p1.pddl", "plan": "\n".join(OPTIMAL_BW1), "domain": "blocksworld"},
        {"problem": str(MY1), "plan": "feast object c from object b", "domain": "mystery"},
        {"problem": "p1.pddl", "plan": "pick up the red block"},
    ]
    batch = work / "plans.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    r = polaris("planning", "validate", "--batch", str(batch), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    results = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["valid"] for x in results] == [True, False, False]
    assert results[1]["failure"]["kind"] == "goal-unmet" and results[1]["optimal_length"] == 8
    assert results[2]["failure"]["detail"] == "unmet precondition(s): (clear a)"
    human = polaris("planning", "validate", "--batch", str(batch), cwd=tmp_path)
    assert human.stdout.splitlines()[0] == "valid: 8 actions (optimal 8)  [strict: valid: 8 actions (optimal 8)]"
    assert len(human.stdout.splitlines()) == 3


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "plans.jsonl:2: malformed JSON"),
    ('{"problem": "p1.pddl"}', "plans.jsonl:2: missing field 'plan'"),
    ('{"problem": "missing.pddl", "plan": ""}', "plans.jsonl:2: problem file missing.pddl does not exist"),
    ('{"problem": "p1.pddl", "plan": "", "domain": "dwarvish"}', "plans.jsonl:2: field 'domain': unknown rendering"),
    ('{"problem": "bad.pddl", "plan": ""}', "plans.jsonl:2: "),
])  # fmt: skip
def test_batch_bad_rows_name_file_and_line(tmp_path, line, message):
    (tmp_path / "p1.pddl").write_text(BW1.read_text())
    (tmp_path / "bad.pddl").write_text("(define (problem p) (:objects a) (:init (ontable a)) (:goal (ontable a)))")
    batch = tmp_path / "plans.jsonl"
    batch.write_text(json.dumps({"problem": "p1.pddl", "plan": ""}) + "\n" + line + "\n")
    r = polaris("planning", "validate", "--batch", str(batch), "--json", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_help_lists_the_commands():
    r = polaris("planning", "--help")
    assert r.returncode == 0
    for command in ("generate", "solve", "validate"):
        assert command in r.stdout
