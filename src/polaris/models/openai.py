"""`openai/<model>`: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, the OpenAI API).

Why aiohttp and not the openai SDK or httpx: at 64 requests in flight on this class of machine
the SDK and httpx manage a few hundred requests per second, a bare aiohttp client several
thousand; the protocol surface Polaris needs (chat and text completions, `n`, logprobs) is small
enough to speak directly. Retries are ours (models/retry.py) so that every attempt is counted.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from polaris.models.base import (
    BackendUnavailable,
    Choice,
    GenRequest,
    GenResult,
    LoglikRequest,
    LoglikResult,
    NotSupported,
    RequestFailed,
)
from polaris.models.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after
from polaris.models.thinking import DEFAULT_BUDGET_PARAM, check_budget_param, is_openai_api, openai_fields

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class _Retry(Exception):
    def __init__(self, kind: str, detail: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.status, self.retry_after = kind, detail, status, retry_after


def normalize_base_url(url: str) -> str:
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BackendUnavailable(f"--base-url '{public_url(url)}' is not an http(s) URL")
    return url


def public_url(url: str) -> str:
    """The URL without user name and password (`http://user:secret@host/v1` -> `http://host/v1`):
    what identities, stored requests and messages show."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


class OpenAIBackend:
    supports_n = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api: str = "chat",
        concurrency: int = 32,
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        budget_param: str | None = None,
    ) -> None:
        if api not in ("chat", "completions"):
            raise BackendUnavailable(f"unknown --api '{api}' (choose chat or completions)")
        self.name = f"openai/{model}"
        self.model = model
        self.base_url = normalize_base_url(base_url or DEFAULT_BASE_URL)
        self.url = public_url(self.base_url)  # never the credentials: this is what is stored and shown
        self.api = api
        self._key = api_key or None
        password = urlsplit(self.base_url).password
        self._secrets = [s for s in (self._key, password, self.base_url if self.url != self.base_url else None) if s]
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)  # jitter only; never affects results
        self._session: aiohttp.ClientSession | None = None
        # How a thinking budget is sent (models/thinking.py); part of the identity only when not the default.
        self.budget_param = check_budget_param(budget_param or DEFAULT_BUDGET_PARAM)

    def identity(self) -> dict[str, Any]:
        ident = {"provider": "openai", "model": self.model, "endpoint": self.url, "api": self.api}
        if self.budget_param != DEFAULT_BUDGET_PARAM:
            ident["budget_param"] = self.budget_param
        return ident

    # -- lifecycle ---------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self._key:
            h["Authorization"] = f"Bearer {self._key}"
        return h

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.concurrency + 4, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers())
        await self._preflight()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _scrub(self, text: str) -> str:
        """One line of at most 300 characters with every secret blanked out (servers quote keys back)."""
        text = " ".join(text.split())
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        return text[:300]

    async def _preflight(self) -> None:
        """Fail fast, with one line, on an unreachable, unauthorised or non-OpenAI server."""
        assert self._session is not None
        url = f"{self.base_url}/models"
        shown = self.url
        last = ""
        for attempt in range(3):
            try:
                async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=15)) as resp:
                    body = await resp.read()
                    status = resp.status
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
                last = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no response'}"
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if status in (401, 403):
                raise BackendUnavailable(
                    f"{shown} refused the API key (HTTP {status}); set OPENAI_API_KEY to a valid key"
                )
            if status == 200:
                try:
                    data = json.loads(body)
                except ValueError:
                    data = None
                if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                    raise BackendUnavailable(
                        f"{shown} is not an OpenAI-compatible server (GET /models did not return a model list)"
                    )
            # Other statuses (404: no /models route, 5xx: transient) are left to the real requests.
            return
        raise BackendUnavailable(f"cannot reach {shown} ({last}); is the server running?")

    # -- requests ----------------------------------------------------------------------------

    def _body(self, req: GenRequest) -> tuple[str, dict[str, Any]]:
        d = req.decoding
        body: dict[str, Any] = {"model": self.model, "max_tokens": d.max_tokens, "temperature": d.temperature}
        if d.top_p is not None:
            body["top_p"] = d.top_p
        if d.seed is not None:
            body["seed"] = d.seed + req.first_index
        if req.n != 1:
            body["n"] = req.n
        if req.prompt.stop:
            body["stop"] = list(req.prompt.stop)[:4]  # the OpenAI API accepts at most 4
        body.update(req.prompt.payload())  # its messages, or its prompt text
        self._budget(body, req)
        if not req.prompt.is_chat:
            return "/completions", body
        if self.api != "chat":
            raise NotSupported("a chat prompt cannot be sent with --api completions")
        return "/chat/completions", body

    def _budget(self, body: dict[str, Any], req: GenRequest) -> None:
        """The reasoning effort and thinking budget of the request, as this server takes them."""
        add, drop = openai_fields(req.decoding, param=self.budget_param, official=is_openai_api(self.base_url),
                                  chat=req.prompt.is_chat)
        for key in drop:
            body.pop(key, None)
        body.update(add)

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[dict[str, Any], float, int]:
        """POST with retries; returns (json, latency of the successful attempt, attempts)."""
        assert self._session is not None, "backend not started"
        url = self.base_url + path
        payload = json.dumps(body).encode()
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            t0 = time.perf_counter()
            try:
                return await self._attempt(url, payload), time.perf_counter() - t0, attempt
            except _Retry as exc:
                if attempt >= self.retry.max_attempts or waited >= self.retry.max_wait:
                    raise RequestFailed(exc.kind, exc.detail, attempt, exc.status) from None
                pause = self.retry.delay(attempt, self._rng, exc.retry_after)
                pause = min(pause, max(0.0, self.retry.max_wait - waited))
                waited += pause
                await asyncio.sleep(pause)

    async def _attempt(self, url: str, payload: bytes) -> dict[str, Any]:
        assert self._session is not None
        try:
            async with self._session.post(
                url, data=payload, timeout=aiohttp.ClientTimeout(total=self.timeout)
            ) as resp:
                status = resp.status
                body = await resp.read()
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            raise _Retry("timeout", f"no response within {self.timeout:g} s") from None
        except aiohttp.ClientPayloadError as exc:
            raise _Retry("truncated", f"response body cut short ({type(exc).__name__})") from None
        except aiohttp.ClientConnectionError as exc:
            raise _Retry("connection", f"{type(exc).__name__}: {self._scrub(str(exc))}") from None
        if status != 200:
            shown = public_url(url)
            detail = f"HTTP {status} from {shown}: {self._scrub(body.decode('utf-8', 'replace'))}"
            if status in (401, 403):
                raise BackendUnavailable(f"{self.url} refused the API key (HTTP {status}); check OPENAI_API_KEY")
            if status == 404:
                raise BackendUnavailable(f"HTTP 404 from {shown}: unknown model '{self.model}' or endpoint")
            if status in RETRYABLE_STATUS:
                raise _Retry("http", detail, status, retry_after)
            raise RequestFailed("http", detail, 1, status)
        try:
            data = json.loads(body)
        except ValueError:
            raise _Retry("bad_body", f"unparseable JSON from {public_url(url)}") from None
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            raise _Retry("bad_body", f"no choices in the response from {public_url(url)}")
        return data

    async def generate(self, req: GenRequest) -> GenResult:
        path, body = self._body(req)
        data, latency, attempts = await self._post(path, body)
        choices = []
        for c in sorted(data["choices"], key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
            if not isinstance(c, dict):
                raise RequestFailed("bad_body", "malformed choice in response", attempts)
            msg = c.get("message") or {}
            text = msg.get("content") if path == "/chat/completions" else c.get("text")
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
            choices.append(Choice(text or "", c.get("finish_reason"), reasoning or None))
        usage = _usage(data.get("usage"))
        return GenResult(choices, usage, latency, attempts)

    async def loglik(self, req: LoglikRequest) -> LoglikResult:
        """Score all options of an item in one `/completions` call: each prompt is context + option,
        echoed back with its token log-probs (`echo`, `logprobs: 1`; `max_tokens: 1`, which every
        server accepts, and the generated token is ignored). Tokens are matched to the option by
        their character offsets."""
        body = {"model": self.model, "prompt": [req.context + c for c in req.continuations], "max_tokens": 1,
                "temperature": 0, "echo": True, "logprobs": 1}
        try:
            data, latency, attempts = await self._post("/completions", body)
        except RequestFailed as exc:
            if exc.status == 400 and re.search(r"echo|logprob", exc.detail, re.IGNORECASE):
                raise NotSupported(f"{self._no_echo()} ({self._scrub(exc.detail)[:160]})") from None
            raise
        by_index = {c.get("index", i): c for i, c in enumerate(data["choices"]) if isinstance(c, dict)}
        result = LoglikResult([], [], [], latency, attempts)
        for i, cont in enumerate(req.continuations):
            lp = (by_index.get(i) or {}).get("logprobs")
            if not isinstance(lp, dict) or not isinstance(lp.get("tokens"), list) \
                    or not isinstance(lp.get("token_logprobs"), list):
                raise NotSupported(self._no_echo())
            try:
                score, count, greedy = continuation_logprob(lp, len(req.context), len(req.context) + len(cont))
            except (TypeError, ValueError) as exc:
                raise RequestFailed("bad_body", f"malformed logprobs in the response: {exc}", attempts) from None
            result.logprobs.append(score)
            result.tokens.append(count)
            result.greedy.append(greedy)
        return result

    def _no_echo(self) -> str:
        return (f"{self.name} at {self.base_url} does not return prompt log-probabilities (/completions with echo "
                f"and logprobs); --scoring loglik needs a server that does, such as vLLM")


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
    return total, count, greedy


def _usage(raw: Any) -> dict[str, int]:
    if not isinstance(raw, dict):
        return {}
    out = {k: v for k, v in raw.items() if k in ("prompt_tokens", "completion_tokens", "total_tokens") and isinstance(v, int)}
    details = raw.get("completion_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("reasoning_tokens"), int):
        out["reasoning_tokens"] = details["reasoning_tokens"]
    return out
