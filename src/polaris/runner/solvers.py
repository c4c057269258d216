"""How a model is asked about one item. Solvers do the model I/O; judging comes after.

A solver gets the task, the item, its rendered prompt and a cache-aware context, and returns the
raw `Outputs`. Scoring reads only the outputs, which is why `polaris rescore` can re-judge a
stored run by replaying solvers against the store alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from polaris.models.base import Decoding, RequestContext
from polaris.prompts.render import Prompt
from polaris.runner.cell import CellSpec
from polaris.runner.context import SolveContext
from polaris.store.store import SampleRow
from polaris.tasks.base import Item, Task


@dataclass
class Outputs:
    samples: list[SampleRow]
    request: str  # hash of the (last) request
    detail: dict[str, Any] = field(default_factory=dict)  # solver-specific: transcripts, log-probs


Solver = Callable[[Task, Item, Prompt, SolveContext, CellSpec], Awaitable[Outputs]]


def decoding(spec: CellSpec) -> Decoding:
    r = spec if spec.max_tokens is not None else spec.resolved()
    seed = spec.seed if spec.temperature > 0 else None
    return Decoding(max_tokens=r.max_tokens or 1024, temperature=spec.temperature, top_p=spec.top_p, seed=seed,
                    reasoning_effort=spec.reasoning_effort, thinking_budget=spec.thinking_budget)


async def generate(task: Task, item: Item, prompt: Prompt, ctx: SolveContext, spec: CellSpec) -> Outputs:
    """Draw `spec.samples` responses to the prompt (one call with `n` where the backend can)."""
    h, rows = await ctx.generate(prompt, decoding(spec), spec.samples, RequestContext(task, item, spec.prompt))
    return Outputs(rows, h)


SOLVERS: dict[str, Solver] = {"generate": generate}


def register(name: str, solver: Solver) -> None:
    SOLVERS[name] = solver


def get(name: str) -> Solver:
    if name not in SOLVERS:
        # Task-specific solvers live beside their task and register on import.
        import importlib

        module = {"modulo": "polaris.tasks.blocksworld", "loglik": "polaris.runner.loglik",
                  "lab": "polaris.lab.solver"}.get(name)
        if module:
            importlib.import_module(module)
    try:
        return SOLVERS[name]
    except KeyError:
        from polaris.errors import PolarisError

        raise PolarisError(f"unknown solver '{name}'") from None
