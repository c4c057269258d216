"""A cell's numbers from compact per-item records, so that no step needs all of a run's samples at once.

A judged item result carries one record per sample (answer, vote, score, tokens, ...), K of them.
What the cell's summary, compute accounting and sampling curves read of those records fits in a few
numbers per item: `ItemTally` keeps the result without its sample records (`slim`), its sample
count, its vote `Pool` (analysis/sampling.py: a few numbers per distinct answer, plus one small
integer per sample above K = 128 for the Monte Carlo), its score `Spread` (analysis/variance.py),
counts (finish reasons, truncation, budget), its latency share and, until it is folded, its
samples' token counts. `CellTally` folds items in dataset order: token totals are sums of floats, and
summing them in the order the whole-run code did gives the same last bits. `summary.summarize`,
`compute.cell_compute` and `curves.sampling_of` all go through it,
whether their rows come from memory, from the store one at a time (`Store.iter_results`), or from the
chunks the runner judges as outputs complete (runner/judging.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from polaris.runner.compute import FIELDS, IGNORED_SHARE, _sample_values, is_truncated, over_budget
from polaris.scoring.outcome import OUTCOMES, outcome_of
from polaris.store.store import ResultRow

Values = dict[str, float | None]  # compute._sample_values of one sample record


def slim(row: ResultRow) -> ResultRow:
    """The result without its per-sample records (its outcome kept, as `outcome_of` read it)."""
    data = {k: v for k, v in row.data.items() if k != "samples"}
    if data.get("outcome") not in OUTCOMES:
        data["outcome"] = outcome_of(row)  # derived from the samples of results scored before outcomes
    return ResultRow(row.item, row.idx, row.group, row.correct, row.strict, row.extracted, row.error, row.answer,
                     row.gold, data)


@dataclass(slots=True)
class ItemTally:
    row: ResultRow  # slim
    samples: int = 0  # K of this item
    voted: bool = False  # every sample records its vote (results stored before votes were: False)
    unterminated: int = 0
    pool: Any = None  # analysis.sampling.Pool, for K >= 2 with votes
    spread: Any = None  # analysis.variance.Spread, likewise
    token_samples: int = 0  # samples with token counts
    finish: dict[str, int] = field(default_factory=dict)
    truncated: int = 0
    forced: int = 0
    over_budget: int = 0
    estimated: bool = False
    reasoning_estimated: bool = False
    latency: tuple[float, int, float] | None = None  # compute.latency_parts
    # Until folded (CellTally.add): per sample with tokens (tokens, reasoning_tokens, values), and the
    # values of the item's earlier LLM-Modulo rounds.
    tokens: list[tuple[Any, Any, Values]] | None = None
    extra: list[Values] | None = None


def item_tally(row: ResultRow, *, think: int | None = None, extra: Iterable[Mapping[str, Any]] = (),
               latency: tuple[float, int, float] | None = None) -> ItemTally:
    """The compact record of one item result (`think`: the cell's thinking budget, for the budget check;
    `extra`: token records of its earlier LLM-Modulo rounds, compute.round_records)."""
    samples = row.data.get("samples") or ()
    t = ItemTally(slim(row), len(samples), latency=latency)
    if row.error is not None:
        return t
    t.voted = all("vote" in s for s in samples)
    t.unterminated = sum(1 for s in samples if s.get("unterminated"))
    if len(samples) >= 2 and t.voted:  # numpy only for sampled runs
        from polaris.analysis.sampling import pool
        from polaris.analysis.variance import spread

        correct = [float(s["correct"]) for s in samples]
        t.pool = pool([s["vote"] for s in samples], correct)
        t.spread = spread(correct)
    t.tokens = []
    for s in samples:
        if "tokens" not in s:
            continue
        t.tokens.append((s.get("tokens"), s.get("reasoning_tokens"), _sample_values(s)))
        key = str(s.get("finish"))
        t.finish[key] = t.finish.get(key, 0) + 1
        t.truncated += is_truncated(s)
        t.forced += bool(s.get("forced"))
        t.over_budget += think is not None and over_budget(s, int(think))
        t.estimated |= s.get("tokens_source") == "estimate"
        t.reasoning_estimated |= s.get("reasoning_source") == "estimate"
    t.token_samples = len(t.tokens)
    t.extra = [_sample_values(e) for e in extra]
    return t


class CellTally:
    """Item tallies folded in dataset order (`add`), and the cell's numbers from them."""

    def __init__(self, budget: Mapping[str, Any] | None = None) -> None:
        self.budget = dict(budget or {})
        self.think = self.budget.get("thinking_budget")
        self.items: list[ItemTally] = []
        self.completion: float = 0  # token totals as tokens.totals sums them
        self.reasoning: float = 0
        self.totals = dict.fromkeys(FIELDS, 0.0)  # compute totals, earlier rounds included
        self.known = dict.fromkeys(FIELDS, 0)
        self.own = dict.fromkeys(FIELDS, 0.0)  # the items' own samples only
        self.own_known = dict.fromkeys(FIELDS, 0)

    @classmethod
    def of(cls, rows: Iterable[ResultRow], budget: Mapping[str, Any] | None = None,
           extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> CellTally:
        """The tally of rows in dataset order (a list, or `Store.iter_results` one row at a time)."""
        tally = cls(budget)
        for r in rows:
            tally.add(item_tally(r, think=tally.think, extra=(extra or {}).get(r.item, ()) if r.error is None else ()))
        return tally

    @property
    def rows(self) -> list[ResultRow]:
        return [t.row for t in self.items]

    def add(self, t: ItemTally) -> None:
        """Fold the next item (in dataset order) and drop its per-sample numbers."""
        self.items.append(t)
        for tokens, reasoning, values in t.tokens or ():
            self.completion += tokens or 0.0
            self.reasoning += reasoning or 0.0
            self._sum(self.totals, self.known, values)
            self._sum(self.own, self.own_known, values)
        for values in t.extra or ():
            self._sum(self.totals, self.known, values)
        t.tokens = t.extra = None

    @staticmethod
    def _sum(totals: dict[str, float], known: dict[str, int], values: Values) -> None:
        for k, v in values.items():
            if v is not None:
                totals[k] += v
                known[k] += 1

    def scored(self) -> list[ItemTally]:
        return [t for t in self.items if t.row.error is None]

    def samples_per_item(self) -> int:
        return max((t.samples for t in self.scored()), default=0)

    def token_totals(self) -> dict[str, Any] | None:
        """Completion tokens of the cell's samples, split into reasoning and answer (runner/tokens.py)."""
        scored = self.scored()
        n = sum(t.token_samples for t in scored)
        if not n:
            return None
        return {"completion": round(self.completion), "reasoning": round(self.reasoning),
                "answer": round(self.completion - self.reasoning),
                "completion_estimated": any(t.estimated for t in scored),
                "reasoning_estimated": any(t.reasoning_estimated for t in scored), "samples": n}

    def compute(self) -> dict[str, Any] | None:
        """`compute.cell_compute`: tokens per item and sample, finish reasons, truncation, budget check."""
        scored = self.scored()
        n_samples = sum(t.token_samples for t in scored)
        if not n_samples:
            return None
        n_items = len(scored)
        finish: dict[str, int] = {}
        for t in scored:
            for k, c in t.finish.items():
                finish[k] = finish.get(k, 0) + c
        truncated = sum(t.truncated for t in scored)
        out: dict[str, Any] = {
            "items": n_items,
            "samples": n_samples,
            "samples_per_item": max(t.token_samples for t in scored),
            "totals": {k: round(v, 1) if self.known[k] else None for k, v in self.totals.items()},
            "per_item": {k: v / n_items if self.known[k] else None for k, v in self.totals.items()},
            "per_sample": {k: v / n_samples if self.own_known[k] else None for k, v in self.own.items()},
            "prompt_known": self.known["prompt"] > 0,
            "estimated": any(t.estimated for t in scored),
            "reasoning_estimated": any(t.reasoning_estimated for t in scored),
            "finish": dict(sorted(finish.items())),
            "truncated": truncated,
            "truncation_rate": truncated / n_samples,
            "forced": sum(t.forced for t in scored),
            "budget": dict(self.budget),
        }
        if self.think is not None:
            over = sum(t.over_budget for t in scored)
            out["budget_check"] = {"thinking_budget": self.think, "over": over, "samples": n_samples,
                                   "share": over / n_samples, "enforced": over / n_samples <= IGNORED_SHARE,
                                   "mean_reasoning": out["per_sample"]["reasoning"]}
        return out

    def latency(self) -> dict[str, Any] | None:
        """Seconds per item and per sample, from the items' latency parts (`compute.latency_parts`)."""
        from polaris.runner.compute import fold_latency

        return fold_latency([t.latency for t in self.items if t.latency is not None])
