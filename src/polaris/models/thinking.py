"""How each backend is asked for a reasoning effort or a thinking budget (docs/compute.md).

A cell's `reasoning_effort` and `thinking_budget` travel in `Decoding`; each backend turns them into
what it understands:

- OpenAI-compatible servers (`openai_fields`): `reasoning_effort` as the request field of that name
  (the OpenAI API; vLLM and SGLang forward it to the chat template, where gpt-oss-style templates
  read it). A thinking budget is sent the way `-M budget-param=` says, since servers disagree:
    thinking_token_budget   vLLM's sampling parameter: a hard cap, enforced by the server when it
                            runs with --reasoning-parser and --reasoning-config (default);
    custom_params           SGLang: `{"custom_params": {"thinking_budget": N}}`, a hard cap with
                            --enable-strict-thinking (or its thinking-budget logit processor);
    chat_template_kwargs    `{"chat_template_kwargs": {"thinking_budget": N}}`: a hint to the
                            model's own chat template (Qwen3's reads it), no guarantee.
  The OpenAI API has no thinking budget (a one-line error); for it, a reasoning effort also moves
  the response limit to `max_completion_tokens` and leaves sampling at the model's default, the only
  settings its reasoning models accept.
- hf: the effort goes to the chat template (`reasoning_effort=`), the budget is enforced in
  generation (`hf_compute.ThinkingBudget`, s1's budget forcing).
- vllm (offline): `SamplingParams(thinking_token_budget=N)` where the installed vLLM has it.
- lab: the scratchpad is the thinking; the budget cuts it and forces the answer sentence.

A server that ignores what it was sent shows it in the token counts: `runner/compute.py` flags a
cell whose samples think past their budget, and `analysis/compute.py` factors whose levels do not
move the tokens.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from polaris.errors import PolarisError
from polaris.models.base import Decoding

BUDGET_PARAMS = ("thinking_token_budget", "custom_params", "chat_template_kwargs")
DEFAULT_BUDGET_PARAM = "thinking_token_budget"


def check_budget_param(param: str) -> str:
    if param not in BUDGET_PARAMS:
        raise PolarisError(f"unknown --budget-param '{param}' (choose from {', '.join(BUDGET_PARAMS)})")
    return param


def is_openai_api(base_url: str) -> bool:
    """The OpenAI API itself (not a server that speaks its protocol)."""
    return (urlsplit(base_url).hostname or "").lower() == "api.openai.com"


def openai_fields(decoding: Decoding, *, param: str = DEFAULT_BUDGET_PARAM, official: bool = False,
                  chat: bool = True) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(fields to add to an OpenAI-compatible request body, fields to drop from it) for the
    decoding's effort and thinking budget; nothing when neither is set."""
    add: dict[str, Any] = {}
    drop: tuple[str, ...] = ()
    if decoding.reasoning_effort is not None:
        add["reasoning_effort"] = decoding.reasoning_effort
        if official and chat:
            add["max_completion_tokens"] = decoding.max_tokens
            drop = ("max_tokens", "temperature", "top_p")
    budget = decoding.thinking_budget
    if budget is not None:
        if official:
            raise PolarisError("the OpenAI API takes no thinking budget: use --reasoning-effort or --max-tokens "
                               "(docs/compute.md)")
        if param == "thinking_token_budget":
            add["thinking_token_budget"] = budget
        elif param == "custom_params":
            add["custom_params"] = {"thinking_budget": budget}
        else:
            add["chat_template_kwargs"] = {"thinking_budget": budget}
    return add, drop


def forced_close(close_tag: str) -> str:
    """What budget forcing writes to end a thought: the closing tag on its own line, then a blank line
    before the answer (as reasoning models lay out their own closing)."""
    return f"\n{close_tag}\n\n"


def open_tag_at_end(text: str, pairs: tuple[tuple[str, str], ...]) -> tuple[str, str] | None:
    """The tag pair whose opening tag ends `text` (a prompt whose template opened the thinking)."""
    tail = text.rstrip()
    return next((pair for pair in pairs if tail.endswith(pair[0])), None)
