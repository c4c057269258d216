"""`openai/<model>`: any OpenAI-compatible server (vLLM, SGLang, llama.cpp, Ollama, the OpenAI API).

Why aiohttp and not the openai SDK or httpx: at 64 requests in flight on this class of machine
the SDK and httpx manage a few hundred requests per second, a bare aiohttp client several
thousand; the protocol surface Polaris needs (chat and text completions, `n`, logprobs) is small
enough to speak directly. Retries are ours (models/retry.py) so that every attempt is counted.

Generation requests are streamed (`stream: true`) so that a stalled request is told from a slow one
long before any total timeout (models/liveness.py); the text is the same as without streaming. A
server that ignores `stream` answers with a plain body, which is read as before; one that refuses
it is asked again without it. Every response goes through models/responses.py: anything that is
not a well-formed completion is a retried, then recorded, error for its item.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import aiohttp

from polaris.models.base import (
    BackendUnavailable,
    GenRequest,
    GenResult,
    LoglikRequest,
    LoglikResult,
    NotSupported,
    RequestFailed,
)
from polaris.models.liveness import Flight, Live, Watchdog
from polaris.models.logprobs import echoed_scores
from polaris.models.responses import BadResponse, Stream, clean_text, completion, load_json, sse_events
from polaris.models.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after
from polaris.models.urls import normalize_base_url, public_url, split_base_url  # noqa: F401 - re-exported
from polaris.models.thinking import DEFAULT_BUDGET_PARAM, check_budget_param, is_openai_api, openai_fields

DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_EVENT = 16 * 1024 * 1024  # one server-sent event larger than this is a broken stream
MAX_BODY = 256 * 1024 * 1024  # a response body larger than this is a broken response
T = TypeVar("T")


class _Retry(Exception):
    def __init__(self, kind: str, detail: str, status: int | None = None, retry_after: float | None = None):
        super().__init__(detail)
        self.kind, self.detail, self.status, self.retry_after = kind, detail, status, retry_after


class _NoStream(Exception):
    """The server refused `stream`: ask again without it."""


def _finite(name: str, value: float, low: float = 0.0) -> float:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= low:
        raise BackendUnavailable(f"{name} must be a finite number above {low:g} (got {value})")
    return float(value)


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
        stall_timeout: float = 30.0,
        stream: bool = True,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        budget_param: str | None = None,
    ) -> None:
        if api not in ("chat", "completions"):
            raise BackendUnavailable(f"unknown --api '{api}' (choose chat or completions)")
        self.name = f"openai/{model}"
        self.model = model
        raw = base_url or DEFAULT_BASE_URL
        self.base_url, self._query, creds = split_base_url(raw)
        self.url = public_url(self.base_url + (f"?{self._query}" if self._query else ""))  # stored and shown
        self.api = api
        self._key = api_key or None
        if creds is not None and self._key:
            raise BackendUnavailable(
                f"--base-url {self.url} carries a user name and password and OPENAI_API_KEY is set: both would be"
                " the Authorization header; keep one of them")
        self._auth = aiohttp.BasicAuth(*creds).encode() if creds is not None else None
        query_secrets = [v for k, v in parse_qsl(self._query) if "version" not in k.lower() and len(v) >= 4]
        hidden = [s for s in (creds[1] if creds else None, *query_secrets,
                              self._auth.split(" ", 1)[1] if self._auth else None) if s and len(s) >= 4]
        self._secrets = [s for s in (self._key, *hidden, raw.strip() if hidden else None) if s]
        self.concurrency = concurrency
        self.timeout = _finite("--timeout", timeout)
        self.stall_timeout = _finite("--stall-timeout", stall_timeout)
        self.stream = stream
        self.retry = retry or RetryPolicy()
        self._rng = random.Random(seed)  # jitter only; never affects results
        self._session: aiohttp.ClientSession | None = None
        self.live = Live()
        self._watch: Watchdog | None = None
        self._shown: dict[str, str] = {}  # endpoint URL -> as shown in messages
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
        elif self._auth:
            h["Authorization"] = self._auth
        return h

    def _endpoint(self, path: str) -> str:
        return self.base_url + path + (f"?{self._query}" if self._query else "")

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self.concurrency + 4, limit_per_host=0, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers())
        if self._watch is None:
            self._watch = Watchdog(self.live, self.timeout, self.stall_timeout)
        await self._preflight()

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _scrub(self, text: str) -> str:
        """One line of at most 300 characters with every secret blanked out (servers quote keys back)."""
        text = " ".join(clean_text(text).split())
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "[redacted]")
        return text[:300]

    async def _preflight(self) -> None:
        """Fail fast, with one line, on an unreachable, unauthorised or non-OpenAI server, or on a model
        name the server does not list."""
        assert self._session is not None
        url = self._endpoint("/models")
        shown = self.url
        last = ""
        for attempt in range(3):
            try:
                async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=15)) as resp:
                    body = await resp.content.read(MAX_EVENT)
                    status = resp.status
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no response'}"
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if status in (401, 403):
                raise BackendUnavailable(
                    f"{shown} refused the API key (HTTP {status}); set OPENAI_API_KEY to a valid key"
                )
            if status == 200:
                try:
                    data = load_json(body)
                except BadResponse:
                    data = None
                if not isinstance(data, dict) or not isinstance(data.get("data"), list):
                    raise BackendUnavailable(
                        f"{shown} is not an OpenAI-compatible server (GET /models did not return a model list)"
                    )
                self._check_model(data["data"])
            # Other statuses (404: no /models route, 5xx: transient) are left to the real requests.
            return
        raise BackendUnavailable(f"cannot reach {shown} ({last}); is the server running?")

    def _check_model(self, listed: list[Any]) -> None:
        ids = [m["id"] for m in listed if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if not ids or self.model in ids or f"{self.model}:latest" in ids:  # Ollama's implicit tag
            return
        names = ", ".join(self._scrub(i) for i in ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
        raise BackendUnavailable(f"{self.url} does not serve model '{self.model}' (its /models lists {names});"
                                 f" use -m openai/<one of those>")

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

    async def _post(self, path: str, body: dict[str, Any], parse: Callable[[Any], T],
                    stream: bool = False) -> tuple[T, float, int]:
        """POST with retries; returns (the parsed response, latency of the successful attempt, attempts).
        `parse` validates a JSON body (raising BadResponse); a streamed body is assembled into the same
        (choices, usage) a chat or text completion parses to."""
        assert self._session is not None, "backend not started"
        url = self._endpoint(path)
        try:
            plain = json.dumps(body, allow_nan=False).encode()
        except ValueError:
            raise NotSupported(f"a request to {self.url} holds a number JSON cannot carry (inf or nan)") from None
        streamed = plain[:-1] + b', "stream": true, "stream_options": {"include_usage": true}}'
        waited = 0.0
        attempt = 0
        while True:
            attempt += 1
            streaming = stream and self.stream
            payload = streamed if streaming else plain
            t0 = time.perf_counter()
            try:
                result = await self._attempt(url, payload, parse, streaming, attempt, path.startswith("/chat/"))
                self.live.responses += 1
                return result, time.perf_counter() - t0, attempt
            except _NoStream:
                self.stream = False  # for good: this server does not take `stream`
                attempt -= 1
                continue
            except _Retry as exc:
                if attempt >= self.retry.max_attempts or waited >= self.retry.max_wait:
                    raise RequestFailed(exc.kind, exc.detail, attempt, exc.status) from None
                self.live.retries[RequestFailed(exc.kind, exc.detail, 0, exc.status).reason] += 1
                pause = self.retry.delay(attempt, self._rng, exc.retry_after)
                pause = min(pause, max(0.0, self.retry.max_wait - waited))
                waited += pause
                await asyncio.sleep(pause)

    async def _attempt(self, url: str, payload: bytes, parse: Callable[[Any], T], streaming: bool,
                       attempt: int, chat: bool) -> T:
        assert self._session is not None and self._watch is not None
        loop = asyncio.get_running_loop()
        watch = self._watch
        flight = Flight(sent=loop.time())
        shown = self._shown.get(url) or self._shown.setdefault(url, public_url(url))  # no credentials or query values
        watch.add(flight)
        try:
            async with asyncio.timeout(None) as flight.deadline:
                async with self._session.post(url, data=payload) as resp:
                    status = resp.status
                    if status != 200:
                        text = (await resp.content.read(65536)).decode("utf-8", "replace")
                        self._refused(status, text, shown, streaming, attempt, resp.headers.get("Retry-After"))
                    ctype = resp.headers.get("Content-Type", "")
                    if "text/event-stream" in ctype:
                        watch.streams = True
                        return await self._read_stream(resp, flight, chat)
                    if streaming and watch.streams is None:
                        watch.streams = False  # it answered a streamed request with a plain body
                    chunks = []
                    size = 0
                    async for chunk in resp.content.iter_any():
                        watch.data(flight, loop.time(), False)
                        chunks.append(chunk)
                        size += len(chunk)
                        if size > MAX_BODY:
                            raise BadResponse(f"a response body over {MAX_BODY >> 20} MB")
                    return parse(load_json(b"".join(chunks)))
        except TimeoutError:
            raise _Retry(flight.kind, flight.reason or f"no response within {self.timeout:g} s") from None
        except BadResponse as exc:
            raise _Retry("bad_body", f"{exc.reason} (from {shown})") from None
        except aiohttp.ClientPayloadError as exc:
            raise _Retry("truncated", f"response body cut short ({type(exc).__name__})") from None
        except aiohttp.ClientConnectionError as exc:
            raise _Retry("connection", f"{type(exc).__name__}: {self._scrub(str(exc))}") from None
        except aiohttp.ClientError as exc:  # a malformed status line or headers: the server's fault, not ours
            raise _Retry("protocol", f"malformed HTTP response ({self._scrub(str(exc).splitlines()[0])})") from None
        finally:
            watch.remove(flight)

    def _refused(self, status: int, text: str, shown: str, streaming: bool, attempt: int,
                 retry_after: str | None) -> None:
        """Classify a non-200 answer: raise the matching error."""
        detail = f"HTTP {status} from {shown}: {self._scrub(text)}"
        if status in (401, 403):
            raise BackendUnavailable(f"{self.url} refused the API key (HTTP {status}); check OPENAI_API_KEY")
        if status == 404:
            raise BackendUnavailable(f"HTTP 404 from {shown}: unknown model '{self.model}' or endpoint"
                                     f" ({self._scrub(text)[:120]})")
        if status in RETRYABLE_STATUS:
            raise _Retry("http", detail, status, parse_retry_after(retry_after))
        if streaming and status in (400, 422) and re.search(r"stream", text, re.IGNORECASE):
            raise _NoStream()
        # Any other 4xx is the request's fault: asking again cannot help.
        raise RequestFailed("http", detail, attempt, status, permanent=True)

    async def _read_stream(self, resp: aiohttp.ClientResponse, flight: Flight, chat: bool) -> Any:
        loop = asyncio.get_running_loop()
        watch = self._watch
        assert watch is not None
        stream = Stream(chat)
        buffer = bytearray()
        async for chunk in resp.content.iter_any():
            watch.data(flight, loop.time(), True)
            buffer += chunk
            events, _ = sse_events(buffer)
            for event in events:
                stream.feed(event)
            self.live.chunks += len(events)
            if len(buffer) > MAX_EVENT:
                raise BadResponse(f"a streamed event over {MAX_EVENT >> 20} MB")
            if stream.done:
                break
        for event in sse_events(buffer, final=True)[0]:
            stream.feed(event)
        return stream.result(eof=not stream.done)

    async def generate(self, req: GenRequest) -> GenResult:
        path, body = self._body(req)
        chat = path == "/chat/completions"
        (choices, usage), latency, attempts = await self._post(path, body, lambda d: completion(d, chat), stream=True)
        return GenResult(choices, usage, latency, attempts)

    async def loglik(self, req: LoglikRequest) -> LoglikResult:
        """Score all options of an item in one `/completions` call: each prompt is context + option,
        echoed back with its token log-probs (`echo`, `logprobs: 1`; `max_tokens: 1`, which every
        server accepts, and the generated token is ignored). Tokens are matched to the option by
        their character offsets."""
        body = {"model": self.model, "prompt": [req.context + c for c in req.continuations], "max_tokens": 1,
                "temperature": 0, "echo": True, "logprobs": 1}
        try:
            result, latency, attempts = await self._post("/completions", body, lambda d: echoed_scores(d, req, self._no_echo))
        except RequestFailed as exc:
            # Other refusals are the cell's business (runner: a permanent error on its first requests).
            if exc.status in (400, 422) and re.search(r"echo|logprob|must be a string", exc.detail, re.IGNORECASE):
                raise NotSupported(f"{self._no_echo()} (the server said: {exc.detail.split(': ', 1)[-1][:160]})") from None
            raise
        result.latency, result.attempts = latency, attempts
        return result

    def _no_echo(self) -> str:
        return (f"{self.name} at {self.url} does not return prompt log-probabilities (/completions with a list of"
                f" prompts, echo and logprobs); --scoring loglik needs a server that does, such as vLLM")
