"""Log-likelihood scoring (`--scoring loglik`) without torch: the baselines, the OpenAI-compatible
path against the fake server (echo + logprobs), the stored per-option scores, and the errors."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import answers_for, cli_env, polaris
from fakeserver import FakeOpenAI, Policy, _h, _norm
from mcdata import write_bbh, write_mmlu

from polaris.models.logprobs import continuation_logprob
from polaris.prompts.template import Template
from polaris.runner.loglik import context_and_continuations, options_for
from polaris.tasks.base import Item


@pytest.fixture
def mc_data(tmp_path, monkeypatch):
    root = write_bbh(write_mmlu(tmp_path / "data"))
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


def _run(store, *args, env=None):
    proc = polaris("run", "--store", str(store), "--json", "--no-progress", "--scoring", "loglik", *args,
                   env=env or cli_env())
    return proc, (json.loads(proc.stdout)["results"] if proc.returncode == 0 else None)


def _loglik_rows(store, run_id):
    db = sqlite3.connect(store)
    return [json.loads(d)["loglik"] for (d,) in db.execute("SELECT data FROM results WHERE run=? ORDER BY idx", (run_id,))]


def test_convention_letters_labels_and_the_answer_sentence():
    t = Template(answer="The answer is {answer}.")
    ctx, conts = context_and_continuations(t, "Q: x\n(A) a (B) b\n", ("(A)", "(B)"))
    assert ctx == "Q: x\n(A) a (B) b\nThe answer is" and conts == (" (A)", " (B)")
    assert options_for(Item("i", "q", "(C)", choices=("a", "b", "c"))).gold == 2
    labels = options_for(Item("i", "q", "No", meta={"kind": "yesno"}))
    assert labels.answers == ("Yes", "No") and labels.gold == 1
    assert options_for(Item("i", "q", "42")) is None  # free-form: not multiple choice


@pytest.mark.parametrize("task", ["mmlu/anatomy", "bbh/navigate", "bbh/date_understanding"])
def test_gold_baseline_scores_everything_right_with_all_the_probability(mc_data, tmp_path, task):
    store = tmp_path / "s.db"
    proc, res = _run(store, "-m", "baseline/gold", "-t", task)
    assert proc.returncode == 0, proc.stderr
    (r,) = res
    assert r["accuracy"] == 1.0 and r["strategy"] == "loglik" and r["prompt"] == "fewshot-direct"
    for rec in _loglik_rows(store, r["run_id"]):
        assert rec["choice"] == rec["gold"] and rec["prob_correct"] == 1.0 and rec["brier"] == 0.0
        assert rec["target_logprob"] == 0.0


def test_random_baseline_is_near_chance_and_spreads_probability(shared_data, tmp_path):
    store = tmp_path / "s.db"
    proc, res = _run(store, "-m", "baseline/random", "-t", "mmlu/high_school_psychology", "--limit", "400")
    assert proc.returncode == 0, proc.stderr
    (r,) = res
    assert 0.18 < r["accuracy"] < 0.32
    recs = _loglik_rows(store, r["run_id"])
    mean_p = sum(x["prob_correct"] for x in recs) / len(recs)
    assert 0.2 < mean_p < 0.3  # uniform draws from the simplex: 1/4 on average
    assert all(abs(sum(2.718281828 ** lp for lp in x["logprobs"]) - 1) < 1e-6 for x in recs)


def test_openai_loglik_end_to_end_matches_the_server_and_caches(mc_data, tmp_path):
    answers = answers_for("mmlu/anatomy")
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers, wrong_every=3)) as server:
        args = ("-m", "openai/fake-model", "--base-url", server.base_url, "-t", "mmlu/anatomy")
        proc, res = _run(store, *args)
        assert proc.returncode == 0, proc.stderr
        (r,) = res
        keys = [_norm(k) for k in answers]
        assert r["accuracy"] == pytest.approx(sum(1 for k in keys if _h(k) % 3 != 0) / len(keys))
        assert r["requests_sent"] == 8 and server.hits["completions"] == 8 and server.hits["chat"] == 0
        body = server.bodies[0]
        assert body["echo"] is True and body["logprobs"] == 1 and body["max_tokens"] == 1
        assert [p[-4:] for p in body["prompt"]] == [" (A)", " (B)", " (C)", " (D)"]
        assert all(p.endswith("\nThe answer is" + c) for p, c in zip(body["prompt"], (" (A)", " (B)", " (C)", " (D)")))
        # The server's favoured option has three tokens at -0.05: " (", "B", ")".
        for rec in _loglik_rows(store, r["run_id"]):
            assert rec["tokens"] == [3, 3, 3, 3] and max(rec["logprobs"]) == pytest.approx(-0.15)
        _, again = _run(store, *args)
        assert again[0]["requests_sent"] == 0 and again[0]["cached"] == 8 and again[0]["accuracy"] == r["accuracy"]
        assert server.hits["completions"] == 8
    # Rescoring reads the stored option scores: no model needed.
    proc = polaris("rescore", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["accuracy"] == r["accuracy"]


def test_a_server_without_prompt_logprobs_is_one_line_and_exit_2(mc_data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("mmlu/anatomy"), no_echo=True)) as server:
        proc, _ = _run(tmp_path / "s.db", "-m", "openai/fake-model", "--base-url", server.base_url, "-t", "mmlu/anatomy")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "does not return prompt log-probabilities" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (("-t", "gsm8k"), "task 'gsm8k' is not multiple choice"),
    (("-t", "mmlu/anatomy", "-p", "fewshot-cot"), "use --prompt fewshot-direct or zeroshot-direct"),
    (("-t", "mmlu/anatomy", "--samples", "3", "--temperature", "1"), "use --samples 1"),
])
def test_cells_loglik_cannot_serve_fail_before_anything_runs(mc_data, tiny_data, tmp_path, args, message):
    write_mmlu(tiny_data)
    store = tmp_path / "s.db"
    proc, _ = _run(store, "-m", "baseline/gold", *args)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1
    assert not store.exists()


def test_continuation_tokens_are_found_by_character_offsets():
    lp = {"tokens": ["Q", ":", " is", " (", "B", ")", " Q"], "token_logprobs": [None, -1, -2, -0.5, -0.25, -0.125, -9],
          "text_offset": [0, 1, 2, 5, 7, 8, 9], "top_logprobs": [None, {":": -1}, {" is": -2}, {" (": -0.5},
                                                                   {"A": -0.1, "B": -0.25}, {")": -0.125}, {" Q": -9}]}
    assert continuation_logprob(lp, 5, 9) == (-0.875, 3, False)  # "B" was not the top token
    del lp["text_offset"]  # offsets from the token strings
    assert continuation_logprob(lp, 5, 9)[:2] == (-0.875, 3)
