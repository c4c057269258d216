"""LLM-Modulo through `polaris run --verifier-rounds R`: feedback in the rendering's words, success after
each round, rescoring from the store, and resuming a killed run with only the missing rounds."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import cli_env, kill_at, polaris, stored_samples
from fakeserver import FakeOpenAI, Policy
from planfake import Planner, alternating

from polaris.tasks.blocksworld import ASK_NL, ASK_PDDL


def run(store: Path, *args: str) -> dict:
    proc = polaris("run", "--store", str(store), "--json", "--no-progress", *args, env=cli_env())
    assert proc.returncode == 0, proc.stderr
    [res] = json.loads(proc.stdout)["results"]
    return res


def results(store: Path) -> dict[str, tuple]:
    db = sqlite3.connect(store)
    rows = db.execute("SELECT item, correct, strict, answer, data FROM results").fetchall()
    return {r[0]: (r[1], r[2], r[3], json.loads(r[4])["modulo"]) for r in rows}


@pytest.mark.parametrize("task", ["blocksworld", "blocksworld/mystery", "blocksworld/random"])
def test_back_prompting_until_valid(tmp_path, task):
    """Item i makes i % 4 wrong plans before the right one; with R = 2, success@r is known exactly."""
    planner = Planner(task, lambda i: alternating(i % 4), instances=4)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        res = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", task,
                  "-T", "instances=4", "-T", "verifier-rounds=2")
    m = res["planning"]["modulo"]
    assert res["n"] == 12 and res["accuracy"] == pytest.approx(9 / 12)
    assert [r["round"] for r in m["success_at"]] == [0, 1, 2]
    assert [r["mean"] for r in m["success_at"]] == pytest.approx([3 / 12, 6 / 12, 9 / 12])
    assert all(r["ci95"][0] <= r["mean"] <= r["ci95"][1] for r in m["success_at"])
    assert m["max_rounds"] == 2 and m["feedback"] == "first" and m["mean_rounds_to_success"] == pytest.approx(1.0)
    assert res["requests_sent"] == m["requests"] == planner.expected_requests(2) == 27
    # The verifier speaks the rendering's language, then asks for a new plan as PlanBench does.
    vocab = planner.rendering.vocab
    put_down = vocab.nl_actions["put-down"].split("{}")[0].strip()
    for item_id, turn, text in planner.feedback:
        assert text.startswith("The above plan is invalid. ") and text.endswith(ASK_NL)
        if turn % 2 == 1:  # after an inexecutable plan: its first step and the unmet precondition
            assert "The following action at step 1 has an unmet precondition:\n" + put_down in text
        else:  # after a plan one action short: the goal it misses
            assert "unmet goal condition" in text
        if vocab.name != "blocksworld":
            assert "block" not in text.replace(ASK_NL, "")
    stored = results(store)
    for i, it in enumerate(planner.items):
        kinds = [r["kind"] for r in stored[it.id][3]["rounds"]]
        want = {0: [None], 1: ["inexecutable", None], 2: ["inexecutable", "goal-unmet", None],
                3: ["inexecutable", "goal-unmet", "inexecutable"]}[i % 4]
        assert kinds == want and stored[it.id][1] == (1.0 if want[-1] is None else 0.0)


def test_feedback_is_about_the_plan_the_model_meant(tmp_path):
    """Round 0 has no plan, round 1 an inexecutable plan in Markdown (read flexibly), round 2 the plan."""
    planner = Planner("blocksworld", lambda i: ("prose", "markdown-inexecutable"), instances=2)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        res = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", "blocksworld",
                  "-T", "instances=2", "-T", "verifier-rounds=2")
    assert res["accuracy"] == 1.0
    put_down = planner.rendering.vocab.nl_actions["put-down"].split("{}")[0].strip()
    for _, turn, text in planner.feedback:
        if turn == 1:
            assert text.startswith("The above response has no plan that could be read: no line of it is an action. ")
            assert "unmet goal condition" in text and text.endswith(ASK_NL)
        else:
            assert text.startswith("The above plan is invalid. The following action at step 1 has an unmet "
                                   "precondition:\n" + put_down)
    for _, _, _, modulo in results(store).values():
        assert [r["kind"] for r in modulo["rounds"]] == ["no-plan", "inexecutable", None] and modulo["valid_at"] == 2


def test_feedback_levels_and_plain_runs_share_the_first_round(tmp_path):
    planner = Planner("blocksworld", lambda i: alternating(i % 3), instances=2)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        base = ["-m", "openai/fake-model", "--base-url", server.base_url, "--task", "blocksworld", "-T", "instances=2"]
        plain = run(store, *base)
        assert plain["requests_sent"] == 6 and "modulo" not in plain["planning"]
        binary = run(store, *base, "-T", "verifier-rounds=1", "-T", "feedback=binary")
        assert binary["cached"] == 6  # round 0 is the plain run's request, served from the store
        assert binary["accuracy"] == pytest.approx(4 / 6) and binary["run_id"] != plain["run_id"]
    assert {t for _, _, t in planner.feedback} == {"The above plan is invalid." + ASK_NL}


def test_completions_api_with_pddl_prompts(tmp_path):
    planner = Planner("blocksworld/pddl", lambda i: alternating(i % 2), instances=2)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        res = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--api", "completions",
                  "--task", "blocksworld/pddl", "-T", "instances=2", "-T", "verifier-rounds=1", "-p", "zero-shot")
        bodies = list(server.bodies)
    assert res["accuracy"] == 1.0 and res["requests_sent"] == 9
    assert [r["mean"] for r in res["planning"]["modulo"]["success_at"]] == pytest.approx([0.5, 1.0])
    followups = [b["prompt"] for b in bodies if "The above plan is invalid" in b["prompt"]]
    assert len(followups) == 3
    for prompt in followups:
        # The conversation so far, the PDDL feedback, PlanBench's request, and the cue to continue the plan.
        assert prompt.endswith(ASK_PDDL + "\n") and "[PLAN]\n(put-down " in prompt
        assert "The following action at step 1 has an unmet precondition:\n(put-down " in prompt


def test_rescore_reproduces_a_modulo_run_from_the_store(tmp_path):
    planner = Planner("blocksworld/mystery", lambda i: alternating(i % 3), instances=3)
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(respond=planner)) as server:
        res = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", "blocksworld/mystery",
                  "-T", "instances=3", "-T", "verifier-rounds=3", "-T", "feedback=all")
        before = results(store)
        proc = polaris("rescore", "--store", str(store), "--json", env=cli_env())
        assert proc.returncode == 0, proc.stderr
        sent = server.hits["chat"]
    [again] = json.loads(proc.stdout)["results"]
    assert again["requests_sent"] == 0 and sent == res["requests_sent"]
    assert again["planning"] == res["planning"] and again["accuracy"] == res["accuracy"] == 1.0
    assert results(store) == before


def test_sigkill_mid_modulo_resends_only_missing_rounds(tmp_path):
    planner = Planner("blocksworld", lambda i: alternating(i % 4), instances=10)
    expected = planner.expected_requests(3)
    store = tmp_path / "killed.db"
    concurrency = 4
    with FakeOpenAI(Policy(respond=planner, latency=0.03)) as server:
        args = [sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--base-url", server.base_url,
                "--task", "blocksworld", "-T", "instances=10", "-T", "verifier-rounds=3", "--store", str(store),
                "--concurrency", str(concurrency), "--json", "--no-progress"]
        kills = kill_at(args, cli_env(), store, [8, 25, 45])
        assert kills >= 2
        stored = stored_samples(store)
        sent_before = server.hits["chat"]
        final = run(store, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", "blocksworld",
                    "-T", "instances=10", "-T", "verifier-rounds=3", "--concurrency", str(concurrency))
        assert final["requests_sent"] == server.hits["chat"] - sent_before == expected - stored
        assert server.hits["chat"] <= expected + kills * concurrency
        clean = tmp_path / "clean.db"
        ref = run(clean, "-m", "openai/fake-model", "--base-url", server.base_url, "--task", "blocksworld",
                  "-T", "instances=10", "-T", "verifier-rounds=3")
    assert final["planning"] == ref["planning"] and final["accuracy"] == ref["accuracy"]
    assert results(store) == results(clean)
    assert stored_samples(store) == expected
