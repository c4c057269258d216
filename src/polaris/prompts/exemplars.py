"""Which solved examples a few-shot prompt shows.

`--exemplars` takes `default` (the task's own), `complex` (the k training examples with the most
reasoning steps, Fu et al. 2023: a step is a line), `random` (k drawn with `--seed`, in the drawn
order), `shuffle` (the default ones in an order drawn with `--seed`: for exemplar sensitivity on
tasks without a training pool), or a prompt
file in the Chain-of-Thought Hub layout (`Question: ...` / `Let's think step by step` / steps /
`The answer is N`, examples separated by blank lines).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path

from polaris.errors import PolarisError
from polaris.tasks.base import Exemplar, Task
from polaris.tasks.data import read_text

STRATEGIES = ("default", "complex", "random", "shuffle")
_ANSWER = re.compile(r"^\s*(?:so\s+)?the answer is\s*:?\s*(.+?)\s*\.?\s*$", re.IGNORECASE)
_QUESTION = re.compile(r"^\s*(?:Question|Q)\s*:\s*", re.IGNORECASE)
_TRIGGER = re.compile(r"^\s*(?:A:\s*)?let'?s think step by step\.?\s*$", re.IGNORECASE)


def steps(rationale: str) -> int:
    """Reasoning steps as Fu et al. count them: non-empty lines."""
    return sum(1 for line in rationale.splitlines() if line.strip())


def parse_hub_file(path: Path) -> list[Exemplar]:
    """Exemplars from a CoT Hub prompt file; a block that does not parse is a located error."""
    text = read_text(path).replace("\r\n", "\n")
    out = []
    line_no = 1
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.split("\n")
        start = line_no
        line_no += len(lines) + 1
        if not _QUESTION.match(lines[0]):
            raise PolarisError(f"{path}:{start}: an exemplar must start with 'Question:' or 'Q:'")
        answer_at = next((i for i in range(len(lines) - 1, 0, -1) if _ANSWER.match(lines[i])), None)
        if answer_at is None:
            raise PolarisError(f"{path}:{start}: exemplar has no 'The answer is ...' line")
        body = lines[1:answer_at]
        trig = next((i for i, ln in enumerate(body) if _TRIGGER.match(ln)), None)
        q_lines = [_QUESTION.sub("", lines[0], count=1)] + (body[:trig] if trig is not None else [])
        rationale = body[trig + 1 :] if trig is not None else body
        answer = _ANSWER.match(lines[answer_at]).group(1).strip()  # type: ignore[union-attr]
        answer = answer.lstrip("$").rstrip(".")
        out.append(
            Exemplar(f"{path.name}#{len(out)}", "\n".join(q_lines).strip(), "\n".join(rationale).strip(), answer)
        )
    if not out:
        raise PolarisError(f"{path}: no exemplars found")
    return out


def select(task: Task, group: str, strategy: str, seed: int = 0, cot: bool = True) -> list[Exemplar]:
    """The exemplars for one group of a task under an `--exemplars` strategy: as many as the task's own."""
    default = list(task.dataset.shots(group, cot))
    k = len(default)
    if strategy == "default":
        return default
    if strategy == "shuffle":
        random.Random(f"{task.name}/{group}/{seed}/shuffle").shuffle(default)
        return default
    if strategy in ("complex", "random"):
        if task.dataset.pool is None:
            raise PolarisError(f"task '{task.name}' has no training pool for --exemplars {strategy}")
        pool: Sequence[Exemplar] = task.dataset.pool(group)
        if strategy == "complex":
            # Most steps first; dataset order breaks ties so the choice is reproducible.
            ranked = sorted(range(len(pool)), key=lambda i: (-steps(pool[i].rationale), i))
            return [pool[i] for i in ranked[:k]]
        return random.Random(f"{task.name}/{group}/{seed}").sample(list(pool), min(k, len(pool)))
    path = Path(strategy)
    if not path.is_file():
        raise PolarisError(
            f"--exemplars '{strategy}' is neither {', '.join(STRATEGIES)} nor an existing prompt file"
        )
    return parse_hub_file(path)
