"""The lab's synthetic tasks as ordinary Polaris tasks (dataset + template + scorer).

Task names (the grammar `make_task` parses):

    lab/add-N           N-digit + N-digit addition                     (N = 1..12)
    lab/mul-N           N-digit * N-digit multiplication               (N = 1..6)
    lab/mul-NxM         N-digit * M-digit multiplication               (N, M = 1..6)
    lab/sum-KxN         K operands of N digits each, added             (K = 2..9, N = 1..6)
    lab/chain-K         a number 0-99 then K single-digit + - * steps,  (K = 1..12)
                        evaluated left to right, every value in 0..99
    ...-rev             any of the above with the answer's digits written in reverse
                        (least significant first); the extracted answer is un-reversed, so
                        scores and per-digit metrics compare the same numbers as the plain task

Formats: `zeroshot-direct` asks for the answer alone, `zeroshot-cot` for the scratchpad (see
problems.py) and then the answer. Few-shot formats are not offered: lab models are trained on the
zero-shot prompts only. The test set of a task is fixed by its name (plain and `-rev` share items),
so all models of a ladder answer the same questions; training data comes from `train_items`, which
never returns a test problem.
"""

from __future__ import annotations

import random
import re
from collections.abc import Hashable
from dataclasses import dataclass
from functools import lru_cache

from polaris.errors import PolarisError
from polaris.lab import problems as P
from polaris.prompts.render import render
from polaris.prompts.template import Template
from polaris.scoring.base import Extraction
from polaris.scoring.text import answer_segment
from polaris.tasks.base import Dataset, Item, Task

FORMATS = ("zeroshot-direct", "zeroshot-cot")
N_TEST = 500
N_TRAIN = 50_000
EXAMPLE_NAMES = ("lab/add-3", "lab/add-3-rev", "lab/mul-2", "lab/mul-3x1", "lab/sum-4x2", "lab/chain-4")

_NAME = re.compile(r"lab/(add|mul|sum|chain)-(\d+)(?:x(\d+))?(-rev)?")
_LIMITS = {"add": ((1, 12),), "mul": ((1, 6), (1, 6)), "sum": ((2, 9), (1, 6)), "chain": ((1, 12),)}
_GRAMMAR = "lab/add-N, lab/mul-N, lab/mul-NxM, lab/sum-KxN, lab/chain-K, each optionally with -rev"


@dataclass(frozen=True)
class LabSpec:
    """A parsed lab task name."""

    kind: str  # add | mul | sum | chain
    params: tuple[int, ...]
    reverse: bool

    @property
    def base(self) -> str:
        """The name without `-rev`: it seeds the problems, so plain and reversed share items."""
        if self.kind == "mul" and self.params[0] == self.params[1]:
            return f"lab/mul-{self.params[0]}"
        return f"lab/{self.kind}-" + "x".join(map(str, self.params))

    @property
    def name(self) -> str:
        return self.base + ("-rev" if self.reverse else "")

    def draw(self):
        if self.kind == "add":
            return P.gen_add(*self.params)
        if self.kind == "mul":
            return P.gen_mul(*self.params)
        if self.kind == "sum":
            return P.gen_sum(*self.params)
        return P.gen_chain(*self.params)

    def split(self, n_test: int = N_TEST, n_train: int = 0, data_seed: int = 0):
        space = P.space_size(self.kind, self.params)
        return P.split(self.draw(), self.base, space, n_test, n_train, data_seed)


def parse_name(name: str) -> LabSpec:
    m = _NAME.fullmatch(name.strip())
    if not m:
        raise PolarisError(f"unknown lab task '{name}' (names: {_GRAMMAR})")
    kind, a, b, rev = m.groups()
    if (kind in ("add", "chain") and b is not None) or (kind == "sum" and b is None):
        raise PolarisError(f"unknown lab task '{name}' (names: {_GRAMMAR})")
    if kind == "mul":
        params = (int(a), int(b or a))
    elif kind == "sum":
        params = (int(a), int(b))
    else:
        params = (int(a),)
    for value, (lo, hi) in zip(params, _LIMITS[kind]):
        if not lo <= value <= hi:
            raise PolarisError(f"lab task '{name}': {value} is out of range for {kind} ({lo}..{hi})")
    return LabSpec(kind, params, rev is not None)


def template_for(spec: LabSpec) -> Template:
    """Short hints a char-level model can tell apart; the answer sentence is the last line."""
    rev = ", digits reversed" if spec.reverse else ""
    return Template(
        instruction="Evaluate left to right." if spec.kind == "chain" else "",
        question="{question}",
        cot_trigger=f"Work it out{rev}.",
        answer=("Answer reversed: {answer}" if spec.reverse else "Answer: {answer}"),
        zeroshot_cot=f"Work it out{rev}.",
        zeroshot_direct=f"Answer directly{rev}.",
        stop=("\n\n",),  # a response never holds a blank line; the models also end with EOS
    )


_DIGITS = re.compile(r"\d+")


def _norm(digits: str) -> str:
    return digits.lstrip("0") or "0"


@dataclass(frozen=True)
class LabScorer:
    """Exact match on the final number. Strict: the last line is exactly the answer sentence.
    Flexible: the number after the last answer prefix anywhere, else the last number written."""

    prefix: str  # "Answer:" or "Answer reversed:"
    reverse: bool
    lo: int
    hi: int
    version: str = "lab-1"

    def extract(self, text: str, item: Item) -> Extraction:
        seg = answer_segment(text if isinstance(text, str) else "")
        lines = [ln.strip() for ln in seg.strip().splitlines() if ln.strip()]
        m = re.fullmatch(re.escape(self.prefix) + r" ?(\d+)", lines[-1]) if lines else None
        strict = m.group(1) if m else None
        at = seg.lower().rfind(self.prefix.lower())
        if at >= 0:
            found = _DIGITS.match(seg[at + len(self.prefix) :].lstrip())
            flexible = found.group(0) if found else None
        else:
            numbers = _DIGITS.findall(seg)
            flexible = numbers[-1] if numbers else None
        # The last number written is a fallback read, not an announced answer: in a response cut at the
        # token limit it is wherever the scratchpad stopped (scoring/outcome.py: truncated, not wrong).
        return Extraction(self._read(flexible), self._read(strict), fallback=at < 0 and flexible is not None)

    def _read(self, written: str | None) -> str | None:
        if written is None:
            return None
        return written[::-1] if self.reverse else written

    def score(self, answer: str | None, item: Item) -> float:
        if answer is None or not answer.isdigit():
            return 0.0
        return 1.0 if _norm(answer) == _norm(item.target) else 0.0

    def vote_key(self, answer: str, item: Item) -> Hashable:
        return _norm(answer) if answer.isdigit() else answer.strip()

    def gold(self, item: Item) -> str:
        return item.target[::-1] if self.reverse else item.target

    def random_answer(self, item: Item, rng: random.Random) -> str:
        """A uniform draw from the possible answers, written as `gold` writes it."""
        value = str(rng.randint(self.lo, self.hi))
        return value[::-1] if self.reverse else value

    def chance(self, item: Item) -> float:
        return 1.0 / (self.hi - self.lo + 1)


def _item(i: int, p: P.Problem, spec: LabSpec, lo: int, hi: int) -> Item:
    meta = {"kind": spec.kind, "operands": list(p.operands), "lo": lo, "hi": hi, "digits": len(str(p.answer))}
    return Item(id=f"{i:05d}", question=p.question, target=str(p.answer), rationale=p.rationale, meta=meta)


_DESCRIPTIONS = {
    "add": "{0}-digit addition",
    "mul": "{0}-digit by {1}-digit multiplication",
    "sum": "sum of {0} {1}-digit numbers",
    "chain": "chain of {0} single-digit operations, left to right",
}


@lru_cache(maxsize=128)
def _test_items(name: str, n_test: int) -> tuple[Item, ...]:
    spec = parse_name(name)
    lo, hi = P.answer_range(spec.kind, spec.params)
    test, _ = spec.split(n_test, 0)
    return tuple(_item(i, p, spec, lo, hi) for i, p in enumerate(test))


def make_task(name: str, n_test: int = N_TEST) -> Task:
    """The Polaris task for a lab task name (see the module docstring for the grammar)."""
    spec = parse_name(name)
    lo, hi = P.answer_range(spec.kind, spec.params)
    template = template_for(spec)
    scorer = LabScorer(template.answer.split("{")[0].strip(), spec.reverse, lo, hi)
    desc = _DESCRIPTIONS[spec.kind].format(*spec.params) + (", answer reversed" if spec.reverse else "")
    size = min(n_test, max(1, P.space_size(spec.kind, spec.params) // 5))
    dataset = Dataset(load=lambda: _test_items(spec.name, n_test), exemplars=lambda group: (), size=size)
    return Task(spec.name, f"Lab: {desc} (synthetic)", dataset, template, scorer, formats=FORMATS, solver="lab")


def train_items(name: str, n_train: int = N_TRAIN, data_seed: int = 0) -> list[Item]:
    """Training problems for a task: disjoint from its test set (`make_task(name).dataset.load()`)."""
    spec = parse_name(name)
    lo, hi = P.answer_range(spec.kind, spec.params)
    _, train = spec.split(N_TEST, n_train, data_seed)
    return [_item(i, p, spec, lo, hi) for i, p in enumerate(train)]


def gold_response(task: Task, item: Item, cot: bool) -> str:
    """What a perfect model writes: the answer alone, or the scratchpad then the answer. The models
    are trained on it and the lab solver scores its log-prob, so both read it from here."""
    return task.template.response(item.rationale, task.scorer.gold(item), cot)


def prompt_and_response(task: Task, item: Item, fmt: str) -> tuple[str, str]:
    """The completion prompt the runner sends for a zero-shot format, and the gold response."""
    prompt = render(task.template, fmt, task.template.item_text(item), (), api="completions")
    return prompt.text or "", gold_response(task, item, fmt.endswith("cot"))


def digit_accuracy(answer: str | None, target: str) -> float:
    """Share of digit positions (aligned by place value) the answer gets right; extra or missing
    digits count as wrong. The smooth counterpart of exact match (Schaeffer et al.)."""
    from polaris.analysis.metrics import per_token_accuracy  # numpy: kept off the task listing's imports

    if answer is None or not answer.isdigit():
        return 0.0
    return per_token_accuracy(_norm(answer), _norm(target))  # digits align on the right
