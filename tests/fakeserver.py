"""A fake OpenAI-compatible server for tests and benchmarks: real HTTP on 127.0.0.1.

It answers `/v1/models`, `/v1/chat/completions` and `/v1/completions`. It knows the gold answers
of the questions it is given (`answers`: rendered question text -> answer) and finds the question in
the prompt, so a run's expected accuracy is known exactly. Policies decide what it says:

- `correct`: always the gold answer; `wrong_every=k`: a wrong answer for one question in k;
- `p_correct`: with sampling (temperature > 0), each sample is right with this probability,
  seeded by (question, seed, sample index): the same request gives the same samples;
- `fixed`: always the same text (benchmarks: no lookup cost).

With `echo` and `logprobs` (the completions API's prompt log-probs, for `--scoring loglik`) it
echoes each prompt (a string or a list) as tokens (runs of letters/digits, single other characters,
each with its leading spaces) with deterministic log-probs in [-5, -1], and -0.05 for the tokens of
the answer it would give when the prompt ends with it; `no_echo` makes it ignore `echo` the way
chat-only servers do.

Faults (`faults={"500": 0.1, "429": 0.05, "hang": 0.02, "malformed": 0.05, "truncated": 0.05,
"reset": 0.05, "400": 0.01}`) strike attempt j of a request with a probability seeded by (request, j), so
a client that retries long enough always gets through and the final answers equal a fault-free run
(except "400", which a client must not retry). `attempt_log` keeps (time, request key, fault) per attempt.
`echo_key` makes every error body quote the Authorization header it got, as careless servers do.
Malformed responses, as faults too: "bad_status" (a malformed HTTP status line), "deep" (JSON nested
100,000 deep), "number" (content 42), "finish_object" (finish_reason an object), "null_content",
"no_message" (a choice without message), "stall" (a streamed response that stops in the middle for
`hang_seconds`).

`stream: true` is answered with server-sent events (a role chunk, the text in three pieces, a finish
chunk, usage when `stream_options.include_usage`, `[DONE]`) unless `stream=False` (a plain body, as
servers that ignore it) or `refuse_stream` (400). Quirks of real servers: `ignore_n`,
`ignore_temperature` (every sample the same), `served` (the ids /v1/models lists), `shape="parts"`
(content as a list of text parts) and `shape="surrogate"` (a lone surrogate escape before the text).

Run standalone: `python tests/fakeserver.py --port 8000 [--latency 0.2] [--fixed "The answer is 4."]`.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


def _norm(text: str) -> str:
    return " ".join(text.split())


def _h(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass
class Policy:
    answers: dict[str, str] = field(default_factory=dict)  # normalised question text -> answer
    template: str = "Let me work it out.\nThe answer is {answer}."
    wrong_every: int = 0
    p_correct: float | None = None
    fixed: str | None = None
    latency: float = 0.0
    faults: dict[str, float] = field(default_factory=dict)
    hang_seconds: float = 30.0
    api_key: str | None = None  # if set, requests without it get 401
    model: str = "fake-model"
    ignore_n: bool = False  # behave like servers that ignore `n` (llama.cpp)
    think: bool = False  # wrap a reasoning preamble in <think> tags
    not_openai: bool = False  # serve HTML instead of JSON (a server that is not OpenAI-compatible)
    # Test hook for multi-turn policies (planning back-prompts): the request body -> the reply, or None
    # for the policy above. Conversations are up to the test (e.g. wrong plans first, right after feedback).
    respond: Callable[[dict[str, Any]], str | None] | None = None
    # The finish reason of a reply (default "stop"): e.g. "length" for replies cut at the token limit.
    finish: Callable[[str], str] | None = None
    retry_after: str = "0.05"  # the Retry-After header of 429s
    echo_key: bool = False  # error bodies quote the Authorization header
    no_echo: bool = False  # ignore `echo`/`logprobs` (no prompt log-probs, like chat-only servers)
    # Per served model name (the request's "model"): the share of questions answered right (which ones
    # is fixed by the question), and a per-digit error rate for numeric answers (each digit replaced
    # with probability q: exact match (1-q)^L, per-digit accuracy 1-q, as in Schaeffer et al.).
    accuracy: dict[str, float] = field(default_factory=dict)
    digit_error: dict[str, float] = field(default_factory=dict)
    keep_bodies: bool = True  # tests inspect `bodies`; a standalone server must not grow without bound
    stream: bool = True  # answer `stream: true` with server-sent events (False: a plain body, as servers that ignore it)
    refuse_stream: bool = False  # answer `stream: true` with 400, as servers that do not take it
    shape: str | None = None  # "parts": content as a list of text parts; "surrogate": a lone \ud800 before the text
    served: list[str] | None = None  # the model ids /v1/models lists (default: none; it answers any name)
    ignore_temperature: bool = False  # sample as if temperature were 0 (every sample the same)
    pinned: bool = False  # refuse any other model name with 400, as `transformers serve MODEL` does
    string_prompt_only: bool = False  # refuse a list of prompts with 400 (no batched prompts, hence no loglik)


class FakeOpenAI:
    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.policy.answers = {_norm(k): v for k, v in self.policy.answers.items()}
        self.hits: Counter[str] = Counter()  # per endpoint
        self.attempts: Counter[str] = Counter()  # per request body
        self.faults_served: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.attempt_log: list[tuple[float, str, str | None]] = []
        self.queries: list[str] = []  # the query string of every completion request
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- answering ---------------------------------------------------------------------------

    def find(self, text: str) -> tuple[str, str] | None:
        """The last question of the prompt that the server knows: (key, answer)."""
        lines = text.split("\n")
        n = len(lines)
        for i in range(n - 1, max(-1, n - 80), -1):
            for j in range(i + 1, min(n, i + 60) + 1):
                key = _norm("\n".join(lines[i:j]))
                if key in self.policy.answers:
                    return key, self.policy.answers[key]
        return None

    def answer(self, text: str, seed: Any, index: int, temperature: float, model: str = "") -> str | None:
        """The answer the policy gives to the last known question of `text` (None: none known)."""
        p = self.policy
        found = self.find(text)
        if found is None:
            return None
        key, answer = found
        wrong = False
        if p.p_correct is not None and temperature > 0:
            wrong = random.Random(_h(key, seed, index)).random() >= p.p_correct
        elif p.wrong_every and _h(key) % p.wrong_every == 0:
            wrong = True
        elif model in p.accuracy:
            wrong = (_h(key, "accuracy") % 10_000) / 10_000 >= p.accuracy[model]
        if wrong:
            return _wrong(answer, _h(key, seed, index))
        if model in p.digit_error:
            return _digit_errors(answer, p.digit_error[model], _h(key, model))
        return answer

    def reply(self, text: str, seed: Any, index: int, temperature: float, model: str = "") -> str:
        p = self.policy
        if p.fixed is not None:
            return p.fixed
        answer = self.answer(text, seed, index, temperature, model)
        if answer is None:
            return "I do not know."
        body = p.template.format(answer=answer)
        return f"<think>Reasoning about it.</think>{body}" if p.think else body

    def echo_logprobs(self, prompt: str) -> dict[str, Any]:
        """The completions API's `logprobs` for an echoed prompt plus one generated token."""
        tokens = _TOKEN.findall(prompt)
        offsets, at = [], 0
        for t in tokens:
            offsets.append(at)
            at += len(t)
        lps: list[float | None] = [None] + [-1.0 - (_h(prompt[:o], t) % 400) / 100 for o, t in zip(offsets, tokens)][1:]
        # The answer this policy gives, favoured where the prompt ends with it (the scored option).
        answer = self.answer(prompt, None, 0, 0.0)
        if answer and prompt.rstrip().endswith(answer):
            begin = len(prompt.rstrip()) - len(answer)
            for i, (o, t) in enumerate(zip(offsets, tokens)):
                if i and o + len(t) > begin:
                    lps[i] = -0.05
        tokens.append(" Q")
        offsets.append(len(prompt))
        lps.append(-1.0)
        return {"tokens": tokens, "token_logprobs": lps, "text_offset": offsets,
                "top_logprobs": [None if lp is None else {t: lp} for t, lp in zip(tokens, lps)]}

    # -- HTTP --------------------------------------------------------------------------------

    def _fault(self, body: dict[str, Any]) -> str | None:
        if not self.policy.faults:
            return None
        key = json.dumps(body, sort_keys=True)
        self.attempts[key] += 1
        rng = random.Random(_h(key, self.attempts[key]))
        roll = rng.random()
        acc = 0.0
        fault = None
        for kind, rate in sorted(self.policy.faults.items()):
            acc += rate
            if roll < acc:
                self.faults_served[kind] += 1
                fault = kind
                break
        self.attempt_log.append((time.monotonic(), key, fault))
        return fault

    def _error(self, request: web.Request, message: str, status: int, **kw: Any) -> web.Response:
        if self.policy.echo_key:
            message += f" (request authorised with {request.headers.get('Authorization')!r})"
        return web.json_response({"error": {"message": message}}, status=status, **kw)

    async def models(self, request: web.Request) -> web.StreamResponse:
        self.hits["models"] += 1
        if self.policy.not_openai:
            return web.Response(text="<html><body>Welcome to nginx!</body></html>", content_type="text/html")
        if denied := self._auth(request):
            return denied
        served = self.policy.served or []  # by default it answers any model name, so it lists none
        return web.json_response({"object": "list", "data": [{"id": m, "object": "model"} for m in served]})

    def _auth(self, request: web.Request) -> web.Response | None:
        if self.policy.api_key and request.headers.get("Authorization") != f"Bearer {self.policy.api_key}":
            return self._error(request, "Incorrect API key provided", 401)
        return None

    async def completions(self, request: web.Request) -> web.StreamResponse:
        chat = request.path.endswith("/chat/completions")
        self.hits["chat" if chat else "completions"] += 1
        if self.policy.not_openai:
            return web.Response(text="<html>nope</html>", content_type="text/html")
        if denied := self._auth(request):
            return denied
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": {"message": "bad json"}}, status=400)
        if self.policy.keep_bodies:
            self.bodies.append(body)
            self.queries.append(request.query_string)
        if self.policy.pinned and body.get("model") != self.policy.model:
            return web.json_response({"detail": f"Server is pinned to '{self.policy.model}'; requested"
                                                f" '{body.get('model')}'."}, status=400)
        if self.policy.string_prompt_only and isinstance(body.get("prompt"), list):
            return web.json_response({"detail": "prompt must be a string."}, status=400)
        if body.get("stream") and self.policy.refuse_stream:
            return self._error(request, "stream is not supported by this server", 400)
        fault = self._fault(body)
        if fault == "500":
            return self._error(request, "internal error", 500)
        if fault == "400":
            return self._error(request, "invalid request", 400)
        if fault == "429":
            return self._error(request, "rate limited", 429, headers={"Retry-After": self.policy.retry_after})
        if fault == "hang":
            await asyncio.sleep(self.policy.hang_seconds)
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if self.policy.latency:
            await asyncio.sleep(self.policy.latency)
        if chat:
            msgs = body.get("messages") or []
            text = next((m.get("content", "") for m in reversed(msgs) if m.get("role") == "user"), "")
        else:
            text = body.get("prompt", "")
        n = 1 if self.policy.ignore_n else int(body.get("n", 1))
        temp = 0.0 if self.policy.ignore_temperature else float(body.get("temperature", 1.0))
        seed = body.get("seed")
        if not chat and body.get("echo") and body.get("logprobs") is not None and not self.policy.no_echo:
            prompts = text if isinstance(text, list) else [text]
            choices = [{"index": i, "text": p + " Q", "finish_reason": "length", "logprobs": self.echo_logprobs(p)}
                       for i, p in enumerate(prompts)]
            ptoks = sum(len(_TOKEN.findall(p)) for p in prompts)
            return web.json_response({"id": "cmpl-fake", "object": "text_completion", "created": int(time.time()),
                                      "model": self.policy.model, "choices": choices,
                                      "usage": {"prompt_tokens": ptoks, "completion_tokens": len(prompts),
                                                "total_tokens": ptoks + len(prompts)}})
        if isinstance(text, list):
            text = text[0] if text else ""
        outs = []
        for i in range(n):
            out = self.policy.respond(body) if self.policy.respond else None
            outs.append(self.reply(text, seed, i, temp, str(body.get("model", ""))) if out is None else out)
        usage = {"prompt_tokens": len(text) // 4, "completion_tokens": 8 * n, "total_tokens": len(text) // 4 + 8 * n}
        if fault == "bad_status":  # a malformed HTTP status line
            assert request.transport is not None
            request.transport.write(b"HTTP/1.1 2OO OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
            request.transport.close()
            return web.Response(status=500)
        if fault == "deep":  # JSON nested deeper than any decoder recurses
            return web.Response(body=b"[" * 100_000 + b"]" * 100_000, content_type="application/json")
        if body.get("stream") and self.policy.stream:
            return await self._stream(request, chat, outs, usage, fault, body)
        choices = [self._shaped(chat, i, out, fault) for i, out in enumerate(outs)]
        payload = {
            "id": "cmpl-fake", "object": "chat.completion" if chat else "text_completion", "created": int(time.time()),
            "model": self.policy.model, "choices": choices, "usage": usage,
        }
        raw = json.dumps(payload).encode()
        if fault == "malformed":
            return web.Response(body=raw[: len(raw) // 2] + b"}}", content_type="application/json")
        if fault == "truncated":
            resp = web.StreamResponse(headers={"Content-Type": "application/json", "Content-Length": str(len(raw))})
            await resp.prepare(request)
            await resp.write(raw[: len(raw) // 2])
            assert request.transport is not None
            request.transport.close()
            return resp
        return web.Response(body=raw, content_type="application/json")

    def _finish(self, out: str) -> str:
        return self.policy.finish(out) if self.policy.finish else "stop"

    def _content(self, out: str) -> Any:
        """The message content as this policy's server writes it."""
        if self.policy.shape == "parts":  # the newer chat format: a list of text parts
            half = len(out) // 2
            return [{"type": "text", "text": out[:half]}, {"type": "text", "text": out[half:]}]
        if self.policy.shape == "surrogate":  # a lone UTF-16 surrogate escape before the text
            return "\ud800" + out
        return out

    def _shaped(self, chat: bool, i: int, out: str, fault: str | None) -> dict[str, Any]:
        """One choice of a JSON response; the response-shape faults make it malformed."""
        finish: Any = {"type": "stop"} if fault == "finish_object" else self._finish(out)
        if not chat:
            return {"index": i, "text": 42 if fault == "number" else (" " + out if not out.startswith(" ") else out),
                    "finish_reason": finish}
        message: dict[str, Any] = {"role": "assistant", "content": self._content(out)}
        if fault == "number":
            message["content"] = 42
        if fault == "null_content":
            message["content"] = None
        choice = {"index": i, "message": message, "finish_reason": finish}
        if fault == "no_message":
            del choice["message"]
        return choice

    async def _stream(self, request: web.Request, chat: bool, outs: list[str], usage: dict[str, int],
                      fault: str | None, body: dict[str, Any]) -> web.StreamResponse:
        """Server-sent events: a role chunk, the text in pieces, a finish chunk (with usage), [DONE]."""
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        try:
            await resp.prepare(request)
            await self._events(request, resp, chat, outs, usage, fault, body)
        except ConnectionError:  # the client gave up on this response (a stall it detected)
            pass
        return resp

    async def _events(self, request: web.Request, resp: web.StreamResponse, chat: bool, outs: list[str],
                      usage: dict[str, int], fault: str | None, body: dict[str, Any]) -> None:
        pending: list[bytes] = []  # events are written together unless a fault interrupts them (one write: cheap)

        async def send(obj: Any) -> None:
            pending.append(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")

        async def flush() -> None:
            await resp.write(b"".join(pending))
            pending.clear()

        def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {"id": "cmpl-fake", "object": "chat.completion.chunk" if chat else "text_completion",
                    "created": int(time.time()), "model": self.policy.model, "choices": choices, **extra}

        for i, out in enumerate(outs):
            if chat and fault != "no_message":
                await send(chunk([{"index": i, "delta": {"role": "assistant"}, "finish_reason": None}]))
            text = out if chat or out.startswith(" ") else " " + out
            pieces = [text[k:k + max(1, len(text) // 3)] for k in range(0, len(text), max(1, len(text) // 3))] or [""]
            for j, piece in enumerate(pieces if fault != "null_content" else []):
                if j == 1 and fault in ("stall", "truncated", "malformed"):
                    await flush()
                    if fault == "stall":  # stops sending in the middle of the response
                        await asyncio.sleep(self.policy.hang_seconds)
                    if fault == "truncated":
                        assert request.transport is not None
                        request.transport.close()
                        return
                    if fault == "malformed":
                        await send(b'{"choices": [{"index": 0, "delta": {"content": "cut')
                if chat:
                    delta: dict[str, Any] = {"content": self._content(piece) if j == 0 else piece}
                    if fault == "number":
                        delta["content"] = 42
                    choice = {"index": i, "delta": delta, "finish_reason": None}
                    if fault == "no_message":
                        del choice["delta"]
                    await send(chunk([choice]))
                else:
                    await send(chunk([{"index": i, "text": 42 if fault == "number" else piece, "finish_reason": None}]))
            finish: Any = {"type": "stop"} if fault == "finish_object" else self._finish(out)
            await send(chunk([({"index": i, "finish_reason": finish} if fault == "no_message" else
                                {"index": i, "delta": {}, "finish_reason": finish}) if chat
                              else {"index": i, "text": "", "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(chunk([], usage=usage))
        await send(b"[DONE]")
        await flush()
        await resp.write_eof()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/chat/completions", self.completions)
        app.router.add_post("/v1/completions", self.completions)
        return app

    # -- lifecycle: in a background thread (tests) or in the foreground (scripts) -------------

    async def _start(self, port: int) -> None:
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start(0))
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._loop and self._runner:
            fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            fut.result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)


_TOKEN = re.compile(r"\s*[A-Za-z0-9]+|\s*[^\sA-Za-z0-9]|\s+")


def _digit_errors(answer: str, q: float, h: int) -> str:
    """Each digit replaced by another with probability q, seeded by h (the question and the model)."""
    rng = random.Random(h)
    return "".join(str((int(c) + rng.randint(1, 9)) % 10) if c.isdigit() and rng.random() < q else c
                   for c in answer)


def _wrong(answer: str, h: int) -> str:
    """A plausible wrong answer of the same kind (letter for letters, number for numbers)."""
    a = answer.strip()
    if len(a) == 3 and a[0] == "(" and a[2] == ")":
        letters = [c for c in "ABCD" if c != a[1]]
        return f"({letters[h % 3]})"
    try:
        return str(int(a) + 1 + h % 7)
    except ValueError:
        return a + " not"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--fixed", default=None, help="always answer this text")
    ap.add_argument("--answers", default=None, help="JSON file: {question text: answer}")
    args = ap.parse_args()
    answers = {}
    if args.answers:
        with open(args.answers) as fh:
            answers = {_norm(k): v for k, v in json.load(fh).items()}
    server = FakeOpenAI(Policy(answers=answers, fixed=args.fixed, latency=args.latency, keep_bodies=False))

    async def forever() -> None:
        await server._start(args.port)
        print(server.port, flush=True)
        await asyncio.Event().wait()

    try:
        asyncio.run(forever())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
