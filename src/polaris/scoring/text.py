"""Text surgery shared by all extractors: reasoning tags and the answer segment.

Reasoning models wrap their thinking in tags; the answer is read only from what follows the last
closing tag. Base models often keep writing the next few-shot question; the answer segment stops
there, so a recited exemplar answer is never read as the model's own. They also start over: having
answered, they write the reasoning trigger ("Let's think step by step.") again and solve the problem
a second time; the answer segment stops there too, so the first answer given is the one read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

THINK_TAGS: tuple[tuple[str, str], ...] = (
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("<reasoning>", "</reasoning>"),
    ("<|begin_of_thought|>", "<|end_of_thought|>"),
)

def last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    """The last match of `pattern` in `text` (None if none)."""
    last = None
    for m in pattern.finditer(text):
        last = m
    return last


CONTINUATIONS = ("\n\nQuestion:", "\nQuestion:", "\n\nQ:", "\nQ:", "\n\nProblem:", "[STATEMENT]")
# The reasoning trigger at the start of a line: where it follows an answer the model has started over.
RESTART = re.compile(r"^[ \t*_]*(?:A:[ \t]*)?let[’']s think step by step", re.IGNORECASE | re.MULTILINE)
# An answer announced before a restart ("the answer is", "Answer:", "####", \boxed): without one, the
# trigger is where the reasoning begins ("To answer this:\nLet's think step by step."), not a second attempt.
_ANSWERED = re.compile(r"\banswer\b[*_]*(?:\s*\([^()\n]{0,40}\))?[*_]*\s*(?:is\b|was\b|:)|####|\\boxed|\\fbox",
                       re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Split:
    answer: str  # what the model said after thinking
    reasoning: str  # the thinking, without tags ("" if none)
    unterminated: bool  # thinking began and never ended: there is no answer to read


def split_thinking(text: str, tags: tuple[tuple[str, str], ...] = THINK_TAGS) -> Split:
    """Separate reasoning from the answer. Servers that strip the opening tag (only `</think>` is in
    the text) are handled too: everything before the last closing tag is reasoning."""
    for open_tag, close_tag in tags:
        end = text.rfind(close_tag)
        if end >= 0:
            start = text.find(open_tag)
            begin = start + len(open_tag) if 0 <= start < end else 0
            return Split(text[end + len(close_tag) :], text[begin:end].strip(), False)
        start = text.find(open_tag)
        if start >= 0:
            return Split(text[:start], text[start + len(open_tag) :].strip(), True)
    return Split(text, "", False)


def answer_segment(text: str, continuations: tuple[str, ...] = CONTINUATIONS) -> str:
    """The part of a response that is the model's own answer: after thinking, before it starts
    writing the next question of a few-shot prompt."""
    answer = split_thinking(text).answer
    cut = len(answer)
    for marker in continuations:
        i = answer.find(marker)
        if 0 <= i < cut:
            cut = i
    return answer[:restart(answer, cut)]


def restart(text: str, end: int | None = None) -> int:
    """Where the model starts over in `text[:end]`: the first reasoning trigger at the start of a line
    after the first answer marker; `end` (or len(text)) when it never does."""
    end = len(text) if end is None else end
    answered = _ANSWERED.search(text, 0, end)
    if answered is None:
        return end
    m = RESTART.search(text, answered.end(), end)  # `^` matches only at real line starts
    return m.start() if m else end
