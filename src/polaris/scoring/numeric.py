"""Numeric answers (GSM8K and the like): read the final number however a model writes it.

Flexible (headline): the number the last *announcing* marker gives, else the last number of the
answer segment. A marker announces an answer when it is followed by "is", ":" or "=": "the answer is",
"Answer:", "final answer is", Kojima et al.'s "the answer (arabic numerals) is", and "####" and
"\\boxed{". Mentions in prose ("let's check our final answer.") announce nothing.

What the marker gives is read from its sentence:
- the first number after it; "the answer is 30 + 20 = 50": the number after the last "=";
- a malformed number ("#### 125,96", "1.2.3") is no answer, and the marker is not looked past;
- two different numbers offered ("5 or 6", "$5, or $6") are a hedge: no answer (`Extraction.flag =
  "hedged"`); "3 hours or 180 minutes" restates one answer and is read as 3.

Strict: only "The answer is N", the sentence the prompts ask for, read by the same rules. Both work
on the answer segment (after any thinking, before a recited next question or a restart), use only
linear-time scans, and never raise. Numbers compare exactly: 1450001 is not 1450000, 18.0 is 18.
"""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation

from polaris.scoring.base import Extraction
from polaris.scoring.text import answer_segment, last_match
from polaris.tasks.base import Item

VERSION = "numeric-2"

# A number as models write it: optional sign and currency, thousands separators, decimals.
_NUM = r"[-\u2212]?\s?\$?\s?[-\u2212]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?"
NUMBER = re.compile(_NUM)
# What stands where a number is announced, well formed or not: "125,96" and "1.2.3" are one token.
_TOKEN = re.compile(r"[-\u2212]?\s?\$?\s?[-\u2212]?\d[\d,]*(?:\.\d+)*")
_WELL_FORMED = re.compile(r"[-\u2212]?\s?\$?\s?[-\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_MARKER = re.compile(
    r"\banswer\b[*_]*(?:\s*\([^()\n]{0,40}\))?[*_]*\s*(?:is\b|was\b|(?:would|will|should)\s+be\b|[:=])"
    r"|####|\\boxed\s*\{",
    re.IGNORECASE,
)
_STRICT = re.compile(r"the answer is\b", re.IGNORECASE)
_STRICT_LEAD = re.compile(r":?\s*(?:\*\*)?\s*(?=[-\u2212$\d])")
_SENTENCE_END = re.compile(r"[.!?;](?:\s|$)|\n")
_BLANK_REST = re.compile(r"[ \t*_:]*\n\s*")  # "Answer:" alone on its line: the answer is on the next one
# "30 + 20 = 50" right after the first number: the equation's result is the answer.
_EQUATION = re.compile(r"(?:\s*[-+*/\u00d7\u00f7^x]\s*\(?\s*\$?\d[\d,]*(?:\.\d+)?\s*\)?)+\s*=\s*")
# "5 or 6" offers two answers; "3 hours or 180 minutes" converts one (words between: no hedge).
_HEDGE = re.compile(r"\s*,?\s*or\s+(?:maybe\s+|perhaps\s+|possibly\s+)?(?=[-\u2212$\d])", re.IGNORECASE)
_MAX_DIGITS = 60  # no huge Decimal conversions on hostile text
MAGNITUDES = 4  # random answers: an integer in 0..10^j, j drawn from 1..MAGNITUDES


def canonical(raw: str) -> str | None:
    """'$1,234.50' -> '1234.5'; '-0' -> '0'; None when it is not a number."""
    s = raw.replace(",", "").replace("$", "").replace(" ", "").replace("\u2212", "-")
    neg = s.count("-") % 2 == 1
    s = s.replace("-", "")
    if len(s) > _MAX_DIGITS:
        return None
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


def _token(raw: str) -> str | None:
    """A number token read as an answer: None when it is malformed ("125,96", "1.2.3")."""
    raw = raw.rstrip(",")
    return canonical(raw) if _WELL_FORMED.fullmatch(raw) else None


def read_after(seg: str, start: int) -> tuple[str | None, str | None]:
    """(answer, flag) announced at `seg[start:]`, read within its sentence; (None, None) when the
    sentence holds no number (the caller may fall back), (None, "malformed"/"hedged") when it holds
    one that is no answer."""
    blank = _BLANK_REST.match(seg, start)
    if blank is not None:
        start = blank.end()
    end_m = _SENTENCE_END.search(seg, start)
    # "1.5" ends no sentence: only a full stop followed by a space or the end of the text does.
    end = end_m.start() if end_m else len(seg)
    first = _TOKEN.search(seg, start, end)
    if first is None:
        return None, None
    at = first.end()
    eq = _EQUATION.match(seg, at, end)
    if eq is not None:
        result = _TOKEN.match(seg, eq.end(), end)
        if result is not None:
            first, at = result, result.end()
    value = _token(first.group())
    if value is None:
        return None, "malformed"
    alt = _HEDGE.match(seg, at, end)
    if alt is not None:
        other = _TOKEN.match(seg, alt.end(), end)
        if other is not None and _token(other.group()) not in (None, value):
            return None, "hedged"
    return value, None


def read_numeric(text: str) -> Extraction:
    seg = answer_segment(text)
    flex: str | None = None
    flag: str | None = None
    fallback = False
    marker = last_match(_MARKER, seg)
    if marker is not None:
        flex, flag = read_after(seg, marker.end())
    if flex is None and flag is None:
        m = last_match(NUMBER, seg)
        if m is not None:
            flex = canonical(m.group())
            # A reply that is only the number is an answer; a number where the text stops is a guess.
            fallback = seg.strip().strip(".*").strip() != m.group().strip()
    strict = None
    said = last_match(_STRICT, seg)
    if said is not None:
        lead = _STRICT_LEAD.match(seg, said.end())
        if lead is not None:
            strict = read_after(seg, lead.end())[0]
    return Extraction(flex, strict, "hedged" if flag == "hedged" else None, fallback)


def flexible(text: str) -> str | None:
    return read_numeric(text).answer


def strict(text: str) -> str | None:
    return read_numeric(text).strict


def same_number(a: str | None, b: str | None) -> bool:
    """Exact equality of values: integers compare exactly (1450001 != 1450000), and so do decimals
    (2.50 == 2.5, 0.333 != 1/3 written as 0.3333)."""
    if a is None or b is None:
        return False
    x, y = canonical(a), canonical(b)
    if x is None or y is None:
        return False
    return Decimal(x) == Decimal(y)


class NumericScorer:
    """Scorer for tasks whose gold answer is one number."""

    version = VERSION

    def extract(self, text: str, item: Item) -> Extraction:
        return read_numeric(text)

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
