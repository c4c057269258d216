"""GSM8K (Cobbe et al. 2021): grade-school math word problems with a numeric answer.

Test split 1319, train split 7473, from `<data dir>/gsm8k/{test,train}.jsonl`. The default few-shot
exemplars are Wei et al.'s (2022) 8-shot chain-of-thought prompt, the one the Chain-of-Thought Hub
and most papers report GSM8K with, read from the hub's `gsm8k/lib_prompt/prompt_original.txt`
(`<data dir>/cot_hub_prompts/`, fetched with `polaris data fetch gsm8k`); the direct formats show
the same 8 questions with the answer sentence only (Wei et al.'s standard prompting). Training
solutions (calculator notes `<<a*b=c>>` removed) are the pool `--exemplars complex|random` draw
from. Cells stored when the default was the first 8 training problems keep their run ids; the new
default's cells name it in their identity (`prompt_tag`), so the two never share results.
"""

from __future__ import annotations

import re
from functools import cache

from polaris.errors import PolarisError
from polaris.prompts.template import Template
from polaris.scoring.numeric import NumericScorer, canonical
from polaris.tasks.base import Dataset, Exemplar, Item, Task
from polaris.tasks.data import data_file, read_jsonl

PROMPT_FILE = "gsm8k/lib_prompt/prompt_original.txt"  # under <data dir>/cot_hub_prompts/
PROMPT_NAMES = {
    "cot": "Wei et al. (2022) 8-shot chain of thought (CoT Hub gsm8k/lib_prompt/prompt_original.txt)",
    "direct": "Wei et al. (2022) 8 questions, answers only (standard prompting)",
}

CALC = re.compile(r"<<[^<>]*>>")
TEMPLATE = Template(
    question="Question: {question}",
    cot_trigger="Let's think step by step.",
    answer="The answer is {answer}.",
    zeroshot_cot='Solve the problem step by step, then finish with "The answer is N." where N is a number.',
    zeroshot_direct='Reply with only "The answer is N." where N is the final number.',
)


def _parse(row: dict, path: object, line: int) -> tuple[str, str]:
    """(rationale, answer) from a GSM8K solution ending in '#### N'."""
    solution = str(row["answer"])
    body, sep, final = solution.rpartition("####")
    answer = canonical(final.strip()) if sep else None
    if answer is None:
        raise PolarisError(f"{path}:{line}: field 'answer' does not end in '#### <number>'")
    rationale = "\n".join(ln.strip() for ln in CALC.sub("", body).strip().splitlines() if ln.strip())
    return rationale, answer


def _split(split: str, limit: int | None = None) -> tuple[Item, ...]:
    path = data_file("gsm8k", f"{split}.jsonl")
    items = []
    for i, row in enumerate(read_jsonl(path, ("question", "answer"), limit=limit)):
        rationale, answer = _parse(row, path, i + 1)
        items.append(Item(f"gsm8k/{split}/{i}", str(row["question"]).strip(), answer, rationale=rationale))
    return tuple(items)


def _as_exemplar(item: Item) -> Exemplar:
    return Exemplar(item.id, item.question, item.rationale, item.target)


def wei_exemplars() -> tuple[Exemplar, ...]:
    from polaris.prompts.exemplars import parse_hub_file

    return tuple(parse_hub_file(data_file("cot_hub_prompts", PROMPT_FILE)))


def make_task(name: str = "gsm8k", **options: object) -> Task:
    if name != "gsm8k":
        raise PolarisError(f"unknown task '{name}'")
    # Memoised per task object (not per module) so a changed data directory is always re-read.
    test = cache(lambda: _split("test"))
    pool = cache(lambda group="": tuple(_as_exemplar(it) for it in _split("train")))
    dataset = Dataset(
        load=test,
        exemplars=cache(lambda group="": wei_exemplars()),
        pool=pool,
        files=lambda: [data_file("gsm8k", "test.jsonl"), data_file("gsm8k", "train.jsonl"),
                       data_file("cot_hub_prompts", PROMPT_FILE)],
        size=1319,
        prompt_names=PROMPT_NAMES,
        prompt_tag="wei2022-8shot",
    )
    return Task(
        name="gsm8k",
        description="Grade-school math word problems (Cobbe et al. 2021), numeric answers",
        dataset=dataset,
        template=TEMPLATE,
        scorer=NumericScorer(),
    )
