"""Numbers that mean what they say: the macro headline's estimand and the random baseline's real rate."""

from __future__ import annotations

import asyncio
import math
import random

import numpy as np
import pytest

from polaris.analysis import stats as S
from polaris.analysis.breakdown import breakdown
from polaris.store.store import ResultRow


def _rows(per_group: dict[str, list[float]]) -> list[ResultRow]:
    out, i = [], 0
    for g, scores in per_group.items():
        for s in scores:
            out.append(ResultRow(f"{g}/{i}", i, g, s, s, True, None, "x", "y", {}))
            i += 1
    return out


def _groups(seed: int = 0, G: int = 27, n: int = 240) -> dict[str, list[float]]:
    """Groups that differ a lot in difficulty (as BBH's tasks do), items drawn within each."""
    rng = random.Random(seed)
    return {f"t{g}": [float(rng.random() < 0.05 + 0.9 * g / (G - 1)) for _ in range(n)] for g in range(G)}


def test_macro_interval_is_tasks_fixed_items_sampled():
    groups = _groups()
    G = len(groups)
    means = [np.mean(v) for v in groups.values()]
    tilde = [((sum(v) + 1) / (len(v) + 2), len(v)) for v in groups.values()]  # Laplace's p̃ for each task's SE
    se = math.sqrt(sum(p * (1 - p) / n for p, n in tilde)) / G
    split = breakdown(_rows(groups), headline="macro")
    assert split.headline == "macro" and split.overall.accuracy == pytest.approx(np.mean(means))
    half = (split.overall.high - split.overall.low) / 2
    assert half == pytest.approx(1.96 * se, rel=0.02)  # the documented SE² = Σ SE_g² / G²
    # The other estimand (tasks sampled) is offered beside it, and is much wider here.
    other = split.tasks_sampled
    assert other is not None and (other.high - other.low) / 2 > 5 * half
    doc = split.as_dict()
    assert doc["estimand"] == "tasks fixed, items sampled" and doc["tasks_sampled"]["ci95"] == [other.low, other.high]
    # Asked for explicitly, the tasks-sampled interval is the headline's.
    wide = breakdown(_rows(groups), headline="macro", macro="tasks").overall
    assert (wide.low, wide.high) == pytest.approx((other.low, other.high))


def test_macro_ci_matches_the_stratified_formula_with_clusters_inside_keys():
    rng = random.Random(3)
    scores = [float(rng.random() < 0.6) for _ in range(400)]
    keys = [f"k{i % 4}" for i in range(400)]
    clusters = [f"c{i % 20}" for i in range(400)]
    est = S.macro_ci(scores, keys, clusters=clusters)
    expected = 0.0
    for k in sorted(set(keys)):
        idx = [i for i in range(400) if keys[i] == k]
        expected += S.standard_error([scores[i] for i in idx], [clusters[i] for i in idx]) ** 2
    assert est.se == pytest.approx(math.sqrt(expected) / 4)
    with pytest.raises(ValueError, match="estimand"):
        S.macro_ci(scores, keys, estimand="models")


def test_summary_ci_and_maj_at_k_use_the_same_macro_interval():
    from polaris.runner.summary import summarize

    rng = random.Random(1)
    rows = []
    for i in range(300):
        g = f"t{i % 3}"
        votes = [rng.random() < (0.2, 0.5, 0.8)[i % 3] for _ in range(3)]
        samples = [{"vote": 0 if v else 1, "correct": float(v)} for v in votes]
        score = float(sum(votes) >= 2)
        rows.append(ResultRow(f"i{i}", i, g, score, score, True, None, "x", "y", {"samples": samples}))
    s = summarize(rows, headline="macro")
    assert s["ci95"] == pytest.approx(s["maj_at_ci"]["3"])


# -- the random baseline's real rate ------------------------------------------------------------------


def _draw_rate(scorer, item, draws: int, seed: str) -> tuple[float, float]:
    rng = random.Random(seed)
    hits = sum(scorer.score(scorer.random_answer(item, rng), item) for _ in range(draws))
    p = hits / draws
    return p, math.sqrt(max(p * (1 - p), 1 / draws) / draws)


@pytest.mark.parametrize("gold", ["0", "5", "42", "999", "5000", "12000", "2.5", "-3"])
def test_gsm8k_chance_is_the_rate_of_its_random_answers(gold):
    from polaris.scoring.numeric import NumericScorer
    from polaris.tasks.base import Item

    scorer, item = NumericScorer(), Item("q", "?", gold)
    rate, se = _draw_rate(scorer, item, 40_000, gold)
    assert scorer.chance(item) == pytest.approx(rate, abs=4 * se)
    if gold in ("0", "5"):
        assert scorer.chance(item) > 0.02  # single digits are guessed about 1 time in 40


@pytest.mark.parametrize("gold", ["42", "0", "100", "101", "\\frac{1}{2}", "7.0", "-4"])
def test_math_chance_is_the_rate_of_its_random_answers(gold):
    from polaris.scoring.mathans import MathScorer
    from polaris.tasks.base import Item

    scorer, item = MathScorer(), Item("q", "?", gold)
    rate, se = _draw_rate(scorer, item, 20_000, gold)
    assert scorer.chance(item) == pytest.approx(rate, abs=4 * se)


@pytest.mark.parametrize("task,limit", [("gsm8k", None), ("math500", None)])
def test_random_guessing_is_not_above_chance(shared_data, tmp_path, task, limit):
    """baseline/random scores what chance says it scores: the chance table never calls it above chance."""
    import json

    from conftest import cli_env, polaris

    proc = polaris("run", "-m", "baseline/random", "-t", task, "--store", str(tmp_path / "s.db"), "--json",
                   env=cli_env(POLARIS_DATA_DIR=str(shared_data)))
    assert proc.returncode == 0, proc.stderr
    (res,) = json.loads(proc.stdout)["results"]
    assert res["accuracy"] > 0  # random integers do hit small golds
    assert res["baseline"] > 0.003
    assert not res["above_chance"]["above"] and res["above_chance"]["p"] > 0.05
    assert abs(res["normalised"]) < 1.0
    table = polaris("run", "-m", "baseline/random", "-t", task, "--store", str(tmp_path / "s.db"),
                    env=cli_env(POLARIS_DATA_DIR=str(shared_data)))
    assert table.returncode == 0 and "ns" in table.stderr + table.stdout


@pytest.mark.parametrize("per_task", [2, 10])
def test_macro_interval_covers_with_few_items_per_task(per_task):
    """Tasks whose few items are all right or all wrong still carry their error: the interval covers the
    true macro mean at least 94% of the time (simulated, 27 tasks with chances like BBH's)."""
    rng = random.Random(per_task)
    chances = [rng.choice((0.5, 1 / 3, 0.25, 0.2, 1 / 7, 0.05)) for _ in range(27)]
    truth = float(np.mean(chances))
    keys = [g for g in range(27) for _ in range(per_task)]
    covered = 0
    for _ in range(1000):
        scores = [float(rng.random() < chances[g]) for g in keys]
        est = S.macro_ci(scores, keys)
        covered += est.low <= truth <= est.high
    assert covered >= 940
