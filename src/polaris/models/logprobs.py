"""Prompt log-probabilities from an OpenAI-compatible `/completions` response with `echo`: the tokens
covering each option, matched by character offsets (how `--scoring loglik` reads a server)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from polaris.models.base import LoglikRequest, LoglikResult, NotSupported
from polaris.models.responses import BadResponse


def echoed_scores(data: Any, req: LoglikRequest, no_echo: Callable[[], str]) -> LoglikResult:
    """The summed log-prob, token count and greediness of each option from a `/completions` response
    that echoed the prompts (one choice per option, matched by `index`)."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise BadResponse("no choices in the response")
    by_index = {c.get("index", i): c for i, c in enumerate(data["choices"]) if isinstance(c, dict)}
    result = LoglikResult([], [], [])
    for i, cont in enumerate(req.continuations):
        lp = (by_index.get(i) or {}).get("logprobs")
        if not isinstance(lp, dict) or not isinstance(lp.get("tokens"), list) \
                or not isinstance(lp.get("token_logprobs"), list):
            raise NotSupported(no_echo())
        try:
            score, count, greedy = continuation_logprob(lp, len(req.context), len(req.context) + len(cont))
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise BadResponse(f"malformed logprobs: {exc}") from None
        result.logprobs.append(score)
        result.tokens.append(count)
        result.greedy.append(greedy)
    return result


def continuation_logprob(lp: dict[str, Any], start: int, end: int) -> tuple[float, int, bool]:
    """(summed log-prob, token count, all tokens greedy) of the echoed tokens covering characters
    [start, end) of the prompt. A token straddling `start` counts: it carries the option's first
    characters. Offsets come from `text_offset`, else from the token strings' lengths."""
    tokens, logprobs = lp["tokens"], lp["token_logprobs"]
    offsets = lp.get("text_offset")
    if not isinstance(offsets, list) or len(offsets) != len(tokens):
        offsets, at = [], 0
        for t in tokens:
            offsets.append(at)
            at += len(t)
    top = lp.get("top_logprobs") if isinstance(lp.get("top_logprobs"), list) else None
    total, count, greedy = 0.0, 0, True
    for i, (tok, off) in enumerate(zip(tokens, offsets)):
        if off >= end or off + len(tok) <= start:
            continue
        if logprobs[i] is None:
            raise ValueError(f"token {i} has no log-prob")
        total += float(logprobs[i])
        count += 1
        alts = top[i] if top is not None and i < len(top) else None
        greedy = greedy and isinstance(alts, dict) and bool(alts) and max(alts, key=alts.get) == tok
    if count == 0:
        raise ValueError(f"no tokens cover characters {start}-{end}")
    if not math.isfinite(total):
        raise ValueError(f"log-prob {total} is not finite")
    return total, count, greedy
