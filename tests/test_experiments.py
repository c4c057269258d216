"""Experiment grids: YAML validation, running a grid with contrasts, dry-run estimates, budget
stop-and-resume, status, and the ready-made studies against the fake server."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, answers_for, cli_env, polaris

from polaris.errors import PolarisError
from polaris.experiments.spec import load_experiment

GRID = """\
name: tiny
models: [openai/fake-model]
tasks: [gsm8k]
prompts: [fewshot-cot, zeroshot-cot]
strategies:
  greedy: {}
  sc3: {samples: 3, temperature: 0.7}
contrasts:
  - prompt: [fewshot-cot, zeroshot-cot]
  - sc3 vs greedy
"""


def _write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- validation -------------------------------------------------------------------------------------

BAD = [
    ("models: [openai/x]\ntasks: gsm8k: x\n", ":2: invalid YAML: mapping values are not allowed here"),
    ("- models\n- tasks\n", "an experiment file is a mapping"),
    ("tasks: [gsm8k]\n", "models: Field required"),
    ("models: openai/x\ntasks: [gsm8k]\n", ":1: models: Input should be a valid list"),
    ("models: [gpt4]\ntasks: [gsm8k]\n", ":1: models.0: 'gpt4' must be written <provider>/<model>"),
    ("models: [openai/x]\ntasks: [gsm8k, nosuch]\n", ":2: tasks.1: unknown task 'nosuch'"),
    ("models: [openai/x]\ntasks: [gsm8k]\nprompts: [fewshot-cot, cot]\n", ":3: prompts.1: unknown prompt format 'cot'"),
    ("models: [openai/x]\ntasks: [gsm8k]\ncolour: blue\n", ":3: colour: unknown field"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a:\n    samples: 0\n",
     ":5: strategies.a.samples: Input should be greater than or equal to 1 (got 0)"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a:\n    samples: forty\n",
     ":5: strategies.a.samples: Input should be a valid integer"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a: {samples: 5}\n",
     ":4: strategies.a: samples > 1 needs temperature > 0"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a: {samples: 5, temperature: 0.7, vote: best}\n",
     ":4: strategies.a.vote: must be 'majority' or 'complex-top-N'"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a: {temprature: 0.7}\n",
     ":4: strategies.a.temprature: unknown field"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a: {think_tags: ['<t>']}\n",
     ":4: strategies.a.think_tags: each entry must be 'OPEN,CLOSE'"),
    ("models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a: {exemplars: complex, exemplar_seeds: 3}\n",
     ":4: strategies.a: --exemplar-seeds draws exemplars at random"),
    ("models: [openai/x]\ntasks: [gsm8k]\nlimit: -5\n", ":3: limit: Input should be greater than or equal to 1"),
    ("models: [openai/x]\ntasks: [gsm8k]\nseeds: [one]\n", ":3: seeds.0: Input should be a valid integer"),
    ("models: [openai/x]\ntasks: [gsm8k]\ncontrasts:\n  - sc40 vs greedy\n",
     ":4: contrasts.0: 'sc40' and 'greedy' must both be values of one axis"),
    ("models: [openai/x]\ntasks: [gsm8k]\ncontrasts:\n  - {a: {strategy: greedy}, b: {strategy: sc}}\n",
     ":4: contrasts.0.b.strategy: 'sc' is not one of the file's strategys"),
    ("models: [openai/x]\ntasks: [gsm8k]\ncontrasts:\n  - {a: {prompt: fewshot-cot}, b: {strategy: greedy}}\n",
     ":4: contrasts.0: 'a' and 'b' must set the same axes"),
    ("models: [openai/x]\ntasks: [gsm8k]\ncontrasts:\n  - {colour: [a, b]}\n", ":4: contrasts.0.colour: unknown field"),
]


@pytest.mark.parametrize("text, needle", BAD, ids=[n.split(": ", 1)[-1][:40] for _, n in BAD])
def test_bad_experiment_files_are_one_located_line(tmp_path, text, needle):
    path = _write(tmp_path, text)
    with pytest.raises(PolarisError) as info:
        load_experiment(path)
    message = str(info.value)
    assert message.startswith(str(path)) and needle in message, message
    assert "\n" not in message


def test_bad_file_on_the_command_line_exits_2_and_creates_no_store(tmp_path):
    path = _write(tmp_path, "models: [openai/x]\ntasks: [gsm8k]\nstrategies:\n  a: {samples: -1}\n")
    store = tmp_path / "s.db"
    for cmd in (["run"], ["run", "--dry-run"], ["status"]):
        proc = polaris("experiment", *cmd, str(path), "--store", str(store))
        assert proc.returncode == 2 and proc.stdout == ""
        assert len(proc.stderr.strip().splitlines()) == 1 and "strategies.a.samples" in proc.stderr
    missing = polaris("experiment", "run", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such experiment file" in missing.stderr
    assert not store.exists()


def test_grid_expands_models_tasks_prompts_strategies_and_seeds(tmp_path, tiny_data):
    path = _write(tmp_path, GRID.replace("strategies:", "seeds: [1, 2]\nstrategies:").replace(
        "tasks: [gsm8k]", "tasks: [gsm8k]\nlimit: 4"))
    exp = load_experiment(path, models=["openai/a", "openai/b"])
    assert len(exp.cells) == 2 * 1 * 2 * 2 * 2 and exp.limit == 4
    assert {(c.spec.seed, c.spec.exemplar_seed) for c in exp.cells} == {(1, 1), (2, 2)}
    pairs = exp.pairs(exp.contrasts[1])  # sc3 vs greedy: one pair per model x prompt x seed
    assert len(pairs) == 8 and all(a.strategy == "sc3" and b.strategy == "greedy" for a, b in pairs)
    assert all((a.model, a.prompt, a.seed) == (b.model, b.prompt, b.seed) for a, b in pairs)


# -- running ----------------------------------------------------------------------------------------


@pytest.fixture
def server(tiny_data):
    from fakeserver import FakeOpenAI, Policy

    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), p_correct=0.5, wrong_every=3)) as s:
        yield s


def _exp(path, store, server, *extra, env=None):
    return polaris("experiment", "run", str(path), "--store", str(store), "--base-url", server.base_url, "--json",
                   "--no-progress", *extra, env=env)


def test_grid_runs_and_reports_paired_contrasts_with_holm(tmp_path, server):
    from polaris.analysis.stats import holm

    path = _write(tmp_path, GRID)
    proc = _exp(path, tmp_path / "s.db", server)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert server.hits["chat"] == 4 * 6  # four cells, one request per item each (n=3 for sc3)
    assert [c["state"] for c in doc["cells"]] == ["done"] * 4 and doc["stopped"] is None
    cells = {(c["prompt"], c["strategy"]): c for c in doc["cells"]}
    sc = cells[("fewshot-cot", "sc3")]["summary"]
    assert sc["samples_per_item"] == 3 and sc["accuracy"] == pytest.approx(sc["maj_at"]["3"])
    rows = doc["contrasts"]
    assert [(r["name"], r["where"]) for r in rows] == [
        ("fewshot-cot vs zeroshot-cot", "greedy"), ("fewshot-cot vs zeroshot-cot", "sc3"),
        ("sc3 vs greedy", "fewshot-cot"), ("sc3 vs greedy", "zeroshot-cot")]
    for r in rows:
        a = next(c for c in doc["cells"] if c["run_id"] == r["a_run"])["summary"]["accuracy"]
        b = next(c for c in doc["cells"] if c["run_id"] == r["b_run"])["summary"]["accuracy"]
        assert r["n"] == 6 and r["delta"] == pytest.approx(a - b)
    assert [r["p_holm"] for r in rows] == pytest.approx(holm([r["p_value"] for r in rows]))
    table = polaris("experiment", "run", str(path), "--store", str(tmp_path / "s.db"), "--base-url",
                    server.base_url, "--no-progress")
    assert table.returncode == 0 and "Contrasts" in table.stdout and "sc3 vs greedy" in table.stdout
    assert server.hits["chat"] == 24  # the second run is served from the cache


def test_dry_run_estimates_requests_and_tokens_then_uses_the_cache(tmp_path, server, tiny_data):
    from polaris.runner.budget import estimate_tokens, prompt_chars
    from polaris.runner.runner import prepare

    path = _write(tmp_path, GRID)
    store = tmp_path / "s.db"
    before = json.loads(_exp(path, store, server, "--dry-run").stdout)
    assert server.hits["chat"] == 0 and not store.exists()
    exp = load_experiment(path)
    for est, cell in zip(before["cells"], exp.cells):
        prompts = prepare(cell.spec).prompts
        assert est["requests"] == 6 and est["samples"] == 6 * cell.spec.samples
        assert est["prompt_tokens"] == sum(estimate_tokens(prompt_chars(p)) for p in prompts)
        assert est["completion_tokens"] == 6 * cell.spec.samples * 1024 and est["completion_source"] == "max_tokens (bound)"
    assert before["total"]["requests"] == 24
    assert _exp(path, store, server).returncode == 0
    after = json.loads(_exp(path, store, server, "--dry-run").stdout)
    assert after["total"]["requests"] == 0 and after["total"]["tokens"] == 0
    bigger = _write(tmp_path, GRID.replace("sc3: {samples: 3", "sc3: {samples: 5"), "bigger.yaml")
    more = json.loads(_exp(bigger, store, server, "--dry-run").stdout)
    sc5 = [c for c in more["cells"] if c["strategy"] == "sc3"]
    assert [c["samples"] for c in sc5] == [12, 12] and [c["requests"] for c in sc5] == [6, 6]
    assert sc5[0]["completion_source"].startswith("mean of") and sc5[0]["completion_tokens"] == 12 * 8


def test_budget_stops_before_the_cap_and_resumes(tmp_path, server):
    path = _write(tmp_path, GRID)
    store = tmp_path / "s.db"
    stopped = _exp(path, store, server, "--max-requests", "5")
    assert stopped.returncode == 3, stopped.stderr
    assert "stopped: --max-requests 5 reached" in stopped.stderr and "run the same command again" in stopped.stderr
    doc = json.loads(stopped.stdout)
    assert server.hits["chat"] == 5 and doc["budget"]["requests_sent"] == 5
    assert doc["stopped"]["items_left"] == 24 - 5 and doc["stopped"]["cells_incomplete"] == 4
    status = json.loads(polaris("experiment", "status", str(path), "--store", str(store), "--json").stdout)
    assert [c["state"] for c in status["cells"]] == ["partial", "missing", "missing", "missing"]
    assert status["cells"][0]["scored"] == 5 and status["tokens_spent"] > 0
    # Tokens: never above the cap, whatever the concurrency.
    capped = _exp(path, store, server, "--max-tokens", "3000", "--concurrency", "8")
    assert capped.returncode == 3
    spent = json.loads(capped.stdout)["budget"]["tokens_spent"]
    assert 0 < spent <= 3000
    done = _exp(path, store, server)
    assert done.returncode == 0, done.stderr
    assert server.hits["chat"] == 24  # nothing was asked twice
    clean = _exp(path, tmp_path / "clean.db", server)
    strip = lambda d: [(c["run_id"], c["summary"]["accuracy"]) for c in json.loads(d.stdout)["cells"]]  # noqa: E731
    assert strip(done) == strip(clean)


def test_status_shows_running_failed_and_tokens(tmp_path, tiny_data):
    from fakeserver import FakeOpenAI, Policy

    from polaris.experiments.run import LEASE
    from polaris.store.store import Store

    path = _write(tmp_path, GRID.replace("prompts: [fewshot-cot, zeroshot-cot]", "prompts: [fewshot-cot]")
                  .replace("  - prompt: [fewshot-cot, zeroshot-cot]\n", ""))
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), faults={"500": 1.0})) as broken:
        proc = _exp(path, store, broken, "-M", "max-attempts=1")
    assert proc.returncode == 4 and "failed after retries" in proc.stderr and "HTTP 500" in proc.stderr
    exp = load_experiment(path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db = Store(store)
    db.put_meta(LEASE + exp.cells[0].spec.run_id, json.dumps({"pid": os.getpid(), "host": os.uname().nodename}))
    db.put_meta(LEASE + exp.cells[1].spec.run_id, json.dumps({"pid": dead.pid, "host": os.uname().nodename}))
    db.close()
    status = json.loads(polaris("experiment", "status", str(path), "--store", str(store), "--json").stdout)
    assert [c["state"] for c in status["cells"]] == ["running", "failed"]
    assert status["cells"][1]["errors"] == 6 and status["counts"] == {"running": 1, "failed": 1}
    table = polaris("experiment", "status", str(path), "--store", str(store))
    assert table.returncode == 0 and "failed" in table.stdout and "tokens spent" in table.stdout


def test_executor_is_pluggable(tmp_path, server, tiny_data):
    import asyncio

    from polaris.experiments.run import LocalExecutor, RunEnv, run_experiment
    from polaris.models.registry import BackendOptions

    class Recording(LocalExecutor):
        seen: list = []

        async def run(self, cells, env):
            self.seen.extend(c.spec.label for c in cells)
            return await super().run(cells, env)

    exp = load_experiment(_write(tmp_path, GRID), limit=2)
    env = RunEnv(store=tmp_path / "s.db", options=BackendOptions(base_url=server.base_url), limit=2)
    outcomes = asyncio.run(run_experiment(exp, env, executor=Recording()))
    assert Recording.seen == [c.spec.label for c in exp.cells]
    assert [o.state for o in outcomes] == ["done"] * 4 and all(len(o.cell.items) == 2 for o in outcomes)


# -- the shipped studies ------------------------------------------------------------------------------

# icl-emergence.yaml needs models with metadata and a server answering in Lu et al.'s answer forms:
# it runs end to end in tests/test_icl_templates.py.
STUDIES = sorted(p for p in (ROOT / "experiments").glob("*.yaml") if p.name != "icl-emergence.yaml")


def test_the_studies_are_shipped():
    assert {p.name for p in STUDIES} >= {"cot-hub.yaml", "self-consistency.yaml", "complexity.yaml"}


@pytest.fixture(scope="module")
def study_server():
    from conftest import SHARED

    if SHARED is None:
        pytest.skip("benchmark data (../shared/datasets) not available")
    from fakeserver import FakeOpenAI, Policy

    answers = {}
    for task in ("gsm8k", "math", "math500", "mmlu", "bbh"):
        answers.update(answers_for(task, SHARED))
    with FakeOpenAI(Policy(answers=answers, p_correct=0.7)) as s:
        yield s, cli_env(POLARIS_DATA_DIR=str(SHARED))


@pytest.mark.parametrize("study", STUDIES, ids=[p.stem for p in STUDIES])
def test_study_dry_runs_and_runs_against_the_fake_server(study, study_server, tmp_path):
    server, env = study_server
    exp = load_experiment(study)
    store = tmp_path / "s.db"
    dry = polaris("experiment", "run", str(study), "--dry-run", "--json", "--model", "openai/fake-model", env=env)
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["total"]["cells"] == len(exp.cells)
    proc = polaris("experiment", "run", str(study), "--store", str(store), "--model", "openai/fake-model",
                   "--base-url", server.base_url, "--limit", "2", "--json", "--no-progress", env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert all(c["state"] == "done" and c["scored"] == 2 for c in doc["cells"])
    assert len(doc["contrasts"]) >= len(exp.contrasts) and all(r["n"] == 2 for r in doc["contrasts"])
    for c in doc["cells"]:
        s = c["summary"]
        K = s.get("samples_per_item")
        if K:
            assert set(s["maj_at"]) == {str(k) for k in range(1, K + 1)} and s["accuracy"] == s["maj_at"][str(K)] \
                or "complex-top" in c["label"]
        else:
            assert s["accuracy"] == 1.0  # greedy: the fake server is always right at temperature 0
    db = sqlite3.connect(store)
    # One call per distinct request (cells that differ only in their vote share them), n samples each.
    assert db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
