"""Cache-aware access to a backend: the solver asks for samples, the store answers what it can.

A request hash covers the backend identity, the prompt payload, the stop sequences and the
decoding parameters. Sample i of a request is cached under (hash, i), so asking for K samples
after a run that drew K' < K sends one call for the K - K' missing ones (seeded by their index).
A log-likelihood request (context + continuations) is hashed the same way and stored as one
sample (index 0) whose `data` holds the per-continuation log-probs and token counts.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from typing import Any

from polaris.models.base import Backend, Decoding, GenRequest, LoglikRequest, RequestContext, RequestFailed
from polaris.prompts.render import Prompt
from polaris.runner.budget import Budget
from polaris.store.store import SampleRow, Store, canonical_json
from polaris.store.writer import StoreWriter


MAX_N_PER_CALL = 128  # samples asked in one call (the OpenAI API's limit); more are asked in several calls


def thinking_data(choice: Any) -> dict[str, Any] | None:
    """What a backend measured about a sample's thinking (exact reasoning tokens, budget forced), kept
    as the sample's data; None for backends that measure nothing (the text is all there is)."""
    if choice.reasoning_tokens is None and not choice.forced:
        return None
    data: dict[str, Any] = {"reasoning_tokens": choice.reasoning_tokens}
    if choice.forced:
        data["forced"] = True
    return data


class CacheMiss(Exception):
    """Rescoring needs a response that was never stored."""


@dataclass
class CallStats:
    calls: int = 0  # calls made to the backend by this process
    attempts: int = 0  # including retries
    failed: int = 0  # calls that exhausted their retry budget
    cached: int = 0  # samples served from the store
    answered: int = 0  # calls that returned a response
    quirks: dict[str, str] = field(default_factory=dict)  # what the server does differently ("n": ...)


@dataclass
class SolveContext:
    store: Store
    backend: Backend | None  # None: cache only (rescore)
    identity: dict[str, Any]
    run_id: str
    writer: StoreWriter | None = None  # group-commit writer; None: write synchronously
    stats: CallStats = field(default_factory=CallStats)
    budget: Budget | None = None  # token/request caps, checked before each call (runner/budget.py)
    monitor: Any = None  # runner.monitor.Monitor: says each server quirk once per command
    _params: dict[Decoding, dict[str, Any]] = field(default_factory=dict, repr=False)  # Decoding.params() memo
    _poll: dict[str, float] = field(default_factory=dict, repr=False)  # per request: next wait for a lease

    def request_body(self, prompt: Prompt, decoding: Decoding, item: str | None = None) -> dict[str, Any]:
        if "imported" in self.identity:  # responses someone else got: keyed by source and item (importers/keys.py)
            from polaris.importers.keys import request_body

            return request_body(self.identity, prompt, item)
        body = {
            **self.identity,
            "kind": "chat" if prompt.is_chat else "completions",
            **prompt.payload(),
            "stop": list(prompt.stop),
            "decoding": self._params.get(decoding) or self._params.setdefault(decoding, decoding.params()),
        }
        if self.identity.get("per_item") and item is not None:
            # Backends that answer from the item itself (baselines) must not share answers between
            # items whose prompts happen to be identical (BBH has such pairs with opposite golds).
            body["item"] = item
        return body

    def request_key(self, prompt: Prompt, decoding: Decoding, item: str | None = None) -> tuple[dict[str, Any], str, str]:
        """(body, canonical JSON, hash) of a request: the hash keys its samples in the store."""
        body = self.request_body(prompt, decoding, item)
        return body, *self._key(body)

    @staticmethod
    def _key(body: dict[str, Any]) -> tuple[str, str]:
        """(canonical JSON, hash) of a request body."""
        blob = canonical_json(body)
        return blob, hashlib.sha256(blob.encode()).hexdigest()

    async def generate(
        self, prompt: Prompt, decoding: Decoding, n: int, context: RequestContext
    ) -> tuple[str, list[SampleRow]]:
        """The request hash and samples 0..n-1 of this prompt, calling the backend only for missing ones."""
        body, blob, h = self.request_key(prompt, decoding, context.item.id)
        have = self.store.samples(h)
        self.stats.cached += sum(1 for i in range(n) if i in have)
        while True:
            missing = [i for i in range(n) if i not in have]
            if not missing:
                return h, [have[i] for i in range(n)]
            if self.backend is None:
                raise CacheMiss(h)
            first = missing[0]
            count = 1
            while count < len(missing) and missing[count] == first + count:
                count += 1
            if not self.backend.supports_n:
                count = 1
            count = min(count, MAX_N_PER_CALL)
            leased = await self._lease(h)
            if not leased or self.writer is not None:
                # Another process is sending this request (or stored it since we looked): take its samples.
                fresh = self.store.samples(h)
                if any(i in fresh for i in missing):
                    self.stats.cached += sum(1 for i in missing if i in fresh)
                    have.update(fresh)
                    if leased:
                        self._release(h)
                    continue
                if not leased:
                    continue
            got = await self._call(h, body, blob, GenRequest(prompt, decoding, count, first, context))
            if not got:
                # A server that ignores `n` returned nothing new: ask one sample at a time.
                raise RequestFailed("bad_body", "the server returned no choices", 1)
            have.update(got)

    async def _lease(self, h: str) -> bool:
        """Take the request's lease in the store (store/leases.py), so that another process on the same
        store does not send it too. False after a short wait while a live process holds it; the
        caller then looks for the samples it stored."""
        lease = getattr(self.writer, "lease", None)
        if lease is None:  # no store writer here (a Ray worker: its driver plans what is sent)
            return True
        if await lease(h):
            return True
        await asyncio.sleep(self._poll.get(h, 0.05))
        self._poll[h] = min(1.0, 2 * self._poll.get(h, 0.05))
        return False

    def _release(self, h: str) -> None:
        release = getattr(self.writer, "release", None)
        if release is not None:
            release(h)

    def _quirk(self, key: str, message: str) -> None:
        self.stats.quirks.setdefault(key, message)
        if self.monitor is not None:
            self.monitor.notice(key, message)

    async def record(self, **call: Any) -> None:
        """Persist a call: through the group-commit writer when there is one."""
        call["run"] = self.run_id
        if self.writer is not None:
            await self.writer.record_call(**call)
        else:
            self.store.record_call(call.pop("request_hash"), call.pop("request"), **call)

    async def _record_failure(self, h: str, body: dict[str, Any], blob: str, first_idx: int, n: int,
                              exc: RequestFailed) -> None:
        """Count a request that failed for good and persist it as an error call."""
        exc.request = h  # the item's error result names the request it stored
        self.stats.failed += 1
        self.stats.attempts += exc.attempts
        await self.record(request_hash=h, request=body, body_json=blob, first_idx=first_idx, n=n, error=str(exc),
                          attempts=exc.attempts)

    async def _call(self, h: str, body: dict[str, Any], blob: str, req: GenRequest) -> dict[int, SampleRow]:
        assert self.backend is not None
        # Raises BudgetExhausted before anything is sent; the item is left for the next run.
        try:
            ticket = await self.budget.admit(req.prompt, req.n, req.decoding.max_tokens) if self.budget else 0
        except BaseException:
            self._release(h)
            raise
        self.stats.calls += 1
        try:
            res = await self.backend.generate(req)
        except RequestFailed as exc:
            if self.budget:
                self.budget.settle(ticket, None, req.prompt, [])
            await self._record_failure(h, body, blob, req.first_index, req.n, exc)
            raise
        except BaseException as exc:
            if self.budget:  # cancelled or unusable backend: free the reservation for the calls waiting on it
                self.budget.settle(ticket, None, req.prompt, [])
            self._release(h)
            if isinstance(exc, asyncio.CancelledError):
                self.stats.calls -= 1  # abandoned (the cell stopped): counted neither as sent nor as failed
            raise
        self.stats.attempts += res.attempts
        self.stats.answered += 1
        if 0 < len(res.choices) < req.n:
            self._quirk("n", f"{self.identity.get('model', 'the server')} ignores `n` (asked for {req.n} samples in"
                             f" one call, got {len(res.choices)}); Polaris asks again for the missing ones")
        if self.budget:
            self.budget.settle(ticket, res.usage, req.prompt, [c.text + (c.reasoning or "") for c in res.choices])
        rows = [
            {"idx": req.first_index + i, "text": c.text, "finish": c.finish_reason, "reasoning": c.reasoning,
             "tokens": c.tokens, "data": thinking_data(c)}
            for i, c in enumerate(res.choices[: req.n])
        ]
        await self.record(request_hash=h, request=body, body_json=blob, first_idx=req.first_index, n=req.n,
                          samples=rows, attempts=res.attempts, latency=res.latency, usage=res.usage)
        return {r["idx"]: SampleRow(r["idx"], r["text"], r["finish"], r["reasoning"], r["tokens"], r["data"])
                for r in rows}

    async def loglik(self, context: str, continuations: tuple[str, ...], origin: RequestContext) -> tuple[str, SampleRow]:
        """The request hash and the stored scores of `continuations` after `context` (one call if missing)."""
        body = {**self.identity, "kind": "loglik", "context": context, "continuations": list(continuations)}
        if self.identity.get("per_item"):  # see request_body
            body["item"] = origin.item.id
        blob, h = self._key(body)
        have = self.store.samples(h)
        if 0 in have and have[0].data is not None:
            self.stats.cached += 1
            return h, have[0]
        if self.backend is None:
            raise CacheMiss(h)
        while True:
            leased = await self._lease(h)
            have = self.store.samples(h)
            if 0 in have and have[0].data is not None:
                if leased:
                    self._release(h)
                self.stats.cached += 1
                return h, have[0]
            if leased:
                break
        self.stats.calls += 1
        try:
            res = await self.backend.loglik(LoglikRequest(context, continuations, origin))
            if len(res.logprobs) != len(continuations):
                raise RequestFailed("bad_body", f"{len(res.logprobs)} log-probs for {len(continuations)} continuations",
                                    res.attempts)
        except RequestFailed as exc:
            await self._record_failure(h, body, blob, 0, 1, exc)
            raise
        except BaseException as exc:
            self._release(h)
            if isinstance(exc, asyncio.CancelledError):
                self.stats.calls -= 1
            raise
        self.stats.attempts += res.attempts
        self.stats.answered += 1
        data = {"logprobs": [float(x) for x in res.logprobs], "tokens": list(res.tokens), "greedy": list(res.greedy)}
        if res.bos is not None:  # which tokenisation convention the scores follow (docs/backends.md)
            data["bos"] = res.bos
        from polaris.runner.loglik import best_option  # which imports this module

        best = best_option(data["logprobs"])
        row = {"idx": 0, "text": continuations[best].strip(), "finish": "loglik", "reasoning": None,
               "tokens": sum(res.tokens) if res.tokens else None, "data": data}
        await self.record(request_hash=h, request=body, body_json=blob, first_idx=0, n=1, samples=[row],
                          attempts=res.attempts, latency=res.latency)
        return h, SampleRow(0, row["text"], row["finish"], None, row["tokens"], data)
