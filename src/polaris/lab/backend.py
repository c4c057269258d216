"""`lab/<name>`: a lab model as a Polaris backend (in-process, CPU, batched).

`<name>` is a shipped model id (`lab/add3-s4-seed0`, see `polaris lab models`) or a checkpoint
directory. Concurrent `generate` and `loglik` calls are queued and served together: every wave of
requests that arrives while the model is busy becomes one batch (one forward pass per decoding
step), run in a worker thread so the event loop stays free. Sampled decoding is seeded per sample
from (seed, sample index, prompt), so a sample is the same whatever it was batched with.

Chat prompts are flattened to the completion text `render(..., api="completions")` would have
produced (one user message -> its text and a newline), since lab models are completion models.

The logits come from an engine (`engine.py`): numpy by default, so lab models answer without torch,
or torch ($POLARIS_LAB_ENGINE=torch). Both give the same answers and the identity names the weights
and the decoder, not the engine, so the two share cached responses.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from polaris.lab.checkpoint import read_config, weights_hash
from polaris.lab.ladder import resolve
from polaris.models.base import (
    Choice,
    GenRequest,
    GenResult,
    LoglikRequest,
    LoglikResult,
    NotSupported,
    RequestFailed,
)
from polaris.prompts.render import Prompt

# Bump when decoding changes what a model answers. 2: sampling draws from numpy's PCG64 (the same
# with either engine) instead of torch's generator; greedy answers are unchanged.
DECODER = "lab-decode-2"


def prompt_text(prompt: Prompt) -> str:
    """The completion text of a prompt; chat turns are joined as the completions renderer joins them."""
    if not prompt.is_chat:
        return prompt.text or ""
    parts: list[str] = []
    for m in prompt.messages:
        if m.role == "assistant" and parts:
            parts[-1] = f"{parts[-1]}\n{m.content}"
        else:
            parts.append(m.content)
    return "\n\n".join(p for p in parts if p) + "\n"


class LabBackend:
    supports_n = True

    def __init__(self, name: str, *, max_batch: int = 512, engine: str | None = None) -> None:
        from polaris.lab.engine import engine_name

        self.name = name if name.startswith("lab/") else f"lab/{name}"
        self.path = resolve(name)
        self.config = read_config(self.path)
        self.max_batch = max_batch
        self.in_flight = max_batch  # the runner keeps this many requests coming, to fill batches
        self.engine = engine_name(engine)  # "numpy" or "torch"
        self._blas = False  # holding the one-BLAS-thread setting (numpy engine)
        self._sha: str | None = None
        self._model: Any = None
        self._tok: Any = None
        self._pending: list[tuple[str, Any, asyncio.Future]] = []
        self._worker: asyncio.Task | None = None
        self._loading = asyncio.Lock()  # concurrent first calls load the model once

    def identity(self) -> dict[str, Any]:
        if self._sha is None:
            self._sha = weights_hash(self.path)
        return {"backend": "lab", "weights_sha256": self._sha, "arch": self.config["model"], "decoder": DECODER}

    @property
    def params(self) -> int:
        return int(self.config.get("params", 0))

    async def start(self) -> None:
        async with self._loading:
            if self._model is None:
                await self._load()

    async def _load(self) -> None:
        from polaris.lab.engine import BLAS, load_engine

        self._model, self._tok, _ = await asyncio.to_thread(load_engine, self.path, self.engine)
        if self.engine == "numpy" and not self._blas:
            BLAS.acquire()
            self._blas = True

    async def generate(self, req: GenRequest) -> GenResult:
        from polaris.lab.decode import Row, row_seed, scratchpad_tokens

        text = prompt_text(req.prompt)
        d = req.decoding
        if d.reasoning_effort is not None:
            raise NotSupported(f"{self.name}: lab models take no --reasoning-effort (use --thinking-budget: the"
                               " scratchpad is their thinking)")
        sampled = d.temperature > 0
        rows = [
            Row(
                text,
                d.max_tokens,
                d.temperature,
                d.top_p,
                row_seed(d.seed, req.first_index + i, text) if sampled else None,
                tuple(req.prompt.stop),
                d.thinking_budget,
                # The answer sentence the task's template asks for (lab/tasks.py: reversed tasks say so).
                "Answer reversed:" if "digits reversed" in text else "Answer:",
            )
            for i in range(req.n)
        ]
        start = time.perf_counter()
        outs = await self._submit("gen", rows)
        choices = [Choice(o.text, o.finish_reason, tokens=o.tokens, reasoning_tokens=scratchpad_tokens(o.text),
                          forced=o.forced) for o in outs]
        usage = {"prompt_tokens": len(text), "completion_tokens": sum(o.tokens for o in outs)}
        return GenResult(choices, usage=usage, latency=time.perf_counter() - start)

    async def loglik(self, req: LoglikRequest) -> LoglikResult:
        start = time.perf_counter()
        outs = await self._submit("loglik", [(req.context, c) for c in req.continuations])
        return LoglikResult(
            logprobs=[o[0] for o in outs],
            tokens=[o[1] for o in outs],
            greedy=[o[2] for o in outs],
            latency=time.perf_counter() - start,
        )

    async def close(self) -> None:
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
        self._worker = None
        self._model = self._tok = None
        if self._blas:
            from polaris.lab.engine import BLAS

            BLAS.release()
            self._blas = False

    async def _submit(self, kind: str, work: list) -> list:
        await self.start()
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((kind, work, fut))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        while self._pending:
            waiting = -1
            while waiting != len(self._pending):  # let every caller that is ready join this wave
                waiting = len(self._pending)
                await asyncio.sleep(0)
            wave, self._pending = self._pending, []
            try:
                results = await asyncio.to_thread(self._run, [(k, w) for k, w, _ in wave])
            except Exception as exc:  # one bad wave fails its requests, never the backend
                for _, _, fut in wave:
                    if not fut.done():
                        fut.set_exception(RequestFailed("lab", f"{type(exc).__name__}: {exc}"))
                continue
            for (_, _, fut), result in zip(wave, results):
                if not fut.done():
                    fut.set_result(result)

    def _run(self, wave: list[tuple[str, list]]) -> list[list]:
        """All generation rows of the wave in batches of `max_batch`, then all loglik pairs."""
        from polaris.lab.decode import generate, loglik
        from polaris.lab.engine import set_one_thread

        set_one_thread(self._model)  # per worker thread (torch); numpy's is held since loading
        out: list[list] = []
        for kind, fn in (("gen", generate), ("loglik", loglik)):
            flat = [x for k, w in wave if k == kind for x in w]
            done = []
            for i in range(0, len(flat), self.max_batch):
                done += fn(self._model, self._tok, flat[i : i + self.max_batch])
            out.append(done)
        gen_iter, ll_iter = iter(out[0]), iter(out[1])
        return [[next(gen_iter if k == "gen" else ll_iter) for _ in w] for k, w in wave]
