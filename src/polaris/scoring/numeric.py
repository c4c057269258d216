"""Numeric answers (GSM8K and the like): read the final number however a model writes it.

Flexible (headline): the number right after the last answer marker ("answer is", "####",
"Answer:", "\\boxed{") on that line, else the last number of the answer segment. Strict: only
"The answer is N", the sentence the prompts ask for. Both work on the answer segment (after any
thinking, before any recited next question), use only linear-time scans, and never raise.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation

from polaris.scoring.base import Extraction
from polaris.scoring.text import answer_segment, last_match
from polaris.tasks.base import Item

VERSION = "numeric-1"

# A number as models write it: optional sign and currency, thousands separators, decimals.
_NUM = r"[-\u2212]?\s?\$?\s?[-\u2212]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
NUMBER = re.compile(_NUM)
STRICT = re.compile(r"the answer is:?\s*(?:\*\*)?\s*(" + _NUM + ")", re.IGNORECASE)
MARKERS = ("answer is", "####", "answer:", "\\boxed{", "final answer")
MAGNITUDES = 4  # random answers: an integer in 0..10^j, j drawn from 1..MAGNITUDES


def canonical(raw: str) -> str | None:
    """'$1,234.50' -> '1234.5'; '-0' -> '0'; None when it is not a number."""
    s = raw.replace(",", "").replace("$", "").replace(" ", "").replace("\u2212", "-")
    neg = s.count("-") % 2 == 1
    s = s.replace("-", "")
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    if neg:
        d = -d
    out = format(d.normalize(), "f")
    return "0" if out in ("-0", "0") else out


def flexible(text: str) -> str | None:
    seg = answer_segment(text)
    low = seg.lower()
    at = max(low.rfind(m) for m in MARKERS)
    if at >= 0:
        eol = seg.find("\n", at)
        m = NUMBER.search(seg, at, eol if eol >= 0 else len(seg))
        if m:
            return canonical(m.group())
    m = last_match(NUMBER, seg)
    return canonical(m.group()) if m else None


def strict(text: str) -> str | None:
    m = last_match(STRICT, answer_segment(text))
    return canonical(m.group(1)) if m else None


def same_number(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    try:
        x, y = Decimal(a), Decimal(b)
    except InvalidOperation:
        return False
    return abs(x - y) <= Decimal("1e-6") * max(Decimal(1), abs(y))


class NumericScorer:
    """Scorer for tasks whose gold answer is one number."""

    version = VERSION

    def extract(self, text: str, item: Item) -> Extraction:
        return Extraction(flexible(text), strict(text))

    def score(self, answer: str | None, item: Item) -> float:
        return 1.0 if same_number(answer, item.target) else 0.0

    def vote_key(self, answer: str, item: Item) -> str:
        return canonical(answer) or answer

    def gold(self, item: Item) -> str:
        return item.target

    def random_answer(self, item: Item, rng: random.Random) -> str:
        # Spread over the magnitudes GSM8K answers take; hitting the gold this way is the chance level.
        return str(rng.randint(0, 10 ** rng.randint(1, MAGNITUDES)))

    def chance(self, item: Item) -> float:
        """The rate of `random_answer` exactly: it picks j in 1..4, then an integer in 0..10^j, so a
        gold integer g >= 0 is hit with probability Σ_{j: 10^j >= g} 1 / (4·(10^j + 1)) (about 2.5%
        for single digits); other golds (negative, fractional) never."""
        try:
            g = Decimal(item.target)
        except InvalidOperation:
            return 0.0
        if not g.is_finite() or g < 0 or g != g.to_integral_value():
            return 0.0
        return sum(1.0 / (MAGNITUDES * (10**j + 1)) for j in range(1, MAGNITUDES + 1) if 10**j >= g)
