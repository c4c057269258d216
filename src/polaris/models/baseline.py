"""Built-in reference models that need no weights and no server.

`baseline/gold` answers every item correctly, in the format the prompt asks for: a plumbing check
that must score 100% on every task. `baseline/random` gives a random well-formed answer, seeded by
item and sample index: the chance level a real model has to beat. Both score multiple-choice
options too (`--scoring loglik`): gold puts all the probability on the right option, random spreads
it uniformly at random, so log-likelihood runs have the same plumbing checks.
"""

from __future__ import annotations

import math
import random
from typing import Any

from polaris.models.base import Choice, GenRequest, GenResult, LoglikRequest, LoglikResult, RequestContext
from polaris.prompts.render import Format
from polaris.tasks.base import FORMATS


class BaselineBackend:
    supports_n = True

    def __init__(self, kind: str, seed: int = 0) -> None:
        if kind not in ("gold", "random"):
            from polaris.errors import PolarisError

            raise PolarisError(f"unknown model 'baseline/{kind}' (choose baseline/gold or baseline/random)")
        self.kind = kind
        self.name = f"baseline/{kind}"
        self.seed = seed

    def identity(self) -> dict[str, Any]:
        # per_item: answers depend on the item, not only the prompt (runner/context.py keys them so).
        return {"provider": "baseline", "model": self.kind, "per_item": True}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _answer(self, ctx: RequestContext, index: int) -> str:
        task, item = ctx.task, ctx.item
        template = task.template_for(item.group)
        cot = Format.parse(ctx.prompt_format).cot if ctx.prompt_format in FORMATS else True
        if self.kind == "gold":
            return template.response(item.rationale, task.scorer.gold(item), cot)
        rng = random.Random(f"{item.id}/{index}/{self.seed}")
        return template.response("", task.scorer.random_answer(item, rng), False)

    async def generate(self, req: GenRequest) -> GenResult:
        if req.context is None:
            raise ValueError("baseline models need the item they answer (RequestContext)")
        texts = [self._answer(req.context, req.first_index + i) for i in range(req.n)]
        return GenResult([Choice(t, "stop") for t in texts])

    async def loglik(self, req: LoglikRequest) -> LoglikResult:
        """gold: all mass on the right option; random: a uniform draw from the simplex of options."""
        if req.origin is None:
            raise ValueError("baseline models need the item they score (LoglikRequest.origin)")
        from polaris.runner.loglik import best_option, options_for

        item = req.origin.item
        k = len(req.continuations)
        opts = options_for(item)
        if self.kind == "gold":
            gold = opts.gold if opts is not None and opts.gold is not None and opts.gold < k else None
            # A finite floor rather than -inf: stored JSON stays standard; exp(-1000) is 0.0 in a double.
            lps = [0.0 if i == gold else _FLOOR for i in range(k)] if gold is not None else [-math.log(k)] * k
        else:
            rng = random.Random(f"{item.id}/loglik/{self.seed}")
            draws = [rng.expovariate(1.0) for _ in range(k)]  # normalised exponentials: Dirichlet(1, ..., 1)
            total = sum(draws)
            lps = [math.log(max(d / total, 1e-300)) for d in draws]
        best = best_option(lps)
        return LoglikResult(lps, [1] * k, [i == best for i in range(k)])


_FLOOR = -1000.0
