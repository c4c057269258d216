"""A cell is one model x task x prompt format x strategy. Its run id is a hash of this spec.

Everything that changes what the model is asked or how answers are aggregated is in the spec;
things that do not (base URL, concurrency, limits) are not, so a re-run with other settings of
those resumes the same cell.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.prompts.exemplars import STRATEGIES
from polaris.prompts.render import Format
from polaris.store.store import digest
from polaris.tasks.base import FORMATS


_LATER_FIELDS: dict[str, Any] = {"think_tags": (), "template": None, "judge": None, "reasoning_effort": None,
                                  "thinking_budget": None, "source": None}
# OpenAI-style `reasoning_effort` values (docs/compute.md: how each backend takes them).
EFFORTS = ("minimal", "low", "medium", "high")


def default_max_tokens(prompt: str) -> int:
    """The response token limit a cell gets when it names none: 1024 for CoT formats (and the
    task-specific planning formats, whose plans and explanations outgrow 256), 256 for direct ones."""
    return 1024 if prompt not in FORMATS or Format.parse(prompt).cot else 256
# Samples per item, at most: the item's K samples are judged together in memory and a sampled cell's
# curves are computed over them, so K is bounded; 1024 is far past where maj@k curves flatten.
MAX_SAMPLES = 1024


@dataclass(frozen=True)
class CellSpec:
    model: str
    task: str
    prompt: str = "fewshot-cot"
    api: str = "chat"
    fewshot_as: str = "multi"
    exemplars: str = "default"  # default | complex | random | path of a prompt file
    exemplar_seed: int = 0
    samples: int = 1
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = None  # None: 1024 for CoT formats, 256 for direct
    seed: int = 0
    vote: str = "majority"  # majority | complex-top-N
    scoring: str = "generate"  # generate | loglik
    system: str | None = None
    task_options: tuple[tuple[str, Any], ...] = field(default=())
    # Reasoning-tag pairs tried before the built-in ones (scoring/text.py) when splitting thinking
    # from the answer: (("<scratch>", "</scratch>"),). Changes extraction, so it is part of the cell.
    think_tags: tuple[tuple[str, str], ...] = field(default=())
    # Lu et al.'s multiple-choice templates (prompts/icl.py): "open" | "closed" | "closed-adv"; None: the task's own.
    template: str | None = None
    # A judge model whose reading of each response scored this cell instead of the task's extraction
    # rules (`polaris audit --judge M --score-with judge`, audit/judge_model.py); None: the rules.
    judge: str | None = None
    # Test-time compute (docs/compute.md): OpenAI-style effort, and a cap on thinking tokens after which
    # the thinking is closed and the model made to answer (budget forcing). Both change the request.
    reasoning_effort: str | None = None
    thinking_budget: int | None = None
    # Imported runs (`polaris import`): the digest of the source files' contents, so importing a
    # changed file makes a new run and importing the same file again finds the one it made.
    source: str | None = None

    def __post_init__(self) -> None:
        vote = "-".join(self.vote.split())  # "complex-top 30" and "complex-top-30" are the same
        object.__setattr__(self, "vote", vote)
        if self.samples < 1:
            raise PolarisError(f"--samples must be at least 1 (got {self.samples})")
        if self.samples > MAX_SAMPLES:
            raise PolarisError(f"--samples is at most {MAX_SAMPLES} (got {self.samples})")
        for name, value in (("temperature", self.temperature), ("top-p", self.top_p)):
            if value is not None and not math.isfinite(value):
                raise PolarisError(f"--{name} must be a finite number (got {value})")
        if self.samples > 1 and self.temperature == 0:
            raise PolarisError("--samples > 1 needs --temperature > 0 (greedy samples are all the same)")
        if vote != "majority" and not (vote.startswith("complex-top-") and vote[12:].isdigit() and int(vote[12:]) > 0):
            raise PolarisError(f"unknown --vote '{self.vote}' (majority or complex-top-N, e.g. complex-top-30)")
        if self.scoring not in ("generate", "loglik"):
            raise PolarisError(f"unknown --scoring '{self.scoring}' (generate or loglik)")
        tags = tuple(tuple(pair) for pair in self.think_tags)
        if any(len(pair) != 2 or not all(isinstance(t, str) and t for t in pair) for pair in tags):
            raise PolarisError(f"--think-tags takes OPEN,CLOSE pairs of non-empty tags (got {self.think_tags!r})")
        object.__setattr__(self, "think_tags", tags)
        if self.reasoning_effort is not None and self.reasoning_effort not in EFFORTS:
            raise PolarisError(f"unknown --reasoning-effort '{self.reasoning_effort}' (choose from {', '.join(EFFORTS)})")
        if self.thinking_budget is not None and self.thinking_budget < 0:
            raise PolarisError(f"--thinking-budget must be 0 or more tokens (got {self.thinking_budget})")
        if self.scoring == "loglik" and (self.reasoning_effort or self.thinking_budget is not None):
            raise PolarisError("--reasoning-effort and --thinking-budget need generation (not --scoring loglik)")
        if self.template is not None:
            from polaris.prompts.icl import check_spec

            check_spec(self.template, self.prompt, self.scoring)

    @property
    def top_n(self) -> int | None:
        """N of a `complex-top-N` vote, None for a plain majority vote."""
        return int(self.vote.rsplit("-", 1)[1]) if self.vote.startswith("complex-top-") else None

    @property
    def cot(self) -> bool:
        return Format.parse(self.prompt).cot

    def resolved(self) -> CellSpec:
        """Defaults filled in, so the run id names what was actually done."""
        # Task-specific formats (planning: one-shot, zero-shot, zero-shot-cot) are checked by the task.
        tokens = self.max_tokens or default_max_tokens(self.prompt)
        if self.scoring == "loglik":  # scored contexts are completion text whatever the API (runner/loglik.py)
            return replace(self, max_tokens=tokens, api="completions", fewshot_as="multi")
        return replace(self, max_tokens=tokens)

    def as_dict(self) -> dict[str, Any]:
        """The spec as stored (JSON-able); `from_dict` rebuilds it."""
        d = asdict(self)
        d["task_options"] = [list(kv) for kv in self.task_options]
        d["think_tags"] = [list(pair) for pair in self.think_tags]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CellSpec:
        d = dict(d)
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:  # a run stored by a newer Polaris: its cell means something this version cannot rebuild
            raise PolarisError(f"run {d.get('model')}/{d.get('task')} was stored by a newer Polaris (its cell has"
                               f" {', '.join(unknown)}); upgrade Polaris to use it")
        d["task_options"] = tuple(tuple(kv) for kv in d.get("task_options", ()))
        d["think_tags"] = tuple(tuple(pair) for pair in d.get("think_tags", ()))
        return cls(**d)

    def identity(self) -> dict[str, Any]:
        d = asdict(self.resolved())
        if self.exemplars not in STRATEGIES:
            # A prompt file is named by its content, so editing it makes a new cell.
            path = Path(self.exemplars)
            d["exemplars"] = "file:" + hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else self.exemplars
        d["task_options"] = [list(kv) for kv in self.task_options]
        # Fields added after cells were first stored enter the identity only when set, so existing
        # run ids (and the results stored under them) stay valid.
        for name, default in _LATER_FIELDS.items():
            if d.get(name) == default:
                d.pop(name, None)
        tag = self.prompt_tag()
        if tag is not None:  # the default prompt that was shown, named (tasks/base.py: Dataset.prompt_tag)
            d["prompt_tag"] = tag
        return d

    def prompt_tag(self) -> str | None:
        """The task's tag for its default prompt when this cell shows the default exemplars
        (`default`, or `shuffle` of them) in a few-shot format; None otherwise."""
        if self.exemplars not in ("default", "shuffle") or self.prompt not in FORMATS:
            return None
        if not Format.parse(self.prompt).fewshot:
            return None
        from polaris.tasks.registry import get_task

        try:
            return get_task(self.task, **dict(self.task_options)).dataset.prompt_tag
        except PolarisError:  # a task no longer registered: named by its spec alone
            return None

    @functools.cached_property
    def run_id(self) -> str:
        return digest(self.identity())[:16]

    @property
    def strategy(self) -> str:
        if self.scoring == "loglik":
            s = "loglik"
        elif self.samples > 1:
            s = f"sc{self.samples}@t{self.temperature:g}"
            if self.vote != "majority":
                s += f"-{self.vote}"
        else:
            s = "greedy" if self.temperature == 0 else f"sample@t{self.temperature:g}"
        if self.temperature > 0 and self.seed:
            s += f"-s{self.seed}"  # cells drawn with other seeds need other names
        if self.exemplars != "default":
            ex = self.exemplars if self.exemplars in STRATEGIES else Path(self.exemplars).stem
            s += f"+{ex}" + (f"{self.exemplar_seed}" if self.exemplars in ("random", "shuffle") else "")
        if self.api != "chat" and self.scoring != "loglik":
            s += f"+{self.api}"
        if self.fewshot_as != "multi":
            s += f"+{self.fewshot_as}"
        if self.template:
            s += f"+tpl:{self.template}"
        if self.think_tags:
            s += "+tags:" + ",".join("".join(c for c in o if c.isalnum()) or "x" for o, _ in self.think_tags)
        if self.judge:
            s += "+judge:" + self.judge.replace("/", ":")  # a label keeps its four "/"-separated parts
        return s + self.budget_label

    @property
    def budget_label(self) -> str:
        """The compute factors in the strategy name: `+effort:high`, `+think:512`, `+max:4096` (a
        max-tokens limit other than the format's default)."""
        s = f"+effort:{self.reasoning_effort}" if self.reasoning_effort else ""
        if self.thinking_budget is not None:
            s += f"+think:{self.thinking_budget}"
        if self.scoring != "loglik" and self.max_tokens is not None and self.max_tokens != default_max_tokens(self.prompt):
            s += f"+max:{self.max_tokens}"
        return s

    @property
    def label(self) -> str:
        opts = ",".join(f"{k}={v}" for k, v in self.task_options)
        task = f"{self.task}[{opts}]" if opts else self.task
        return f"{self.model}/{task}/{self.prompt}/{self.strategy}"
