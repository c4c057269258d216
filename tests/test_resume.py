"""A run killed with SIGKILL at random moments resumes to exactly the uninterrupted result, and
several `polaris` processes may share one store at once without corrupting it."""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
import sys

from conftest import answers_for, cli_env, kill_at, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy


def _results(store):
    db = sqlite3.connect(store)
    return db.execute("SELECT item, correct, strict, answer FROM results ORDER BY idx").fetchall()


def test_sigkill_and_resume_loses_nothing(tmp_path, monkeypatch):
    data = write_gsm8k(tmp_path / "data", 240)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data))
    answers = answers_for("gsm8k")
    concurrency = 8
    store = tmp_path / "killed.db"
    args = [sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--task", "gsm8k",
            "--store", str(store), "--concurrency", str(concurrency), "--json", "--no-progress"]
    rng = random.Random(7)
    with FakeOpenAI(Policy(answers=answers, wrong_every=3, latency=0.02)) as server:
        # Kill when a random number of samples has been stored: a random moment that is surely mid-run.
        kills = kill_at(args + ["--base-url", server.base_url], env, store, sorted(rng.sample(range(10, 230), 4)))
        assert kills >= 3
        final = polaris("run", "-m", "openai/fake-model", "--task", "gsm8k", "--store", str(store), "--json",
                        "--base-url", server.base_url, "--concurrency", str(concurrency), env=env)
        assert final.returncode == 0, final.stderr
        res = json.loads(final.stdout)["results"][0]
        sent_total = server.hits["chat"]
        clean = tmp_path / "clean.db"
        ref = polaris("run", "-m", "openai/fake-model", "--task", "gsm8k", "--store", str(clean), "--json",
                      "--base-url", server.base_url, env=env)
        ref_res = json.loads(ref.stdout)["results"][0]
    assert res["n"] == 240 and res["errors"] == 0
    assert res["accuracy"] == ref_res["accuracy"]
    assert _results(store) == _results(clean)
    # Only calls in flight at each kill may be repeated.
    assert 240 <= sent_total <= 240 + kills * concurrency
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 240


def test_sampled_run_killed_resumes_without_redrawing_samples(tmp_path, monkeypatch):
    """Self-consistency (K=5, one call with n=5 per item): kills lose at most the calls in flight."""
    items, k, concurrency = 120, 5, 8
    data = write_gsm8k(tmp_path / "data", items)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "killed.db"
    sampling = ["--samples", str(k), "--temperature", "0.7", "--concurrency", str(concurrency), "--json",
                "--no-progress"]
    rng = random.Random(11)
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), p_correct=0.6, latency=0.02)) as server:
        args = [sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--store", str(store),
                "--base-url", server.base_url, *sampling]
        # Random moments mid-run, and one once every sample is stored (while results are judged).
        targets = sorted(rng.sample(range(20, items * k - 20), 4)) + [items * k]
        kills = kill_at(args, env, store, targets)
        final = polaris(*args[3:], env=env)
        assert final.returncode == 0, final.stderr
        res = json.loads(final.stdout)["results"][0]
        calls = list(server.bodies)
        ref = polaris(*args[3:6], "--store", str(tmp_path / "clean.db"), "--base-url", server.base_url, *sampling,
                      env=env)
        ref_res = json.loads(ref.stdout)["results"][0]
    assert kills >= 3
    assert res["n"] == items and res["errors"] == 0
    volatile = ("requests_sent", "cached", "retries", "retry_rate", "latency")
    assert {k: v for k, v in res.items() if k not in volatile} == {k: v for k, v in ref_res.items() if k not in volatile}
    assert _results(store) == _results(tmp_path / "clean.db")
    # Every call asked for all K samples of one item at once, and calls were repeated only for items
    # in flight when a kill struck: at most `concurrency` per kill.
    assert all(c.get("n") == k and c.get("seed") == 0 for c in calls)
    assert items <= len(calls) <= items + kills * concurrency
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == items * k
    # The samples themselves are the uninterrupted run's, index by index.
    sample_rows = "SELECT hash, idx, text FROM samples ORDER BY hash, idx"
    assert db.execute(sample_rows).fetchall() == sqlite3.connect(tmp_path / "clean.db").execute(sample_rows).fetchall()


def _together(*commands: list[str], env) -> list[subprocess.CompletedProcess[str]]:
    procs = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in commands]
    outs = [p.communicate(timeout=300) for p in procs]
    return [subprocess.CompletedProcess(c, p.returncode, o, e) for c, p, (o, e) in zip(commands, procs, outs)]


def test_two_processes_on_one_store_never_corrupt_it(tmp_path, monkeypatch):
    items = 80
    data = write_gsm8k(tmp_path / "data", items)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data))
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), wrong_every=3, latency=0.01)) as server:
        def cmd(store, prompt):
            return [sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--base-url", server.base_url,
                    "--store", str(store), "--prompt", prompt, "--concurrency", "8", "--json", "--no-progress"]

        expected = {}
        for prompt in ("fewshot-cot", "zeroshot-cot"):
            ref = polaris(*cmd(tmp_path / f"ref-{prompt}.db", prompt)[3:], env=env)
            expected[prompt] = json.loads(ref.stdout)["results"][0]["accuracy"]
        for round_ in range(2):  # each round on a new store: both processes also race to create it
            # Different cells at once.
            mixed = tmp_path / f"mixed{round_}.db"
            a, b = _together(cmd(mixed, "fewshot-cot"), cmd(mixed, "zeroshot-cot"), env=env)
            assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
            assert json.loads(a.stdout)["results"][0]["accuracy"] == expected["fewshot-cot"]
            assert json.loads(b.stdout)["results"][0]["accuracy"] == expected["zeroshot-cot"]
            db = sqlite3.connect(mixed)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2 * items
            assert db.execute("SELECT run, COUNT(*) FROM results GROUP BY run").fetchall() == [(r, items) for r in
                   sorted(r for (r,) in db.execute("SELECT id FROM runs"))]
            db.close()
            # The same cell twice at once: both may ask, but every sample is stored once.
            same = tmp_path / f"same{round_}.db"
            a, b = _together(cmd(same, "fewshot-cot"), cmd(same, "fewshot-cot"), env=env)
            assert a.returncode == 0 and b.returncode == 0, (a.stderr, b.stderr)
            for proc in (a, b):
                assert json.loads(proc.stdout)["results"][0]["accuracy"] == expected["fewshot-cot"]
            db = sqlite3.connect(same)
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert db.execute("SELECT COUNT(*), COUNT(DISTINCT hash) FROM samples").fetchone() == (items, items)
            assert db.execute("SELECT COUNT(*) FROM results").fetchone()[0] == items
            assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1
            db.close()
            again = polaris(*cmd(same, "fewshot-cot")[3:], env=env)
            assert json.loads(again.stdout)["results"][0]["requests_sent"] == 0
    assert _results(tmp_path / "same1.db") == _results(tmp_path / "ref-fewshot-cot.db")
