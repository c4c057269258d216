"""Random baselines: analytic where the scorer knows the chance, Monte Carlo where it does not; every
run summary carries the baseline, the normalised score and a one-sided above-chance test."""

from __future__ import annotations

import json

import pytest
from conftest import cli_env, polaris
from synth import SUBJECT, write_mmlu

from polaris.analysis import chance
from polaris.analysis.baseline import chance_record, chance_summary, item_chance
from polaris.scoring.bbh import BBHScorer
from polaris.scoring.choice import ChoiceScorer
from polaris.scoring.numeric import NumericScorer
from polaris.store.store import ResultRow
from polaris.tasks.base import Item


def row(correct, chance, group="", samples=1, **data):
    return ResultRow("i", 0, group, correct, correct, True, None, "x", "y",
                     {"chance": chance, "samples": [{}] * samples, **data})


def test_item_chance_analytic_and_monte_carlo():
    assert item_chance(ChoiceScorer(), Item("m", "q", "(B)", choices=("a", "b", "c", "d"))) == (0.25, "analytic")
    # GSM8K: the rate at which the random answers (an integer in 0..10^j) hit the gold, exactly.
    assert item_chance(NumericScorer(), Item("g", "q", "7")) == (pytest.approx(sum(1 / (4 * (10**j + 1)) for j in
                                                                                    range(1, 5))), "analytic")
    assert item_chance(NumericScorer(), Item("g", "q", "2.5")) == (0.0, "analytic")
    # BBH object counting: random counts 0-20 hit the gold 1 time in 21; no closed form is claimed.
    count = Item("c", "I have a cat and two dogs. How many animals do I have?", "3", meta={"kind": "number"})
    value, method = item_chance(BBHScorer(), count, draws=4000)
    assert method == "monte-carlo" and value == pytest.approx(1 / 21, abs=0.01)
    assert chance_record(BBHScorer(), count) == {"chance": item_chance(BBHScorer(), count)[0],
                                                 "chance_method": "monte-carlo"}

    class NoChance:  # a plug-in scorer with random answers but no `chance`
        def random_answer(self, item, rng):
            return rng.choice("xyz")

        def score(self, answer, item):
            return float(answer == "x")

    assert item_chance(NoChance(), count, draws=3000)[0] == pytest.approx(1 / 3, abs=0.03)
    assert item_chance(object(), count) == (None, "none") and chance_record(object(), count) == {}


def test_chance_summary_matches_the_exact_test():
    scores = [1.0] * 48 + [0.0] * 72
    rows = [row(s, 0.25) for s in scores]
    out = chance_summary(rows)
    t = chance.above_chance(scores, 0.25)
    assert out["baseline"] == 0.25 and out["baseline_method"] == "analytic"
    assert out["above_chance"] == {"p": t.p_value, "above": True, "method": "exact", "alpha": 0.05}
    assert out["normalised"] == pytest.approx(100 * (sum(scores) / 120 - 0.25) / 0.75)


def test_chance_summary_clusters_macro_and_free_numbers():
    groups = [f"g{i % 4}" for i in range(200)]
    scores = [float(i % 3 == 0) for i in range(200)]
    rows = [row(s, 0.25, g) for s, g in zip(scores, groups)]
    out = chance_summary(rows)  # several groups: z with the clustered SE
    assert out["above_chance"]["method"] == "z"
    assert out["above_chance"]["p"] == pytest.approx(chance.above_chance(scores, 0.25, clusters=groups).p_value)
    # Macro: baseline and accuracy are means over groups.
    mixed = [row(1.0, 0.5, "a"), row(0.0, 0.5, "a"), row(1.0, 0.25, "b"), row(1.0, 0.25, "b"), row(1.0, 0.25, "b")]
    macro = chance_summary(mixed, "macro")
    assert macro["baseline"] == pytest.approx((0.5 + 0.25) / 2)
    assert macro["normalised"] == pytest.approx(100 * (0.75 - 0.375) / 0.625)
    # Free-form answers: chance 0, any right answer is above it, none is not.
    assert chance_summary([row(1.0, 0.0), row(0.0, 0.0)])["above_chance"]["p"] == 0.0
    assert chance_summary([row(0.0, 0.0)] * 3)["above_chance"] == {"p": 1.0, "above": False, "method": "exact",
                                                                   "alpha": 0.05}
    # K samples per item: vote scores with tie credit are item means, tested with z.
    assert chance_summary([row(0.5, 0.25, samples=5), row(1.0, 0.25, samples=5)] * 20)["above_chance"]["method"] == "z"
    # Results stored before baselines existed: nothing is claimed.
    assert chance_summary([ResultRow("i", 0, "", 1.0, 1.0, True, None, "x", "y", {})]) == {}


@pytest.fixture
def mmlu_data(tmp_path, monkeypatch):
    data = write_mmlu(tmp_path / "data", n=400)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    return data


def test_random_model_is_at_the_analytic_baseline(mmlu_data, tmp_path):
    env = cli_env(POLARIS_DATA_DIR=str(mmlu_data))
    store = str(tmp_path / "s.db")
    proc = polaris("run", "-m", "baseline/random", "-m", "baseline/gold", "--task", SUBJECT, "--prompt",
                   "zeroshot-direct", "--store", store, "--json", env=env)
    random_, gold = json.loads(proc.stdout)["results"]
    assert random_["baseline"] == 0.25 and random_["baseline_method"] == "analytic"  # 1/4 on every item, exactly
    assert abs(random_["accuracy"] - 0.25) < 0.06 and random_["above_chance"]["above"] is False
    assert gold["normalised"] == 100.0 and gold["above_chance"]["above"] and gold["above_chance"]["p"] < 1e-100
    table = polaris("run", "-m", "baseline/random", "--task", SUBJECT, "--prompt", "zeroshot-direct", "--store",
                    store, env=env).stdout
    assert "Against chance" in table and "25.0" in table and " ns" in table
    # rescore recomputes the baselines from stored responses alone.
    res = json.loads(polaris("rescore", "--store", store, "--json", env=env).stdout)["results"]
    assert {r["baseline"] for r in res} == {0.25}


def test_real_suites_baselines(shared_data, tmp_path):
    env = cli_env(POLARIS_DATA_DIR=str(shared_data))
    proc = polaris("run", "-m", "baseline/random", "--task", "mmlu", "--task", "bbh/object_counting", "--prompt",
                   "zeroshot-direct", "--limit", "300", "--store", str(tmp_path / "s.db"), "--json", env=env)
    mmlu, counting = json.loads(proc.stdout)["results"]
    assert mmlu["baseline"] == 0.25 and mmlu["above_chance"]["method"] == "z"  # 3 subjects: clustered
    assert counting["baseline_method"] == "monte-carlo" and counting["baseline"] == pytest.approx(1 / 21, abs=0.01)
    assert counting["above_chance"]["above"] is False  # random guessing is not above its own chance level
