"""A run's record is the history of what filled it: a later, smaller run against another endpoint adds to
that history and never replaces it; partial runs say so everywhere; `--limit` on a suite is stratified."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

from polaris.runner.history import BEFORE_HISTORY
from polaris.runner.runner import limited
from polaris.store.store import Store
from polaris.tasks.base import Item

N = 30


def _manifest(store, run_id):
    (m,) = sqlite3.connect(store).execute("SELECT manifest FROM runs WHERE id=?", (run_id,)).fetchone()
    return json.loads(m)


def test_a_later_limited_run_against_another_endpoint_adds_to_the_history(tmp_path, monkeypatch):
    data = write_gsm8k(tmp_path / "data", N)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    answers = answers_for("gsm8k")
    args = ["run", "-m", "openai/fake-model", "--store", str(store), "--json", "--no-progress"]
    with FakeOpenAI(Policy(answers=answers)) as a, FakeOpenAI(Policy(answers=answers, wrong_every=2)) as b:
        full = json.loads(polaris(*args, "--base-url", a.base_url, env=env, check=True).stdout)["results"][0]
        proc = polaris(*args, "--base-url", b.base_url, "--limit", "5", env=env, check=True)
    small = json.loads(proc.stdout)["results"][0]
    assert small["run_id"] == full["run_id"]  # the run id leaves out the endpoint and the limit
    # What this invocation did is what it prints, labelled partial...
    assert small["n"] == 5 and small["partial"] and small["coverage"]["of"] == N and small["coverage"]["limit"] == 5
    assert not full["partial"] and full["n"] == N
    assert "holds results from 2 endpoints" in proc.stderr
    # ...and the run's record keeps the full run: every item stored, both endpoints, both invocations.
    m = _manifest(store, full["run_id"])
    assert m["summary"]["n"] == N and m["dataset"]["items_run"] == N and not m["coverage"]["partial"]
    assert {e["endpoint"]: e["items"] for e in m["endpoints"]} == {a.base_url: N - 5, b.base_url: 5}
    first, second = m["invocations"]
    assert (first["endpoint"], first["limit"], first["items_asked"], first["items_scored"]) == (a.base_url, None, N, N)
    assert (second["endpoint"], second["limit"], second["items_asked"], second["items_scored"]) == (b.base_url, 5, 5, 5)
    from polaris.scoring.numeric import VERSION

    assert second["source"] == "run" and second["polaris_version"] and second["scorer_version"] == VERSION
    assert first["finished"] <= second["started"]
    # Rescoring finds every item's samples under the endpoint that answered it: nothing turns into an error.
    rescored = json.loads(polaris("rescore", "--store", str(store), "--json", env=env, check=True).stdout)["results"][0]
    assert rescored["scored"] == N and rescored["errors"] == 0
    assert rescored["accuracy"] == pytest.approx(m["summary"]["accuracy"])
    db = Store(store, readonly=True)
    sources = [inv.source for inv in db.invocations(full["run_id"])]
    assert sources == ["run", "run", "rescore", "rescore"]  # one rescore per endpoint's identity
    db.close()
    # The leaderboard shows all the items and both endpoints.
    board = json.loads(polaris("leaderboard", "--store", str(store), "--json", env=env, check=True).stdout)
    cell = board["rows"][0]["cells"]["gsm8k"]
    assert cell["n"] == N and len(cell["endpoints"]) == 2
    text = polaris("leaderboard", "--store", str(store), "--format", "markdown", env=env, check=True).stdout
    assert "2 endpoints" in text and a.base_url in text


def test_limit_on_a_suite_takes_every_group_and_is_labelled_partial(shared_data, tmp_path):
    env = cli_env(POLARIS_DATA_DIR=str(shared_data))
    store = tmp_path / "s.db"
    proc = polaris("run", "-m", "baseline/random", "-t", "bbh", "--limit", "54", "--store", str(store), "--json",
                   env=env, check=True)
    (res,) = json.loads(proc.stdout)["results"]
    assert res["n"] == 54 and res["partial"] and res["coverage"]["of"] == 6511
    assert len(res["groups"]) == 27 and all(g["n"] == 2 for g in res["groups"].values())  # every task, as many each
    table = polaris("run", "-m", "baseline/random", "-t", "bbh", "--limit", "54", "--store", str(store), env=env,
                    check=True).stdout
    assert "54 of 6511 (partial)" in table
    m = _manifest(store, res["run_id"])
    assert m["coverage"]["partial"] and m["coverage"]["reason"] == "54 of 6511 items"
    board = json.loads(polaris("leaderboard", "--store", str(store), "--json", env=env, check=True).stdout)
    cell = board["rows"][0]["cells"]["bbh"]
    assert cell["status"] == "partial" and "54 of 6511" in cell["reason"]
    out = tmp_path / "report"
    polaris("report", "--store", str(store), "--out", str(out), env=env, check=True)
    assert "54 of 6,511 (partial)" in (out / "index.html").read_text()


def test_limit_is_a_stratified_prefix(shared_data):
    from polaris.tasks.registry import get_task

    mmlu = list(get_task("mmlu").dataset.load())
    sizes: dict[str, int] = {}
    for it in mmlu:
        sizes[it.group] = sizes.get(it.group, 0) + 1
    picked = limited(mmlu, 570, "micro")  # MMLU's headline is over items: subjects in proportion to size
    got: dict[str, int] = {}
    for it in picked:
        got[it.group] = got.get(it.group, 0) + 1
    assert len(picked) == 570 and len(got) == 57
    assert all(abs(got[g] - 570 * n / len(mmlu)) <= 1 for g, n in sizes.items())
    for name, headline in (("mmlu", "micro"), ("bbh", "macro"), ("math500", "micro")):
        items = list(get_task(name).dataset.load())
        small, large = limited(items, 40, headline), limited(items, 100, headline)
        assert {it.id for it in small} <= {it.id for it in large}  # a larger limit extends a smaller one
        pos = {it.id: k for k, it in enumerate(items)}
        assert [pos[it.id] for it in large] == sorted(pos[it.id] for it in large)  # in dataset order


def test_limit_without_groups_is_the_first_items_and_macro_takes_as_many_from_each():
    plain = [Item(f"i{k}", "q", "1") for k in range(10)]
    assert [it.id for it in limited(plain, 3)] == ["i0", "i1", "i2"]
    grouped = [Item(f"{g}{k}", "q", "1", group=g) for g in "ab" for k in range(8)] + [Item("c0", "q", "1", group="c")]
    assert [it.id for it in limited(grouped, 5, "macro")] == ["a0", "a1", "b0", "b1", "c0"]


def test_a_store_made_before_run_histories(tiny_data, tmp_path):
    """An older store (schema 2) has no invocations table: readers see no history, the next run migrates
    it and adds one, and the items stored before are counted apart."""
    env = cli_env(POLARIS_DATA_DIR=str(tiny_data))
    store = tmp_path / "old.db"
    polaris("run", "-m", "baseline/gold", "--store", str(store), "--limit", "3", env=env, check=True)
    db = sqlite3.connect(store)
    db.execute("DROP TABLE invocations")  # as Polaris wrote it before run histories: schema 2
    db.execute("DROP TABLE result_sources")
    db.execute("UPDATE meta SET value='2' WHERE key='schema'")
    db.commit()
    db.close()
    ro = Store(store, readonly=True)
    assert ro.invocations() == [] and ro.result_sources("x") == {}
    ro.close()
    proc = polaris("run", "-m", "baseline/gold", "--store", str(store), "--limit", "2", "--json", env=env, check=True)
    res = json.loads(proc.stdout)["results"][0]
    m = _manifest(store, res["run_id"])
    assert len(m["invocations"]) == 1 and m["summary"]["n"] == 3
    assert {e["endpoint"]: e["items"] for e in m["endpoints"]} == {"baseline:gold": 2, BEFORE_HISTORY: 1}
