"""End to end: `polaris run` against a real HTTP server on 127.0.0.1, both APIs, cache and --json."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import answers_for, cli_env, polaris
from fakeserver import FakeOpenAI, Policy, _h, _norm


def _run(server: FakeOpenAI, store, *extra: str, env=None):
    return polaris("run", "--model", "openai/fake-model", "--base-url", server.base_url, "--task", "gsm8k",
                   "--store", str(store), "--json", *extra, env=env or cli_env())


def _expected_accuracy(answers: dict[str, str], wrong_every: int, limit: int | None = None) -> float:
    keys = [_norm(k) for k in answers][:limit]
    return sum(1 for k in keys if _h(k) % wrong_every != 0) / len(keys)


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_real_gsm8k_accuracy_matches_the_server(shared_data, tmp_path, api):
    answers = answers_for("gsm8k")
    with FakeOpenAI(Policy(answers=answers, wrong_every=4)) as server:
        proc = _run(server, tmp_path / "s.db", "--limit", "120", "--api", api, env=cli_env(POLARIS_DATA_DIR=str(shared_data)))
        assert proc.returncode == 0, proc.stderr
        (res,) = json.loads(proc.stdout)["results"]
        assert res["n"] == 120 and res["errors"] == 0 and res["requests_sent"] == 120
        assert res["accuracy"] == pytest.approx(_expected_accuracy(answers, 4, 120))
        assert res["ci95"][0] < res["accuracy"] < res["ci95"][1]
        assert res["extracted"] == 1.0 and res["strict_accuracy"] == res["accuracy"]
        assert server.hits["chat" if api == "chat" else "completions"] == 120
        if api == "completions":
            body = server.bodies[0]
            assert body["prompt"].count("Question:") == 9 and body["stop"][0] == "\n\nQuestion:"
        else:
            roles = [m["role"] for m in server.bodies[0]["messages"]]
            assert roles == ["user", "assistant"] * 8 + ["user"]


def test_rerun_sends_nothing_and_limit_takes_the_first_items(tiny_data, tmp_path):
    answers = answers_for("gsm8k")
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers)) as server:
        first = json.loads(_run(server, store, "--limit", "4").stdout)["results"][0]
        assert first["n"] == 4 and first["requests_sent"] == 4 and first["accuracy"] == 1.0
        again = json.loads(_run(server, store).stdout)["results"][0]
        assert again["n"] == 6 and again["requests_sent"] == 2 and again["cached"] == 4
        third = json.loads(_run(server, store).stdout)["results"][0]
        assert third["requests_sent"] == 0 and third["accuracy"] == 1.0
        assert server.hits["chat"] == 6
    items = [r[0] for r in sqlite3.connect(store).execute("SELECT item FROM results ORDER BY idx")]
    assert items == [f"gsm8k/test/{i}" for i in range(6)]


def test_json_document_has_the_documented_fields(tiny_data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), wrong_every=3)) as server:
        proc = _run(server, tmp_path / "s.db", "--prompt", "zeroshot-cot")
    doc = json.loads(proc.stdout)
    (res,) = doc["results"]
    for key in ("model", "task", "prompt", "n", "accuracy", "ci95", "strict_accuracy", "extracted", "errors",
                "requests_sent"):
        assert key in res
    assert res["model"] == "openai/fake-model" and res["prompt"] == "zeroshot-cot"
    assert 0 <= res["accuracy"] <= 1 and len(res["ci95"]) == 2


def test_store_keeps_requests_responses_and_manifest_but_not_the_key(tiny_data, tmp_path):
    key = "sk-test-SECRET-4242"
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), api_key=key)) as server:
        proc = _run(server, store, env=cli_env(OPENAI_API_KEY=key))
        assert proc.returncode == 0, proc.stderr
    db = sqlite3.connect(store)
    (body,) = db.execute("SELECT body FROM requests LIMIT 1").fetchone()
    req = json.loads(body)
    assert req["endpoint"] == server.base_url and req["messages"][-1]["role"] == "user"
    assert req["decoding"]["temperature"] == 0.0
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 6
    latency, usage = db.execute("SELECT latency, usage FROM calls LIMIT 1").fetchone()
    assert latency > 0 and json.loads(usage)["completion_tokens"] == 8
    (manifest,) = db.execute("SELECT manifest FROM runs").fetchone()
    m = json.loads(manifest)
    assert m["exemplars"]["ids"][""] == [f"prompt_original.txt#{i}" for i in range(8)]
    assert len(m["dataset"]["sha256"]) == 64 and m["scorer_version"] and m["polaris_version"]
    dump = "\n".join(db.iterdump())
    assert key not in dump and key not in proc.stdout + proc.stderr


def test_wrong_api_key_is_one_line_exit_2(tiny_data, tmp_path):
    with FakeOpenAI(Policy(api_key="right")) as server:
        proc = _run(server, tmp_path / "s.db", env=cli_env(OPENAI_API_KEY="wrong-key-123"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "401" in proc.stderr
    assert "wrong-key-123" not in proc.stderr


def test_server_ignoring_n_still_gets_k_samples(tiny_data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), ignore_n=True, p_correct=0.6)) as server:
        proc = _run(server, tmp_path / "s.db", "--samples", "3", "--temperature", "0.7")
        res = json.loads(proc.stdout)["results"][0]
        assert res["errors"] == 0 and res["requests_sent"] == 18
