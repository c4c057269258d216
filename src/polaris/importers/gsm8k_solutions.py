"""openai/grade-school-math's `example_model_solutions.jsonl`: the GSM8K test questions, each with the
solutions of several GPT-3 systems and OpenAI's label for each.

Layout, one JSON object per line: `{"question", "ground_truth", "<system>": {"is_correct", "solution"},
...}`; every other key whose value is such an object is a system (`6b_finetuning`, `175b_verification`,
...). Each system becomes its own run (model = the system's key, or `--model` with `{model}` in it).
The systems were fine-tuned to answer the bare question, so the prompt format is `zeroshot-cot` unless
`--prompt` says otherwise; the verification systems picked one of 100 samples with a verifier, which
the provenance records but the strategy name cannot.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from polaris.errors import PolarisError
from polaris.importers.records import ReadOptions, Record, Response, jsonl_lines, text_field, verdict_of

WHAT = "a GSM8K example-solutions"


def read(path: Path, name: str, opts: ReadOptions) -> Iterator[Record]:
    for line, row in jsonl_lines(path, name, WHAT):
        where = f"{name}:{line}"
        question = text_field(row, "question", where, WHAT)
        systems = {k: v for k, v in row.items() if isinstance(v, dict)}
        if not systems:
            raise PolarisError(f"{where}: record without a response (no system with a 'solution')")
        gold = row.get("ground_truth")
        target = gold.rsplit("A:", 1)[-1].strip() if isinstance(gold, str) and "A:" in gold else None
        for system, sol in sorted(systems.items()):
            text = sol.get("solution")
            if not isinstance(text, str):
                raise PolarisError(f"{where}: record without a response (field '{system}.solution' is "
                                   f"{'missing' if text is None else 'not text'})")
            verdict = verdict_of(sol.get("is_correct"))
            yield Record(
                file=name, line=line, model=system, task="gsm8k", prompt_format="zeroshot-cot",
                responses=(Response(text, verdict=verdict),), question=question, target=target,
                verdict=verdict,
            )
