"""`polaris compare`: paired numbers checked by hand, cell names resolved or refused in one line."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest
from conftest import answers_for, polaris
from fakeserver import FakeOpenAI, Policy

from polaris.analysis.compare import compare_rows
from polaris.store.store import ResultRow


def _row(item, correct, group="", error=None):
    return ResultRow(item, 0, group, None if error else correct, None, True, error, None, "", {})


def _mcnemar_by_hand(b, c):
    n = b + c
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def test_compare_rows_matches_hand_computation():
    a = [1, 1, 0, 1, 0, 1, 1, 0, 1, 1]
    b = [1, 0, 0, 0, 1, 1, 0, 0, 1, 0]
    rows_a = [_row(f"i{i}", x) for i, x in enumerate(a)] + [_row("only-a", 1), _row("err", 0, error="boom")]
    rows_b = [_row(f"i{i}", x) for i, x in enumerate(b)] + [_row("err", 1), _row("only-b", 0)]
    res = compare_rows(rows_a, rows_b).as_dict()
    n = 10
    d = [x - y for x, y in zip(a, b)]
    mean_d = sum(d) / n
    se = math.sqrt(sum((x - mean_d) ** 2 for x in d) / n / n)  # Miller: 0/1 scores, ddof 0
    ma, mb = sum(a) / n, sum(b) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(a, b)) / n
    corr = cov / math.sqrt(sum((x - ma) ** 2 for x in a) / n * sum((y - mb) ** 2 for y in b) / n)
    # "err" errored in A, so it is not shared: it counts as scored only in B.
    assert res["n"] == 10 and res["only_in_a"] == 1 and res["only_in_b"] == 2
    assert res["mean_a"] == pytest.approx(0.7) and res["mean_b"] == pytest.approx(0.4)
    assert res["delta"] == pytest.approx(0.3) and res["se"] == pytest.approx(se)
    assert res["ci95"] == pytest.approx([0.3 - 1.959963984540054 * se, 0.3 + 1.959963984540054 * se])
    assert (res["a_only"], res["b_only"]) == (4, 1)
    assert res["mcnemar_p"] == pytest.approx(_mcnemar_by_hand(4, 1)) and res["p_value"] == res["mcnemar_p"]
    assert res["corr"] == pytest.approx(corr)


def test_fractional_scores_have_no_mcnemar_and_groups_cluster():
    a = [_row("x", 0.5, "g1"), _row("y", 1.0, "g1"), _row("z", 0.0, "g2"), _row("w", 1.0, "g2")]
    b = [_row("x", 0.0, "g1"), _row("y", 1.0, "g1"), _row("z", 0.0, "g2"), _row("w", 0.0, "g2")]
    res = compare_rows(a, b).as_dict()
    assert res["mcnemar_p"] is None and res["a_only"] is None and res["p_value"] == res["z_p"]
    assert res["clusters"] == 2 and res["delta"] == pytest.approx(0.375)
    assert compare_rows(a, []).as_dict()["n"] == 0


@pytest.fixture(scope="module")
def two_cells(tmp_path_factory):
    """A store with cells of two models (one right on 1 item in 2, one on 2 items in 3) and a third cell."""
    from conftest import cli_env, write_gsm8k

    root = tmp_path_factory.mktemp("cmp")
    data = write_gsm8k(root / "data", 30)
    answers = answers_for("gsm8k", data)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = root / "s.db"
    with FakeOpenAI(Policy(answers=answers, wrong_every=2)) as s1, FakeOpenAI(Policy(answers=answers, wrong_every=3)) as s2:
        for model, server, extra in (("openai/a", s1, ()), ("openai/b", s2, ()), ("openai/a", s1, ("-p", "zeroshot-cot"))):
            proc = polaris("run", "-m", model, "--base-url", server.base_url, "--store", str(store), "--no-progress",
                           *extra, env=env)
            assert proc.returncode == 0, proc.stderr
    return store, env


def _results(store, label):
    db = sqlite3.connect(store)
    (run,) = db.execute("SELECT id FROM runs WHERE label=?", (label,)).fetchone()
    return dict(db.execute("SELECT item, correct FROM results WHERE run=?", (run,)).fetchall()), run


def test_compare_command_json_equals_hand_numbers(two_cells):
    store, env = two_cells
    proc = polaris("compare", "--store", str(store), "openai/a/gsm8k/fewshot-cot", "openai/b/gsm8k/fewshot-cot",
                   "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    a, run_a = _results(store, "openai/a/gsm8k/fewshot-cot/greedy")
    b, run_b = _results(store, "openai/b/gsm8k/fewshot-cot/greedy")
    a_only = sum(1 for i in a if a[i] == 1 and b[i] == 0)
    b_only = sum(1 for i in a if a[i] == 0 and b[i] == 1)
    assert doc["a"]["run_id"] == run_a and doc["b"]["run_id"] == run_b and doc["n"] == 30
    assert doc["delta"] == pytest.approx((sum(a.values()) - sum(b.values())) / 30)
    assert (doc["a_only"], doc["b_only"]) == (a_only, b_only) and a_only + b_only > 0
    assert doc["mcnemar_p"] == pytest.approx(_mcnemar_by_hand(a_only, b_only))
    assert doc["ci95"][0] < doc["delta"] < doc["ci95"][1]
    table = polaris("compare", "--store", str(store), "openai/a/gsm8k/fewshot-cot", "openai/b/gsm8k/fewshot-cot",
                    env=env)
    assert table.returncode == 0 and "McNemar" in table.stdout and "openai/b/gsm8k/fewshot-cot/greedy" in table.stdout


@pytest.mark.parametrize("query", ["*/a/gsm8k/fewshot-cot/*", "a/gsm8k/fewshot-cot/greedy", "openai/a/gsm8k/zero"])
def test_cells_are_found_by_glob_suffix_or_prefix(two_cells, query):
    store, env = two_cells
    proc = polaris("compare", "--store", str(store), query, "openai/b", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["a"]["label"].startswith("openai/a/gsm8k/")


def test_cell_by_run_id_prefix(two_cells):
    store, env = two_cells
    _, run_b = _results(store, "openai/b/gsm8k/fewshot-cot/greedy")
    proc = polaris("compare", "--store", str(store), "openai/a/gsm8k/fewshot", run_b[:8], "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["b"]["run_id"] == run_b


@pytest.mark.parametrize("a, b, needle", [
    ("openai/a", "openai/b", "matches 2 cells"),
    ("openai/zzz", "openai/b", "no cell"),
    ("openai/b", "openai/b/gsm8k", "same cell"),
])
def test_ambiguous_or_unknown_cells_are_one_line_errors(two_cells, a, b, needle):
    store, env = two_cells
    before = store.read_bytes()
    proc = polaris("compare", "--store", str(store), a, b, env=env)
    assert proc.returncode == 2 and needle in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""
    if needle == "matches 2 cells":
        assert "openai/a/gsm8k/fewshot-cot/greedy" in proc.stderr and "openai/a/gsm8k/zeroshot-cot/greedy" in proc.stderr
    assert store.read_bytes() == before
