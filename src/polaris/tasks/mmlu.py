"""MMLU (Hendrycks et al., 2021): `mmlu` (57 subjects, 14042 questions, micro average as the
Chain-of-Thought Hub reports it) and `mmlu/<subject>`.

Prompt format of the hub: "Q: <question>\\n(A) .. (B) .. (C) .. (D) ..\\nA: Let's think step by step."
under the header "The following are multiple choice questions (with answers) about <subject>.",
which is each subject's template instruction. `fewshot-direct` shows the subject's 5 dev questions;
`fewshot-cot` the hub's CoT prompt for the subject (`cot_hub_prompts/MMLU/lib_prompt/mmlu-cot.json`,
5 exemplars, 4 for three subjects), parsed into exemplars and kept as published (including its odd
spots: a college_chemistry exemplar with five options, abstract_algebra's second question that
begins with the first one's reasoning). JSON decoded a few of its LaTeX commands into control
characters (`\\frac` -> form feed + "rac"); those are turned back into backslashes.

Items: id `mmlu/<subject>/<row>`, group = subject, `meta` = subject and category (STEM, humanities,
social sciences, other; the hendrycks/test `categories.py` mapping). Targets are "(A)".."(D)".
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from polaris.errors import PolarisError
from polaris.prompts.template import LETTERS, Template
from polaris.scoring.choice import ChoiceScorer
from polaris.tasks.base import Dataset, Exemplar, Item, Task
from polaris.tasks.data import data_file, read_csv, read_json
from polaris.tasks.groups import resolve_group, select_groups
from polaris.tasks.mmlu_subjects import CATEGORY, SIZES, SUBJECTS

COT_FILE = "MMLU/lib_prompt/mmlu-cot.json"
COT_START = "A: Let's think step by step."
_ANSWER = re.compile(r"The answer is \(([A-Z])\)\.?")
# JSON escapes that swallowed a LaTeX backslash: \f(rac), \b(eta), \r(ight) -> control characters.
_SWALLOWED = {"\x0c": "\\f", "\x08": "\\b"}
_CR_LATEX = re.compile(r"\r(?=[A-Za-z])")


def pretty(subject: str) -> str:
    return subject.replace("_", " ")


def make_template(subject: str | None = None) -> Template:
    about = f" about {pretty(subject)}" if subject else ""
    hint = 'where X is the letter of the correct option'
    return Template(
        instruction=f"The following are multiple choice questions (with answers){about}.",
        question="Q: {question}",
        choices="\n{options}",
        option="({letter}) {text}",
        option_sep=" ",
        cot_trigger=COT_START,
        answer="The answer is {answer}.",
        zeroshot_cot=f'Think step by step, then finish with "The answer is (X)." {hint}.',
        zeroshot_direct=f'Reply with only "The answer is (X)." {hint}.',
        stop=("\n\nQ:", "\nQ:"),
    )


def _rows(path: Path) -> list[tuple[str, tuple[str, ...], str]]:
    out = []
    for n, row in enumerate(read_csv(path, 6), 1):
        answer = row[5].strip()
        if answer not in ("A", "B", "C", "D"):
            raise PolarisError(f"{path} row {n}: field 'answer' is {answer!r}, expected A-D")
        out.append((row[0], tuple(row[1:5]), answer))
    return out


def load_subject(subject: str) -> list[Item]:
    path = data_file("mmlu", f"test/{subject}_test.csv")
    meta = {"subject": subject, "category": CATEGORY[subject]}
    return [
        Item(id=f"mmlu/{subject}/{n}", question=q, target=f"({a})", choices=c, group=subject, meta=meta)
        for n, (q, c, a) in enumerate(_rows(path))
    ]


@lru_cache(maxsize=64)
def _dev(path: Path, subject: str) -> tuple[Exemplar, ...]:
    return tuple(
        Exemplar(id=f"mmlu/{subject}/dev/{n}", question=q, rationale="", answer=f"({a})", choices=c)
        for n, (q, c, a) in enumerate(_rows(path))
    )


def dev_exemplars(subject: str) -> tuple[Exemplar, ...]:
    return _dev(data_file("mmlu", f"dev/{subject}_dev.csv"), subject)


def split_options(question: str) -> tuple[str, tuple[str, ...]]:
    """(stem, options) of a hub question whose last line is "(A) x (B) y ...", when the template
    renders them back exactly; else (question, ())."""
    stem, _, line = question.rpartition("\n")
    if not line.startswith("(A) "):
        return question, ()
    cuts, pos = [], 0
    for letter in LETTERS:
        at = line.find(f"({letter}) ", pos) if letter == "A" else line.find(f" ({letter}) ", pos)
        if at < 0:
            break
        cuts.append(at)
        pos = at + 1
    parts = [line[a:b] for a, b in zip(cuts, cuts[1:] + [len(line)])]
    choices = tuple(re.sub(r"^ ?\([A-Z]\) ", "", p, count=1) for p in parts)
    if make_template().question_text(stem, choices) != f"Q: {question}":
        return question, ()
    return stem, choices


def parse_cot_prompt(text: str, subject: str, where: str) -> tuple[Exemplar, ...]:
    text = _CR_LATEX.sub(r"\\r", text.translate(str.maketrans(_SWALLOWED)))
    blocks = text.split("\n\nQ: ")[1:]
    if not blocks:
        raise PolarisError(f"{where}: subject '{subject}' has no 'Q:' exemplars")
    exemplars = []
    for k, block in enumerate(blocks):
        q_end = block.find("\n" + COT_START)
        answers = list(_ANSWER.finditer(block))
        if q_end < 0 or not answers:
            raise PolarisError(f"{where}: {subject} exemplar {k + 1} lacks '{COT_START}' or an answer")
        last = answers[-1]
        rationale = block[q_end + 1 + len(COT_START) : last.start()].strip()
        stem, choices = split_options(block[:q_end])
        exemplars.append(
            Exemplar(f"mmlu/{subject}/cot/{k}", stem, rationale, f"({last.group(1)})", choices)
        )
    return tuple(exemplars)


@lru_cache(maxsize=4)
def _cot_library(path: Path) -> dict[str, tuple[Exemplar, ...]]:
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise PolarisError(f"{path}: expected an object of subject -> prompt")
    return {
        s: parse_cot_prompt(p, s, str(path)) for s, p in doc.items() if isinstance(p, str)
    }


def cot_exemplars(subject: str) -> tuple[Exemplar, ...]:
    path = data_file("cot_hub_prompts", COT_FILE)
    library = _cot_library(path)
    if subject not in library:
        raise PolarisError(f"{path}: no CoT prompt for subject '{subject}'")
    return library[subject]


def make_task(name: str) -> Task:
    subjects = select_groups(name, "mmlu", SUBJECTS, "MMLU")

    def group_of(group: str) -> str:
        return resolve_group(group, subjects, "MMLU")

    def files() -> tuple[Path, ...]:
        per = [data_file("mmlu", f"{split}/{s}_{split}.csv") for s in subjects for split in ("test", "dev")]
        return (*per, data_file("cot_hub_prompts", COT_FILE))

    single = len(subjects) == 1
    return Task(
        name=name,
        description=(f"MMLU: {pretty(subjects[0])}" if single else "MMLU: 57 subjects")
        + " (4-option multiple choice; Chain-of-Thought Hub prompts)",
        dataset=Dataset(
            load=lambda: [item for s in subjects for item in load_subject(s)],
            exemplars=lambda group: dev_exemplars(group_of(group)),
            cot_exemplars=lambda group: cot_exemplars(group_of(group)),
            files=files,
            size=sum(SIZES[s] for s in subjects),
            prompt_names={"cot": "CoT Hub 5-shot chain of thought (MMLU/lib_prompt/mmlu-cot.json)",
                          "direct": "Hendrycks et al. (2021) 5-shot: the subject's dev questions"},
        ),
        template=make_template(subjects[0] if single else None),
        scorer=ChoiceScorer(),
        templates={s: make_template(s) for s in subjects},
    )


def task_names() -> list[str]:
    return ["mmlu", *(f"mmlu/{s}" for s in SUBJECTS)]
