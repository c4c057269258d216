"""BIG-Bench Hard answers: option letters for 17 tasks, free-form targets for the other 10.

Each item's `meta["kind"]` names its answer type (set by `tasks/bbh.py`, else inferred from the
target): "choice" ("(A)".."(R)", read by `scoring.choice`), "bool" (True/False), "yesno" (Yes/No),
"valid" (valid/invalid), "number", "dyck" (closing brackets), "words" (a sorted word list) and "text"
(the three BBH targets that are option *texts*, e.g. "Monsters, Inc", kept as the data has them).

Strict extraction reads the last "the answer is X" sentence, X well formed for the kind. Flexible
extraction reads X after the last "answer is" and falls back to where the response stops: the label
it ends with ("... = not True = false"), the last number, or the last line. A response that stops
anywhere else (a repetition loop cut off mid-expression) has no answer: label words are the
intermediate values of every reasoning chain of these tasks, so the last one is not an answer. Two
different answers offered ("True or False", "5 or 6") are a hedge, no answer. Targets and answers are
compared after a per-kind normalisation (case, spacing, thousands separators, numeric value, word
separators).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from fractions import Fraction

from polaris.scoring.base import Extraction
from polaris.scoring.choice import ChoiceScorer, extract_choice, letter_of
from polaris.scoring.text import answer_segment, last_match
from polaris.tasks.base import Item

KIND_OF_TASK = {
    "boolean_expressions": "bool",
    "causal_judgement": "yesno",
    "navigate": "yesno",
    "web_of_lies": "yesno",
    "sports_understanding": "yesno",
    "formal_fallacies": "valid",
    "multistep_arithmetic_two": "number",
    "object_counting": "number",
    "dyck_languages": "dyck",
    "word_sorting": "words",
}  # the other 17 tasks: "choice"
LABELS = {"bool": ("True", "False"), "yesno": ("Yes", "No"), "valid": ("valid", "invalid")}

_LABEL_RE = {
    kind: re.compile(r"\b(" + "|".join(sorted(labels, key=len, reverse=True)) + r")\b", re.IGNORECASE)
    for kind, labels in LABELS.items()
}
_ANSWER_IS = re.compile(r"answer is\b", re.IGNORECASE)
_THE_ANSWER_IS = re.compile(r"(?i:the answer is)\b")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_DYCK = re.compile(r"^[()\[\]{}<>]+$")
_WORD_SEP = re.compile(r"[\s,]+")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")
_EDGE_PUNCT = " \t.,;:!?\"'`*_"
_ANCHORS_TRIED = 20
_OR = re.compile(r"\bor\b", re.IGNORECASE)
_NUMBER_OR = re.compile(r"(-?\d[\d,]*(?:\.\d+)?)\s*,?\s*or\s+(-?\d[\d,]*(?:\.\d+)?)", re.IGNORECASE)
# The label a response ends with, trailing punctuation and markdown aside.
_LABEL_END = {
    kind: re.compile(r"\b(" + "|".join(sorted(labels, key=len, reverse=True)) + r")\b[\s.,;:!?\"'`*_)\]]*$",
                     re.IGNORECASE)
    for kind, labels in LABELS.items()
}
_TAIL = 200  # characters of the end of a response searched for the label it ends with
_MAX_NUMBER = 40  # digits: no huge conversions on hostile text


def kind_of(item: Item) -> str:
    kind = item.meta.get("kind") if item.meta else None
    if isinstance(kind, str):
        return kind
    target = item.target.strip()
    if letter_of(target) is not None and target.startswith("("):
        return "choice"
    for name, labels in LABELS.items():
        if target.casefold() in (x.casefold() for x in labels):
            return name
    if _NUMBER.fullmatch(target):
        return "number"
    if _DYCK.match(target.replace(" ", "")):
        return "dyck"
    return "text"


def _clip(rest: str) -> str:
    """X in "answer is X": the rest of its line (or the next line if that is empty), unwrapped."""
    rest = rest.lstrip(" \t:")
    lines = rest.split("\n", 4)[:4]
    line = next((ln for ln in lines if ln.strip(_EDGE_PUNCT)), "")
    return _SENTENCE_END.split(line, 1)[0].strip(_EDGE_PUNCT)


def _number(s: str) -> str | None:
    m = _NUMBER.search(s)
    if not m or len(m.group()) > _MAX_NUMBER:
        return None
    return m.group().replace(",", "")


def _read(kind: str, x: str, exact: bool) -> str | None:
    """A well-formed answer of `kind` from the clipped text `x` (exact: nothing else in `x`)."""
    if kind in LABELS:
        m = _LABEL_RE[kind].fullmatch(x) if exact else _LABEL_RE[kind].search(x)
        return next(lb for lb in LABELS[kind] if lb.casefold() == m.group(1).casefold()) if m else None
    if kind == "number":
        if exact and not _NUMBER.fullmatch(x):
            return None
        return _number(x)
    if kind == "dyck":
        compact = "".join(x.split())
        return " ".join(compact) if compact and _DYCK.match(compact) else None
    if kind == "words":
        words = [w for w in _WORD_SEP.split(x) if w]
        return " ".join(words) if words else None
    return " ".join(x.split()) or None  # text


def _last_line(seg: str) -> str:
    for line in reversed(seg.strip().split("\n")[-50:]):
        line = re.sub(r"^\s*(?:A:|Answer:)\s*", "", line, flags=re.IGNORECASE)
        if line.strip(_EDGE_PUNCT):
            return line.strip(_EDGE_PUNCT)
    return ""


def _fallback(kind: str, seg: str) -> str | None:
    if kind in LABELS:
        tail = seg[-_TAIL:]
        last = _LABEL_END[kind].search(tail)
        return _read(kind, last.group(1), True) if last else None
    if kind == "number":
        last = last_match(_NUMBER, seg)
        return _number(last.group()) if last else None
    if kind == "words":
        listed = _listed_words(seg)
        if listed:
            return listed
    return _read(kind, _last_line(seg), kind != "words")


def _hedged(kind: str, x: str) -> bool:
    """Two different answers offered in the announced text ("True or False", "5 or 6")."""
    if not _OR.search(x):
        return False
    if kind in LABELS:
        found = {m.group(1).casefold() for m in _LABEL_RE[kind].finditer(x)}
    elif kind == "number":  # "7 or 8"; not "7 (or seven)", not "3 hours or 180 minutes"
        pair = _NUMBER_OR.search(x)
        found = {_number(pair.group(1)), _number(pair.group(2))} if pair else set()
    else:
        return False
    return len(found) > 1


def _listed_words(seg: str) -> str | None:
    """Words given one per line at the end ("1. apple", "- banana")."""
    words: list[str] = []
    for line in reversed(seg.strip().split("\n")[-500:]):
        word = re.sub(r"^\s*(?:[-*]|\d+[.)])\s*", "", line).strip(_EDGE_PUNCT)
        if not word or len(word.split()) != 1 or line.rstrip().endswith(":"):
            break  # a blank line, a sentence, or a header such as "Sorted:"
        words.append(word)
    return " ".join(reversed(words)) if len(words) >= 2 else None


def extract_free(text: str, kind: str) -> Extraction:
    seg = answer_segment(text)
    strict = None
    last = last_match(_THE_ANSWER_IS, seg)
    if last is not None:
        strict = _read(kind, _clip(seg[last.end() :]), exact=True)
    flexible = None
    anchors = [m.end() for m in _ANSWER_IS.finditer(seg)][-_ANCHORS_TRIED:]
    for end in reversed(anchors):
        x = _clip(seg[end:])
        if _hedged(kind, x):
            return Extraction(None, None, "hedged")
        flexible = _read(kind, x, exact=False)
        if flexible is not None:
            return Extraction(flexible, strict)
    flexible = _fallback(kind, seg)
    # A reply that is only its answer ("True", "A: 7") is one; anything longer stopped somewhere.
    bare = flexible is not None and "\n" not in seg.strip() and len(seg.strip()) <= 2 * len(flexible) + 8
    return Extraction(flexible, strict, None, flexible is not None and not bare)


def normalize(answer: str, kind: str) -> str | Fraction | None:
    """The comparison key of an answer of `kind`."""
    if kind == "choice":
        return letter_of(answer)
    if kind == "number":
        n = _number(answer)
        try:
            return Fraction(n) if n is not None else None
        except (ValueError, ZeroDivisionError):
            return None
    if kind == "dyck":
        return "".join(answer.split())
    if kind == "words":
        return " ".join(w for w in _WORD_SEP.split(answer.casefold()) if w)
    return " ".join(answer.casefold().split()).strip(_EDGE_PUNCT)


@dataclass(frozen=True)
class BBHScorer:
    """Scorer for all BBH tasks; dispatches on each item's answer kind."""

    version: str = "bbh-2"

    def extract(self, text: str, item: Item) -> Extraction:
        kind = kind_of(item)
        if kind == "choice":
            return extract_choice(text, item)
        return extract_free(text, kind)

    def score(self, answer: str | None, item: Item) -> float:
        if answer is None:
            return 0.0
        kind = kind_of(item)
        got = normalize(answer, kind)
        return 1.0 if got is not None and got == normalize(item.target, kind) else 0.0

    def vote_key(self, answer: str, item: Item) -> str:
        key = normalize(answer, kind_of(item))
        return str(key) if key is not None else answer.strip()

    def gold(self, item: Item) -> str:
        kind = kind_of(item)
        return ChoiceScorer().gold(item) if kind == "choice" else item.target.strip()

    def random_answer(self, item: Item, rng: random.Random) -> str:
        kind = kind_of(item)
        if kind == "choice":
            return ChoiceScorer().random_answer(item, rng)
        if kind in LABELS:
            label = rng.choice(LABELS[kind])
            return label.lower() if item.target.islower() else label
        if kind == "number":
            return str(rng.randint(-100, 100) if "-" in item.question else rng.randint(0, 20))
        if kind == "dyck":
            return " ".join(rng.choice(")]}>") for _ in range(rng.randint(1, 6)))
        if kind == "words":
            words = item.question.rsplit("List:", 1)[-1].split()
            rng.shuffle(words)
            return " ".join(words)
        return item.choices[rng.randrange(len(item.choices))] if item.choices else "unknown"

    def chance(self, item: Item) -> float | None:
        kind = kind_of(item)
        if kind == "choice":
            return ChoiceScorer().chance(item)
        if kind in LABELS:
            return 1.0 / len(LABELS[kind])
        if kind == "text":
            return 1.0 / len(item.choices) if item.choices else 0.0
        # Counts, short Dyck closings, word orders: small answer spaces with no closed form for the
        # guesses `random_answer` makes (a count in 0-20 is right ~1/21 of the time): Monte Carlo
        # (analysis/baseline.py).
        return None
