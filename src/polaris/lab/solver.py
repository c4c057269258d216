"""The lab tasks' solver ("lab"): generate as usual and, when a lab model answers, also score the
gold response's log-probability, the smooth metric beside exact match (Schaeffer et al.).

The gold response is what the model was trained to write for the prompt format: the answer
sentence for `zeroshot-direct`, the scratchpad lines and the answer sentence for `zeroshot-cot`.
Its summed log-probability given the prompt lands in the item's result data as `target_logprob`
(with `target_tokens` and `target_greedy`: whether greedy decoding writes it), which
`polaris analyze scaling` reads as the `logprob` metric. It is one forward pass per item, batched
and cached like any request. Other backends (an OpenAI-compatible server asked a lab task) get
plain generation: their log-probs are not comparable, and most cannot score a given text.
"""

from __future__ import annotations

from dataclasses import replace

from polaris.lab.backend import prompt_text
from polaris.lab.decode import scratchpad_tokens
from polaris.lab.tasks import gold_response
from polaris.models.base import RequestContext
from polaris.prompts.render import Prompt
from polaris.runner.cell import CellSpec
from polaris.runner.context import SolveContext
from polaris.runner.solvers import Outputs, generate, register
from polaris.tasks.base import Item, Task


async def solve(task: Task, item: Item, prompt: Prompt, ctx: SolveContext, spec: CellSpec) -> Outputs:
    out = await generate(task, item, prompt, ctx, spec)
    if ctx.identity.get("backend") != "lab":
        return out
    # The scratchpad is a lab model's thinking; samples stored before the backend counted it get the
    # same count from their text (the tokenizer is char-level, so it is exact).
    out.samples = [s if s.data is not None else replace(s, data={"reasoning_tokens": scratchpad_tokens(s.text or "")})
                   for s in out.samples]
    target = gold_response(task, item, spec.cot)
    _, row = await ctx.loglik(prompt_text(prompt), (target,), RequestContext(task, item, spec.prompt))
    data = row.data or {}
    lp, tokens, greedy = data["logprobs"][0], data["tokens"][0], data["greedy"][0]
    out.detail.update(target_logprob=lp, target_tokens=tokens, target_greedy=bool(greedy))
    return out


register("lab", solve)
