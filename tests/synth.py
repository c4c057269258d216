"""Synthetic data and model families for the analysis tests: a small MMLU subject and a GSM8K-format file
written in a temp dir, a models.yaml for a family of fake sizes, and real runs against the fake server."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from conftest import answers_for, cli_env, polaris, write_gsm8k_prompt
from fakeserver import FakeOpenAI, Policy

SIZES = [1e8, 3e8, 1e9, 3e9, 1e10, 3e10, 1e11]
SUBJECT = "mmlu/abstract_algebra"


def write_mmlu(root: Path, n: int = 200) -> Path:
    """mmlu/<abstract_algebra> with n four-option questions (answers cycle A-D) and 5 dev questions."""
    for split, count in (("test", n), ("dev", 5)):
        (root / "mmlu" / split).mkdir(parents=True, exist_ok=True)
        with (root / "mmlu" / split / f"abstract_algebra_{split}.csv").open("w", newline="") as fh:
            csv.writer(fh).writerows(
                [f"[{split} {i}] Which option is number {i % 4}?", *(f"option {i}-{k}" for k in range(4)), "ABCD"[i % 4]]
                for i in range(count))
    hub = root / "cot_hub_prompts" / "MMLU" / "lib_prompt"
    hub.mkdir(parents=True, exist_ok=True)
    (hub / "mmlu-cot.json").write_text("{}")
    return root


def write_sums(root: Path, n: int = 120) -> Path:
    """A GSM8K-format file whose answers have five or six digits (room for per-digit credit)."""
    (root / "gsm8k").mkdir(parents=True, exist_ok=True)
    for split, count in (("test", n), ("train", 8)):
        with (root / "gsm8k" / f"{split}.jsonl").open("w") as fh:
            for i in range(count):
                a, b = 10007 * (i + 3) % 90000 + 10000, 7919 * (i + 5) % 90000 + 10000
                fh.write(json.dumps({"question": f"[{split} {i}] What is {a} plus {b}?",
                                     "answer": f"{a} + {b} = {a + b}\n#### {a + b}"}) + "\n")
    write_gsm8k_prompt(root)
    return root


def models_yaml(path: Path, family: str, prefix: str, sizes: list[float] = SIZES) -> Path:
    path.write_text("models:\n" + "".join(f"  {prefix}-{i}: {{params: {n:g}, family: {family}}}\n"
                                          for i, n in enumerate(sizes)))
    return path


def logistic(x: float, base: float = 0.25, top: float = 0.95, k: float = 3.0, x0: float = 10.0) -> float:
    return base + (top - base) / (1 + math.exp(-k * (x - x0)))


def run_family(data: Path, store: Path, task: str, policy: Policy, models: list[str], *extra: str) -> list[dict]:
    """One `polaris run` of every model against a fake server with `policy` (answers filled in)."""
    env = cli_env(POLARIS_DATA_DIR=str(data))
    policy.answers = policy.answers or answers_for(task)
    with FakeOpenAI(policy) as srv:
        args = ["run", "--task", task, "--store", str(store), "--base-url", srv.base_url, "--no-progress", "--json",
                *extra]
        for m in models:
            args += ["-m", f"openai/{m}"]
        proc = polaris(*args, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["results"]
