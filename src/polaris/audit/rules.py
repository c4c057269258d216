"""What the stored results say about extraction, without any model: outcomes, strict/flexible
disagreements, and the commonest endings of responses from which no answer was read.

An *ending* is the last non-empty line of a response's answer segment (after thinking, before a
recited next question or a restart), its last 60 characters, with digits written as "#" and spaces
collapsed, so that "The total is 18" and "The total is 240" count as one ending. A frequent ending
among unanswered responses is a phrasing the extraction rules do not read (or a model habit, such
as stopping mid-sentence at the token limit).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from polaris.scoring.outcome import ANSWERED, counts, outcome_of, rates
from polaris.scoring.text import answer_segment
from polaris.store.store import ResultRow

ENDING_CHARS = 60
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")


def ending(text: str | None) -> str:
    """The normalised last line of a response's answer segment ("" for an empty one)."""
    seg = answer_segment(text or "").rstrip()
    line = seg[seg.rfind("\n") + 1 :].strip() if seg else ""
    line = _SPACE.sub(" ", _DIGITS.sub("#", line[-ENDING_CHARS:])).strip()
    return line


@dataclass
class Ending:
    text: str  # the normalised ending ("" : an empty response)
    count: int
    outcomes: dict[str, int]  # the outcomes of the samples that end so
    example: dict[str, Any]  # one of them: item, sample index


@dataclass
class Disagreement:
    item: str
    group: str
    gold: str
    flexible: str | None
    strict: str | None
    correct: float | None
    strict_correct: float | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RuleAudit:
    outcomes: dict[str, int]
    rates: dict[str, float | None]
    scored: int
    disagreements: list[Disagreement] = field(default_factory=list)
    flexible_only_right: int = 0  # items right by the flexible answer and not by the strict one
    strict_only_right: int = 0
    endings: list[Ending] = field(default_factory=list)
    unanswered_samples: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"outcomes": self.outcomes, **self.rates, "scored": self.scored,
                "disagree": len(self.disagreements), "flexible_only_right": self.flexible_only_right,
                "strict_only_right": self.strict_only_right,
                "disagreements": [d.as_dict() for d in self.disagreements],
                "unanswered_samples": self.unanswered_samples,
                "endings": [e.__dict__ for e in self.endings]}


def audit_rules(rows: Sequence[ResultRow], texts: Mapping[tuple[str, int], str | None], top: int = 10) -> RuleAudit:
    """The rule audit of one run: `texts` maps (request hash, sample index) to the stored response."""
    tally = counts(rows)
    scored = [r for r in rows if r.error is None]
    out = RuleAudit(tally, rates(tally), len(scored))
    for r in scored:
        strict = r.data.get("strict_answer")
        if r.answer != strict:
            out.disagreements.append(Disagreement(r.item, r.group, r.gold, r.answer, strict, r.correct, r.strict))
        right, strict_right = (r.correct or 0.0) >= 1.0, (r.strict or 0.0) >= 1.0
        out.flexible_only_right += right and not strict_right
        out.strict_only_right += strict_right and not right
    found: Counter[str] = Counter()
    by_outcome: dict[str, Counter[str]] = {}
    example: dict[str, dict[str, Any]] = {}
    for r in scored:
        request = r.data.get("request")
        samples = [s for s in r.data.get("samples") or () if isinstance(s, dict)]
        for s in samples:
            o = s.get("outcome") or (outcome_of(r) if len(samples) == 1 else None)
            if o is None and s.get("answer") is None:
                o = "no-answer"
            if o is None or o in ANSWERED:
                continue
            out.unanswered_samples += 1
            key = ending(texts.get((request, s.get("idx", 0))))
            found[key] += 1
            by_outcome.setdefault(key, Counter())[o] += 1
            example.setdefault(key, {"item": r.item, "sample": s.get("idx", 0)})
    out.endings = [Ending(k, n, dict(by_outcome[k]), example[k]) for k, n in found.most_common(top)]
    return out
