"""Model names -> backends: `<provider>/<model>`.

openai/<model>    any OpenAI-compatible server (`--base-url`, `OPENAI_BASE_URL`, `OPENAI_API_KEY`)
baseline/gold     always right, in the requested format (plumbing check)
baseline/random   a random well-formed answer (chance level)
hf/<id-or-path>   a transformers model in this process (`-M device=`, `-M dtype=`, `-M batch-size=`)
vllm/<id-or-path> vLLM's offline engine in this process (`-M tp=`, `-M dtype=`)
lab/<id-or-dir>   an emergence-lab model (`polaris lab models`; numpy, or torch when installed)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from polaris.errors import PolarisError
from polaris.models.base import Backend

PROVIDERS = ("openai", "baseline", "hf", "vllm", "lab")


@dataclass(frozen=True)
class BackendOptions:
    base_url: str | None = None
    api: str = "chat"
    concurrency: int = 32
    timeout: float = 600.0
    max_attempts: int = 8
    backoff: float = 0.5
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    tensor_parallel: int = 1
    stall_timeout: float = 30.0  # openai: a streamed response silent this long has stalled (models/liveness.py)
    stream: bool = True  # openai: stream generation responses (stall detection); off for servers that break it
    extra: tuple[tuple[str, Any], ...] = ()
    budget_param: str | None = None  # openai: how a thinking budget is sent (models/thinking.py)


def split_name(name: str) -> tuple[str, str]:
    provider, sep, model = name.partition("/")
    if not sep or not model:
        raise PolarisError(f"model '{name}' must be written <provider>/<model>, e.g. openai/gpt-4o-mini")
    return provider, model


def make_backend(name: str, opts: BackendOptions | None = None) -> Backend:
    opts = opts or BackendOptions()
    provider, model = split_name(name)
    if provider == "openai":
        from polaris.models.openai import OpenAIBackend
        from polaris.models.retry import RetryPolicy

        return OpenAIBackend(
            model,
            base_url=opts.base_url or os.environ.get("OPENAI_BASE_URL"),
            api_key=os.environ.get("OPENAI_API_KEY"),
            api=opts.api,
            concurrency=opts.concurrency,
            timeout=opts.timeout,
            stall_timeout=opts.stall_timeout,
            stream=opts.stream,
            retry=RetryPolicy(max_attempts=opts.max_attempts, base=opts.backoff),
            seed=opts.seed,
            budget_param=opts.budget_param,
        )
    if provider == "baseline":
        from polaris.models.baseline import BaselineBackend

        return BaselineBackend(model, seed=opts.seed)
    if provider == "hf":
        from polaris.models.hf import HFBackend

        return HFBackend(model, device=opts.device, dtype=opts.dtype, batch_size=opts.batch_size, seed=opts.seed)
    if provider == "vllm":
        from polaris.models.vllm import VLLMBackend

        return VLLMBackend(model, dtype=opts.dtype, tensor_parallel=opts.tensor_parallel, seed=opts.seed)
    if provider == "lab":
        from polaris.lab.backend import LabBackend

        return LabBackend(name)
    raise PolarisError(f"unknown model provider '{provider}' in '{name}' (choose from {', '.join(PROVIDERS)})")
