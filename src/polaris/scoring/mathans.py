"""MATH answers: extraction from a response, equivalence with the gold answer, votes.

Flexible extraction reads, in order: the last `\\boxed{...}` / `\\fbox{...}` (nested braces, spaces,
`\\boxed 5`), the last "answer is X" / "Answer: X" (which covers Minerva's "Final Answer: The final
answer is X. I hope it is correct."), and a bare one-line response. Strict extraction reads only the
sentence the prompt asks for, Minerva's. Everything is read from the answer segment (after thinking,
before a recited next problem) and runs in linear time.

Equivalence: equal normal forms (`mathnorm`), else math-verify in a worker pool under a hard time
limit (`mathpool`): fractions vs decimals, `\\dfrac` vs `\\frac`, `a/b`, reordered sets, intervals,
units and `\\text{}` wrappers, percentages. Decimals are compared by their exact value, never after
rounding: 0.5 is \\frac{1}{2}, but 4.472136 is not 2\\sqrt{5} (`mathnorm.decide_forms`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from polaris.scoring.base import Extraction
from polaris.scoring.mathnorm import decide, decide_forms, exact_number, normalize_math, unwrap_math
from polaris.scoring.mathpool import TIME_LIMIT, CheckPool, shared_pool
from polaris.scoring.text import answer_segment
from polaris.tasks.base import Item

RANDOM_MAX = 100  # random answers are the integers 0..RANDOM_MAX (the chance level's guesses)

MINERVA = "Final Answer: The final answer is"
HOPE = "I hope it is correct"

_BOX = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BRACE = re.compile(r"\\[\\{}]|[{}]")
_BARE_BOX = re.compile(r"[^\s$]+")
_ANCHOR = re.compile(r"answer(?:\s+is\b|\s*:)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_NOT_ANSWERS = {"correct", "incorrect", "wrong", "right", "not", "that", "as follows", "below"}
_MAX_BARE = 80  # a response this short with no marker is taken as the answer itself...
_MATHY = re.compile(r"[\d\\$^_{}=()\[\]]")  # ...if it looks like mathematics, not "I don't know"


def _brace_pairs(text: str, start: int) -> dict[int, int]:
    """Opening -> closing brace positions from `start` on, skipping `\\{`, `\\}` and `\\\\`."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    for m in _BRACE.finditer(text, start):
        tok = m.group()
        if tok == "{":
            stack.append(m.start())
        elif tok == "}" and stack:
            pairs[stack.pop()] = m.start()
    return pairs


def last_boxed(text: str) -> str | None:
    """Content of the last closed, non-empty `\\boxed{...}` or `\\fbox{...}` (or `\\boxed 5`)."""
    ends = [m.end() for m in _BOX.finditer(text)]
    pairs: dict[int, int] | None = None
    for end in reversed(ends):
        j = end
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            if pairs is None:
                pairs = _brace_pairs(text, ends[0])
            close = pairs.get(j)
            if close is not None and text[j + 1 : close].strip():
                return text[j + 1 : close].strip()
        elif j > end:
            m = _BARE_BOX.match(text, j)
            if m and m.group().rstrip("."):
                return m.group().rstrip(".")
    return None


def _closing(s: str, close: str, start: int) -> int:
    """Index of the first unescaped `close` in `s` from `start`, or -1."""
    i = s.find(close, start)
    while i > 0 and s[i - 1] == "\\" and close == "$":
        i = s.find(close, i + 1)
    return i


def _clip(rest: str) -> str | None:
    """The answer X at the start of `rest` (the text after "answer is")."""
    rest = rest.lstrip(" \t:*_")
    lines = rest.split("\n", 8)[:8]
    line = next((ln.strip() for ln in lines if ln.strip()), "")
    if line in ("$$", "\\["):  # display math on its own lines
        body = rest[rest.find(line) + len(line) :]
        end = body.find("$$" if line == "$$" else "\\]")
        line = body[:end].strip() if end >= 0 else ""
    hope = line.find(HOPE)
    if hope >= 0:
        line = line[:hope].rstrip().rstrip(".")
    if "\\boxed" in line or "\\fbox" in line:
        return last_boxed(line)
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if line.startswith(open_):
            end = _closing(line, close, len(open_))
            line = line[len(open_) : end] if end >= 0 else line[len(open_) :]
            break
    else:
        m = _SENTENCE_END.search(line)
        if m:
            line = line[: m.start()]
    answer = unwrap_math(line.strip().strip("*_").rstrip(".,;:").strip())
    return answer or None


def strict_answer(segment: str) -> str | None:
    """X from "Final Answer: The final answer is X. I hope it is correct." (the last one)."""
    i = segment.rfind(MINERVA)
    if i < 0:
        return None
    start = i + len(MINERVA)
    j, nl = segment.find(HOPE, start), segment.find("\n", start)
    if j < 0 or 0 <= nl < j:
        return None
    x = segment[start:j].rstrip()
    if not x.endswith("."):
        return None
    x = x[:-1].strip()
    inner = last_boxed(x) if ("\\boxed" in x or "\\fbox" in x) else unwrap_math(x)
    return inner or None


def flexible_answer(segment: str) -> str | None:
    boxed = last_boxed(segment)
    if boxed is not None:
        return boxed
    anchors = [m.end() for m in _ANCHOR.finditer(segment)]
    for end in reversed(anchors[-5:]):
        x = _clip(segment[end:])
        if x and x.lower() not in _NOT_ANSWERS:
            return x
    bare = segment.strip()
    if bare and "\n" not in bare and len(bare) <= _MAX_BARE and _MATHY.search(bare):
        return _clip(bare)
    return None


def extract_math(text: str) -> Extraction:
    seg = answer_segment(text)
    return Extraction(flexible_answer(seg), strict_answer(seg))


@dataclass(frozen=True)
class MathScorer:
    """Scorer for MATH-style free-form LaTeX answers (`polaris.scoring.base.Scorer`)."""

    version: str = "math-2"
    time_limit: float = TIME_LIMIT  # seconds per math-verify check, enforced by killing the worker

    def _pool(self) -> CheckPool:
        return shared_pool(self.time_limit)

    def extract(self, text: str, item: Item) -> Extraction:
        return extract_math(text)

    def score(self, answer: str | None, item: Item) -> float:
        return self.score_many([(answer, item)])[0]

    def score_many(self, pairs: Sequence[tuple[str | None, Item]]) -> list[float]:
        """Score a batch: string matches at once, the rest as parallel math-verify checks."""
        scores = [0.0] * len(pairs)
        todo: dict[tuple[str, str], list[int]] = {}
        for i, (answer, item) in enumerate(pairs):
            if answer is None:
                continue
            verdict = decide(item.target, answer)
            if verdict is None:
                todo.setdefault((item.target, answer), []).append(i)
            else:
                scores[i] = 1.0 if verdict else 0.0
        checks = list(todo)
        for check, ok in zip(checks, self._pool().run(checks)):
            for i in todo[check]:
                scores[i] = 1.0 if ok else 0.0
        return scores

    def vote_key(self, answer: str, item: Item) -> str:
        return normalize_math(answer)

    def classes(self, answers: Sequence[str | None]) -> list[int | None]:
        return equivalence_classes(answers, pool=self._pool())

    def gold(self, item: Item) -> str:
        return " ".join(item.target.split())  # one line: a few MATH answers break inside \text{}

    def random_answer(self, item: Item, rng: random.Random) -> str:
        return str(rng.randint(0, RANDOM_MAX))

    def chance(self, item: Item) -> float:
        """The rate of `random_answer`: 1/101 when the gold is one of the integers 0..100 it draws
        (written as such: "42", "42.0"), else 0. Golds only math-verify could equate to an integer
        ("\\sqrt{4}") count as 0; MATH's reference answers are simplified, so they do not occur."""
        value = exact_number(normalize_math(item.target))
        if value is not None and value[0].denominator == 1 and 0 <= value[0] <= RANDOM_MAX:
            return 1.0 / (RANDOM_MAX + 1)
        return 0.0


def equivalent(a: str, b: str, *, pool: CheckPool | None = None) -> bool:
    """True if two MATH answers are the same: equal normal forms, or math-verify (`a` as gold) says
    so within the time limit."""
    verdict = decide(a, b)
    if verdict is not None:
        return verdict
    return bool((pool or shared_pool()).run([(a, b)])[0])


def equivalence_classes(
    answers: Sequence[str | None], *, pool: CheckPool | None = None
) -> list[int | None]:
    """Group answers for a majority vote: class ids numbered by first appearance, None for a
    missing answer. Answers are pre-grouped by normal form; math-verify then compares each pair of
    distinct normal forms once (in parallel, earlier form as gold) and equivalent forms are merged
    transitively (union-find)."""
    forms = [normalize_math(a) if a is not None else None for a in answers]
    percent = [a is not None and "%" in a for a in answers]
    reps: dict[str, int] = {}  # normal form -> index of its first answer
    for i, form in enumerate(forms):
        if form is not None:
            reps.setdefault(form, i)
    firsts = list(reps.values())
    normal = list(reps)
    parent = list(range(len(firsts)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    same: list[tuple[int, int]] = []
    undecided: list[tuple[int, int]] = []
    for x in range(len(firsts)):
        for y in range(x + 1, len(firsts)):
            verdict = decide_forms(normal[x], normal[y], not (percent[firsts[x]] or percent[firsts[y]]))
            if verdict is None:
                undecided.append((x, y))
            elif verdict:
                same.append((x, y))
    if undecided:
        checks = [(answers[firsts[x]], answers[firsts[y]]) for x, y in undecided]
        verdicts = (pool or shared_pool()).run(checks)  # type: ignore[arg-type]
        same += [pair for pair, ok in zip(undecided, verdicts) if ok]
    for x, y in same:
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    rep_index = {form: k for k, form in enumerate(normal)}
    ids: dict[int, int] = {}
    out: list[int | None] = []
    for form in forms:
        if form is None:
            out.append(None)
            continue
        out.append(ids.setdefault(find(rep_index[form]), len(ids)))
    return out
