"""Judging in chunks as items finish (runner/judging.py) gives exactly what judging the whole run at once
gives: the same stored rows and the same numbers (accuracy, maj@k and pass@k curves, variance, token
and compute totals to the last bit), whatever order the items finish in, and at K above the exact
maj@k limit (Monte Carlo) too."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from conftest import answers_for, write_gsm8k
from fakeserver import FakeOpenAI, Policy

from polaris.models.registry import BackendOptions, make_backend
from polaris.runner import judging
from polaris.runner.cell import CellSpec
from polaris.runner.compute import cell_compute, spec_budget
from polaris.runner.context import SolveContext
from polaris.runner.judge import judge
from polaris.runner.judging import ChunkJudge
from polaris.runner.monitor import identical_samples
from polaris.runner.runner import prepare, run_cell, solver_for
from polaris.runner.summary import summarize, summarize_tally
from polaris.runner.tokens import totals
from polaris.store.store import ResultRow, Store

COMPARED = ("n", "scored", "errors", "accuracy", "ci95", "strict_accuracy", "extracted", "disagree",
            "unterminated_thinking", "outcomes", "maj_at", "maj_at_ci", "pass_at", "pass_at_ci", "maj_at_exact",
            "samples_per_item", "variance", "tokens", "baseline")


def _finish(text: str) -> str:
    return "length" if text.rstrip().endswith(("3.", "7.")) else "stop"  # some samples cut at the limit


async def _run_chunked(server, store, spec, chunk_samples, monkeypatch):
    """The cell run for real, judged in small chunks; returns (run, the item indices of each chunk)."""
    monkeypatch.setattr(judging, "CHUNK_SAMPLES", chunk_samples)
    chunks: list[list[int]] = []
    write = ChunkJudge._write

    def spy(self, rows, tallies, calls):
        chunks.append([r.idx for r in rows])
        return write(self, rows, tallies, calls)

    monkeypatch.setattr(ChunkJudge, "_write", spy)
    backend = make_backend("openai/fake-model", BackendOptions(base_url=server.base_url, concurrency=4,
                                                               max_attempts=2, backoff=0.01))
    await backend.start()
    db = Store(store)
    try:
        run = await run_cell(spec, store=db, backend=backend, identity=backend.identity(), concurrency=4)
    finally:
        db.close()
        await backend.close()
    monkeypatch.setattr(ChunkJudge, "_write", write)
    return run, chunks, backend.identity()


async def _replay(cell, db, identity, stored):
    """Every item's outputs, read back from the store (the failed ones as their stored error)."""
    solve, outputs = solver_for(cell), []
    for i, item in enumerate(cell.items):
        if stored[item.id].error is not None:
            failed = Exception(stored[item.id].error)
            failed.request = stored[item.id].data.get("request")  # as RequestFailed names its stored request
            outputs.append(failed)
            continue
        ctx = SolveContext(db, None, identity, cell.spec.run_id)
        outputs.append(await solve(cell.task, item, cell.prompts[i], ctx, cell.spec))
    return outputs


def _whole_run(cell, db, outputs) -> list[ResultRow]:
    """What the runner did before chunks: one `judge` over every item at once."""
    hashes = [o.request for o in outputs if not isinstance(o, BaseException)]
    rows = judge(cell.task, cell.spec, cell.items, outputs, db.sample_calls(hashes))
    for i, (row, out) in enumerate(zip(rows, outputs)):
        row.idx = i
        if cell.items[i].meta:
            row.data["meta"] = dict(cell.items[i].meta)
        if identical_samples(out):
            row.data["identical_samples"] = True
    return rows


def _rows(db, run_id):
    return [(r.item, r.idx, r.group, r.correct, r.strict, r.extracted, r.error, r.answer, r.gold, r.data)
            for r in db.results(run_id)]


@pytest.mark.parametrize("k, n_items", [(5, 24), (130, 6)])  # 130 > 128: maj@k by seeded Monte Carlo
def test_chunked_judging_equals_judging_the_whole_run(tmp_path, monkeypatch, k, n_items):
    monkeypatch.setenv("POLARIS_DATA_DIR", str(write_gsm8k(tmp_path / "data", n_items)))
    policy = Policy(answers=answers_for("gsm8k"), p_correct=0.45, think=True, finish=_finish,
                    faults={"500": 0.25}, retry_after="0.01")  # 500s twice in a row: the item fails
    spec = CellSpec(model="openai/fake-model", task="gsm8k", prompt="zeroshot-cot", samples=k, temperature=0.7,
                    thinking_budget=3)
    store = tmp_path / "s.db"
    with FakeOpenAI(policy) as server:
        run, chunks, identity = asyncio.run(_run_chunked(server, store, spec, 2 * k, monkeypatch))
    assert len(chunks) >= n_items // 2 and all(len(c) <= 2 for c in chunks)  # judged 2 items at a time
    assert sorted(i for c in chunks for i in c) == list(range(n_items))

    db = Store(store)
    cell = prepare(spec)
    stored = {r.item: r for r in db.results(spec.run_id)}
    outputs = asyncio.run(_replay(cell, db, identity, stored))
    whole = _whole_run(cell, db, outputs)
    assert 0 < run.summary["errors"] < n_items or k > 5  # some items failed (and were judged as errors)

    # The same stored rows, field by field (per-sample records, votes, tokens, outcomes included).
    assert _rows(db, spec.run_id) == [(r.item, r.idx, r.group, r.correct, r.strict, r.extracted, r.error, r.answer,
                                       r.gold, r.data) for r in whole]
    # The same numbers, to the last bit: the summary, the curves, the token and compute totals.
    reference = summarize(whole, headline=cell.task.headline)
    assert {key: run.summary.get(key) for key in COMPARED} == {key: reference.get(key) for key in COMPARED}
    assert run.summary["compute"] == cell_compute(whole, spec_budget(cell.spec))
    assert run.summary["maj_at_exact"] is (k <= 128)

    # ... and what the pre-chunk formulas give on the full rows: sample totals summed in item order,
    # the curves from the samples' (vote, score) lists.
    from polaris.analysis.sampling import sampling_curves

    scored = [r for r in whole if r.error is None]
    samples = [s for r in scored for s in r.data["samples"] if "tokens" in s]
    assert run.summary["tokens"] == totals(samples)
    curves = sampling_curves([([s["vote"] for s in r.data["samples"]], [float(s["correct"]) for s in r.data["samples"]])
                              for r in scored])
    assert run.summary["maj_at"] == {str(k): curves.maj_at[k].mean for k in curves.ks}
    assert run.summary["pass_at"] == {str(k): curves.pass_at[k].mean for k in curves.ks}
    completion = 0.0
    for s in samples:
        completion += float(s.get("tokens") or 0.0)
    assert run.summary["compute"]["per_item"]["completion"] == completion / len(scored)

    # Items finishing in any order (here: last first, with an item left unasked) fold the same way.
    copy = tmp_path / "copy.db"
    db.close()
    shutil.copy(store, copy)
    db = Store(copy)
    db.db.execute("DELETE FROM results")
    cell.invocation = None
    scrambled = ChunkJudge(cell, db, size=3)
    for i in reversed(range(n_items)):
        scrambled.add(i, outputs[i] if i != 1 else None)
    tally = scrambled.close()
    assert scrambled.asked == n_items - 1
    kept = [r for r in whole if r.idx != 1]
    assert _rows(db, spec.run_id) == [(r.item, r.idx, r.group, r.correct, r.strict, r.extracted, r.error, r.answer,
                                       r.gold, r.data) for r in kept]
    again = summarize_tally(tally, headline=cell.task.headline)
    expected = summarize(kept, headline=cell.task.headline)
    assert {key: again.get(key) for key in COMPARED} == {key: expected.get(key) for key in COMPARED}
    assert tally.compute() == cell_compute(kept, spec_budget(cell.spec))
    db.close()
