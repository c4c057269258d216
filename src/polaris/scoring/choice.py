"""Multiple-choice answers: the option letter a response chose (MMLU, BBH's "(A)".."(R)" tasks).

Strict extraction reads only the sentence the prompts ask for, "The answer is (X)." (the last one).
Flexible extraction reads, in order: the letter after the last "answer is" / "Answer:" / "option is"
in any common dress ("(B)", "B", "B.", "**B**", "\\boxed{B}", "[B]"); the option *text* written after
it ("The answer is Paris."); a bare reply ("B", "(B) Paris", "**B**"); and finally the last "(X)" in
the response. Answers are returned as "(X)", the form of the answer sentence and of BBH's targets.

What an announcement says is final: "the answer is (A) or (B)" is a hedge and "the answer is (C)" on
a two-option item names no option; both are no answer (`Extraction.flag` "hedged" / "invalid-option"),
and no letter is taken from the reasoning instead. Letters outside the item's options never count.
Everything runs in linear time and never raises.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from polaris.scoring.base import Extraction
from polaris.scoring.text import answer_segment, last_match
from polaris.tasks.base import Item

LETTERS = "ABCDEFGHIJKLMNOPQR"  # BBH's largest option list (reasoning_about_colored_objects) ends at (R)

_STRICT = re.compile(r"(?i:the answer is) \(([A-Z])\)")
_ANCHOR = re.compile(
    r"(?:\banswer\b(?:\s+(?:is|would\s+be|should\s+be|will\s+be|must\s+be)\b)?"
    r"(?:\s+(?:option|choice)\b)?"
    r"|\b(?:correct|right|best)\s+(?:option|choice)\s+(?:is|would\s+be)\b)\s*[:=]?",
    re.IGNORECASE,
)
_AFTER = re.compile(
    r"[\s*_]{0,16}(?:\$?\\boxed\{\s*)?(?:\\text(?:bf)?\{\s*)?"
    r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Z])(?![A-Za-z0-9'’-]))"
)
# A reply that is the letter: "B", "(B) Paris", "B. Paris", "B) Paris", "**B**" (not "A: Let's think",
# nor the article in "A cyclic group is...").
# A second letter offered beside the first: "(A) or (B)", "A/B", "(A), or (C)".
_OR_LETTER = re.compile(
    r"\s*,?\s*(?:or|and/or|/)\s*(?:(?:option|choice)\s+)?[*_]*(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Z])(?![A-Za-z0-9'’-]))",
    re.IGNORECASE,
)
# A bare letter that ends its sentence ("The answer is E.") is meant as a letter; "I think" is not.
_ENDS = re.compile(r"[ \t*_]*(?:[.)\]}$]|$)", re.MULTILINE)
_BARE = re.compile(r"^[*_]*(?:\(([A-Z])\)|\[([A-Z])\]|([A-Z])(?:[.)\]]|\*\*|(?=[*_]*$)))(?=\s|$|[*_])")
_PAREN = re.compile(r"\(([A-Z])\)")
_WORDS = re.compile(r"[^\w]+")
_CLIP = 200  # option texts are matched against this much text after the anchor
_ANCHORS_TRIED = 20


def valid_letters(item: Item) -> str:
    return LETTERS[: len(item.choices)] if item.choices else LETTERS


def letter_of(answer: str | None) -> str | None:
    """"(B)", "B" -> "B"; anything else -> None."""
    if answer is None:
        return None
    s = answer.strip().strip("()").strip()
    return s.upper() if len(s) == 1 and s.isalpha() else None


def _first(m: re.Match[str]) -> str:
    return next(g for g in m.groups() if g)


def _norm_text(s: str) -> str:
    return _WORDS.sub(" ", s.casefold()).strip()


def _other_letter(segment: str, at: int, letter: str) -> bool:
    """True if a different letter is offered right after `at` ("(A) or (B)"): a hedge."""
    m = _OR_LETTER.match(segment, at)
    if m is None:
        return False
    # "(A) or (B)" in parentheses, or a capital "or B": lower-case bare letters are words ("or a").
    other = next(g for g in m.groups() if g)
    return other.upper() != letter and (m.group(3) is None or other.isupper())


def strict_letter(segment: str, letters: str) -> str | None:
    m = last_match(_STRICT, segment)
    if m is None or m.group(1) not in letters or _other_letter(segment, m.end(), m.group(1)):
        return None
    return m.group(1)


def _by_option_text(after: str, choices: tuple[str, ...]) -> str | None:
    """The letter of the one option whose text the words after the anchor start with."""
    said = _norm_text(after[:_CLIP].split("\n", 1)[0])
    if not said:
        return None
    texts = [_norm_text(c) for c in choices]
    hits = [i for i, t in enumerate(texts) if t and (said == t or said.startswith(t + " "))]
    if len(hits) > 1:  # "New York City" vs "New York": the longest option wins
        longest = max(len(texts[i]) for i in hits)
        hits = [i for i in hits if len(texts[i]) == longest]
    return LETTERS[hits[0]] if len(hits) == 1 else None


def read_letter(segment: str, letters: str, choices: tuple[str, ...] = ()) -> tuple[str | None, str | None, bool]:
    """(letter, flag, fallback): the letter the response gives (None if none), why an announced
    answer is no answer ("hedged", "invalid-option"), and whether the letter was only the last "(X)"."""
    anchors = [m.end() for m in _ANCHOR.finditer(segment)][-_ANCHORS_TRIED:]
    for end in reversed(anchors):
        m = _AFTER.match(segment, end)
        if m:
            letter = _first(m).upper()
            if _other_letter(segment, m.end(), letter):
                return None, "hedged", False
            if letter in letters:
                return letter, None, False
            if m.group(3) is None or _ENDS.match(segment, m.end()):  # "(C)", "\\boxed{C}", "C." but not "I think"
                return None, "invalid-option", False
        if choices:
            hit = _by_option_text(segment[end:], choices)
            if hit is not None and hit in letters:
                return hit, None, False
    m = _BARE.match(segment.strip())
    if m and _first(m) in letters:
        return _first(m), None, False
    last = None
    for m in _PAREN.finditer(segment):
        if m.group(1) in letters:
            last = m.group(1)
    return last, None, last is not None


def flexible_letter(segment: str, letters: str, choices: tuple[str, ...] = ()) -> str | None:
    return read_letter(segment, letters, choices)[0]


def extract_choice(text: str, item: Item) -> Extraction:
    seg = answer_segment(text)
    letters = valid_letters(item)
    flex, flag, fallback = read_letter(seg, letters, item.choices)
    strict = strict_letter(seg, letters)
    return Extraction(f"({flex})" if flex else None, f"({strict})" if strict else None, flag, fallback)


@dataclass(frozen=True)
class ChoiceScorer:
    """Scorer for multiple-choice items; `item.target` is the letter, as "B" or "(B)"."""

    version: str = "choice-2"

    def extract(self, text: str, item: Item) -> Extraction:
        return extract_choice(text, item)

    def score(self, answer: str | None, item: Item) -> float:
        got = letter_of(answer)
        return 1.0 if got is not None and got == letter_of(item.target) else 0.0

    def vote_key(self, answer: str, item: Item) -> str:
        return letter_of(answer) or answer.strip()

    def gold(self, item: Item) -> str:
        return f"({letter_of(item.target)})"

    def random_answer(self, item: Item, rng: random.Random) -> str:
        return f"({rng.choice(valid_letters(item))})"

    def chance(self, item: Item) -> float:
        return 1.0 / len(valid_letters(item))
