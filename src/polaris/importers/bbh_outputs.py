"""BIG-Bench Hard's published outputs (suzgunmirac/BIG-Bench-Hard, `code-davinci-002-outputs/`).

Layout: `<task>_few_shot_template_0-255000.json` = `{"canary", "outputs": [{"input", "prediction",
"target"}]}`, where `input` is the whole prompt (the task description, three exemplars, then the test
question) and `prediction` the model's continuation; beside it, `<same stem>_eval_metrics.jsonl` holds
the paper's accuracy for the task. The file has no per-item verdicts: the paper's score per task is
what Polaris's is compared with.

Every file becomes part of one `bbh` run per model and prompt format (the items of its task), matched
by the last question in the prompt. The prompt format is read from the prompt itself: few-shot, and
CoT when the answer cue is "A: Let's think step by step." The model is not in the file: it comes from
the folder name as the repository names it (`code-davinci-002-cot`), else from `--model`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from polaris.errors import PolarisError
from polaris.importers.records import ReadOptions, Record, Response, json_with_lines, sha256_file

WHAT = "a BIG-Bench Hard output"
STEM = re.compile(r"^(?P<task>[a-z_]+?)_(?:few|zero)_shot_template")
COT_CUE = "A: Let's think step by step."
METRICS = "_eval_metrics.jsonl"


def is_companion(path: Path) -> bool:
    """Metrics files are read beside their outputs file, not as records."""
    return path.name.endswith(METRICS)


def _task(path: Path, name: str) -> str:
    from polaris.tasks.bbh import TASKS

    m = STEM.match(path.stem)
    if m is None or m.group("task") not in TASKS:
        raise PolarisError(f"{name}: not {WHAT} file (the name should start with a BBH task, e.g. "
                           "date_understanding_few_shot_template_0-255000.json)")
    return m.group("task")


def _model(path: Path) -> str | None:
    # The repository keeps code-davinci-002-outputs/code-davinci-002-cot/<task>...json
    m = re.fullmatch(r"(?P<model>.+)-(?:cot|direct)", path.parent.name)
    return m.group("model") if m else None


def metrics(path: Path, name: str) -> tuple[dict, tuple[tuple[str, str], ...]]:
    """The paper's score for the task (from the metrics file beside it) and that file's (name, sha256)."""
    side = path.with_name(path.stem + METRICS)
    if not side.is_file():
        return {}, ()
    score: dict = {}
    for line in side.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line) if line.strip() else {}
        except json.JSONDecodeError:
            raise PolarisError(f"{side}: not a BBH metrics file (invalid JSON)") from None
        for k, v in row.items():
            if isinstance(v, int | float) and not isinstance(v, bool):  # the paper's percentages, as fractions
                score[k] = round(v / 100, 6) if k.startswith("accuracy") else v
    return score, ((side.name, sha256_file(side)),)


def read(path: Path, name: str, opts: ReadOptions) -> Iterator[Record]:
    task = _task(path, name)
    _, rows = json_with_lines(path, name, WHAT, "outputs")
    model = _model(path)
    for k, (line, row) in enumerate(rows, 1):
        where = f"{name}:{line} (record {k})"
        if not isinstance(row, dict) or not isinstance(row.get("input"), str):
            raise PolarisError(f"{where}: not {WHAT} record (no 'input' prompt)")
        prediction = row.get("prediction")
        if not isinstance(prediction, str):
            raise PolarisError(f"{where}: record without a response (field 'prediction' is "
                               f"{'missing' if prediction is None else 'not text'})")
        prompt = row["input"]
        cot = prompt.rstrip().endswith(COT_CUE)
        target = row.get("target")
        yield Record(
            file=name, line=line, at=f"record {k}", model=model, task="bbh",
            prompt_format="fewshot-cot" if cot else "fewshot-direct",
            responses=(Response(prediction),), prompt=prompt, group=task,
            target=target if isinstance(target, str) else None,
        )
