"""Text surgery shared by all extractors: reasoning tags and the answer segment.

Reasoning models wrap their thinking in tags; the answer is read only from what follows the last
closing tag. Base models often keep writing the next few-shot question; the answer segment stops
there, so a recited exemplar answer is never read as the model's own.
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
    return answer[:cut]
