"""Ctrl-C in every command: one line "interrupted: N results kept; run the same command to continue",
exit code 130, promptly (the CLI's shared handler, cli/interrupt.py), and nothing stored is lost."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import answers_for, cli_env, polaris, stored_samples, write_gsm8k
from fakeserver import FakeOpenAI, Policy

LINE = "interrupted: {} results kept; run the same command to continue"


def _interrupt(args: list[str], env: dict[str, str], ready, settle: float = 0.0) -> tuple[int, str, float]:
    """Start `polaris ARGS`, wait for `ready()`, press Ctrl-C; (exit code, stderr, seconds to exit)."""
    proc = subprocess.Popen([sys.executable, "-m", "polaris", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(settle)
    assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err, time.monotonic() - t0


def _last_line(err: str) -> str:
    return [line for line in err.splitlines() if line.strip()][-1]


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["progress", "json"])
def test_run_interrupted_keeps_what_it_stored_and_resumes(tmp_path, extra):
    data = write_gsm8k(tmp_path / "data", 200)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k", data), latency=0.2)) as server:
        args = ["run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store),
                "--concurrency", "8", *extra]
        code, err, seconds = _interrupt(args, env, lambda: stored_samples(store) >= 16)
        assert code == 130 and seconds < 5, err
        kept = stored_samples(store)
        assert _last_line(err) == LINE.format(kept) and "Traceback" not in err
        assert sqlite3.connect(store).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        again = polaris(*args, "--json", env=env)
    assert again.returncode == 0, again.stderr
    res = json.loads(again.stdout)["results"][0]
    assert res["requests_sent"] == 200 - kept and res["cached"] == kept and res["accuracy"] == 1.0


def test_experiment_run_interrupted(tmp_path):
    data = write_gsm8k(tmp_path / "data", 100)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k", data), latency=0.2)) as server:
        exp = tmp_path / "exp.yaml"
        exp.write_text(f"name: t\nmodels: [openai/fake-model]\ntasks: [gsm8k]\nprompts: [fewshot-cot, zeroshot-cot]\n"
                       f"base_url: {server.base_url}\nconcurrency: 8\n")
        code, err, seconds = _interrupt(["experiment", "run", str(exp), "--store", str(store)], env,
                                        lambda: stored_samples(store) >= 16)
    assert code == 130 and seconds < 5, err
    assert _last_line(err) == LINE.format(stored_samples(store))


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    """12,000 items answered by baseline/gold: rescoring and reporting take a few seconds."""
    root = tmp_path_factory.mktemp("big")
    data = write_gsm8k(root / "data", 12000)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = root / "s.db"
    polaris("run", "-m", "baseline/gold", "--store", str(store), "--json", env=env, check=True)
    return store, env


def test_rescore_interrupted_within_a_second(big_store, tmp_path):
    store, env = big_store
    code, err, seconds = _interrupt(["rescore", "--store", str(store), "--json"], env, lambda: True, settle=1.2)
    assert code == 130 and seconds < 5, err
    assert _last_line(err).startswith("interrupted: ") and _last_line(err).endswith(
        " results kept; run the same command to continue")
    assert sqlite3.connect(store).execute("PRAGMA quick_check").fetchone()[0] == "ok"


def test_report_interrupted(big_store, tmp_path):
    store, env = big_store
    code, err, seconds = _interrupt(["report", "--store", str(store), "--out", str(tmp_path / "r")], env,
                                    lambda: True, settle=1.0)
    assert code == 130 and seconds < 5, err
    assert _last_line(err) == LINE.format(0)
