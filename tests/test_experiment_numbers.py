"""Experiment grids say what they did: each cell's API in its manifest and cache key, a killed cell shown
as partial; sampled runs split their interval into items and sampling; a dry run states the smallest
difference each contrast can detect."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import answers_for, cli_env, kill_at, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

from polaris.store.store import Store

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


# -- variance you can act on ------------------------------------------------------------------------------


def test_k_sample_interval_splits_into_items_and_sampling():
    """Items with known success rates p_i, K samples each: the split recovers Var(p)/n for the items and
    E[p(1-p)]/(K n) for the sampling, and the two add up to the maj@1 interval the summary reports."""
    import random

    from polaris.analysis.variance import decompose
    from polaris.runner.summary import summarize
    from polaris.store.store import ResultRow

    rng = random.Random(5)
    n, K = 2000, 8
    ps = [rng.random() for _ in range(n)]
    samples = [[float(rng.random() < p) for _ in range(K)] for p in ps]
    v = decompose(samples)
    items_true = (1 / 12) / n  # Var(U(0, 1)) / n
    sampling_true = (1 / 6) / (K * n)  # E[p(1-p)] = 1/6
    assert v["se_items"] ** 2 == pytest.approx(items_true, rel=0.1)
    assert v["se_sampling"] ** 2 == pytest.approx(sampling_true, rel=0.05)
    assert v["se"] ** 2 == pytest.approx(v["se_items"] ** 2 + v["se_sampling"] ** 2)
    assert v["se_at_k1"] ** 2 == pytest.approx(items_true + K * sampling_true, rel=0.1)
    assert v["sampling_share"] == pytest.approx(sampling_true / (items_true + sampling_true), abs=0.05)
    rows = [ResultRow(f"i{i}", i, "", 0.0, 0.0, True, None, "x", "y",
                      {"samples": [{"vote": 0 if c else 1, "correct": c} for c in s]}) for i, s in enumerate(samples)]
    summary = summarize(rows)
    low, high = summary["maj_at_ci"]["1"]
    assert summary["variance"]["se"] == pytest.approx(v["se"])
    assert (high - low) / 2 == pytest.approx(1.96 * v["se"], rel=0.01)  # the split is of the interval shown


def test_sampled_run_reports_the_split(tmp_path, tiny_data):
    env = cli_env(POLARIS_DATA_DIR=str(tiny_data))
    args = ["run", "-m", "baseline/random", "--samples", "6", "--temperature", "0.7", "--store", str(tmp_path / "s.db")]
    res = json.loads(polaris(*args, "--json", env=env, check=True).stdout)["results"][0]
    v = res["variance"]
    assert v["samples_per_item"] == 6 and v["items"] == 6 and 0 <= v["sampling_share"] <= 1
    table = polaris(*args, env=env, check=True).stdout
    assert "Where the interval comes from" in table and "sampling share" in table
    greedy = json.loads(polaris("run", "-m", "baseline/random", "--store", str(tmp_path / "s.db"), "--json",
                                env=env, check=True).stdout)["results"][0]
    assert "variance" not in greedy  # one sample per item: nothing to split


GRID = """\
models: [openai/fake-model]
tasks: [gsm8k]
prompts: [fewshot-cot, zeroshot-cot]
contrasts:
  - prompt: [fewshot-cot, zeroshot-cot]
"""


def test_dry_run_states_each_contrasts_minimum_detectable_difference(tmp_path, monkeypatch):
    from polaris.analysis.stats import paired_contrast

    data = write_gsm8k(tmp_path / "data", 200)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    path = _write(tmp_path, GRID)
    base = ["experiment", "run", str(path), "--store", str(store), "--json", "--no-progress"]
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), wrong_every=3)) as server:
        dry = json.loads(polaris(*base, "--dry-run", "--base-url", server.base_url, env=env, check=True).stdout)
        (row,) = dry["contrasts"]
        # No data yet: the bound for any scores in [0, 1], (z.975 + z.8)·sqrt(0.5/n).
        assert row["n"] == 200 and row["prior"] is None
        assert row["mde_bound"] == pytest.approx((1.959964 + 0.841621) * (0.5 / 200) ** 0.5, rel=1e-5)
        # A pilot on 40 items, then the dry run of the full grid uses its observed paired SE.
        polaris(*base, "--limit", "40", "--base-url", server.base_url, env=env, check=True)
        dry = json.loads(polaris(*base, "--dry-run", "--base-url", server.base_url, env=env, check=True).stdout)
        table = polaris(*base[:-2], "--no-progress", "--dry-run", "--base-url", server.base_url, env=env, check=True)
    (row,) = dry["contrasts"]
    prior = row["prior"]
    assert prior["prior_items"] == 40 and prior["corr"] is not None
    db = Store(store, readonly=True)
    runs = {r.spec["prompt"]: {x.item: x.correct for x in db.results(r.id)} for r in db.runs()}
    db.close()
    ids = sorted(runs["fewshot-cot"])
    c = paired_contrast([runs["fewshot-cot"][i] for i in ids], [runs["zeroshot-cot"][i] for i in ids])
    assert prior["mde"] == pytest.approx(c.mde * (40 / 200) ** 0.5, rel=1e-6)
    assert prior["mde"] < row["mde_bound"]  # the same answers on most items: a far smaller detectable difference
    assert "minimum detectable difference" in table.stdout
