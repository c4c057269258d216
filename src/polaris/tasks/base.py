"""What a task is: a dataset of items, a template that phrases them, and a scorer that judges answers.

A `Task` is composed of small pieces rather than subclassed: the dataset loads `Item`s and offers
few-shot `Exemplar`s, the `Template` (prompts/) turns them into prompts, the `Scorer` (scoring/)
extracts and judges answers, and the solver (runner/solvers.py) decides how the model is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from polaris.prompts.template import Template
    from polaris.scoring.base import Scorer

FORMATS = ("fewshot-cot", "fewshot-direct", "zeroshot-cot", "zeroshot-direct")


@dataclass(frozen=True, slots=True)
class Item:
    """One test question with its gold answer."""

    id: str  # stable within the task: it keys stored results
    question: str
    target: str  # gold final answer, as the scorer compares it
    choices: tuple[str, ...] = ()  # option texts for multiple choice, in letter order
    group: str = ""  # sub-task or subject: breakdowns and clustered standard errors
    rationale: str = ""  # worked solution, when the data has one (gold CoT responses)
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A solved example shown to the model in few-shot prompts."""

    id: str
    question: str
    rationale: str  # the reasoning, one step per line, without the final answer sentence
    answer: str  # the final answer as it is written in the answer sentence
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Dataset:
    """Where a task's items and exemplars come from.

    `load` returns the test items in dataset order; `exemplars(group)` the default few-shot exemplars
    for a group (subject / sub-task, "" for single-group tasks); `pool(group)` the training examples
    that exemplar selection strategies (complex, random) draw from, when the data has them.
    """

    load: Callable[[], Sequence[Item]]
    exemplars: Callable[[str], Sequence[Exemplar]]
    files: Callable[[], Sequence[Path]] = lambda: ()  # hashed into the run manifest
    pool: Callable[[str], Sequence[Exemplar]] | None = None
    size: int | None = None  # known item count, for `polaris tasks` without loading
    # CoT formats' own exemplars when they differ from the direct ones (MMLU: the hub's CoT prompts
    # for fewshot-cot, the 5 dev questions for fewshot-direct); None: `exemplars` serves both.
    cot_exemplars: Callable[[str], Sequence[Exemplar]] | None = None
    # What the default exemplars are, for manifests and docs: {"cot": ..., "direct": ...}.
    prompt_names: Mapping[str, str] = field(default_factory=dict)
    # Enters the identity of few-shot cells that show the default exemplars (`default`, `shuffle`):
    # set when a task's default prompt changed after cells were stored under the old one, so those
    # cells keep their results and run ids and the new default's cells get their own.
    prompt_tag: str | None = None

    def shots(self, group: str, cot: bool) -> Sequence[Exemplar]:
        """The default few-shot exemplars of a group for a CoT or a direct prompt format."""
        if cot and self.cot_exemplars is not None:
            return self.cot_exemplars(group)
        return self.exemplars(group)

    def prompt_name(self, cot: bool) -> str | None:
        """The published prompt the default exemplars are, for a CoT or a direct format."""
        return self.prompt_names.get("cot" if cot else "direct")


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    dataset: Dataset
    template: Template
    scorer: Scorer
    formats: tuple[str, ...] = FORMATS
    solver: str = "generate"  # default solver (runner/solvers.py)
    headline: str = "micro"  # "micro": mean over items; "macro": mean over groups (BBH)
    options: Mapping[str, Any] = field(default_factory=dict)  # task parameters, part of the cell id
    # Tasks whose prompts are not question/answer shaped (planning) build them themselves:
    # (item, prompt format, api) -> polaris.prompts.render.Prompt
    build_prompt: Callable[[Item, str, str], Any] | None = None
    # Per-group templates where the instruction names the group (a BBH task's description, an MMLU
    # subject), so `bbh` and `bbh/<name>` render the same prompt for the same item.
    templates: Mapping[str, Template] = field(default_factory=dict)
    # Task-specific metrics merged into the run summary: item results -> {key: value} (planning:
    # success by block count, optimality, failure kinds, success after each LLM-Modulo round).
    summarize: Callable[[Sequence[Any]], dict[str, Any]] | None = None

    def template_for(self, group: str) -> Template:
        return self.templates.get(group, self.template)
