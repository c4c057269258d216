"""Experiment grids say what they did: each cell's API in its manifest and cache key, a killed cell shown
as partial, and a dry run that states the smallest difference each contrast can detect."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import answers_for, cli_env, kill_at, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

APIS = """\
name: apis
models: [openai/fake-model]
tasks: [gsm8k]
strategies:
  chat: {}
  comp: {api: completions}
"""


def _write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_completions_cell_is_recorded_and_cached_as_completions(tmp_path, tiny_data):
    store = tmp_path / "s.db"
    env = cli_env(POLARIS_DATA_DIR=str(tiny_data))
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        proc = polaris("experiment", "run", str(_write(tmp_path, APIS)), "--store", str(store), "--base-url",
                       server.base_url, "--json", "--no-progress", env=env)
        assert proc.returncode == 0, proc.stderr
        assert server.hits["chat"] == 6 and server.hits["completions"] == 6
        manifests = [json.loads(m) for (m,) in sqlite3.connect(store).execute("SELECT manifest FROM runs")]
        by_api = {m["api"]: m for m in manifests}
        assert set(by_api) == {"chat", "completions"}
        assert by_api["completions"]["backend"]["api"] == "completions" and by_api["chat"]["backend"]["api"] == "chat"
        # The same cell from `polaris run --api completions` is the experiment's cell: nothing is asked again.
        again = polaris("run", "-m", "openai/fake-model", "--api", "completions", "--base-url", server.base_url,
                        "--store", str(store), "--json", env=env)
        assert again.returncode == 0, again.stderr
        (res,) = json.loads(again.stdout)["results"]
        assert res["requests_sent"] == 0 and res["cached"] == 6
        assert server.hits["completions"] == 6


def test_status_shows_a_killed_cell_as_partial(tmp_path, monkeypatch):
    """Killed mid-cell: its answered calls are stored but no item result yet. Not "missing 0/40"."""
    data = write_gsm8k(tmp_path / "data", 40)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    path = _write(tmp_path, "models: [openai/fake-model]\ntasks: [gsm8k]\nconcurrency: 2\n")
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), latency=0.05)) as server:
        args = [sys.executable, "-m", "polaris", "experiment", "run", str(path), "--store", str(store), "--base-url",
                server.base_url, "--no-progress"]
        assert kill_at(args, env, store, [10]) == 1
    status = json.loads(polaris("experiment", "status", str(path), "--store", str(store), "--json", env=env).stdout)
    (cell,) = status["cells"]
    assert cell["state"] == "partial" and cell["scored"] == 0 and 10 <= cell["answered"] < 40
    table = polaris("experiment", "status", str(path), "--store", str(store), env=env).stdout
    assert "partial" in table and "answered)" in table
