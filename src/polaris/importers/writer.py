"""Store imported cells as ordinary runs and score them, all in one transaction.

For each cell: its matched responses are written as calls and samples under the keys the cell's own
solver will ask for (`importers/keys.py`), the run is opened (the import is one invocation in the
run's history, `runner.history`), then the solver runs against the store alone, exactly as `polaris
rescore` does, and `runner.finish_cell` judges, stores the item results and the summary. Scoring therefore goes through the same code as every generated run,
and a later rescore reproduces it. Any error rolls the whole import back: nothing is half-imported. A
cell whose run already has results (the same files imported before) is left untouched.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from polaris.importers import keys, provenance
from polaris.importers.plan import ImportCell
from polaris.importers.records import Record
from polaris.runner.context import SolveContext
from polaris.runner.runner import CellRun, PreparedCell, build_prompts, finish_cell, open_cell, solve_items
from polaris.store.store import Store


@dataclass
class Written:
    cell: ImportCell
    run: CellRun | None  # None: already imported, left as it was
    rows: list[Any]  # the run's item results (stored before, when already imported)


def _payload(record: Record) -> dict[str, Any]:
    """What the source sent, in the shape Polaris stores prompts (`samples` and `view` show it)."""
    if record.messages:
        return {"messages": [{"role": r, "content": c} for r, c in record.messages]}
    if record.prompt is not None:
        return {"prompt": record.prompt}
    return {"prompt": record.question, "prompt_is_question_only": True}


def _source(record: Record, k: int) -> dict[str, Any]:
    resp = record.responses[k] if k < len(record.responses) else None
    out = {"file": record.file, "line": record.line, "verdict": record.verdict, "answer": record.answer}
    if resp is not None and (resp.verdict is not None or resp.answer is not None) and len(record.responses) > 1:
        out.update(verdict=resp.verdict, answer=resp.answer)  # a sample's own verdict, where the source gives one
    if record.turns:
        out["turn"] = k
    return out


def _write_samples(store: Store, ctx: SolveContext, cell: PreparedCell, records: list[Record]) -> None:
    """Each source response is one call (as the source made it): its text, finish, tokens, usage, latency."""
    identity, run_id = ctx.identity, cell.spec.run_id
    for item, prompt, record in zip(cell.items, cell.prompts, records):
        base = keys.turn(prompt)
        stored: dict[str, Any] = {}
        if record.error is not None and not record.responses:
            body = keys.key_body(identity, item.id, base)
            store.write_call(request_hash=ctx._key(body)[1], request={**body, **_payload(record)}, run=run_id,
                             first_idx=0, n=cell.spec.samples, error=record.error)
            continue
        for k, resp in enumerate(record.responses):
            # Turns of a conversation are separate requests (sample 0 each); samples share one request.
            body = keys.key_body(identity, item.id, base + (k if record.turns else 0))
            h = ctx._key(body)[1]
            stored = {**body, **_payload(record)}
            sample = {"idx": 0 if record.turns else k, "text": resp.text, "finish": resp.finish,
                      "reasoning": resp.reasoning, "tokens": resp.tokens, "data": {"source": _source(record, k)}}
            store.write_call(request_hash=h, request=stored, run=run_id, first_idx=sample["idx"], n=1, samples=[sample],
                             latency=resp.latency, usage=dict(resp.usage) if resp.usage else None)


def write(store: Store, cells: list[ImportCell]) -> list[Written]:
    """Store and score every cell in one transaction (rolled back whole on any error)."""
    done: list[Written] = []
    existing = {r.id for r in store.runs()}
    with store.transaction():
        for cell in cells:
            spec = cell.spec
            if cell.done or (spec.run_id in existing and store.results(spec.run_id)):
                done.append(Written(cell, None, store.results(spec.run_id)))
                continue
            matched = cell.matched
            items = [m.item for m in matched]
            prompts, exemplar_ids = build_prompts(cell.task, spec, items)  # type: ignore[arg-type]
            prepared = PreparedCell(spec, cell.task, items, prompts, exemplar_ids,  # type: ignore[arg-type]
                                    total=len(cell.task.dataset.load()), source="import")
            # "backend" names where the results came from in the run's record (endpoint "imported:<model>").
            identity = {"model": spec.model, "backend": "imported", "imported": cell.provenance}
            ctx = SolveContext(store, None, identity, spec.run_id)
            _write_samples(store, ctx, prepared, [m.record for m in matched])
            # The run's record: this import is its invocation, listed in the manifest with its provenance.
            info = open_cell(prepared, store, identity, data={"provenance": provenance.summary(cell.provenance)})
            started = time.time()
            got = asyncio.run(solve_items(prepared, ctx, range(len(items)), concurrency=1))
            run = finish_cell(prepared, store, info, [got[i] for i in range(len(items))], ctx.stats,
                              time.time() - started)
            done.append(Written(cell, run, run.rows))
    return done
