"""Prompts to token ids with a Hugging Face tokenizer, shared by the hf and vllm backends.

Chat prompts go through the tokenizer's chat template (with the generation prompt), and the
rendered text is tokenised without adding special tokens again (the template writes its own BOS).
A log-likelihood pair is split as lm-evaluation-harness splits it: the context's trailing spaces
move to the continuation, the context is tokenised alone, and the continuation is what the whole
text's tokens add after the context's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from polaris.models.base import NotSupported
from polaris.models.modelfiles import one_line
from polaris.prompts.render import Prompt


def prompt_ids(tokenizer: Any, prompt: Prompt, name: str, effort: str | None = None) -> list[int]:
    """A prompt's token ids; `effort` (--reasoning-effort) reaches the chat template as the variable
    `reasoning_effort`, which reasoning models' templates read (gpt-oss)."""
    if not prompt.is_chat:
        if effort is not None:
            raise NotSupported(f"{name}: --reasoning-effort goes to the chat template; use --api chat")
        return list(tokenizer(prompt.text).input_ids)
    if not getattr(tokenizer, "chat_template", None):
        raise NotSupported(f"{name}: the tokenizer has no chat template; use --api completions")
    messages = prompt.payload()["messages"]
    extra = {"reasoning_effort": effort} if effort is not None else {}
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, **extra)
    except Exception as exc:  # jinja2 errors, e.g. "system role not supported"
        raise NotSupported(f"{name}: the chat template rejected the prompt: {one_line(exc)}") from None
    return list(tokenizer(text, add_special_tokens=False).input_ids)


def pair_ids(tokenizer: Any, context: str, continuations: Sequence[str],
             empty_context: int) -> tuple[list[int], list[list[int]]]:
    """(context ids, each continuation's ids); an empty context (no BOS) becomes `[empty_context]`."""
    ctx = list(tokenizer(context.rstrip()).input_ids)  # trailing spaces go with the continuation
    conts = [list(tokenizer(context + c).input_ids)[len(ctx):] for c in continuations]
    return ctx or [empty_context], conts
