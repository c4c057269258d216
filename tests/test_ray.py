"""The Ray executor on a 2-CPU local Ray instance (one per module), against the fake server: the same
results as the local executor, caching and resume across executors, faults, crashes, secrets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SRC, answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

ray = pytest.importorskip("ray")

from polaris.models.registry import BackendOptions  # noqa: E402
from polaris.runner.cell import CellSpec  # noqa: E402
from polaris.runner.executors import RayOptions, make_executor  # noqa: E402
from polaris.runner.runner import prepare  # noqa: E402
from polaris.store.store import Store  # noqa: E402

pytestmark = pytest.mark.xdist_group("ray")  # one Ray instance for the module (pytest --dist loadgroup)
ITEMS = 120
KEY = "sk-ray-TOPSECRET-5d2a"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray instance with 2 CPUs; its workers import polaris from this checkout."""
    saved = dict(os.environ)  # ray.init also sets variables (RAY_AUTH_MODE, ...): restored after
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), saved.get("PYTHONPATH")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("ray")
    data = write_gsm8k(root / "data", ITEMS)
    mp = pytest.MonkeyPatch()
    mp.setenv("POLARIS_DATA_DIR", str(data))
    answers = answers_for("gsm8k")
    yield {"root": root, "data": data, "answers": answers}
    mp.undo()


def _execute(kind, specs, store, server, *, spy=None, on_progress=None, **ray_opts):
    """Run cells in-process with an executor; returns the summaries."""
    cells = [prepare(s) for s in specs]
    opts = BackendOptions(base_url=server.base_url, concurrency=8, max_attempts=10, backoff=0.01, timeout=2)
    executor = make_executor(kind, opts, concurrency=8, ray=RayOptions(**ray_opts) if kind == "ray" else None)
    if spy is not None:
        spy(executor)
    db = Store(store)

    async def go():
        async with executor:
            await executor.start([c.spec.model for c in cells])
            bar = (lambda description, total: on_progress) if on_progress else None
            return await executor.run(cells, db, bar=bar)

    try:
        return [r.summary for r in asyncio.run(go())]
    finally:
        db.close()


VOLATILE = ("requests_sent", "cached", "retries", "retry_rate", "seconds", "latency")


def _same(a, b):
    return [{k: v for k, v in s.items() if k not in VOLATILE} for s in a] == \
        [{k: v for k, v in s.items() if k not in VOLATILE} for s in b]


def _rows(store, sql="SELECT run, item, correct, strict, answer, error FROM results ORDER BY run, idx"):
    db = sqlite3.connect(store)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


SAMPLES = "SELECT hash, idx, text FROM samples ORDER BY hash, idx"


def test_ray_gives_the_local_results_with_shards_on_two_workers(cluster, world, tmp_path):
    specs = [CellSpec("openai/fake-model", "gsm8k", "fewshot-cot"),
             CellSpec("openai/fake-model", "gsm8k", "zeroshot-cot"),
             CellSpec("openai/fake-model", "gsm8k", "fewshot-cot", samples=3, temperature=0.7)]
    shards: dict[str, int] = {}

    def spy(executor):
        original = executor._solve_shard

        async def counting(actor, state, shard, writer):
            shards[repr(actor)] = shards.get(repr(actor), 0) + 1
            return await original(actor, state, shard, writer)

        executor._solve_shard = counting

    policy = Policy(answers=world["answers"], wrong_every=3, p_correct=0.6, latency=0.005)
    with FakeOpenAI(policy) as server:
        local = _execute("local", specs, tmp_path / "local.db", server)
        distributed = _execute("ray", specs, tmp_path / "ray.db", server, spy=spy, workers=2, shard_size=16)
        assert server.hits["chat"] == 2 * 3 * ITEMS  # each cell asked once per item by each executor
    assert _same(local, distributed)
    assert [s["requests_sent"] for s in distributed] == [ITEMS] * 3
    assert _rows(tmp_path / "local.db") == _rows(tmp_path / "ray.db")
    assert _rows(tmp_path / "local.db", SAMPLES) == _rows(tmp_path / "ray.db", SAMPLES)
    # Shards of 16 items from three cells, spread over both workers.
    assert len(shards) == 2 and sum(shards.values()) == 3 * ((ITEMS + 15) // 16)
    db = sqlite3.connect(tmp_path / "ray.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*), SUM(ok) FROM calls").fetchone() == (3 * ITEMS, 3 * ITEMS)


def test_cache_and_resume_work_across_executors(cluster, world, tmp_path):
    store = tmp_path / "s.db"
    greedy = CellSpec("openai/fake-model", "gsm8k")
    with FakeOpenAI(Policy(answers=world["answers"], wrong_every=3, p_correct=0.6)) as server:
        # The CLI runs the first 40 items locally; the whole cell on Ray then sends only the other 80.
        proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store),
                       "--limit", "40", "--json", env=cli_env(POLARIS_DATA_DIR=str(world["data"])))
        assert proc.returncode == 0, proc.stderr
        (ray_run,) = _execute("ray", [greedy], store, server, workers=2)
        assert ray_run["requests_sent"] == ITEMS - 40 and ray_run["cached"] == 40
        (again,) = _execute("local", [greedy], store, server)
        assert again["requests_sent"] == 0 and again["accuracy"] == ray_run["accuracy"]
        # Self-consistency: 3 samples per item drawn locally, then 5 on Ray draw only samples 3 and 4
        # (one call per item with n=2, seeded from index 3), exactly as a local run would.
        k3 = CellSpec("openai/fake-model", "gsm8k", samples=3, temperature=0.7)
        k5 = CellSpec("openai/fake-model", "gsm8k", samples=5, temperature=0.7)
        _execute("local", [k3], store, server)
        before = len(server.bodies)
        (five,) = _execute("ray", [k5], store, server, workers=2)
        extra = server.bodies[before:]
        assert len(extra) == ITEMS and all(b["n"] == 2 and b["seed"] == 3 for b in extra)
        assert five["requests_sent"] == ITEMS and five["cached"] == 3 * ITEMS
        _execute("local", [k3], tmp_path / "local.db", server)
        (local5,) = _execute("local", [k5], tmp_path / "local.db", server)
    assert _same([five], [local5])
    same_cell = f"SELECT item, correct, answer, data FROM results WHERE run = '{five['run_id']}' ORDER BY idx"
    assert _rows(store, same_cell) == _rows(tmp_path / "local.db", same_cell)
    assert set(_rows(tmp_path / "local.db", SAMPLES)) < set(_rows(store, SAMPLES))


def test_a_worker_that_dies_mid_run_loses_nothing(cluster, world, tmp_path):
    spec = CellSpec("openai/fake-model", "gsm8k")
    holder = {}
    killed = []

    def spy(executor):
        holder["executor"] = executor

    def on_progress(done, total, errors):
        if done >= 30 and not killed:
            killed.append(done)
            ray.kill(holder["executor"].actors[0], no_restart=False)

    with FakeOpenAI(Policy(answers=world["answers"], wrong_every=3, latency=0.02)) as server:
        (res,) = _execute("ray", [spec], tmp_path / "s.db", server, spy=spy, on_progress=on_progress,
                          workers=2, shard_size=30)
        (ref,) = _execute("local", [spec], tmp_path / "ref.db", server)
    assert killed and res["errors"] == 0 and res["n"] == ITEMS
    assert _same([res], [ref])
    assert _rows(tmp_path / "s.db") == _rows(tmp_path / "ref.db")


def _cli(cluster, server, store, *extra, env=None):
    return ["run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store), "--json",
            "--no-progress", "--executor", "ray", "-M", f"ray-address={cluster}", "--concurrency", "8", *extra]


def test_cli_with_faults_kill_and_resume(cluster, world, tmp_path):
    """`polaris run --executor ray --ray-address`: realistic faults give the clean scores; a driver
    killed with SIGKILL resumes (here with the local executor) to the same results."""
    env = cli_env(POLARIS_DATA_DIR=str(world["data"]))
    faults = {"500": 0.05, "429": 0.04, "malformed": 0.02, "truncated": 0.02, "reset": 0.02, "hang": 0.02}
    with FakeOpenAI(Policy(answers=world["answers"], wrong_every=3)) as clean:
        ref = polaris("run", "-m", "openai/fake-model", "--base-url", clean.base_url, "--store",
                      str(tmp_path / "clean.db"), "--json", env=env)
        ref_res = json.loads(ref.stdout)["results"][0]
    with FakeOpenAI(Policy(answers=world["answers"], wrong_every=3, faults=faults, hang_seconds=3)) as flaky:
        proc = polaris(*_cli(cluster, flaky, tmp_path / "flaky.db", "-M", "timeout=0.5", "-M", "max-attempts=12",
                             "-M", "backoff=0.02"), env=env)
        assert proc.returncode == 0, proc.stderr
        res = json.loads(proc.stdout)["results"][0]
        served = sum(flaky.faults_served.values())
    assert res["errors"] == 0 and res["accuracy"] == ref_res["accuracy"]
    assert res["retries"] == served > 0 and res["retry_rate"] > 0
    assert _rows(tmp_path / "flaky.db") == _rows(tmp_path / "clean.db")

    store = tmp_path / "killed.db"
    with FakeOpenAI(Policy(answers=world["answers"], wrong_every=3, latency=0.03)) as server:
        args = [sys.executable, "-m", "polaris", *_cli(cluster, server, store)]
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while proc.poll() is None and _stored(store) < ITEMS // 2:
            time.sleep(0.01)
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert killed
        resumed = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store),
                          "--json", env=env)
        assert resumed.returncode == 0, resumed.stderr
        sent = server.hits["chat"]
    assert _rows(store) == _rows(tmp_path / "clean.db")
    # Repeated: at most the calls in flight on the two workers (8 each) when the driver died.
    assert ITEMS <= sent <= ITEMS + 2 * 8
    db = sqlite3.connect(store)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == ITEMS


def _stored(store: Path) -> int:
    try:
        return sqlite3.connect(store).execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_cli_errors_and_secrets(cluster, world, tmp_path):
    """A 401 from the workers is the usual one-line error (store unchanged); the key reaches neither
    the store, the output nor Ray's own logs, even when the server quotes it back."""
    env = cli_env(POLARIS_DATA_DIR=str(world["data"]), OPENAI_API_KEY=KEY)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    store = run_dir / "s.db"
    outputs = []
    policy = Policy(answers=world["answers"], api_key=KEY, echo_key=True, faults={"500": 0.3, "400": 0.1})
    with FakeOpenAI(policy) as server:
        ok = polaris(*_cli(cluster, server, store, "-M", "max-attempts=1"), env=env)
        assert ok.returncode in (2, 4), ok.stderr  # items in error (4), or the first requests refused (2)
        assert ok.returncode == 2 or json.loads(ok.stdout)["results"][0]["errors"] > 0
        outputs += [ok.stdout, ok.stderr]
        before = store.read_bytes()
        wrong = polaris(*_cli(cluster, server, store, "--prompt", "zeroshot-cot"),
                        env=cli_env(POLARIS_DATA_DIR=str(world["data"]), OPENAI_API_KEY=KEY + "x"))
        outputs += [wrong.stdout, wrong.stderr]
        assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "HTTP 401" in wrong.stderr, wrong.stderr
        assert store.read_bytes() == before
    for out in outputs:
        assert "TOPSECRET" not in out
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    files += [p for p in session.rglob("*") if p.is_file() and not p.is_symlink() and p.stat().st_size < 50e6]
    db = sqlite3.connect(store)
    assert KEY not in "\n".join(db.iterdump())
    db.close()
    leaked = [str(p) for p in files if b"TOPSECRET" in p.read_bytes()]
    assert leaked == []


GRID = """\
name: ray-grid
models: [openai/fake-model]
tasks: [gsm8k]
prompts: [fewshot-cot, zeroshot-cot]
limit: 60
strategies:
  greedy: {}
  sc3: {samples: 3, temperature: 0.7}
  comp: {api: completions}
contrasts:
  - sc3 vs greedy
"""


def _grid(path, store, server, *extra, cluster=None):
    ray_args = ("--executor", "ray", "-M", f"ray-address={cluster}", "--concurrency", "8") if cluster else ()
    return ("experiment", "run", str(path), "--store", str(store), "--base-url", server.base_url, "--json",
            "--no-progress", *ray_args, *extra)


def _cells(doc):
    return [(c["run_id"], c["state"], c["summary"]["accuracy"] if c["summary"] else None) for c in doc["cells"]]


def test_experiment_grid_on_ray_with_cache_resume_and_budget_caps(cluster, world, tmp_path):
    """`polaris experiment run --executor ray`: the local executor's results; a rerun sends nothing; the
    budget caps hold across the workers (exit 3, then the same command resumes) and each cell's API is its own."""
    env = cli_env(POLARIS_DATA_DIR=str(world["data"]))
    path = tmp_path / "grid.yaml"
    path.write_text(GRID)
    per_grid = 6 * 60  # six cells (two prompts x three strategies), one request per item each
    with FakeOpenAI(Policy(answers=world["answers"], wrong_every=3, p_correct=0.6)) as server:
        local = polaris(*_grid(path, tmp_path / "local.db", server), env=env, check=True)
        distributed = polaris(*_grid(path, tmp_path / "ray.db", server, cluster=cluster), env=env, check=True)
        assert server.hits["chat"] + server.hits["completions"] == 2 * per_grid
        assert _cells(json.loads(distributed.stdout)) == _cells(json.loads(local.stdout))
        assert _rows(tmp_path / "ray.db") == _rows(tmp_path / "local.db")
        again = json.loads(polaris(*_grid(path, tmp_path / "ray.db", server, cluster=cluster), env=env,
                                   check=True).stdout)
        assert server.hits["chat"] + server.hits["completions"] == 2 * per_grid  # all cached
        assert again["budget"]["requests_sent"] == 0
        manifests = [json.loads(m) for (m,) in sqlite3.connect(tmp_path / "ray.db").execute("SELECT manifest FROM runs")]
        assert sorted(m["backend"]["api"] for m in manifests) == ["chat"] * 4 + ["completions"] * 2
        assert {inv["executor"] for m in manifests for inv in m["invocations"]} == {"ray"}

        # Budget caps on a fresh store: exact across the two workers, resumable.
        before = server.hits["chat"] + server.hits["completions"]
        store = tmp_path / "capped.db"
        stopped = polaris(*_grid(path, store, server, "--max-requests", "45", cluster=cluster), env=env)
        assert stopped.returncode == 3, stopped.stderr
        doc = json.loads(stopped.stdout)
        assert doc["budget"]["requests_sent"] == 45
        assert server.hits["chat"] + server.hits["completions"] - before == 45
        assert doc["stopped"]["items_left"] == per_grid - 45
        status = json.loads(polaris("experiment", "status", str(path), "--store", str(store), "--json", env=env,
                                    check=True).stdout)
        assert sum(c["scored"] for c in status["cells"]) == 45 and "partial" in {c["state"] for c in status["cells"]}
        tokens = polaris(*_grid(path, store, server, "--max-tokens", "20000", cluster=cluster), env=env)
        assert tokens.returncode == 3, tokens.stderr
        assert 0 < json.loads(tokens.stdout)["budget"]["tokens_spent"] <= 20000
        done = polaris(*_grid(path, store, server, cluster=cluster), env=env, check=True)
        assert server.hits["chat"] + server.hits["completions"] - before == per_grid  # nothing asked twice
    assert _cells(json.loads(done.stdout)) == _cells(json.loads(local.stdout))
