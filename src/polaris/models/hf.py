"""`hf/<model-id-or-path>`: a transformers model in this process, on CPU or GPU.

The model is a local directory (`hf/./ckpt`, `hf//abs/path`) or a hub id (`hf/org/name`, with an
optional `@revision`), read from the Hugging Face cache and downloaded into it unless
`HF_HUB_OFFLINE=1` (models/modelfiles.py). Chat prompts go through the tokenizer's chat template;
completion prompts are tokenised as they are, with the tokenizer's default special tokens (a BOS
where its configuration adds one; lm-eval adds none: docs/backends.md). Concurrent calls from the
runner's workers are batched (models/batching.py) and run in a worker thread; the torch code is in
`hf_compute.py`. Identity (hashed into every cache key): the model's path and the fingerprint of its
files or its hub commit (modelfiles.py), and the dtype; not the device or the batch size.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path
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

INSTALL_HINT = "install the CPU wheel then the extra: pip install torch==2.13.0 && pip install -e '.[hf]' (docs/backends.md)"


class HFBackend:
    supports_n = True

    def __init__(self, model: str, *, device: str | None = None, dtype: str | None = None,
                 batch_size: int | None = None, seed: int = 0) -> None:
        self.name = f"hf/{model}"
        self.spec, self.revision, dtype = model_and_dtype(model, dtype)
        if batch_size is not None and batch_size < 1:
            raise BackendUnavailable(f"--batch-size must be at least 1 (got {batch_size})")
        missing = [m for m in ("torch", "transformers") if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendUnavailable(f"{self.name} needs {' and '.join(missing)}: {INSTALL_HINT}")
        self.requested_device, self.requested_dtype = device, dtype
        self.batch_size = batch_size
        self.seed = seed
        self.model: Any = None
        self.tokenizer: Any = None
        self._path: str | None = None  # what from_pretrained reads: a directory or a hub id
        self._config: Path | None = None  # its config.json on disk
        self._identity: dict[str, Any] | None = None
        self._stoppers: dict[tuple[str, ...], Any] = {}
        self._gen = Batcher(self._run_generate, lambda key: self._capacity)
        self._ll = Batcher(self._run_loglik, lambda key: self._capacity)

    # -- resolving and loading ----------------------------------------------------------------

    def _resolve(self) -> dict[str, Any]:
        """Where the model is, and what names its exact files (no weights are loaded)."""
        if self._identity is None:
            files = resolve(self.name, self.spec, self.revision)
            self._path, self._config = files.load, files.config
            self._identity = {"provider": "hf", **files.ident, "dtype": self._dtype_name()}
        return self._identity

    def _device(self) -> str:
        import torch

        if self.requested_device:
            dev = self.requested_device
            if dev.startswith("cuda") and not torch.cuda.is_available():
                raise BackendUnavailable(f"--device {dev}: no CUDA GPU is available here (try --device cpu)")
            try:
                torch.device(dev)
            except RuntimeError as exc:
                raise BackendUnavailable(f"--device {dev}: {one_line(exc)}") from None
            return dev
        return "cuda" if torch.cuda.is_available() else "cpu"

    def _dtype_name(self) -> str:
        if self.requested_dtype != "auto":
            return self.requested_dtype
        if self._device() == "cpu":
            return "float32"  # half precision on CPU is slow and, for some ops, missing
        # On a GPU: the checkpoint's own 16-bit dtype, else float32 (as saved).
        import json

        saved = None
        if self._config is not None:
            cfg = json.loads(self._config.read_text())
            saved = cfg.get("dtype") or cfg.get("torch_dtype")
        return saved if saved in ("float16", "bfloat16") else "float32"

    def identity(self) -> dict[str, Any]:
        return dict(self._resolve())

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        ident = self._resolve()
        device = self._device()
        kwargs: dict[str, Any] = {"revision": self.revision} if self.revision else {}
        try:
            tok = AutoTokenizer.from_pretrained(self._path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(self._path, dtype=getattr(torch, ident["dtype"]), **kwargs)
        except Exception as exc:
            raise BackendUnavailable(f"{self.name}: cannot load the model: {one_line(exc)}") from None
        model.to(device).eval()
        tok.padding_side = "left"
        eos = model.generation_config.eos_token_id
        if eos is None:
            eos = tok.eos_token_id
        self._eos = frozenset([eos] if isinstance(eos, int) else (eos or []))
        pad = tok.pad_token_id
        if pad is None:
            pad = min(self._eos) if self._eos else (tok.unk_token_id or 0)
        self._pad = pad
        # Completion text and log-likelihood contexts are tokenised as the tokenizer does by default: a
        # BOS first where its configuration adds one (Llama, Mistral), none where it does not (GPT-2,
        # Pythia). Recorded with every log-likelihood (`bos`) since lm-eval differs (docs/backends.md).
        bos = tok.bos_token_id
        self.adds_bos = bos is not None and list(tok("a").input_ids[:1]) == [bos]
        # An empty context is scored after lm-eval's prefix token: the BOS, else the end of text.
        self._prefix = bos if bos is not None else (min(self._eos) if self._eos else pad)
        # Decoding is exactly what the cell says: `generate` would otherwise fill every setting we
        # leave unset from the checkpoint's generation_config.json (repetition penalties, n-gram
        # bans, ...), which the cache key does not name. Only its end-of-sequence tokens are kept.
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig(bos_token_id=model.generation_config.bos_token_id,
                                                   eos_token_id=sorted(self._eos) or None, pad_token_id=pad)
        self.model, self.tokenizer = model, tok
        if self.batch_size is None:
            # Automatic: wide on a GPU (halved on out-of-memory), moderate on CPU cores.
            self.batch_size = 64 if device.startswith("cuda") else 16
        self._capacity = self.batch_size

    async def start(self) -> None:
        if self.model is None:
            await asyncio.to_thread(self._load)

    async def close(self) -> None:
        await self._gen.close()
        await self._ll.close()

    # -- prompts ------------------------------------------------------------------------------

    def _stopper(self, stop: tuple[str, ...]) -> Any:
        """transformers' stop-string criterion, built once per stop set (it scans the vocabulary)."""
        if stop not in self._stoppers:
            from transformers import StopStringCriteria

            self._stoppers[stop] = StopStringCriteria(self.tokenizer, list(stop))
        return self._stoppers[stop]

    # -- generation ---------------------------------------------------------------------------

    # Tokenising happens in the worker thread with the model calls: the event loop stays free, and
    # the fast tokenizer is never used from two threads at once.

    async def generate(self, req: GenRequest) -> GenResult:
        from polaris.models.hf_compute import GenKey, row_seed

        if self.model is None:
            await self.start()
        d = req.decoding
        key = GenKey(d.max_tokens, d.temperature, d.top_p if d.temperature > 0 else None, tuple(req.prompt.stop),
                     d.thinking_budget, d.reasoning_effort)
        seed = d.seed if d.seed is not None else self.seed
        works = [(req.prompt, row_seed(seed, req.first_index + i) if d.temperature > 0 else None) for i in range(req.n)]
        t0 = time.perf_counter()
        outs = await self._submit(self._gen, key, works)
        choices = [Choice(o.text, o.finish, tokens=o.tokens, reasoning_tokens=o.reasoning_tokens, forced=o.forced)
                   for o in outs]
        usage = {"prompt_tokens": sum(o.prompt_tokens for o in outs), "completion_tokens": sum(o.tokens for o in outs)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        return GenResult(choices, usage, time.perf_counter() - t0)

    def _run_generate(self, key: Any, works: list[tuple[Any, int | None]]) -> list[Any]:
        from polaris.models.hf_compute import GenRow, generate_batch

        ids: dict[int, tuple[int, ...]] = {}  # the n samples of a request share one prompt object
        rows = []
        for prompt, seed in works:
            if id(prompt) not in ids:
                ids[id(prompt)] = tuple(prompt_ids(self.tokenizer, prompt, self.name, key.effort))
            rows.append(GenRow(ids[id(prompt)], seed))
        stopper = self._stopper(key.stop) if key.stop else None
        return self._oom_split(rows, lambda part: generate_batch(
            self.model, self.tokenizer, key, part, pad_id=self._pad, eos_ids=self._eos, stopper=stopper))

    # -- log-likelihood -----------------------------------------------------------------------

    async def loglik(self, req: LoglikRequest) -> LoglikResult:
        if self.model is None:
            await self.start()
        t0 = time.perf_counter()
        (out,) = await self._submit(self._ll, "loglik", [(req.context, req.continuations)], [len(req.continuations)])
        return LoglikResult(out.logprobs, out.tokens, out.greedy, time.perf_counter() - t0,
                            bos=self.adds_bos or not req.context.strip())

    def _run_loglik(self, key: Any, works: list[tuple[str, tuple[str, ...]]]) -> list[Any]:
        from polaris.models.hf_compute import LoglikItem, loglik_batch

        items = []
        for context, continuations in works:
            ctx, conts = pair_ids(self.tokenizer, context, continuations, self._prefix)
            items.append(LoglikItem(tuple(ctx), tuple(tuple(c) for c in conts)))
        return self._oom_split(items, lambda part: loglik_batch(self.model, part, pad_id=self._pad))

    # -- shared -------------------------------------------------------------------------------

    async def _submit(self, batcher: Batcher, key: Any, works: list[Any], weights: list[int] | None = None) -> list[Any]:
        try:
            return await batcher.submit(key, works, weights)
        except (RequestFailed, NotSupported, BackendUnavailable):
            raise
        except Exception as exc:  # a failed batch fails its items, not the run
            raise RequestFailed("hf", f"{type(exc).__name__}: {one_line(exc)}") from None

    def _oom_split(self, works: list[Any], run: Any) -> list[Any]:
        """Run a batch; on a GPU out-of-memory, halve the batch size for good and run in halves."""
        import torch

        try:
            return run(works)
        except torch.cuda.OutOfMemoryError:
            if len(works) == 1:
                raise
            torch.cuda.empty_cache()
            self._capacity = max(1, min(self._capacity, len(works)) // 2)
            half = len(works) // 2
            return self._oom_split(works[:half], run) + self._oom_split(works[half:], run)

    @property
    def in_flight(self) -> int:
        """Requests the runner should keep in flight: two batches' worth, so the next is ready."""
        return 2 * (self.batch_size or 16)

    @property
    def batches(self) -> int:
        """Forward batches run so far (generation and log-likelihood)."""
        return self._gen.stats.batches + self._ll.stats.batches
