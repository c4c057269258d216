"""Store -> export rows: one per item (or per sample), with the run's spec and manifest keys beside it.

Pure over the store's reads: runs are chosen by the same filters as `polaris samples` and the viewer
(model, task, prompt format, strategy, run id or prefix); each run's results, the texts and finish
reasons of their samples, and the latency of the calls that drew them are read once per run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from polaris.export.schema import SCHEMA_VERSION
from polaris.importers.provenance import imported_from
from polaris.scoring.outcome import outcome_of
from polaris.store.store import ResultRow, RunRow, Store


@dataclass(frozen=True)
class Filters:
    model: str | None = None
    task: str | None = None
    prompt: str | None = None
    strategy: str | None = None
    run: str | None = None  # a run id or its prefix

    def keeps(self, run: RunRow) -> bool:
        m = run.manifest
        return ((self.model is None or run.spec.get("model") == self.model)
                and (self.task is None or run.spec.get("task") == self.task)
                and (self.prompt is None or m.get("prompt", run.spec.get("prompt")) == self.prompt)
                and (self.strategy is None or m.get("strategy") == self.strategy)
                and (self.run is None or run.id.startswith(self.run)))


def run_columns(run: RunRow) -> dict[str, Any]:
    spec, m = run.spec, run.manifest
    dec = m.get("decoding") or {}
    prov = imported_from(m)
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run.id, "label": run.label, "model": spec.get("model"),
        "task": spec.get("task"), "task_options": json.dumps(dict(spec.get("task_options") or []), sort_keys=True),
        "prompt": m.get("prompt", spec.get("prompt")), "strategy": m.get("strategy"),
        "samples": spec.get("samples", 1), "temperature": spec.get("temperature"), "top_p": spec.get("top_p"),
        "max_tokens": dec.get("max_tokens", spec.get("max_tokens")), "exemplars": spec.get("exemplars"),
        "polaris_version": m.get("polaris_version"), "scorer_version": m.get("scorer_version"),
        "dataset_sha256": (m.get("dataset") or {}).get("sha256"), "imported": prov.get("format") if prov else None,
    }


def _sample_rows(store: Store, hashes: list[str]) -> dict[tuple[str, int], tuple[Any, ...]]:
    """(hash, idx) -> (text, finish, data, call id, latency) for the samples of these requests."""
    out: dict[tuple[str, int], tuple[Any, ...]] = {}
    todo = sorted(set(hashes))
    for start in range(0, len(todo), 500):
        chunk = todo[start : start + 500]
        for h, idx, text, finish, data, call, latency in store.db.execute(
            "SELECT s.hash, s.idx, s.text, s.finish, s.data, s.call, c.latency FROM samples s"
            f" LEFT JOIN calls c ON c.id = s.call WHERE s.hash IN ({','.join('?' * len(chunk))})", chunk):
            out[(h, idx)] = (text, finish, json.loads(data) if data else None, call, latency)
    return out


def _source(got: list[tuple[Any, ...]]) -> dict[str, Any]:
    for s in got:
        if isinstance(s[2], dict) and isinstance(s[2].get("source"), dict):
            return s[2]["source"]
    return {}


def _item(base: dict[str, Any], r: ResultRow) -> dict[str, Any]:
    return {**base, "item": r.item, "idx": r.idx, "group": r.group, "gold": r.gold, "answer": r.answer,
            "strict_answer": r.data.get("strict_answer"), "correct": r.correct, "strict_correct": r.strict,
            "extracted": r.extracted, "outcome": outcome_of(r), "error": r.error}


def rows(store: Store, filters: Filters, per_sample: bool = False) -> Iterator[list[dict[str, Any]]]:
    """Rows in batches, one batch per run (runs in creation order, items in dataset order)."""
    for run in store.runs():
        if not filters.keeps(run):
            continue
        results = store.results(run.id)
        if not results:
            continue
        base = run_columns(run)
        prov = imported_from(run.manifest)
        verdicts = (prov or {}).get("items") or {}
        stored = _sample_rows(store, [r.data["request"] for r in results if r.data.get("request")])
        batch = []
        for r in results:
            h = r.data.get("request")
            per = [s for s in r.data.get("samples", ()) if isinstance(s, dict)]
            got = [stored.get((h, s.get("idx"))) or (None, None, None, None, None) for s in per]
            item = _item(base, r)
            if prov is not None:
                item["source_verdict"] = (verdicts.get(r.item) or [None, None, None])[2]
                item["source_answer"] = _source(got).get("answer")
            else:
                item["source_verdict"] = item["source_answer"] = None
            if not per_sample:
                calls = {g[3]: g[4] for g in got if g[3] is not None}
                latencies = [v for v in calls.values() if v is not None]
                batch.append({**item, "response": got[0][0] if got else None, "finish": got[0][1] if got else None,
                              "tokens": _sum(s.get("tokens") for s in per),
                              "reasoning_tokens": _sum(s.get("reasoning_tokens") for s in per),
                              "latency": sum(latencies) if latencies else None})
                continue
            if not per:  # a failed item has no samples: one row says so
                batch.append({**item, **dict.fromkeys(("sample", "sample_answer", "sample_strict_answer",
                                                       "sample_correct", "sample_strict_correct", "vote",
                                                       "sample_outcome", "response", "finish", "tokens",
                                                       "reasoning_tokens", "latency"))})
            for s, g in zip(per, got):
                batch.append({**item, "sample": s.get("idx"), "sample_answer": s.get("answer"),
                              "sample_strict_answer": s.get("strict"), "sample_correct": s.get("correct"),
                              "sample_strict_correct": s.get("strict_correct"), "vote": s.get("vote"),
                              "sample_outcome": s.get("outcome"),
                              "response": g[0], "finish": g[1], "tokens": s.get("tokens"),
                              "reasoning_tokens": s.get("reasoning_tokens"), "latency": g[4]})
        yield batch


def _sum(values: Any) -> float | None:
    got = [v for v in values if isinstance(v, int | float)]
    return float(sum(got)) if got else None
