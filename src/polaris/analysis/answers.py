"""Inspecting answers: which stored items a `polaris samples` filter selects, and what to show for
each (the question, the responses, the flexible and strict answers, the gold, the verdict).

Pure over store rows: the command reads results, samples and request bodies and hands them here.
Filters, all over scored items (failed requests are never "wrong"):
- wrong: the item scored 0, including items where nothing could be extracted;
- unextracted: the flexible extractor found no answer;
- disagree: the flexible and the strict extractor read different answers (one of them possibly
  none), which is what the `disagree` count of a result counts;
- outcome:<name>: items with that outcome (scoring/outcome.py: correct, wrong, truncated, hedged,
  invalid-option, no-answer, error).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from polaris.scoring.outcome import outcome_of
from polaris.store.store import ResultRow, RunRow, SampleRow

FILTERS = ("all", "wrong", "unextracted", "disagree")


def verdict(row: ResultRow) -> str:
    """correct | wrong | unextracted (wrong, with no answer found) | error (request failed, not scored)."""
    if row.error is not None:
        return "error"
    if not row.extracted:
        return "unextracted"
    return "correct" if (row.correct or 0.0) >= 1.0 else "wrong"


def disagrees(row: ResultRow) -> bool:
    return row.error is None and row.answer != row.data.get("strict_answer")


def selects(row: ResultRow, which: str) -> bool:
    if which == "all":
        return True
    if which.startswith("outcome:"):
        return outcome_of(row) == which.split(":", 1)[1]
    if row.error is not None:
        return False
    if which == "wrong":
        return (row.correct or 0.0) < 1.0
    if which == "unextracted":
        return not row.extracted
    if which == "disagree":
        return disagrees(row)
    raise ValueError(f"unknown filter {which!r}")


def select_runs(runs: Sequence[RunRow], task: str, model: str | None = None, prompt: str | None = None,
                strategy: str | None = None) -> list[RunRow]:
    return [
        r for r in runs
        if r.spec.get("task") == task
        and (model is None or r.spec.get("model") == model)
        and (prompt is None or r.manifest.get("prompt", r.spec.get("prompt")) == prompt)
        and (strategy is None or r.manifest.get("strategy") == strategy)
    ]


def question_of(body: dict[str, Any] | None, prompt: str | None = None) -> str | None:
    """The item's question as it was sent: the last user turn, or, of a completion prompt, the block
    after the last exemplar. A zero-shot completion prompt (`prompt` names the run's format) has no
    exemplar: all of it is the question ("562+568" and its hint "Answer directly.", not the hint alone)."""
    if not body:
        return None
    if isinstance(body.get("messages"), list):
        users = [m.get("content") for m in body["messages"] if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users and isinstance(users[-1], str) else None
    text = body.get("prompt")
    if not isinstance(text, str):
        return None
    if prompt is not None and prompt.startswith("zeroshot"):
        return text.strip("\n")
    return text.rstrip("\n").rsplit("\n\n", 1)[-1]


def item_view(row: ResultRow, samples: Sequence[SampleRow], body: dict[str, Any] | None,
              prompt: str | None = None) -> dict[str, Any]:
    """One item as `polaris samples --json` shows it; `prompt`: the run's prompt format."""
    per = {s.get("idx"): s for s in row.data.get("samples", ()) if isinstance(s, dict)}
    return {
        "item": row.item,
        "group": row.group,
        "verdict": verdict(row),
        "outcome": outcome_of(row),
        "gold": row.gold,
        "answer": row.answer,
        "strict_answer": row.data.get("strict_answer"),
        "correct": row.correct,
        "strict_correct": row.strict,
        "extracted": row.extracted,
        "disagree": disagrees(row),
        "error": row.error,
        "request": row.data.get("request"),
        "question": question_of(body, prompt),
        "samples": [
            {"idx": s.idx, "text": s.text, "finish": s.finish, "answer": per.get(s.idx, {}).get("answer"),
             "strict": per.get(s.idx, {}).get("strict"), "correct": per.get(s.idx, {}).get("correct"),
             "outcome": per.get(s.idx, {}).get("outcome")}
            for s in samples
        ],
    }


def vote_counts(view: dict[str, Any]) -> str:
    """"(A) x3, (B) x2, none x1": the flexible answers of an item's samples."""
    counts = Counter(s["answer"] if s["answer"] is not None else "none" for s in view["samples"])
    return ", ".join(f"{a} x{n}" for a, n in counts.most_common())
