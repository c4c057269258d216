"""Lu et al.'s (2024) exact-match accuracy (EMA) for their three prompt templates.

Read from `evaluation.ipynb: exact_match` of UKPLab/on-emergence. The output is lower-cased and
stripped of leading commas, full stops and white space, then:

- `closed` and `open`: right when the output *starts with* the right option, quoted ("\\"paris\\"")
  or bare, and *no other option appears after it*. An output that starts with no option, or
  names a second one later, is wrong whatever it says.
- `closed-adv` (letters): right when the output starts with the right letter "(b)" and no other
  option's letter appears after it.

Where we differ from the notebook, on purpose, so a rule means what it says:
- leading ",", ".", spaces and newlines are stripped in any order (the notebook strips each once,
  in that order, so "\\n (b)" kept its space and failed);
- a bare option must end at a word boundary ("no" is not read from "nothing"), and a later option
  counts only as a whole word ("no" does not appear in "know"); when several options are
  prefixes of the output the longest wins ("new york city" over "new york");
- closed-adv excludes every other option letter of the item, not only "(a)", "(b)" and "(c)", and
  never the right one (the notebook failed "(b) ... (b)").

Answers are written as the templates write them: the quoted option text (trailing full stop
dropped, as Lu et al.'s prompts do) for `closed` and `open`, the letter "(b)" for `closed-adv`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from polaris.scoring.base import Extraction
from polaris.tasks.base import Item

TEMPLATES = ("closed", "closed-adv", "open")
_LEAD = ",. \t\r\n"
_LETTER = re.compile(r"\(([a-z])\)")
LOWER = "abcdefghijklmnopqrstuvwxyz"


def option_text(option: str) -> str:
    """An option as the closed/open prompts quote it: trailing full stops dropped (Lu et al.)."""
    return option.strip().rstrip(".")


def quoted(option: str) -> str:
    return f'"{option_text(option)}"'


def letter(index: int) -> str:
    return f"({LOWER[index]})"


def _clean(text: str) -> str:
    return text.lstrip(_LEAD).lower()


def _word(needle: str, hay: str) -> bool:
    return re.search(r"(?<!\w)" + re.escape(needle) + r"(?!\w)", hay) is not None


def ema_option(output: str, options: tuple[str, ...]) -> int | None:
    """Index of the option an open/closed output gives under the EMA rule, or None."""
    out = _clean(output)
    best: tuple[int, int] | None = None  # (matched length, option index)
    for i, opt in enumerate(options):
        q, bare = quoted(opt).lower(), option_text(opt).lower()
        if not bare:
            continue
        if out.startswith(q):
            length = len(q)
        elif out.startswith(bare) and not (len(out) > len(bare) and (out[len(bare)].isalnum() or out[len(bare)] == "_")):
            length = len(bare)
        else:
            continue
        if best is None or length > best[0]:
            best = (length, i)
    if best is None:
        return None
    length, chosen = best
    rest = out[length:]
    for j, opt in enumerate(options):
        bare = option_text(opt).lower()
        if j != chosen and bare and bare != option_text(options[chosen]).lower() and (
            quoted(opt).lower() in rest or _word(bare, rest)
        ):
            return None
    return chosen


def ema_letter(output: str, n_options: int) -> int | None:
    """Index of the option a closed-adv output gives: a leading "(x)" and no other option letter later."""
    out = _clean(output)
    m = _LETTER.match(out)
    if m is None:
        return None
    chosen = LOWER.index(m.group(1))
    if chosen >= n_options:
        return None
    rest = out[m.end():]
    if any(letter(j) in rest for j in range(n_options) if j != chosen):
        return None
    return chosen


def item_options(item: Item) -> tuple[tuple[str, ...], int | None] | None:
    """(options, index of the right one) of a multiple-choice item; None if it is not one.

    Lettered items (MMLU, BBH's "(A)".."(R)" tasks) use their option texts; BBH's two-label tasks
    their labels (True/False, Yes/No, valid/invalid)."""
    from polaris.prompts.template import LETTERS
    from polaris.scoring.bbh import LABELS
    from polaris.scoring.choice import letter_of

    if item.choices:
        got = letter_of(item.target)
        gold = LETTERS.index(got) if got is not None and LETTERS.index(got) < len(item.choices) else None
        return tuple(item.choices), gold
    kind = item.meta.get("kind") if item.meta else None
    if kind in LABELS:
        labels = LABELS[kind]
        target = item.target.strip().casefold()
        return labels, next((i for i, lb in enumerate(labels) if lb.casefold() == target), None)
    return None


@dataclass(frozen=True)
class EMAScorer:
    """Scorer for a cell run with one of Lu et al.'s templates (`-T template=`)."""

    template: str
    version: str = "ema-1"

    def __post_init__(self) -> None:
        if self.template not in TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}")

    def _options(self, item: Item) -> tuple[tuple[str, ...], int | None]:
        found = item_options(item)
        return found if found is not None else ((), None)

    def form(self, options: tuple[str, ...], index: int) -> str:
        """Option `index` written as this template's answers are."""
        return letter(index) if self.template == "closed-adv" else quoted(options[index])

    def index(self, answer: str | None, item: Item) -> int | None:
        """The option an extracted answer names (None if none)."""
        if answer is None:
            return None
        options, _ = self._options(item)
        if self.template == "closed-adv":
            m = _LETTER.fullmatch(answer.strip().lower())
            i = LOWER.index(m.group(1)) if m else None
            return i if i is not None and i < len(options) else None
        wanted = answer.strip().lower()
        return next((i for i, o in enumerate(options) if quoted(o).lower() == wanted), None)

    def extract(self, text: str, item: Item) -> Extraction:
        options, _ = self._options(item)
        if not options or not isinstance(text, str):
            return Extraction(None, None)
        i = ema_letter(text, len(options)) if self.template == "closed-adv" else ema_option(text, options)
        answer = None if i is None else self.form(options, i)
        return Extraction(answer, answer)

    def score(self, answer: str | None, item: Item) -> float:
        _, gold = self._options(item)
        i = self.index(answer, item)
        return 1.0 if i is not None and i == gold else 0.0

    def vote_key(self, answer: str, item: Item) -> str:
        i = self.index(answer, item)
        return str(i) if i is not None else answer.strip().lower()

    def gold(self, item: Item) -> str:
        options, gold = self._options(item)
        return self.form(options, gold) if gold is not None else item.target

    def random_answer(self, item: Item, rng: random.Random) -> str:
        options, _ = self._options(item)
        return self.form(options, rng.randrange(len(options)))

    def chance(self, item: Item) -> float:
        options, _ = self._options(item)
        return 1.0 / len(options) if options else 0.0
