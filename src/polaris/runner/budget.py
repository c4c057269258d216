"""Budget caps for sweeps: stop cleanly *before* a token or request cap would be exceeded.

Every call to a backend is checked before it is sent. A call reserves an upper bound of what it can
cost: prompt tokens <= UTF-8 bytes of the prompt + 8 per chat message (byte-level BPE tokenizers
never use less than a byte per token; the 8 covers role markers), completion tokens <= n x
max_tokens. The call is sent only if what was spent, plus what calls in flight have reserved, plus
this bound stays within the cap; if only the reservations of calls in flight are in the way, it
waits for them to finish. When a response arrives its reservation is replaced by the usage the
server reports (or, if it reports none, by an estimate of chars/4 of prompt and responses). So the
cap holds with any number of calls in flight, and the run stops at the first call whose bound no
longer fits in what is left.

Once a call is refused the budget stays exhausted (later, smaller calls are refused too), so a
stopped run has a clean edge: everything stored is complete, nothing after it was sent, and the
same command resumes where it stopped. Caps count this process's calls; retries of one call are
not counted as requests (they are the backend's business).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from polaris.prompts.render import Prompt

CHAT_MESSAGE_OVERHEAD = 8


class BudgetExhausted(Exception):
    """A call was not sent because it could exceed the budget."""


def prompt_chars(prompt: Prompt) -> int:
    if prompt.is_chat:
        return sum(len(m.content) for m in prompt.messages)
    return len(prompt.text or "")


def prompt_token_bound(prompt: Prompt) -> int:
    """An upper bound on the prompt's tokens (see the module docstring)."""
    if prompt.is_chat:
        return sum(len(m.content.encode()) + CHAT_MESSAGE_OVERHEAD for m in prompt.messages)
    return len((prompt.text or "").encode())


def estimate_tokens(chars: int) -> int:
    """The usual rule of thumb for English text: about four characters per token."""
    return (chars + 3) // 4


@dataclass
class Budget:
    max_tokens: int | None = None
    max_requests: int | None = None
    tokens: int = 0  # spent by finished calls (as the server reported, else estimated)
    requests: int = 0  # calls sent
    reserved: int = 0  # upper bounds of the calls in flight
    exhausted: str | None = None  # why calls stopped being sent
    estimated: bool = False  # some spent tokens are estimates (the server reported no usage)
    _in_flight: dict[int, int] = field(default_factory=dict)
    _settled: asyncio.Event | None = field(default=None, repr=False)  # set (and replaced) when a call settles

    async def admit(self, prompt: Prompt, n: int, max_tokens: int) -> int:
        """Admit one call of n samples (waiting for calls in flight if they are what stands in the way),
        or raise BudgetExhausted; returns a ticket for `settle`."""
        bound = prompt_token_bound(prompt) + n * max_tokens
        while (self.max_tokens is not None and not self.exhausted and self.reserved
               and self.tokens + self.reserved + bound > self.max_tokens >= self.tokens + bound):
            if self._settled is None:
                self._settled = asyncio.Event()
            await self._settled.wait()
        return self.reserve(bound)

    def reserve(self, bound: int) -> int:
        """Admit one call that can take up to `bound` tokens now or raise BudgetExhausted (no waiting);
        returns a ticket for `settle`."""
        if self.exhausted:
            raise BudgetExhausted(self.exhausted)
        if self.max_requests is not None and self.requests + 1 > self.max_requests:
            self.exhausted = f"--max-requests {self.max_requests} reached ({self.requests} requests sent)"
            raise BudgetExhausted(self.exhausted)
        if self.max_tokens is not None and self.tokens + self.reserved + bound > self.max_tokens:
            self.exhausted = (f"--max-tokens {self.max_tokens} reached ({self.tokens} tokens spent; the next call"
                              f" could take up to {bound})")
            raise BudgetExhausted(self.exhausted)
        self.requests += 1
        self.reserved += bound
        self._in_flight[self.requests] = bound
        return self.requests

    def settle(self, ticket: int, usage: dict[str, Any] | None, prompt: Prompt, texts: list[str]) -> None:
        """Replace a call's reservation by what it cost (nothing if it failed: `texts` empty)."""
        bound = self._in_flight.pop(ticket, 0)
        self.reserved -= bound
        usage = usage or {}
        total = usage.get("total_tokens")
        if not isinstance(total, int):
            parts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
            total = sum(parts) if all(isinstance(p, int) for p in parts) else None  # type: ignore[arg-type]
        if total is None and texts:
            total = estimate_tokens(prompt_chars(prompt)) + sum(estimate_tokens(len(t)) for t in texts)
            self.estimated = True
        self.tokens += total or 0
        if self._settled is not None:  # wake the calls waiting for room
            self._settled.set()
            self._settled = None
