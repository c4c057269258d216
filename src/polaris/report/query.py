"""The sample viewer's queries: filtered, paginated item results and one item in full, straight from SQL.

Pages are keyset-paginated over `results` in (run, idx, item) order, which the `results_run_idx`
index (run, idx; the table's key `item` rides along in a WITHOUT ROWID index) serves without a sort:
a page costs the rows it reads, not the rows before it, so page 2,000 of a 100,000-item store is as
quick as page 1. Run-level filters (model, task, prompt format, strategy) become a list of run ids;
item-level filters are conditions on the results columns:

  verdict    right: scored 1 (all tied answers right) | wrong: scored below 1, fractional tie credit
             included | error: the request failed (not scored; asked again on the next run)
  extraction extracted | unextracted (scored items only)
  disagree   the strict and the flexible extractor read different answers (scored items only)
  outcome    correct | wrong | truncated | hedged | invalid-option | no-answer | error (scoring/outcome.py;
             results stored before outcomes existed get theirs from their other columns, as
             `outcome.outcome_of` derives it)

Nothing here writes: the connection is opened read-only.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from polaris.analysis.answers import question_of
from polaris.errors import PolarisError
from polaris.scoring.outcome import outcome_of
from polaris.store.store import ResultRow

VERDICTS = {
    "right": "r.error IS NULL AND r.correct >= 1",
    "wrong": "r.error IS NULL AND COALESCE(r.correct, 0) < 1",
    "error": "r.error IS NOT NULL",
}
EXTRACTION = {
    "extracted": "r.error IS NULL AND r.extracted = 1",
    "unextracted": "r.error IS NULL AND r.extracted = 0",
}
DISAGREE = "r.error IS NULL AND r.answer IS NOT json_extract(r.data, '$.strict_answer')"
OUTCOME = ("COALESCE(json_extract(r.data, '$.outcome'), CASE WHEN r.error IS NOT NULL THEN 'error'"
           " WHEN r.extracted = 1 THEN (CASE WHEN r.correct >= 1 THEN 'correct' ELSE 'wrong' END)"
           " WHEN json_extract(r.data, '$.samples[0].finish') = 'length' THEN 'truncated' ELSE 'no-answer' END)")
MAX_LIMIT = 500
# The request that asked the item's question: an LLM-Modulo item's first round (its last request ends
# with the verifier's feedback), any other item's own.
FIRST_REQUEST = "COALESCE(json_extract(r.data, '$.modulo.rounds[0].request'), json_extract(r.data, '$.request'))"
QUESTION_CHARS = 300  # of the question in a list row (the item's page has all of it)


@dataclass(frozen=True)
class RunInfo:
    id: str
    label: str
    model: str
    task: str
    prompt: str
    strategy: str

    def as_dict(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, "model": self.model, "task": self.task, "prompt": self.prompt,
                "strategy": self.strategy}


def read_runs(db: sqlite3.Connection) -> dict[str, RunInfo]:
    out = {}
    for rid, label, spec_blob, manifest_blob in db.execute("SELECT id, label, spec, manifest FROM runs ORDER BY label"):
        spec = json.loads(spec_blob)
        manifest = json.loads(manifest_blob)
        opts = spec.get("task_options") or []
        task = str(spec.get("task", "?"))
        if opts:
            task += "[" + ",".join(f"{k}={v}" for k, v in opts) + "]"
        strategy = str(manifest.get("strategy") or label.rsplit("/", 1)[-1])
        out[rid] = RunInfo(rid, label, str(spec.get("model", "?")), task, str(spec.get("prompt", "?")), strategy)
    return out


@dataclass(frozen=True)
class Filters:
    model: str | None = None
    task: str | None = None
    prompt: str | None = None
    strategy: str | None = None
    run: str | None = None
    verdict: str | None = None
    extraction: str | None = None
    disagree: bool = False
    outcome: str | None = None

    def __post_init__(self) -> None:
        if self.outcome is not None:
            from polaris.scoring.outcome import check

            check(self.outcome)
        if self.verdict not in (None, *VERDICTS):
            raise PolarisError(f"verdict must be one of {', '.join(VERDICTS)} (got {self.verdict!r})")
        if self.extraction not in (None, *EXTRACTION):
            raise PolarisError(f"extraction must be one of {', '.join(EXTRACTION)} (got {self.extraction!r})")

    def runs(self, runs: dict[str, RunInfo]) -> list[str] | None:
        """Run ids the run-level filters allow; None when they allow every run."""
        fields = {"model": self.model, "task": self.task, "prompt": self.prompt, "strategy": self.strategy,
                  "id": self.run}
        wanted = {k: v for k, v in fields.items() if v}
        if not wanted:
            return None
        return sorted(r.id for r in runs.values() if all(getattr(r, k) == v for k, v in wanted.items()))

    def where(self, runs: dict[str, RunInfo]) -> tuple[list[str], list[Any]]:
        conds: list[str] = []
        params: list[Any] = []
        ids = self.runs(runs)
        if ids is not None:
            conds.append(f"r.run IN ({','.join('?' * len(ids))})" if ids else "0")
            params += ids
        if self.verdict:
            conds.append(VERDICTS[self.verdict])
        if self.extraction:
            conds.append(EXTRACTION[self.extraction])
        if self.disagree:
            conds.append(DISAGREE)
        if self.outcome:
            conds.append(f"{OUTCOME} = ?")
            params.append(self.outcome)
        return conds, params


def _verdict(correct: float | None, error: str | None) -> str:
    if error is not None:
        return "error"
    return "right" if correct is not None and correct >= 1 else "wrong"


def page(db: sqlite3.Connection, runs: dict[str, RunInfo], f: Filters, *, after: list[Any] | None = None,
         limit: int = 50, count: bool = True) -> dict[str, Any]:
    """One page of rows after the cursor `after` = [run, idx, item] (None: the first page), the cursor of
    the next page (None on the last) and, with `count`, how many rows match in all."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    conds, params = f.where(runs)
    if after is not None:
        if not (isinstance(after, list) and len(after) == 3 and isinstance(after[1], int)):
            raise PolarisError("after must be a cursor [run, idx, item] from a previous page")
        conds.append("(r.run, r.idx, r.item) > (?, ?, ?)")
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    # The question comes from the stored request (its prompt, or its last message): one lookup by key per row.
    sql = ("SELECT r.run, r.item, r.idx, r.grp, r.correct, r.strict, r.extracted, r.error, r.answer, r.gold,"
           f" json_extract(r.data, '$.strict_answer'), {OUTCOME}, json_extract(q.body, '$.prompt'),"
           " json_extract(q.body, '$.messages[#-1].content')"
           " FROM results r INDEXED BY results_run_idx LEFT JOIN requests q ON q.hash = " + FIRST_REQUEST +
           f" {where} ORDER BY r.run, r.idx, r.item LIMIT ?")
    rows = db.execute(sql, [*params, *(after or []), limit + 1]).fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    out_rows = []
    for (run, item, idx, grp, correct, strict, extracted, error, answer, gold, strict_answer, outcome, text,
         last) in rows:
        info = runs.get(run)
        body = {"prompt": text} if text is not None else {"messages": [{"role": "user", "content": last}]} \
            if isinstance(last, str) else None
        question = question_of(body, info.prompt if info else None)
        out_rows.append({
            "run": run, "label": info.label if info else run, "model": info.model if info else None,
            "task": info.task if info else None, "prompt": info.prompt if info else None,
            "strategy": info.strategy if info else None, "item": item, "idx": idx, "group": grp or "",
            "correct": correct, "strict": strict, "extracted": bool(extracted), "error": error, "answer": answer,
            "strict_answer": strict_answer, "gold": gold, "verdict": _verdict(correct, error), "outcome": outcome,
            "question": None if question is None else question[:QUESTION_CHARS],
        })
    result: dict[str, Any] = {"rows": out_rows, "next": [rows[-1][0], rows[-1][2], rows[-1][1]] if more else None}
    if count:
        result["total"] = total(db, runs, f)
    return result


def total(db: sqlite3.Connection, runs: dict[str, RunInfo], f: Filters) -> int:
    """How many rows match: every matching row is read, so the page asks for it once per filter change,
    beside (not before) its first page."""
    conds, params = f.where(runs)
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    return db.execute(f"SELECT COUNT(*) FROM results r {where}", params).fetchone()[0]


def _request(db: sqlite3.Connection, h: str | None) -> dict[str, Any] | None:
    if not h:
        return None
    row = db.execute("SELECT body FROM requests WHERE hash=?", (h,)).fetchone()
    if not row:
        return None
    body = json.loads(row[0])
    keep = ("kind", "messages", "prompt", "stop", "decoding", "model", "endpoint")
    return {k: body[k] for k in keep if k in body}


def _failed_request(db: sqlite3.Connection, run: str, error: str) -> tuple[str | None, str]:
    """The request of an errored result stored before results named theirs, and how it was found: the
    run's one failed request with this error ("calls"); "several" when more failed alike (which was
    this item's cannot be told), "none" when no call of the run failed so."""
    hashes = db.execute("SELECT DISTINCT hash FROM calls WHERE run=? AND ok=0 AND error=? LIMIT 2",
                        (run, error)).fetchall()
    if len(hashes) == 1:
        return hashes[0][0], "calls"
    return None, "several" if hashes else "none"


def _asked(db: sqlite3.Connection, data: dict[str, Any]) -> dict[str, Any] | None:
    """An LLM-Modulo item's first request (the question; later ones end with the verifier's feedback)."""
    rounds = (data.get("modulo") or {}).get("rounds") if isinstance(data.get("modulo"), dict) else None
    first = rounds[0].get("request") if rounds and isinstance(rounds[0], dict) else None
    return _request(db, first) if first else None


def _failures(db: sqlite3.Connection, h: str) -> list[dict[str, Any]]:
    """Every failed call of a request, oldest first: its error, attempts and seconds."""
    rows = db.execute("SELECT error, attempts, latency, created FROM calls WHERE hash=? AND ok=0 ORDER BY id", (h,))
    return [{"error": e, "attempts": a, "latency": lat, "created": c} for e, a, lat, c in rows]


def _samples(db: sqlite3.Connection, h: str | None) -> dict[int, dict[str, Any]]:
    if not h:
        return {}
    rows = db.execute("SELECT idx, text, finish, reasoning, tokens FROM samples WHERE hash=? ORDER BY idx", (h,))
    return {r[0]: {"idx": r[0], "text": r[1], "finish": r[2], "reasoning": r[3], "tokens": r[4]} for r in rows}


def item(db: sqlite3.Connection, runs: dict[str, RunInfo], run: str, item_id: str) -> dict[str, Any] | None:
    """Everything about one item of one run: prompt, responses, extracted answers, gold, votes, planning."""
    row = db.execute("SELECT item, idx, grp, correct, strict, extracted, error, answer, gold, data FROM results"
                     " WHERE run=? AND item=?", (run, item_id)).fetchone()
    if row is None:
        return None
    item_id, idx, grp, correct, strict, extracted, error, answer, gold, blob = row
    data = json.loads(blob or "{}")
    h = data.get("request")
    found_by = "result" if h else None
    if h is None and error is not None:  # stored before a failed item's result named its request
        h, found_by = _failed_request(db, run, error)
    stored = _samples(db, h)
    samples = []
    for s in data.get("samples") or []:
        text = stored.get(s.get("idx"), {})
        samples.append({**{k: v for k, v in s.items()}, "text": text.get("text"), "reasoning": text.get("reasoning"),
                        "finish": text.get("finish", s.get("finish"))})
    if not samples:  # results without per-sample records: show what the store has
        samples = list(stored.values())
    info = runs.get(run)
    request = _request(db, h)
    out: dict[str, Any] = {
        "run": info.as_dict() if info else {"id": run, "label": run},
        "item": item_id, "idx": idx, "group": grp or "", "gold": gold, "answer": answer,
        "strict_answer": data.get("strict_answer"), "correct": correct, "strict": strict,
        "extracted": bool(extracted), "error": error, "verdict": _verdict(correct, error),
        "outcome": outcome_of(ResultRow(item_id, idx, grp or "", correct, strict, bool(extracted), error, answer,
                                        gold, data)),
        "scored_with": data.get("judge"), "votes": data.get("votes"), "request": request, "samples": samples,
        "request_found_by": found_by, "question": question_of(_asked(db, data) or request, info.prompt if info else None),
        "failures": _failures(db, h) if error is not None and h else [],
        "detail": data.get("detail"), "meta": data.get("meta"),
    }
    modulo = data.get("modulo")
    if isinstance(modulo, dict):
        rounds = []
        for r in modulo.get("rounds") or []:
            resp = _samples(db, r.get("request")).get(0, {})
            rounds.append({**r, "response": resp.get("text")})
        out["modulo"] = {**{k: v for k, v in modulo.items() if k != "rounds"}, "rounds": rounds}
    return out
