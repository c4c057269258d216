"""MATH (Hendrycks et al., 2021): `math`, the 5000-problem test set, and `math500`, the MATH-500 subset
of "Let's Verify Step by Step" (Lightman et al., 2023).

Items carry the subject (7, also the group) and level (1-5) in `meta` for breakdowns. The gold answer
is the last `\\boxed{}` of the reference solution (MATH-500's `answer` field, which equals it), and the
solution is the item's rationale (the gold CoT response).

Prompt: the Minerva 4-shot prompt (Lewkowycz et al., 2022), shipped as data in
`exemplars/math_minerva.json`: its problems have fraction, interval and expression answers, where the
hub's algebra prompts (`cot_hub_prompts/MATH/lib_prompt/`, usable with `--exemplars FILE`) only have
integers. The answer sentence is Minerva's, "Final Answer: The final answer is $X$. I hope it is
correct.", which is what strict extraction reads; flexible extraction also reads `\\boxed{}` and
"The answer is X".
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from polaris.errors import PolarisError
from polaris.prompts.template import Template
from polaris.scoring.mathans import MathScorer, last_boxed
from polaris.tasks.base import Dataset, Exemplar, Item, Task
from polaris.tasks.data import data_file, read_jsonl

SUBJECTS = (
    "Algebra",
    "Counting & Probability",
    "Geometry",
    "Intermediate Algebra",
    "Number Theory",
    "Prealgebra",
    "Precalculus",
)
SIZES = {"math": 5000, "math500": 500}
FILES = {"math": "test.jsonl", "math500": "math500_test.jsonl"}
EXEMPLARS = Path(__file__).parent / "exemplars" / "math_minerva.json"

SENTENCE = "Final Answer: The final answer is $X$. I hope it is correct."
TEMPLATE = Template(
    question="Problem:\n{question}",
    cot_trigger="Solution:",
    answer="Final Answer: The final answer is ${answer}$. I hope it is correct.",
    zeroshot_cot=(
        f'Solve the problem step by step. Finish with the line "{SENTENCE}" where X is the final '
        "answer in simplest form, in LaTeX."
    ),
    zeroshot_direct=(
        f'Reply with only "{SENTENCE}" where X is the final answer in simplest form, in LaTeX.'
    ),
    stop=("\n\nProblem:", "\nProblem:"),
)


@lru_cache(maxsize=1)
def minerva_exemplars() -> tuple[Exemplar, ...]:
    doc = json.loads(EXEMPLARS.read_text(encoding="utf-8"))
    return tuple(
        Exemplar(id=f"math/minerva/{i}", question=s["problem"], rationale=s["solution"], answer=s["answer"])
        for i, s in enumerate(doc["exemplars"])
    )


def _level(value: object, where: str) -> int:
    m = re.fullmatch(r"(?:Level )?([1-5])", str(value).strip())
    if not m:
        raise PolarisError(f"{where}: field 'level' is {value!r}, expected 1-5 or 'Level N'")
    return int(m.group(1))


def _subject(value: object, where: str, field: str) -> str:
    if value not in SUBJECTS:
        raise PolarisError(f"{where}: field '{field}' is {value!r}, not a MATH subject")
    return str(value)


def load_math() -> list[Item]:
    path = data_file("math", FILES["math"])
    items = []
    for n, row in enumerate(read_jsonl(path, ("problem", "level", "type", "solution"))):
        where = f"{path} row {n + 1}"
        target = last_boxed(row["solution"])
        if target is None:
            raise PolarisError(f"{where}: field 'solution' has no \\boxed{{}} answer")
        subject = _subject(row["type"], where, "type")
        items.append(
            Item(
                id=f"math/{row.get('idx', n)}",
                question=row["problem"],
                target=target,
                group=subject,
                rationale=row["solution"],
                meta={"level": _level(row["level"], where), "subject": subject},
            )
        )
    return items


def load_math500() -> list[Item]:
    path = data_file("math", FILES["math500"])
    fields = ("problem", "solution", "answer", "subject", "level", "unique_id")
    items = []
    for n, row in enumerate(read_jsonl(path, fields)):
        where = f"{path} row {n + 1}"
        subject = _subject(row["subject"], where, "subject")
        uid = re.sub(r"^test/|\.json$", "", str(row["unique_id"]))
        items.append(
            Item(
                id=f"math500/{uid}",
                question=row["problem"],
                target=str(row["answer"]),
                group=subject,
                rationale=row["solution"],
                meta={"level": _level(row["level"], where), "subject": subject},
            )
        )
    return items


def make_task(name: str) -> Task:
    if name not in SIZES:
        raise PolarisError(f"unknown MATH task '{name}' (choose math or math500)")
    load = load_math if name == "math" else load_math500
    what = "the 5000-problem MATH test set" if name == "math" else "MATH-500 (Lightman et al., 2023)"
    return Task(
        name=name,
        description=f"{what}: competition mathematics, 7 subjects, levels 1-5; "
        "LaTeX answers judged with math-verify",
        dataset=Dataset(
            load=load,
            exemplars=lambda group: minerva_exemplars(),
            files=lambda: (data_file("math", FILES[name]),),
            size=SIZES[name],
            prompt_names={"cot": "Minerva 4-shot (Lewkowycz et al. 2022; lm-eval's minerva_math)",
                          "direct": "Minerva 4 problems, answers only"},
        ),
        template=TEMPLATE,
        scorer=MathScorer(),
    )


def task_names() -> list[str]:
    return ["math", "math500"]
