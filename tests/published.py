"""Replaying published model outputs through Polaris's scoring (tests/test_published.py and
bench/bench_published.py share this).

The development set `<data>/published/` (see its SOURCE.md) holds real responses with their authors'
verdicts: four GPT-3 systems on the GSM8K test set, each response labelled `is_correct`, and Codex
(code-davinci-002) on 14 BIG-Bench Hard tasks, CoT and direct, with the paper's per-task accuracy.
Each file is replayed as a stored run would be judged: the response becomes sample 0 of its item
(matched by question text), `runner.judge.judge` extracts, scores and assigns outcomes, and
`runner.summary.summarize` gives the accuracies. (`polaris import`, issue 13, will read these files
into a store; this module is the stopgap the tests need meanwhile.)

The BBH files carry no per-item verdicts, only the accuracy; the paper's rule is reconstructed as
`source_bbh`: the text after the last "So the answer is " (CoT) or the whole prediction (direct),
stripped of one final full stop, equal to the target. It reproduces the published accuracy of all 28
files exactly (the test checks this), so its per-item verdicts stand in for the paper's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GSM8K_SYSTEMS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")
# Published accuracies (published/SOURCE.md, from openai/grade-school-math's README).
GSM8K_PUBLISHED = {"6b_finetuning": 21.68, "6b_verification": 39.04, "175b_finetuning": 34.72,
                   "175b_verification": 56.25}
SUFFIX = "_few_shot_template_0-255000"


@dataclass
class Replay:
    name: str  # "gsm8k/6b_finetuning", "bbh/cot/boolean_expressions"
    task: str  # the Polaris task
    prompt: str  # the prompt format the outputs were made with
    items: list[Any]  # polaris Items, in file order
    responses: list[str]
    source: list[bool]  # the source's verdict per item
    published: float  # the published accuracy, percent


def gsm8k(root: Path) -> list[Replay]:
    from polaris.tasks.registry import get_task

    items = {it.question: it for it in get_task("gsm8k").dataset.load()}
    rows = [json.loads(line) for line in (root / "published/gsm8k/openai_example_model_solutions.jsonl").open()]
    matched = [(items[r["question"].strip()], r) for r in rows]
    return [Replay(f"gsm8k/{system}", "gsm8k", "fewshot-cot", [it for it, _ in matched],
                   [r[system]["solution"] for _, r in matched], [bool(r[system]["is_correct"]) for _, r in matched],
                   GSM8K_PUBLISHED[system]) for system in GSM8K_SYSTEMS]


def source_bbh(prediction: str, target: str, mode: str) -> bool:
    """The BBH paper's verdict, reconstructed (see the module docstring)."""
    said = prediction.split("So the answer is ")[-1] if mode == "cot" else prediction
    said = said.strip()
    return (said[:-1] if said.endswith(".") else said) == target


def _question(prompt: str) -> str:
    """The test question of a 3-shot BBH prompt: the input after the last "Q: ", before its "A:"."""
    return prompt.rsplit("\n\nQ: ", 1)[1].rsplit("\nA:", 1)[0]


def bbh(root: Path) -> list[Replay]:
    from polaris.tasks.registry import get_task

    out = []
    for mode in ("cot", "direct"):
        for path in sorted((root / "published/bbh" / mode).glob(f"*{SUFFIX}.json")):
            name = path.name[: -len(SUFFIX + ".json")]
            items = list(get_task(f"bbh/{name}").dataset.load())
            raw = json.loads((root / "bbh/data" / f"{name}.json").read_text())["examples"]
            by_input = {row["input"]: it for row, it in zip(raw, items)}
            outputs = json.loads(path.read_text())["outputs"]
            matched = [(by_input[_question(o["input"])], o) for o in outputs]
            metrics = json.loads(path.with_name(path.stem + "_eval_metrics.jsonl").read_text().splitlines()[0])
            out.append(Replay(f"bbh/{mode}/{name}", f"bbh/{name}", "fewshot-cot" if mode == "cot" else "fewshot-direct",
                              [it for it, _ in matched], [o["prediction"] for _, o in matched],
                              [source_bbh(o["prediction"], o["target"].strip(), mode) for _, o in matched],
                              float(metrics["accuracy"])))
    return out


def replays(root: Path) -> list[Replay]:
    return gsm8k(root) + bbh(root)


def score(replay: Replay) -> tuple[list[Any], dict[str, Any]]:
    """The replayed file judged as a run: (item results, summary)."""
    from polaris.runner.cell import CellSpec
    from polaris.runner.judge import judge
    from polaris.runner.solvers import Outputs
    from polaris.runner.summary import summarize
    from polaris.store.store import SampleRow
    from polaris.tasks.registry import get_task

    task = get_task(replay.task)
    spec = CellSpec("published/replay", replay.task, prompt=replay.prompt)
    outputs = [Outputs([SampleRow(0, text, None, None, None, None)], f"replay/{i}")
               for i, text in enumerate(replay.responses)]
    rows = judge(task, spec, replay.items, outputs)
    return rows, summarize(rows, headline=task.headline)


def differences(replay: Replay, rows: list[Any]) -> dict[str, dict[str, Any]]:
    """Items where Polaris's verdict and the source's differ: item id -> both verdicts and answers."""
    out = {}
    for row, src, text in zip(rows, replay.source, replay.responses):
        mine = (row.correct or 0.0) >= 1.0
        if mine != src:
            out[row.item] = {"source": src, "polaris": mine, "answer": row.answer,
                             "outcome": row.data.get("outcome"), "ending": text[-120:]}
    return out
