"""Outcomes: what became of each scored item, beyond right and wrong.

Real responses end in ways that are not wrong answers: cut at the token limit, no answer at all, a
hedge between answers, a letter that is not an option. Scoring them as "wrong" makes a model that ran
out of budget look like one that cannot reason, so every item result carries one outcome:

  correct         an answer, scored right (all tied answers right, for votes)
  wrong           an answer, scored wrong
  truncated       no answer, and the response was cut at the token limit (finish reason "length")
  hedged          it offered several answers ("(A) or (B)", "5 or 6")
  invalid-option  it named a letter that is not an option of the item ("(C)" of two)
  no-answer       it finished and gave no answer
  error           no response: the request failed (not scored; asked again on the next run)

A response cut at the token limit keeps an answer only if it *announced* it before the cut ("The
answer is 18." and then more text); an answer read from where it stopped (its last number, the last
label word) is where the limit fell, not an answer (`settle`). Accuracy keeps its meaning (mean
score over scored items); `summary` puts the counts and the truncated and no-answer rates beside it.

Everything here is pure. `outcome_of(row)` is the accessor for a stored result: the outcome it was
stored with, or, for results stored before outcomes existed, one derived from its other fields.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from polaris.scoring.base import Extraction

OUTCOMES = ("correct", "wrong", "truncated", "hedged", "invalid-option", "no-answer", "error")
ANSWERED = ("correct", "wrong")
NO_ANSWER = ("hedged", "invalid-option", "no-answer")  # finished, but gave no usable answer
FLAGS = ("hedged", "invalid-option")
LENGTH = "length"  # the finish reason of a response cut at the token limit


def settle(extraction: Extraction, finish: str | None) -> Extraction:
    """The extraction of a response as it finished: cut at the token limit, it keeps only an answer
    it announced (the strict answer always is one)."""
    if finish == LENGTH and extraction.fallback and extraction.answer is not None:
        return replace(extraction, answer=None)
    return extraction


def sample_outcome(answer: str | None, correct: float | None, flag: str | None, finish: str | None) -> str:
    """The outcome of one response: its flexible answer, that answer's score, the extractor's flag and
    the finish reason the server gave."""
    if answer is not None:
        return "correct" if (correct or 0.0) >= 1.0 else "wrong"
    if flag in FLAGS:
        return flag  # type: ignore[return-value]
    if finish == LENGTH:
        return "truncated"
    return "no-answer"


def item_outcome(error: str | None, answer: str | None, score: float | None, samples: Sequence[str]) -> str:
    """The outcome of an item: error without a response; else correct/wrong for the answer it was
    scored by (the vote's, with K samples); else the commonest reason among its samples for giving no
    answer (ties in the order of OUTCOMES: truncated, hedged, invalid-option, no-answer)."""
    if error is not None:
        return "error"
    if answer is not None:
        return "correct" if (score or 0.0) >= 1.0 else "wrong"
    reasons = Counter(o for o in samples if o not in ANSWERED and o in OUTCOMES)
    if not reasons:
        return "no-answer"
    return max(reasons, key=lambda o: (reasons[o], -OUTCOMES.index(o)))


def outcome_of(row: Any) -> str:
    """The outcome of a stored item result (`store.ResultRow`, or anything with its fields): as stored
    in `data["outcome"]`, else derived from error / extracted / correct and the samples' finish
    reasons (results scored before outcomes existed)."""
    data = row.data if isinstance(getattr(row, "data", None), dict) else {}
    stored = data.get("outcome")
    if stored in OUTCOMES:
        return stored
    if row.error is not None:
        return "error"
    if row.extracted:
        return "correct" if (row.correct or 0.0) >= 1.0 else "wrong"
    finishes = [s.get("finish") for s in data.get("samples") or () if isinstance(s, dict)]
    if finishes and all(f == LENGTH for f in finishes):
        return "truncated"
    return "no-answer"


def counts(rows: Iterable[Any]) -> dict[str, int]:
    """Items per outcome, every outcome listed (zeros included), in the order of OUTCOMES."""
    got = Counter(outcome_of(r) for r in rows)
    return {o: got.get(o, 0) for o in OUTCOMES}


def rates(tally: dict[str, int]) -> dict[str, float | None]:
    """The truncated and no-answer (hedged, invalid-option, no-answer) shares of the scored items."""
    scored = sum(n for o, n in tally.items() if o != "error")
    if not scored:
        return {"truncated_rate": None, "no_answer_rate": None}
    return {"truncated_rate": tally.get("truncated", 0) / scored,
            "no_answer_rate": sum(tally.get(o, 0) for o in NO_ANSWER) / scored}


def describe(tally: dict[str, int] | None) -> str:
    """"50 correct · 40 wrong · 7 truncated": the outcomes of a run's items, zeros left out."""
    return " · ".join(f"{n} {name}" for name, n in (tally or {}).items() if n) or "-"


def check(name: str) -> str:
    """`name` if it is an outcome, else a one-line error listing them (CLI and viewer filters)."""
    if name not in OUTCOMES:
        from polaris.errors import PolarisError

        raise PolarisError(f"unknown outcome '{name}' (choose from {', '.join(OUTCOMES)})")
    return name
