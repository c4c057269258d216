"""BIG-Bench Hard (Suzgun et al., 2022): `bbh` (all 27 tasks, scored as the mean over tasks, as the
Chain-of-Thought Hub reports it) and `bbh/<name>` (one task).

Exemplars are the 3-shot CoT prompts of the dataset (`bbh/cot-prompts/<task>.txt`, 2-line canary
header dropped); the task description at the top of each file is the instruction of that task's
template, and the direct formats show the same exemplars with the answer sentence only. The answer
sentence is "The answer is X." (the prompt files end their reasoning with "So the answer is X.";
both forms are read). Multiple-choice inputs keep their "Options:" block as the item's `choices`, which
the template renders back byte for byte, so log-likelihood solvers can score the options.

Item ids are `bbh/<task>/<index in the task's file>`; the group is the task name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path

from polaris.errors import PolarisError
from polaris.prompts.template import LETTERS, Template
from polaris.scoring.bbh import KIND_OF_TASK, BBHScorer
from polaris.scoring.choice import letter_of
from polaris.scoring.text import last_match
from polaris.tasks.base import Dataset, Exemplar, Item, Task
from polaris.tasks.data import data_file, read_json, read_text
from polaris.tasks.groups import resolve_group, select_groups

SIZES = {
    "boolean_expressions": 250, "causal_judgement": 187, "date_understanding": 250,
    "disambiguation_qa": 250, "dyck_languages": 250, "formal_fallacies": 250,
    "geometric_shapes": 250, "hyperbaton": 250, "logical_deduction_five_objects": 250,
    "logical_deduction_seven_objects": 250, "logical_deduction_three_objects": 250,
    "movie_recommendation": 250, "multistep_arithmetic_two": 250, "navigate": 250,
    "object_counting": 250, "penguins_in_a_table": 146, "reasoning_about_colored_objects": 250,
    "ruin_names": 250, "salient_translation_error_detection": 250, "snarks": 178,
    "sports_understanding": 250, "temporal_sequences": 250,
    "tracking_shuffled_objects_five_objects": 250, "tracking_shuffled_objects_seven_objects": 250,
    "tracking_shuffled_objects_three_objects": 250, "web_of_lies": 250, "word_sorting": 250,
}  # fmt: skip
TASKS = tuple(SIZES)
OPTIONS = "\nOptions:\n"
COT_START = "Let's think step by step."
_SO = re.compile(r"So the answer is\s+", re.IGNORECASE)

MC_HINT = 'where X is the letter of the correct option'
FREE_HINT = "where X is the answer"


def make_template(instruction: str = "", multiple_choice: bool = True) -> Template:
    hint = MC_HINT if multiple_choice else FREE_HINT
    sentence = "The answer is (X)." if multiple_choice else "The answer is X."
    return Template(
        instruction=instruction,
        question="Q: {question}",
        choices=OPTIONS + "{options}",
        option="({letter}) {text}",
        option_sep="\n",
        cot_trigger=f"A: {COT_START}",
        answer="The answer is {answer}.",
        zeroshot_cot=f'Think step by step, then finish with "{sentence}" {hint}.',
        zeroshot_direct=f'Reply with only "{sentence}" {hint}.',
        stop=("\n\nQ:", "\nQ:"),
    )


def split_options(text: str) -> tuple[str, tuple[str, ...]]:
    """(stem, option texts) of a BBH input whose "Options:" block the template renders back exactly;
    (text, ()) when there is no such block."""
    i = text.rfind(OPTIONS)
    if i < 0:
        return text, ()
    choices = []
    for k, line in enumerate(text[i + len(OPTIONS) :].split("\n")):
        head = f"({LETTERS[k]}) " if k < len(LETTERS) else None
        if head is None or not line.startswith(head):
            return text, ()
        choices.append(line[len(head) :])
    stem = text[:i]
    if make_template().question_text(stem, tuple(choices)) != f"Q: {text}":
        return text, ()
    return stem, tuple(choices)


def _kind(task: str, target: str) -> str:
    kind = KIND_OF_TASK.get(task, "choice")
    if kind == "choice" and (letter_of(target) is None or not target.startswith("(")):
        return "text"  # three targets in the data are option texts ("Monsters, Inc")
    return kind


def load_task(task: str) -> list[Item]:
    path = data_file("bbh", f"data/{task}.json")
    doc = read_json(path)
    rows = doc.get("examples") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise PolarisError(f"{path}: expected an object with an 'examples' list")
    items = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("input"), str):
            raise PolarisError(f"{path}: example {n}: missing field 'input'")
        if not isinstance(row.get("target"), str):
            raise PolarisError(f"{path}: example {n}: missing field 'target'")
        stem, choices = split_options(row["input"])
        target = row["target"].strip()
        items.append(
            Item(
                id=f"bbh/{task}/{n}",
                question=stem,
                target=target,
                choices=choices,
                group=task,
                meta={"task": task, "kind": _kind(task, target)},
            )
        )
    return items


@lru_cache(maxsize=64)
def _parse_prompt(path: Path) -> tuple[str, tuple[Exemplar, ...]]:
    text = read_text(path).replace("\r\n", "\n")
    lines = text.split("\n")
    if lines and lines[0].startswith("BENCHMARK DATA SHOULD NEVER") and lines[1:2] == ["-----"]:
        lines = lines[2:]
    blocks = re.split(r"\n\n(?=Q: )", "\n".join(lines).strip())
    if not blocks or blocks[0].startswith("Q: "):
        raise PolarisError(f"{path}: expected a task description before the first 'Q:'")
    task = path.stem
    exemplars = []
    for k, block in enumerate(blocks[1:]):
        q_end = block.find("\nA:")
        m = last_match(_SO, block)
        if q_end < 0 or m is None:
            raise PolarisError(f"{path}: exemplar {k + 1} lacks 'A:' or 'So the answer is'")
        reasoning = block[q_end + 3 : m.start()].strip()
        if reasoning.startswith(COT_START):
            reasoning = reasoning[len(COT_START) :].strip()
        answer = block[m.end() :].strip()
        answer = answer[:-1] if answer.endswith(".") else answer
        stem, choices = split_options(block[3:q_end])
        exemplars.append(Exemplar(f"bbh/{task}/shot{k}", stem, reasoning, answer.strip(), choices))
    return blocks[0].strip(), tuple(exemplars)


def prompt(task: str) -> tuple[str, tuple[Exemplar, ...]]:
    """(description, CoT exemplars) of a task, from its prompt file."""
    return _parse_prompt(data_file("bbh", f"cot-prompts/{task}.txt"))


class _Templates(Mapping[str, Template]):
    """Per-task templates, read from the prompt files on first use (listing tasks reads no data)."""

    def __init__(self, tasks: tuple[str, ...]) -> None:
        self._tasks = tasks

    def __getitem__(self, task: str) -> Template:
        if task not in self._tasks:
            raise KeyError(task)
        return make_template(prompt(task)[0], KIND_OF_TASK.get(task, "choice") == "choice")

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)


def make_task(name: str) -> Task:
    tasks = select_groups(name, "bbh", TASKS, "BBH")

    def load() -> list[Item]:
        return [item for task in tasks for item in load_task(task)]

    def exemplars(group: str) -> tuple[Exemplar, ...]:
        return prompt(resolve_group(group, tasks, "BBH"))[1]

    def files() -> tuple[Path, ...]:
        return tuple(
            data_file("bbh", f"{kind}/{task}.{ext}")
            for task in tasks
            for kind, ext in (("data", "json"), ("cot-prompts", "txt"))
        )

    single = len(tasks) == 1
    return Task(
        name=name,
        description=(
            f"BIG-Bench Hard: {tasks[0]}" if single else "BIG-Bench Hard: 27 tasks, mean over tasks"
        )
        + " (3-shot CoT prompts of Suzgun et al., 2022)",
        dataset=Dataset(
            load=load, exemplars=exemplars, files=files, size=sum(SIZES[t] for t in tasks),
            prompt_names={"cot": "Suzgun et al. (2022) 3-shot chain of thought (BIG-Bench-Hard cot-prompts/<task>.txt)",
                          "direct": "Suzgun et al. (2022) 3 exemplars, answers only (answer-only prompting)"},
        ),
        template=make_template(multiple_choice=KIND_OF_TASK.get(tasks[0], "choice") == "choice")
        if single
        else make_template(),
        scorer=BBHScorer(),
        headline="micro" if single else "macro",
        templates=_Templates(tasks),
    )


def task_names() -> list[str]:
    return ["bbh", *(f"bbh/{t}" for t in TASKS)]
