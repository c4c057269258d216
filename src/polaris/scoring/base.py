"""The scorer contract: extract an answer from a response, judge it, and group equal answers.

Scorers are pure: the same text and item always give the same result, nothing is cached globally,
and nothing raises on hostile text (extractors are fuzzed). `version` goes into run manifests so a
change of extraction rules is visible; `polaris rescore` applies a new version to stored responses.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from polaris.tasks.base import Item


@dataclass(frozen=True, slots=True)
class Extraction:
    """The answer read from one response, by the flexible (headline) and the strict extractor."""

    answer: str | None  # flexible: how a lenient grader reads the response
    strict: str | None  # strict: only the exact format the prompt asked for
    # Why there is no flexible answer although the response announced one: "hedged" (it offers two
    # answers, "(A) or (B)") or "invalid-option" (it names a letter that is not an option). None
    # otherwise. Outcomes (scoring/outcome.py) report these apart from plain "no-answer".
    flag: str | None = None
    # The flexible answer was not announced ("the answer is", "####", \boxed, a bare reply) but read
    # from where the response stopped (its last number, the label it ends with, its last "(X)"). A
    # response cut at the token limit has no such answer: it stopped because it ran out of tokens.
    fallback: bool = False


@runtime_checkable
class Scorer(Protocol):
    version: str

    def extract(self, text: str, item: Item) -> Extraction:
        """Read the final answer from a model response (never raises)."""
        ...

    def score(self, answer: str | None, item: Item) -> float:
        """1.0 if the extracted answer is right, else 0.0 (None is always wrong)."""
        ...

    def vote_key(self, answer: str, item: Item) -> Hashable:
        """Answers with equal keys are the same answer in a majority vote."""
        ...

    def gold(self, item: Item) -> str:
        """The gold answer written the way the answer sentence expects it."""
        ...

    def random_answer(self, item: Item, rng: random.Random) -> str:
        """A well-formed answer drawn at random: the chance-level baseline."""
        ...

    def chance(self, item: Item) -> float | None:
        """Probability that a random well-formed answer is right (0 for free-form numbers); None when
        there is no closed form: the baseline is then estimated from `random_answer` draws."""
        ...


def score_many(scorer: Scorer, pairs: Sequence[tuple[str | None, Item]]) -> list[float]:
    """Score many answers; scorers with costly checks (MATH) override this with a process pool."""
    batch = getattr(scorer, "score_many", None)
    if batch is not None:
        return list(batch(pairs))
    return [scorer.score(a, it) for a, it in pairs]
