"""`vllm/<model-id-or-path>`: vLLM's offline engine (`vllm.LLM`) in this process.

Written against vLLM's documented offline API: `LLM(model=..., tensor_parallel_size=...,
dtype=..., seed=..., enable_prefix_caching=True)`, `LLM.generate(prompts, sampling_params)` with a
list of prompts (`{"prompt": text}` or `{"prompt_token_ids": ids}`) and one `SamplingParams` per
prompt, `LLM.get_tokenizer()`, and `RequestOutput.outputs[i].text / .token_ids / .finish_reason`
and `.prompt_logprobs` (per prompt position: None for the first, else {token id: Logprob}).

Concurrent calls from the runner are gathered (models/batching.py) into one `generate` call per
batch, which vLLM schedules itself (continuous batching; prefix caching shares few-shot prefixes).
- prompts: token ids, chat prompts through the tokenizer's chat template (models/tokens.py);
- `n` samples: `SamplingParams(n=..., seed=...)`, seeded by (run seed + index of the request's first
  sample), as the OpenAI backend seeds a server. A resumed run that adds samples draws them under
  their own first index, so they are reproducible but are not the ones a fresh K-sample run draws;
- log-likelihood: each option's context + continuation ids with `prompt_logprobs=1`,
  `max_tokens=1`, split into context and continuation as the hf backend does (models/tokens.py).
Model resolution and identity are shared with the hf backend (models/modelfiles.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import Sequence
from typing import Any

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
from polaris.models.batching import Batcher
from polaris.models.modelfiles import model_and_dtype, one_line, resolve
from polaris.models.tokens import pair_ids, prompt_ids

INSTALL_HINT = "pip install -e '.[vllm]' on a Linux machine with a CUDA GPU (docs/backends.md)"
MAX_PROMPTS = 1024  # prompts per LLM.generate call; vLLM schedules within it


def sampling_kwargs(req: GenRequest, seed: int) -> dict[str, Any]:
    """`SamplingParams` keyword arguments for a generation request."""
    d = req.decoding
    kw: dict[str, Any] = {"n": req.n, "temperature": d.temperature, "max_tokens": d.max_tokens}
    if d.temperature > 0:
        kw["seed"] = (d.seed if d.seed is not None else seed) + req.first_index
        if d.top_p is not None:
            kw["top_p"] = d.top_p
    if req.prompt.stop:
        kw["stop"] = list(req.prompt.stop)
    if d.thinking_budget is not None:  # vLLM's own budget forcing (needs reasoning_config: docs/compute.md)
        kw["thinking_token_budget"] = d.thinking_budget
    return kw


def loglik_kwargs() -> dict[str, Any]:
    """`SamplingParams` keyword arguments that score a prompt instead of continuing it."""
    return {"n": 1, "temperature": 0.0, "max_tokens": 1, "prompt_logprobs": 1, "detokenize": False}


def score_continuation(ids: Sequence[int], prompt_logprobs: Sequence[Any], start: int) -> tuple[float, bool]:
    """(summed log-prob, greedy) of tokens `ids[start:]` from vLLM's `prompt_logprobs`."""
    total, greedy = 0.0, True
    for pos in range(start, len(ids)):
        scores = prompt_logprobs[pos]
        if not scores or ids[pos] not in scores:
            raise ValueError(f"no log-prob for prompt token {pos}")
        values = {t: float(getattr(v, "logprob", v)) for t, v in scores.items()}
        total += values[ids[pos]]
        greedy = greedy and max(values, key=values.get) == ids[pos]
    return total, greedy


class VLLMBackend:
    supports_n = True

    def __init__(self, model: str, *, dtype: str | None = None, tensor_parallel: int = 1, seed: int = 0) -> None:
        self.name = f"vllm/{model}"
        self.spec, self.revision, self.dtype = model_and_dtype(model, dtype)
        if tensor_parallel < 1:
            raise BackendUnavailable(f"--tp must be at least 1 (got {tensor_parallel})")
        if importlib.util.find_spec("vllm") is None:
            raise BackendUnavailable(f"{self.name} needs vllm: {INSTALL_HINT}")
        self.tensor_parallel = tensor_parallel
        self.seed = seed
        self.llm: Any = None
        self.tokenizer: Any = None
        self._files: Any = None
        self._batch = Batcher(self._run, lambda key: MAX_PROMPTS)

    in_flight = 256  # requests the runner keeps coming: vLLM schedules them in one engine

    def identity(self) -> dict[str, Any]:
        if self._files is None:
            self._files = resolve(self.name, self.spec, self.revision)
        return {"provider": "vllm", **self._files.ident, "dtype": self.dtype}

    def _load(self) -> None:
        from vllm import LLM

        self.identity()
        kwargs: dict[str, Any] = {"revision": self.revision} if self.revision else {}
        try:
            self.llm = LLM(model=self._files.load, dtype=self.dtype, tensor_parallel_size=self.tensor_parallel,
                           seed=self.seed, enable_prefix_caching=True, **kwargs)
        except Exception as exc:
            raise BackendUnavailable(f"{self.name}: vLLM cannot load the model: {one_line(exc)}") from None
        self.tokenizer = self.llm.get_tokenizer()

    async def start(self) -> None:
        if self.llm is None:
            await asyncio.to_thread(self._load)

    async def close(self) -> None:
        await self._batch.close()

    # A work unit is ("gen", Prompt, SamplingParams kwargs) or ("ll", context, continuation). They are
    # tokenised in the worker thread, beside `LLM.generate`, so the tokenizer is never used from two
    # threads at once.

    def _run(self, key: Any, works: list[tuple[str, Any, Any]]) -> list[Any]:
        from vllm import SamplingParams

        prompts, params, starts = [], [], []
        for kind, a, b in works:
            if kind == "gen":
                prompt, effort = a
                prompts.append({"prompt_token_ids": prompt_ids(self.tokenizer, prompt, self.name, effort)})
                try:
                    params.append(SamplingParams(**b))
                except TypeError as exc:  # a vLLM older than its thinking_token_budget
                    raise NotSupported(f"{self.name}: this vLLM cannot cap thinking ({one_line(exc)}); upgrade vLLM"
                                       " or drop --thinking-budget") from None
                starts.append(None)
            else:
                ctx, (cont,) = pair_ids(self.tokenizer, a, [b], self.tokenizer.eos_token_id)
                prompts.append({"prompt_token_ids": ctx + cont})
                params.append(SamplingParams(**loglik_kwargs()))
                starts.append(len(ctx))
        outs = self.llm.generate(prompts, params, use_tqdm=False)
        return [(out, p["prompt_token_ids"], start) for out, p, start in zip(outs, prompts, starts)]

    async def _submit(self, works: list[tuple[str, Any, Any]]) -> list[Any]:
        try:
            return await self._batch.submit("all", works)
        except (NotSupported, BackendUnavailable):
            raise
        except Exception as exc:
            raise RequestFailed("vllm", f"{type(exc).__name__}: {one_line(exc)}") from None

    async def generate(self, req: GenRequest) -> GenResult:
        await self.start()
        t0 = time.perf_counter()
        work = ("gen", (req.prompt, req.decoding.reasoning_effort), sampling_kwargs(req, self.seed))
        ((out, ids, _),) = await self._submit([work])
        choices = [Choice(o.text, o.finish_reason, tokens=len(o.token_ids)) for o in out.outputs]
        completion = sum(c.tokens or 0 for c in choices)
        usage = {"prompt_tokens": len(ids), "completion_tokens": completion, "total_tokens": len(ids) + completion}
        return GenResult(choices, usage, time.perf_counter() - t0)

    async def loglik(self, req: LoglikRequest) -> LoglikResult:
        await self.start()
        t0 = time.perf_counter()
        outs = await self._submit([("ll", req.context, c) for c in req.continuations])
        result = LoglikResult([], [], [], time.perf_counter() - t0)
        for out, ids, start in outs:
            try:
                score, greedy = score_continuation(ids, out.prompt_logprobs or [], start)
            except ValueError as exc:
                raise RequestFailed("vllm", str(exc)) from None
            result.logprobs.append(score)
            result.tokens.append(len(ids) - start)
            result.greedy.append(greedy)
        return result
