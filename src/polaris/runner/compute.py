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


def _sums(samples: Any) -> tuple[dict[str, float], dict[str, int]]:
    """Totals of each field over the records, and how many records knew it."""
    totals: dict[str, float] = dict.fromkeys(FIELDS, 0.0)
    known = dict.fromkeys(FIELDS, 0)
    for s in samples:
        for k, v in _sample_values(s).items():
            if v is not None:
                totals[k] += v
                known[k] += 1
    return totals, known


def cell_compute(rows: Sequence[Any], budget: Mapping[str, Any] | None = None,
                 extra: Mapping[str, Sequence[Mapping[str, Any]]] | None = None) -> dict[str, Any] | None:
    """The compute summary of a cell's results (None when no sample carries token counts).

    `budget`: the cell's {"reasoning_effort", "thinking_budget", "max_tokens"}; `extra`: item id ->
    the records of samples drawn for it besides its final ones (earlier LLM-Modulo rounds)."""
    scored = [r for r in rows if r.error is None]
    per_row = [[s for s in r.data.get("samples", ()) if "tokens" in s] for r in scored]
    samples = [s for ss in per_row for s in ss]
    if not samples:
        return None
    totals, known = _sums(s for r, ss in zip(scored, per_row) for s in [*ss, *((extra or {}).get(r.item, ()))])
    own, own_known = _sums(samples)
    n_items, n_samples = len(scored), len(samples)
    finish: dict[str, int] = {}
    for s in samples:
        key = str(s.get("finish"))
        finish[key] = finish.get(key, 0) + 1
    truncated = sum(1 for s in samples if is_truncated(s))
    out: dict[str, Any] = {
        "items": n_items,
        "samples": n_samples,
        "samples_per_item": max(len(ss) for ss in per_row),
        "totals": {k: round(v, 1) if known[k] else None for k, v in totals.items()},
        "per_item": {k: v / n_items if known[k] else None for k, v in totals.items()},
        "per_sample": {k: v / n_samples if own_known[k] else None for k, v in own.items()},
        "prompt_known": known["prompt"] > 0,
        "estimated": any(s.get("tokens_source") == "estimate" for s in samples),
        "reasoning_estimated": any(s.get("reasoning_source") == "estimate" for s in samples),
        "finish": dict(sorted(finish.items())),
        "truncated": truncated,
        "truncation_rate": truncated / n_samples,
        "forced": sum(1 for s in samples if s.get("forced")),
        "budget": dict(budget or {}),
    }
    think = (budget or {}).get("thinking_budget")
    if think is not None:
        over = sum(1 for s in samples if over_budget(s, int(think)))
        out["budget_check"] = {"thinking_budget": think, "over": over, "samples": n_samples,
                               "share": over / n_samples, "enforced": over / n_samples <= IGNORED_SHARE,
                               "mean_reasoning": out["per_sample"]["reasoning"]}
    return out


def cell_latency(store: Any, rows: Sequence[Any], calls: Mapping[tuple[str, int], Any] | None = None
                 ) -> dict[str, Any] | None:
    """Seconds per item and per sample, from the calls that drew the samples (each call's latency shared
    among the samples it returned, as its tokens are; LLM-Modulo rounds included). Kept apart from the
    token accounting because it is wall-clock: it differs on every run of the same cell. `calls`: what
    `Store.sample_calls` already returned for the rows' final requests (only the rest is read)."""
    hashes: dict[str, list[str]] = {}
    for r in rows:
        if r.error is None and r.data.get("request"):
            rounds = (r.data.get("modulo") or {}).get("rounds") or []
            hashes[r.item] = [e["request"] for e in rounds if e.get("request")] or [r.data["request"]]
    if not hashes:
        return None
    known = dict(calls or {})
    have = {h for h, _ in known}
    missing = [h for hs in hashes.values() for h in hs if h not in have]
    if missing:
        known.update(store.sample_calls(missing))
    by_hash: dict[str, dict[int, float]] = {}
    for (h, idx), info in known.items():
        if len(info) > 2 and info[2] is not None:
            by_hash.setdefault(h, {})[idx] = info[2] / max(1, info[0])
    final = {r.item: (r.data.get("request"), [s.get("idx") for s in r.data.get("samples", ())]) for r in rows
             if r.item in hashes}
    items, samples, per_sample = [], 0, 0.0
    for item, hs in hashes.items():
        items.append(sum(sum(by_hash.get(h, {}).values()) for h in dict.fromkeys(hs)))
        h, idxs = final[item]
        shares = [by_hash.get(h, {}).get(i) for i in idxs]
        samples += sum(1 for x in shares if x is not None)
        per_sample += sum(x for x in shares if x is not None)
    return {"per_item": sum(items) / len(items), "per_sample": per_sample / samples if samples else None,
            "items": len(items)}


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
