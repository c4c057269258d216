"""Retries: faults are retried within a budget; what still fails is an error, asked again next run."""

from __future__ import annotations

import json
import random
import sqlite3

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

from polaris.models.retry import RetryPolicy, parse_retry_after


@pytest.fixture
def data40(tmp_path, monkeypatch):
    root = write_gsm8k(tmp_path / "data", 160)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


def _run(server, store, data, *extra, code=0, full=False):
    proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store),
                   "--json", "--concurrency", "8", *extra, env=cli_env(POLARIS_DATA_DIR=str(data)))
    assert proc.returncode == code, proc.stderr
    return (json.loads(proc.stdout), proc.stderr) if full else json.loads(proc.stdout)["results"][0]


# Realistic rates (about one attempt in six fails); every kind of fault is served.
FAULTS = {"500": 0.05, "429": 0.04, "malformed": 0.02, "truncated": 0.02, "reset": 0.02, "hang": 0.02}


def test_faults_are_retried_and_scores_equal_a_clean_run(data40, tmp_path):
    answers = answers_for("gsm8k")
    with FakeOpenAI(Policy(answers=answers, wrong_every=3)) as clean:
        ref = _run(clean, tmp_path / "clean.db", data40)
    with FakeOpenAI(Policy(answers=answers, wrong_every=3, faults=FAULTS, hang_seconds=5)) as flaky:
        res = _run(flaky, tmp_path / "flaky.db", data40, "-M", "timeout=1", "-M", "max-attempts=10", "-M", "backoff=0.05")
        served = dict(flaky.faults_served)
    assert res["errors"] == 0 and res["accuracy"] == ref["accuracy"]
    assert res["retries"] == sum(served.values()) > 0
    assert set(served) >= {"500", "429", "malformed", "truncated", "reset", "hang"}
    assert res["retry_rate"] > 0 and res["retry_rate"] == pytest.approx(res["retries"] / res["requests_sent"], abs=1e-4)
    assert ref["retry_rate"] == 0 and res["failed_requests"] == 0
    db = sqlite3.connect(tmp_path / "flaky.db")
    assert db.execute("SELECT SUM(attempts) - COUNT(*) FROM calls").fetchone()[0] == res["retries"]
    # The same figures are kept in the run's manifest, beside the scores.
    (manifest,) = db.execute("SELECT manifest FROM runs").fetchone()
    kept = json.loads(manifest)["summary"]
    assert (kept["retries"], kept["retry_rate"], kept["errors"]) == (res["retries"], res["retry_rate"], 0)
    # Identical scores item by item, not only on average.
    clean_rows = sqlite3.connect(tmp_path / "clean.db").execute("SELECT item, correct, answer FROM results ORDER BY idx")
    assert db.execute("SELECT item, correct, answer FROM results ORDER BY idx").fetchall() == clean_rows.fetchall()


def test_exhausted_budget_is_an_error_not_a_wrong_answer_and_is_retried(data40, tmp_path):
    answers = answers_for("gsm8k")
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers, faults={"500": 0.3})) as server:
        doc, err = _run(server, store, data40, "-M", "max-attempts=1", code=4, full=True)
        first = doc["results"][0]
        assert 0 < first["errors"] < 160
        # Exit code 4 after a summary by reason, on stderr and in the JSON.
        assert f"{first['errors']} item{'' if first['errors'] == 1 else 's'} failed after retries" in err
        assert f"{first['errors']}  HTTP 500: HTTP 500 from" in err and "internal error" in err
        assert doc["failures"]["reasons"] == [{"reason": "HTTP 500", "items": first["errors"],
                                               "example": doc["failures"]["reasons"][0]["example"]}]
        assert first["error_reasons"] == doc["failures"]["reasons"]
        assert first["accuracy"] == 1.0  # failed items are not counted as wrong
        assert first["n"] == 160 and first["scored"] == 160 - first["errors"]
        assert first["failed_requests"] == first["errors"] and first["retries"] == 0
        db = sqlite3.connect(store)
        # Each failure is kept: its call with the error, and the item's result marked as an error.
        assert db.execute("SELECT COUNT(*) FROM calls WHERE ok = 0 AND error LIKE 'http: HTTP 500%'").fetchone()[0] \
            == first["errors"]
        assert db.execute("SELECT COUNT(*) FROM results WHERE error IS NOT NULL AND correct IS NULL").fetchone()[0] \
            == first["errors"]
        db.close()
        before = server.hits["chat"]
        second = _run(server, store, data40, "-M", "max-attempts=20", "-M", "backoff=0.002")
        assert second["errors"] == 0 and second["accuracy"] == 1.0
        # Only the failed items were asked again.
        assert server.hits["chat"] - before == second["requests_sent"] + second["retries"]
        assert second["requests_sent"] == first["errors"]
        assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM results WHERE error IS NOT NULL").fetchone()[0] == 0


def test_retry_after_is_honoured_and_4xx_is_not_retried(data40, tmp_path):
    """A 429 waits at least its Retry-After (even with a tiny backoff); a 400 is final at once."""
    answers = answers_for("gsm8k")
    policy = Policy(answers=answers, faults={"429": 0.3, "400": 0.05}, retry_after="0.4")
    with FakeOpenAI(policy) as server:
        res = _run(server, tmp_path / "s.db", data40, "--limit", "40", "-M", "backoff=0.001", "-M", "max-attempts=10",
                   code=4)
        log = list(server.attempt_log)
    by_key: dict[str, list[tuple[float, str | None]]] = {}
    for t, key, fault in log:
        by_key.setdefault(key, []).append((t, fault))
    gaps = [b[0] - a[0] for attempts in by_key.values() for a, b in zip(attempts, attempts[1:]) if a[1] == "429"]
    assert gaps and min(gaps) >= 0.4
    after_400 = [b for attempts in by_key.values() for a, b in zip(attempts, attempts[1:]) if a[1] == "400"]
    assert after_400 == []  # never asked again within the run
    final_400 = sum(1 for attempts in by_key.values() if attempts[-1][1] == "400")
    assert res["errors"] == final_400 > 0 and res["failed_requests"] == final_400
    assert res["error_reasons"][0]["reason"] == "HTTP 400" and "invalid request" in res["error_reasons"][0]["example"]


def test_backoff_policy_and_retry_after():
    policy = RetryPolicy(base=0.5, cap=4.0, max_wait=10.0)
    rng = random.Random(0)
    delays = [policy.delay(a, rng) for a in range(1, 9)]
    assert all(0 <= d <= min(4.0, 0.5 * 2 ** (a - 1)) for a, d in zip(range(1, 9), delays))
    assert policy.delay(1, rng, retry_after=3.0) >= 3.0
    assert policy.delay(1, rng, retry_after=60.0) == 10.0  # capped by the request's wait budget
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
