"""A fake reasoning model on 127.0.0.1 whose accuracy depends on the compute it is given, so compute
curves have a known truth (tests of docs/compute.md).

Each question needs some number of thinking tokens, fixed by the question (`need`; with sampling,
each sample needs its own amount, drawn from (question, seed, sample index)). The model thinks until
it has what it needs or until its thinking budget runs out: a request's thinking budget is read from
the fields the server honours (`obey`: vLLM's `thinking_token_budget`, SGLang's `custom_params`, a
template's `chat_template_kwargs`, and `reasoning_effort` as a budget of EFFORTS[effort]); a field
it does not honour is ignored, like a real server would. Then it answers: right when it thought
enough, else a wrong number. The response is `<think>` + one token per thinking token + `</think>` +
"The answer is N." (ANSWER tokens); usage reports exactly these counts (reasoning tokens in
`completion_tokens_details`). A response longer than `max_tokens` is cut there with finish reason
"length", before its answer: a truncated sample.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from fakeserver import FakeOpenAI, Policy, _h

ANSWER = 6  # tokens of "The answer is N."
EFFORTS = {"minimal": 32, "low": 128, "medium": 512, "high": 2048}
OBEY = ("thinking_token_budget", "custom_params", "chat_template_kwargs", "reasoning_effort")


def need(key: str, lo: int = 32, hi: int = 1024) -> int:
    """Thinking tokens the question needs: spread evenly over [lo, hi) by its hash."""
    return lo + _h(key, "need") % (hi - lo)


@dataclass
class ThinkPolicy:
    lo: int = 32
    hi: int = 1024
    obey: tuple[str, ...] = OBEY  # the budget fields this server honours
    spread: float = 0.5  # sampled requests: each sample needs need * (1 - spread .. 1 + spread)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def budget(self, body: dict[str, Any]) -> int | None:
        for name in self.obey:
            value = body.get(name)
            if name in ("custom_params", "chat_template_kwargs"):
                value = value.get("thinking_budget") if isinstance(value, dict) else None
            elif name == "reasoning_effort":
                value = EFFORTS.get(value) if value is not None else None
            if value is not None:
                return int(value)
        return None

    def sample_need(self, key: str, seed: Any, index: int, temperature: float) -> int:
        base = need(key, self.lo, self.hi)
        if temperature <= 0:
            return base
        u = random.Random(_h(key, seed, index, "sample")).random()
        return max(1, round(base * (1 - self.spread + 2 * self.spread * u)))


class ThinkServer(FakeOpenAI):
    def __init__(self, answers: dict[str, str], think: ThinkPolicy | None = None) -> None:
        super().__init__(Policy(answers=answers))
        self.think = think or ThinkPolicy()

    async def completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.think.bodies.append(body)
        chat = request.path.endswith("/chat/completions")
        if chat:
            text = next((m.get("content", "") for m in reversed(body.get("messages") or []) if m.get("role") == "user"),
                        "")
        else:
            text = body.get("prompt", "")
        limit = body.get("max_completion_tokens", body.get("max_tokens", 1024))
        budget = self.think.budget(body)
        temperature = float(body.get("temperature", 1.0))
        choices, completion, reasoning = [], 0, 0
        found = self.find(text)
        for i in range(int(body.get("n", 1))):
            key, gold = found if found else ("?", "0")
            needed = self.think.sample_need(key, body.get("seed"), i, temperature)
            thought = needed if budget is None else min(needed, budget)
            answer = gold if thought >= needed else str(int(float(gold)) + 1 + _h(key, i) % 5)
            if thought + ANSWER <= limit:
                out, finish, used = f"<think>{' t' * thought}</think>The answer is {answer}.", "stop", thought + ANSWER
                thinking = thought
            else:  # out of tokens while thinking: no answer
                out, finish, used, thinking = f"<think>{' t' * limit}", "length", limit, limit
            completion += used
            reasoning += thinking
            msg = {"index": i, "finish_reason": finish}
            msg.update({"message": {"role": "assistant", "content": out}} if chat else {"text": out})
            choices.append(msg)
        prompt = len(text) // 4
        payload = {"id": "think", "object": "chat.completion", "created": int(time.time()), "model": "think",
                   "choices": choices,
                   "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                             "total_tokens": prompt + completion,
                             "completion_tokens_details": {"reasoning_tokens": reasoning}}}
        return web.Response(body=json.dumps(payload).encode(), content_type="application/json")
