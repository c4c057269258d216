"""Compute accounting of a cell from its stored item results: tokens per item and per sample, finish
reasons, truncation, latency, and whether a thinking budget held (docs/compute.md).

Every number comes from the per-sample records `judge` stores (`runner/tokens.py`: completion,
reasoning and prompt tokens with their sources, the call's latency share, the finish reason), so it
is recomputed from the results table alone (reports, rescoring, experiment status).

- per item: the sums over an item's samples (K samples cost K times one), averaged over items;
  LLM-Modulo items add the tokens of every round (`extra`, from `round_records`);
- truncation: a sample is truncated when it ran out of tokens (`finish` = "length") before it
  gave its answer (`is_truncated`): "collapse" from a budget, told apart from wrong answers;
- budget check: with a thinking budget N, a sample that reasoned well past N (more than 1.2 N + 32
  tokens counted exactly, 1.5 N + 64 when the count is an estimate from the text) shows a server
  that ignored the budget; the cell's check says how many did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

FIELDS = ("prompt", "completion", "reasoning", "answer")
IGNORED_SHARE = 0.1  # over this share of samples past the budget: the budget was not enforced


def is_truncated(sample: Mapping[str, Any]) -> bool:
    """A sample that hit its token limit before giving its answer. The one place this is decided: it
    reads the sample's `outcome` where scoring records one (issue 15), else the finish reason and the
    strict extraction: a response cut off before its answer sentence has no strict answer, whatever
    number flexible extraction may fish out of the unfinished reasoning."""
    outcome = sample.get("outcome")
    if outcome is not None:
        return outcome == "truncated"
    return sample.get("finish") == "length" and (sample.get("strict") is None or sample.get("answer") is None)


def over_budget(sample: Mapping[str, Any], budget: int) -> bool:
    """Did this sample think well past a budget of `budget` tokens (see the module docstring)?"""
    reasoning = sample.get("reasoning_tokens") or 0.0
    exact = sample.get("reasoning_source") in ("api", "backend")
    return reasoning > (1.2 * budget + 32 if exact else 1.5 * budget + 64)


def _sample_values(s: Mapping[str, Any]) -> dict[str, float | None]:
    completion = float(s.get("tokens") or 0.0)
    reasoning = float(s.get("reasoning_tokens") or 0.0)
    prompt = s.get("prompt_tokens")
    return {"prompt": None if prompt is None else float(prompt), "completion": completion, "reasoning": reasoning,
            "answer": completion - reasoning}


def cell_compute(rows: Sequence[Any], budget: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> dict[str, Any] | None:
    """The compute summary of a cell's results (None when no sample carries token counts).

    `budget`: the cell's {"reasoning_effort", "thinking_budget", "max_tokens"}; `extra`: item id ->
    the records of samples drawn for it besides its final ones (earlier LLM-Modulo rounds). Computed
    from each item's compact record (runner/tally.py), as the runner does chunk by chunk."""
    from polaris.runner.tally import CellTally

    return CellTally.of(rows, budget, extra).compute()


def latency_parts(store: Any, rows: Sequence[Any], calls: Mapping[tuple[str, int], Any] | None = None
                  ) -> list[tuple[float, int, float] | None]:
    """Per row, what `fold_latency` adds up: (seconds of the item's calls, samples with a latency share,
    the sum of those shares); None for rows without a request. `calls`: what `Store.sample_calls`
    already returned for the rows' final requests (only the rest is read)."""
    hashes: dict[int, list[str]] = {}
    for k, r in enumerate(rows):
        if r.error is None and r.data.get("request"):
            rounds = (r.data.get("modulo") or {}).get("rounds") or []
            hashes[k] = [e["request"] for e in rounds if e.get("request")] or [r.data["request"]]
    out: list[tuple[float, int, float] | None] = [None] * len(rows)
    if not hashes:
        return out
    known = dict(calls or {})
    have = {h for h, _ in known}
    missing = [h for hs in hashes.values() for h in hs if h not in have]
    if missing:
        known.update(store.sample_calls(missing))
    by_hash: dict[str, dict[int, float]] = {}
    for (h, idx), info in known.items():
        if len(info) > 2 and info[2] is not None:
            by_hash.setdefault(h, {})[idx] = info[2] / max(1, info[0])
    for k, hs in hashes.items():
        r = rows[k]
        shares = [by_hash.get(r.data["request"], {}).get(s.get("idx")) for s in r.data.get("samples", ())]
        out[k] = (sum(sum(by_hash.get(h, {}).values()) for h in dict.fromkeys(hs)),
                  sum(1 for x in shares if x is not None), sum(x for x in shares if x is not None))
    return out


def fold_latency(parts: Sequence[tuple[float, int, float]]) -> dict[str, Any] | None:
    """Seconds per item and per sample from the items' `latency_parts`, in dataset order."""
    if not parts:
        return None
    samples, per_sample = 0, 0.0
    for _, n, shares in parts:
        samples += n
        per_sample += shares
    return {"per_item": sum(p[0] for p in parts) / len(parts), "per_sample": per_sample / samples if samples else None,
            "items": len(parts)}


def spec_budget(spec: Any) -> dict[str, Any]:
    """A cell's compute factors (a CellSpec or its stored dict)."""
    get = spec.get if isinstance(spec, Mapping) else lambda k, d=None: getattr(spec, k, d)
    return {"reasoning_effort": get("reasoning_effort"), "thinking_budget": get("thinking_budget"),
            "max_tokens": get("max_tokens")}


def round_records(store: Any, rows: Sequence[Any]) -> dict[str, list[dict[str, Any]]]:
    """Item id -> token records of the samples of every LLM-Modulo round but the last (whose samples
    are the item's own), read from the store: what back-prompting cost besides the final answer."""
    from polaris.runner.tokens import sample_tokens

    wanted: dict[str, list[str]] = {}
    for r in rows:
        rounds = (r.data.get("modulo") or {}).get("rounds") if r.error is None else None
        if rounds and len(rounds) > 1:
            wanted[r.item] = [e["request"] for e in rounds[:-1]]
    if not wanted:
        return {}
    calls = store.sample_calls([h for hs in wanted.values() for h in hs])
    out: dict[str, list[dict[str, Any]]] = {}
    for item, hashes in wanted.items():
        recs = []
        for h in hashes:
            for idx, sample in store.samples(h).items():
                recs.append(sample_tokens(sample, calls.get((h, idx))))
        out[item] = recs
    return out
