"""Token accounting per sample and per cell: completion tokens split into reasoning and answer.

Sources, best first, each labelled so a reader knows what was measured and what was estimated:
- completion tokens: the choice's own count when the backend gives one; else the call's
  `completion_tokens` shared evenly among the samples the call returned (exact for n = 1);
  else an estimate, chars/4 of the response.
- reasoning tokens: the call's `reasoning_tokens` (OpenAI's `completion_tokens_details`) shared the
  same way ("api"); else, when the response has reasoning (inline `<think>` text or a separate
  reasoning channel), the completion tokens split in proportion to the characters of reasoning and
  answer ("estimate"); else 0 ("none").
  A backend that forced or watched the thinking (hf and lab budget forcing) stores the exact count
  with the sample ("backend"), which comes first.
Answer tokens are completion minus reasoning. Prompt tokens are the call's, shared the same way (a
call of n samples sends its prompt once), so an item's samples add up to its calls; an unreported
prompt count is left out rather than guessed. (Latency, wall-clock and so different on every run, is
not kept with the results: `runner.compute.latency_parts` reads it from the calls.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from polaris.runner.budget import estimate_tokens
from polaris.scoring.text import THINK_TAGS, split_thinking
from polaris.store.store import SampleRow

# (n of the call that drew the sample, its usage[, its latency in seconds])
CallInfo = tuple[int, Mapping[str, Any]] | tuple[int, Mapping[str, Any], float | None]


def sample_tokens(sample: SampleRow, call: CallInfo | None,
                  tags: tuple[tuple[str, str], ...] = THINK_TAGS) -> dict[str, Any]:
    """{"tokens", "reasoning_tokens", "tokens_source", "reasoning_source"} for one sample."""
    text = sample.text or ""
    split = split_thinking(text, tags)
    reasoning_chars = len(split.reasoning) + len(sample.reasoning or "")
    answer_chars = len(split.answer)
    n, usage = (call[0], call[1]) if call is not None else (1, {})
    n = max(1, n)
    measured = (sample.data or {}).get("reasoning_tokens")
    if sample.tokens is not None:
        completion, source = float(sample.tokens), "api"
    elif isinstance(usage.get("completion_tokens"), int):
        completion, source = usage["completion_tokens"] / n, "api"
    else:
        completion, source = float(estimate_tokens(len(text) + len(sample.reasoning or ""))), "estimate"
    if isinstance(measured, int | float):
        reasoning, rsource = float(measured), "backend"
    elif isinstance(usage.get("reasoning_tokens"), int):
        reasoning, rsource = usage["reasoning_tokens"] / n, "api"
    elif reasoning_chars:
        reasoning, rsource = completion * reasoning_chars / (reasoning_chars + answer_chars), "estimate"
    else:
        reasoning, rsource = 0.0, "none"
    out: dict[str, Any] = {"tokens": round(completion, 1), "reasoning_tokens": round(min(reasoning, completion), 1),
                           "tokens_source": source, "reasoning_source": rsource}
    if isinstance(usage.get("prompt_tokens"), int):
        out["prompt_tokens"] = round(usage["prompt_tokens"] / n, 1)
    if (sample.data or {}).get("forced"):
        out["forced"] = True  # the thinking budget ran out and the thinking was closed for the model
    return out


def totals(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Cell totals from per-sample token records (result data), with what was estimated."""
    completion = sum(s.get("tokens") or 0.0 for s in samples)
    reasoning = sum(s.get("reasoning_tokens") or 0.0 for s in samples)
    sources = {s.get("tokens_source") for s in samples if "tokens_source" in s}
    rsources = {s.get("reasoning_source") for s in samples if "reasoning_source" in s}
    return {
        "completion": round(completion),
        "reasoning": round(reasoning),
        "answer": round(completion - reasoning),
        "completion_estimated": "estimate" in sources,
        "reasoning_estimated": "estimate" in rsources,
        "samples": len(samples),
    }
