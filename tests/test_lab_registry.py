"""Lab tasks and models through the ordinary commands: `polaris tasks` lists them, `polaris run
-m lab/<id> -t lab/<task>` stores answers with the gold response's log-prob, rescore replays them
from the store; all of it without torch, while training without torch is a one-line error."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from polaris.errors import PolarisError
from polaris.lab.tasks import EXAMPLE_NAMES
from polaris.models.registry import make_backend
from polaris.tasks.registry import get_task, list_tasks

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLARIS_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS / "notorch"), str(SRC)])  # as after the core install
    return subprocess.run([sys.executable, "-m", "polaris", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_lab_tasks_are_registered():
    names = [n for n, _, _ in list_tasks()]
    assert [n for n in names if n.startswith("lab/")] == list(EXAMPLE_NAMES)
    task = get_task("lab/mul-3x1-rev")
    assert task.name == "lab/mul-3x1-rev" and task.formats == ("zeroshot-direct", "zeroshot-cot")
    with pytest.raises(PolarisError, match="unknown lab task 'lab/div-3'"):
        get_task("lab/div-3")


def test_lab_backend_is_registered():
    backend = make_backend("lab/add3-s1-seed0")
    assert backend.identity()["backend"] == "lab" and backend.engine == "numpy"
    with pytest.raises(PolarisError, match=r"unknown lab model 'lab/add3-s9-seed0'.*polaris lab models"):
        make_backend("lab/add3-s9-seed0")


def test_run_rescore_and_analyze_without_torch(tmp_path):
    args = ["-m", "lab/add3-s6-seed0", "-m", "lab/add3-s1-seed0", "-t", "lab/add-3", "-p", "zeroshot-direct",
            "-p", "zeroshot-cot", "--limit", "40", "--store", "s.db"]
    run = _cli("run", *args, "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    results = {(r["model"], r["prompt"]): r for r in json.loads(run.stdout)["results"]}
    assert results[("lab/add3-s6-seed0", "zeroshot-cot")]["accuracy"] >= 0.95
    assert results[("lab/add3-s1-seed0", "zeroshot-direct")]["accuracy"] <= 0.1
    assert all(r["requests_sent"] == 80 for r in results.values())  # an answer and a log-prob per item
    with sqlite3.connect(tmp_path / "s.db") as db:
        data = [json.loads(d) for (d,) in db.execute("SELECT data FROM results")]
        calls = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert len(data) == 160 and all(d["target_logprob"] < 0 and d["target_tokens"] > 0 for d in data)

    again = _cli("run", *args, "--json", cwd=tmp_path)  # cached
    assert again.returncode == 0, again.stderr
    assert all(r["requests_sent"] == 0 for r in json.loads(again.stdout)["results"])
    rescored = _cli("rescore", "--store", "s.db", "--json", cwd=tmp_path)
    assert rescored.returncode == 0, rescored.stderr
    assert {(r["model"], r["prompt"]): r["accuracy"] for r in json.loads(rescored.stdout)["results"]} == {
        k: r["accuracy"] for k, r in results.items()}
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == calls

    scaling = _cli("analyze", "scaling", "-t", "lab/add-3", "--store", "s.db", "--metric", "logprob", "--json",
                   cwd=tmp_path)
    assert scaling.returncode == 0, scaling.stderr
    curves = json.loads(scaling.stdout)["studies"][0]["curves"]
    assert {c["prompt"] for c in curves} == {"zeroshot-direct", "zeroshot-cot"}
    for c in curves:  # the larger model gives the gold response a higher log-prob
        assert c["points"][0]["y"] < c["points"][-1]["y"] < 0


def test_lab_eval_runs_without_torch(tmp_path):
    res = _cli("lab", "eval", "lab/add3-s6-seed0", "--limit", "50", "--json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["eval"]["lab/add-3"]["zeroshot-direct"]["exact"] >= 0.9


def test_training_without_torch_is_one_line_saying_how_to_install_it(tmp_path):
    res = _cli("lab", "train", "--sizes", "s1", "--out", "ladder", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.count("\n") == 1
    assert "pip install torch==2.13.0" in res.stderr and "polaris-lab[lab]" in res.stderr
    assert not (tmp_path / "ladder").exists()
