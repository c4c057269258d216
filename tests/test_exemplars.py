"""Complexity-based prompting and exemplar sensitivity: which exemplars are shown, and the manifest says so."""

from __future__ import annotations

import json
import sqlite3
import statistics

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k_prompt
from fakeserver import FakeOpenAI, Policy

from polaris.prompts.exemplars import select
from polaris.runner.cell import CellSpec
from polaris.runner.sensitivity import exemplar_draws

STEPS = [3, 1, 7, 2, 9, 4, 12, 5, 6, 11, 8, 10]  # reasoning lines of train item i


@pytest.fixture
def varied_data(tmp_path, monkeypatch):
    """GSM8K-format data: 4 test items, 12 train items whose worked solutions have STEPS[i] lines."""
    root = tmp_path / "data"
    (root / "gsm8k").mkdir(parents=True)
    with (root / "gsm8k" / "test.jsonl").open("w") as fh:
        for i in range(4):
            fh.write(json.dumps({"question": f"Test question {i}: what is {i} plus 2?", "answer": f"{i}+2\n#### {i + 2}"}) + "\n")
    with (root / "gsm8k" / "train.jsonl").open("w") as fh:
        for i, n in enumerate(STEPS):
            lines = "\n".join(f"step {j} of train {i}" for j in range(n))
            fh.write(json.dumps({"question": f"Train question {i}?", "answer": f"{lines}\n#### {i}"}) + "\n")
    write_gsm8k_prompt(root)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


def _manifests(store):
    db = sqlite3.connect(store)
    return [json.loads(m) for (m,) in db.execute("SELECT manifest FROM runs ORDER BY created")]


def _run(server, store, data, *extra):
    proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store), "--json",
                   "--no-progress", *extra, env=cli_env(POLARIS_DATA_DIR=str(data)))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_complex_exemplars_are_the_k_with_most_steps(varied_data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        doc = _run(server, tmp_path / "s.db", varied_data, "--exemplars", "complex")
        body = server.bodies[0]
    ranked = sorted(range(12), key=lambda i: -STEPS[i])[:8]  # k = the 8 default exemplars
    (m,) = _manifests(tmp_path / "s.db")
    assert m["exemplars"]["strategy"] == "complex"
    assert m["exemplars"]["ids"][""] == [f"gsm8k/train/{i}" for i in ranked]
    shown = [msg["content"] for msg in body["messages"] if msg["role"] == "user"][:-1]
    assert [s.split("\n")[0] for s in shown] == [f"Question: Train question {i}?" for i in ranked]
    assert doc["results"][0]["strategy"] == "greedy+complex"


def test_random_exemplars_follow_the_seed(varied_data, tmp_path):
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        first = _run(server, store, varied_data, "--exemplars", "random", "--seed", "3")["results"][0]
        again = _run(server, store, varied_data, "--exemplars", "random", "--seed", "3")["results"][0]
        other = _run(server, store, varied_data, "--exemplars", "random", "--seed", "4")["results"][0]
    assert again["requests_sent"] == 0 and again["run_id"] == first["run_id"]
    m3, m4 = _manifests(store)
    ids3, ids4 = m3["exemplars"]["ids"][""], m4["exemplars"]["ids"][""]
    assert len(set(ids3)) == 8 and set(ids3) <= {f"gsm8k/train/{i}" for i in range(12)}
    assert ids3 != ids4 and m3["exemplars"]["seed"] == 3 and m4["exemplars"]["seed"] == 4
    assert other["strategy"] == "greedy+random4"


def test_prompt_file_exemplars(varied_data, tmp_path):
    hub = tmp_path / "prompt_mine.txt"
    hub.write_text("Question: One plus one?\nLet's think step by step\n1 + 1 = 2.\nThe answer is 2\n\n"
                   "Question: Two times three?\nLet's think step by step\n2 * 3 = 6.\nThe answer is 6\n")
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        _run(server, tmp_path / "s.db", varied_data, "--exemplars", str(hub))
        body = server.bodies[0]
    (m,) = _manifests(tmp_path / "s.db")
    assert m["exemplars"]["ids"][""] == ["prompt_mine.txt#0", "prompt_mine.txt#1"]
    assert body["messages"][0]["content"].startswith("Question: One plus one?")
    assert body["messages"][1]["content"].startswith("1 + 1 = 2.")


def test_real_hub_file_parses(shared_data):
    from polaris.prompts.exemplars import parse_hub_file

    shots = parse_hub_file(shared_data / "cot_hub_prompts" / "gsm8k" / "lib_prompt" / "prompt_hardest.txt")
    assert len(shots) == 8 and shots[0].answer == "4" and shots[0].rationale.count("\n") >= 8


def test_shuffle_is_a_seeded_permutation_of_the_defaults(varied_data):
    from polaris.tasks.registry import get_task

    task = get_task("gsm8k")
    default = select(task, "", "default")
    orders = [select(task, "", "shuffle", seed) for seed in range(4)]
    assert all(sorted(e.id for e in o) == sorted(e.id for e in default) for o in orders)
    assert select(task, "", "shuffle", 2) == orders[2] and len({tuple(e.id for e in o) for o in orders}) > 1


def test_exemplar_draws_pick_random_subsets_or_orders():
    gsm = exemplar_draws(CellSpec("openai/x", "gsm8k", seed=5, exemplar_seed=5), 3)
    assert [(c.exemplars, c.exemplar_seed, c.seed) for c in gsm] == [("random", 5, 5), ("random", 6, 5), ("random", 7, 5)]
    bbh = exemplar_draws(CellSpec("openai/x", "bbh/navigate"), 2)
    assert [c.exemplars for c in bbh] == ["shuffle", "shuffle"]  # no training pool: orders only
    assert exemplar_draws(CellSpec("openai/x", "gsm8k", prompt="zeroshot-cot"), 3) == [
        CellSpec("openai/x", "gsm8k", prompt="zeroshot-cot")]
    from polaris.errors import PolarisError

    with pytest.raises(PolarisError, match="exemplar-seeds"):
        exemplar_draws(CellSpec("openai/x", "gsm8k", exemplars="complex"), 2)


def test_exemplar_seeds_report_the_spread(varied_data, tmp_path):
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), wrong_every=2)) as server:
        doc = _run(server, store, varied_data, "--exemplar-seeds", "3", "--seed", "10")
    cells = doc["results"]
    assert [c["strategy"] for c in cells] == ["greedy+random10", "greedy+random11", "greedy+random12"]
    (spread,) = doc["exemplar_sensitivity"]
    accs = [c["accuracy"] for c in cells]
    assert spread["draws"] == 3 and spread["seeds"] == [10, 11, 12] and spread["accuracies"] == accs
    assert spread["mean"] == pytest.approx(statistics.fmean(accs)) and spread["sd"] == pytest.approx(statistics.stdev(accs))
    halves = [(c["ci95"][1] - c["ci95"][0]) / 2 for c in cells]
    assert spread["ci_halfwidth"] == pytest.approx(statistics.fmean(halves))
    ids = [tuple(m["exemplars"]["ids"][""]) for m in _manifests(store)]
    assert len(set(ids)) == 3  # three different draws, each in the manifest
