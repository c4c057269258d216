"""Memory stays bounded as K (samples per item) and items grow, and the numbers do not move.

A sampled run judges its items in chunks as they finish (runner/judging.py) and computes its summary
from compact per-item records (runner/tally.py). These tests run real cells (the built-in
`baseline/random` model, which votes among four options, so ties are common; a real SQLite store)
and check that:
- the stored rows are those of one `judge` over the whole run, and the summary's pass@k and maj@k
  are what brute force over every k-subset of each item's stored samples gives;
- `polaris rescore` and the run's record (read back one row at a time) give the same summary;
- an item's outputs (its K sample texts) are let go once its chunk is judged: the number alive
  never exceeds the chunks in hand plus the items in flight, whatever the number of items;
- the Monte Carlo of maj@k above K = 128 gives the same numbers however its draws are batched.
"""

from __future__ import annotations

import asyncio
import gc
import json
import weakref
from collections import Counter
from itertools import combinations
from statistics import fmean

import pytest
from conftest import cli_env, polaris
from synth import SUBJECT, write_mmlu
from test_chunked_judging import COMPARED, _replay, _rows, _whole_run

from polaris.analysis import sampling
from polaris.models.registry import BackendOptions, make_backend
from polaris.runner import judging
from polaris.runner.cell import CellSpec
from polaris.runner.judging import ChunkJudge
from polaris.runner.runner import prepare, run_cell
from polaris.scoring.outcome import outcome_of
from polaris.store.store import Store


def _run(store_path, spec, concurrency=3):
    async def go():
        backend = make_backend(spec.model, BackendOptions())
        await backend.start()
        db = Store(store_path)
        try:
            run = await run_cell(spec, store=db, backend=backend, identity=backend.identity(), concurrency=concurrency)
        finally:
            db.close()
            await backend.close()
        return run, backend.identity()

    return asyncio.run(go())


def _vote_score(votes, correct):
    """The K-sample vote of a subset: the plurality answer's correctness, shared equally on a tie;
    unextractable samples (None) do not vote, and a subset with no vote scores 0."""
    counts = Counter(v for v in votes if v is not None)
    if not counts:
        return 0.0
    top = max(counts.values())
    tied = [a for a, c in counts.items() if c == top]
    score = {a: fmean(c for v, c in zip(votes, correct) if v == a) for a in tied}
    return sum(score.values()) / len(tied)


def _brute_force(rows, K):
    """pass@k and maj@k for k = 1..K, each the mean over items of the mean over every k-subset."""
    pass_at, maj_at = {}, {}
    for k in range(1, K + 1):
        p, m = [], []
        for r in rows:
            votes = [s["vote"] for s in r.data["samples"]]
            correct = [float(s["correct"]) for s in r.data["samples"]]
            subsets = list(combinations(range(K), k))
            p.append(fmean(any(correct[i] >= 1 for i in sub) for sub in subsets))
            m.append(fmean(_vote_score([votes[i] for i in sub], [correct[i] for i in sub]) for sub in subsets))
        pass_at[str(k)], maj_at[str(k)] = fmean(p), fmean(m)
    return pass_at, maj_at


def test_sampled_run_equals_the_whole_run_brute_force_rescore_and_its_record(tmp_path, monkeypatch):
    data = write_mmlu(tmp_path / "data", n=40)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    monkeypatch.setattr(judging, "CHUNK_SAMPLES", 12)  # 2 items a chunk: 20 chunks, finishing in any order
    K = 6
    spec = CellSpec(model="baseline/random", task=SUBJECT, prompt="zeroshot-direct", samples=K, temperature=0.7)
    store = tmp_path / "s.db"
    run, identity = _run(store, spec)

    db = Store(store)
    cell = prepare(spec)
    stored = {r.item: r for r in db.results(spec.run_id)}
    assert len(stored) == 40 and all(len(r.data["samples"]) == K for r in stored.values())
    # The stored rows, field by field, are those of one `judge` over every item at once.
    whole = _whole_run(cell, db, asyncio.run(_replay(cell, db, identity, stored)))
    assert _rows(db, spec.run_id) == [(r.item, r.idx, r.group, r.correct, r.strict, r.extracted, r.error, r.answer,
                                       r.gold, r.data) for r in whole]

    rows = list(stored.values())
    pass_at, maj_at = _brute_force(rows, K)
    s = run.summary
    assert s["maj_at_exact"] is True and s["samples_per_item"] == K
    assert s["pass_at"] == pytest.approx(pass_at, rel=1e-12, abs=1e-12)
    assert s["maj_at"] == pytest.approx(maj_at, rel=1e-12, abs=1e-12)
    # The headline is each item's K-sample vote (tie credit), i.e. maj@K; its outcomes those of the full rows.
    assert s["accuracy"] == pytest.approx(fmean(r.correct for r in rows), abs=1e-12) == maj_at[str(K)]
    assert 0 < s["accuracy"] < 1 and s["pass_at"][str(K)] > s["accuracy"]
    assert {k: n for k, n in s["outcomes"].items() if n} == Counter(outcome_of(r) for r in rows)
    assert s["variance"] is not None and s["variance"]["samples_per_item"] == K
    # Without their K sample records: the run hands back slim rows, the samples are in the store.
    assert all("samples" not in r.data for r in run.rows)

    # The run's record, computed again from the store one row at a time, says the same.
    record = next(r for r in db.runs() if r.id == spec.run_id).manifest["summary"]
    assert {k: record.get(k) for k in COMPARED} == {k: s.get(k) for k in COMPARED}
    db.close()

    # `polaris rescore` (a new process, judging again from the stored samples) changes nothing.
    before = _rows(Store(store), spec.run_id)
    out = json.loads(polaris("rescore", "--store", str(store), "--json",
                             env=cli_env(POLARIS_DATA_DIR=str(data))).stdout)["results"][0]
    assert {k: out.get(k) for k in COMPARED} == {k: s.get(k) for k in COMPARED}
    db = Store(store)
    assert _rows(db, spec.run_id) == before
    db.close()


@pytest.mark.parametrize("items", [24, 96])
def test_outputs_are_let_go_as_their_chunk_is_judged(tmp_path, monkeypatch, items):
    data = write_mmlu(tmp_path / "data", n=items)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(data))
    monkeypatch.setattr(judging, "CHUNK_SAMPLES", 8)  # K = 4: 2 items a chunk
    concurrency, size = 3, 2
    alive: list[weakref.ref] = []
    peak = [0]
    add = ChunkJudge.add

    def counting(self, i, out):
        assert self.size == size
        gc.collect()
        alive[:] = [ref for ref in alive if ref() is not None]
        if out is not None and not isinstance(out, BaseException):
            alive.append(weakref.ref(out))
        peak[0] = max(peak[0], len(alive))
        return add(self, i, out)

    monkeypatch.setattr(ChunkJudge, "add", counting)
    spec = CellSpec(model="baseline/random", task=SUBJECT, prompt="zeroshot-direct", samples=4, temperature=0.7)
    run, _ = _run(tmp_path / "s.db", spec, concurrency=concurrency)
    assert run.summary["n"] == items and run.summary["errors"] == 0
    # At most: the chunk being judged, the next one filling, and what the workers finished meanwhile
    # (every item's outputs until the end, before chunks: `items`).
    assert 1 < peak[0] <= 2 * size + concurrency
    assert all("samples" not in r.data for r in run.rows)


def test_monte_carlo_maj_at_k_does_not_depend_on_its_batches(monkeypatch):
    import random

    rng = random.Random(3)
    K = 300  # above the exact limit (128): seeded Monte Carlo over random subsets
    answers = [rng.choice("abcde") if rng.random() > 0.1 else None for _ in range(K)]
    correct = [1.0 if a == "a" else 0.0 for a in answers]
    ks = [1, 2, 7, 64, 299, 300]
    whole, exact = sampling.item_maj_at(answers, correct, ks, seed=(0, 5))
    assert exact is False
    monkeypatch.setattr(sampling, "MC_BATCH", 7 * K)  # 7 draws at a time, the last batch short
    batched, _ = sampling.item_maj_at(answers, correct, ks, seed=(0, 5))
    assert batched == whole
    assert sampling.item_maj_at(answers, correct, ks, seed=(0, 6))[0] != whole  # the seed matters; batches do not
