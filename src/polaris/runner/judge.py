"""Turn a solver's outputs into an item result: extract, vote, score.

With K samples the item's answer is the majority vote over *answers*, never over raw strings:
samples are grouped by the scorer's equivalence (`vote_key`: numeric equality for GSM8K, normalised
letters or targets elsewhere; math-verify equivalence classes for MATH via `Scorer.classes`), and
unextractable samples do not vote. The vote follows `polaris.analysis.sampling` exactly, so an
item's score is what maj@K computes: when answers tie for the top count the item scores the mean
correctness of the tied answers (fractional credit, the expected score of a random tie-break), and
the answer shown is the tied answer sampled first. `--vote complex-top-N` votes among the N
extracted samples with the most reasoning steps (Fu et al. 2023; a step is a non-empty line of the
whole chain, thinking included). Each distinct answer is scored once, in one batch per run, so
costly checkers (MATH) can use a process pool.

Every sample and every item also gets an outcome (`scoring/outcome.py`: correct, wrong, truncated,
hedged, invalid-option, no-answer, error), stored in `data["outcome"]` and `data.samples[i].outcome`.
A response cut at the token limit keeps only an answer it announced (`outcome.settle`). `reader`
replaces the scorer's extractor (`polaris audit --score-with judge`: a judge model's reading).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from polaris.analysis.baseline import chance_record
from polaris.prompts.exemplars import steps as step_count
from polaris.runner.cell import CellSpec
from polaris.runner.solvers import Outputs
from polaris.runner.tokens import CallInfo, sample_tokens
from polaris.scoring.base import Extraction, Scorer, score_many
from polaris.scoring.outcome import item_outcome, sample_outcome, settle
from polaris.scoring.text import THINK_TAGS, split_thinking
from polaris.store.store import ResultRow, SampleRow
from polaris.tasks.base import Item, Task

if TYPE_CHECKING:
    from polaris.analysis.sampling import Vote


class _Single(NamedTuple):
    """The vote of a single sample (same fields as `analysis.sampling.Vote`, without importing the
    statistics stack for greedy runs)."""

    answer: int | None
    score: float
    votes: int
    tied: tuple[int, ...]
    valid: int


def vote_classes(scorer: Scorer, answers: Sequence[str | None], item: Item) -> list[int | None]:
    """One class id per sample (numbered by first appearance; None: nothing extracted)."""
    keys: list[Hashable | None] = [None if a is None else scorer.vote_key(a, item) for a in answers]
    classes = getattr(scorer, "classes", None)
    if classes is not None and len({k for k in keys if k is not None}) > 1:
        keys = list(classes(answers))  # e.g. MATH: math-verify merges forms vote_key keeps apart
    ids: dict[Hashable, int] = {}
    return [None if k is None else ids.setdefault(k, len(ids)) for k in keys]


def cast_vote(spec: CellSpec, keys: Sequence[int | None], correct: Sequence[float],
              chains: Sequence[str]) -> Vote | _Single:
    if len(keys) <= 1 or all(k is None for k in keys):
        k = keys[0] if keys else None
        return _Single(k, float(correct[0]), 1, (k,), 1) if k is not None else _Single(None, 0.0, 0, (), 0)
    from polaris.analysis.sampling import complexity_vote, majority_vote

    if spec.top_n is not None:
        return complexity_vote(keys, correct, chains, spec.top_n)
    return majority_vote(keys, correct)


def _chain(s: SampleRow) -> str:
    return f"{s.reasoning}\n{s.text or ''}" if s.reasoning else s.text or ""


Reader = Callable[[Item, SampleRow, str], Extraction]  # (item, sample, text after thinking) -> answers


def judge(task: Task, spec: CellSpec, items: Sequence[Item], outputs: Sequence[Outputs | BaseException],
          calls: Mapping[tuple[str, int], CallInfo] | None = None, reader: Reader | None = None) -> list[ResultRow]:
    """Item results in item order. `calls` (from `Store.sample_calls`) adds per-sample token counts;
    `reader` reads the answers instead of the scorer's extractor."""
    scorer = task.scorer
    tags = tuple(spec.think_tags) + THINK_TAGS  # the cell's own tags first, then the built-in ones
    extractions: list[list[Extraction]] = []
    splits = []
    for item, out in zip(items, outputs):
        sp = [] if isinstance(out, BaseException) else [split_thinking(s.text or "", tags) for s in out.samples]
        # The scorer reads only what follows the thinking: an unterminated thought has no answer.
        extractions.append([
            settle(reader(item, s, x.answer) if reader is not None else scorer.extract(x.answer, item), s.finish)
            for s, x in zip(out.samples if not isinstance(out, BaseException) else (), sp)
        ])
        splits.append(sp)
    # Score each distinct (answer, item) once.
    wanted: dict[tuple[str, str], tuple[str, Item]] = {}
    for item, exs in zip(items, extractions):
        for e in exs:
            for a in (e.answer, e.strict):
                if a is not None:
                    wanted.setdefault((a, item.id), (a, item))
    keys = list(wanted)
    scores = dict(zip(keys, score_many(scorer, [wanted[k] for k in keys])))

    def sc(a: str | None, item: Item) -> float:
        return 0.0 if a is None else scores[(a, item.id)]

    rows = []
    for idx, (item, out, exs, sp) in enumerate(zip(items, outputs, extractions, splits)):
        gold = scorer.gold(item)
        if isinstance(out, BaseException):
            failed = getattr(out, "request", None)  # the stored request that failed (RequestFailed.request)
            rows.append(ResultRow(item.id, idx, item.group, None, None, False, str(out) or type(out).__name__,
                                  None, gold, {"outcome": "error", **({"request": failed} if failed else {})}))
            continue
        chains = [_chain(s) for s in out.samples]
        flex = [e.answer for e in exs]
        strict_answers = [e.strict for e in exs]
        flex_correct = [sc(a, item) for a in flex]
        strict_correct = [sc(a, item) for a in strict_answers]
        many = len(exs) > 1
        flex_keys = vote_classes(scorer, flex, item) if many else [None if a is None else 0 for a in flex]
        strict_keys = vote_classes(scorer, strict_answers, item) if many else [None if a is None else 0
                                                                               for a in strict_answers]
        won = cast_vote(spec, flex_keys, flex_correct, chains)
        won_strict = cast_vote(spec, strict_keys, strict_correct, chains)
        answer = flex[flex_keys.index(won.answer)] if won.answer is not None else None
        strict = strict_answers[strict_keys.index(won_strict.answer)] if won_strict.answer is not None else None
        samples = []
        for i, (s, e, x) in enumerate(zip(out.samples, exs, sp)):
            rec: dict[str, Any] = {
                "idx": s.idx, "answer": e.answer, "strict": e.strict, "correct": flex_correct[i],
                "strict_correct": strict_correct[i], "vote": flex_keys[i], "steps": step_count(chains[i]),
                "finish": s.finish, "outcome": sample_outcome(e.answer, flex_correct[i], e.flag, s.finish),
            }
            if x.unterminated:
                rec["unterminated"] = True
            if calls is not None:
                rec.update(sample_tokens(s, calls.get((out.request, s.idx)), tags))
            samples.append(rec)
        data: dict[str, Any] = {"request": out.request, "strict_answer": strict, "samples": samples, **out.detail}
        data["outcome"] = item_outcome(None, answer, won.score, [r["outcome"] for r in samples])
        data.update(chance_record(scorer, item))  # the item's random baseline (analysis/baseline.py)
        if many:
            data["votes"] = {"top": won.votes, "valid": won.valid, "tied": len(won.tied)}
        if hasattr(scorer, "detail"):  # scorers that explain a verdict (plans: failure kind, step, lengths)
            data["detail"] = scorer.detail(answer, item)
        rows.append(ResultRow(item.id, idx, item.group, won.score, won_strict.score, answer is not None,
                              None, answer, gold, data))
    return rows
