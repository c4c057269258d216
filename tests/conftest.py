"""Shared fixtures: the real datasets (skipped when absent), a small data dir, the CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Tables fit $COLUMNS (cli/tables.py). pytest-xdist's workers export COLUMNS=80 and a developer's shell may
# export its own: the CLI in a subprocess sees no terminal width unless a test sets one (the width tests).
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)


def _shared() -> Path | None:
    env = os.environ.get("POLARIS_SHARED_DATA")
    for cand in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "datasets", Path("/work/shared/datasets")]:
        if (cand / "gsm8k" / "test.jsonl").is_file():
            return cand
    return None


SHARED = _shared()


@pytest.fixture
def shared_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real benchmark data (../shared/datasets); the test is skipped when it is absent."""
    if SHARED is None:
        pytest.skip("benchmark data (../shared/datasets) not available")
    monkeypatch.setenv("POLARIS_DATA_DIR", str(SHARED))
    return SHARED


GSM8K_ROWS = [
    ("Tom has 3 apples and buys 4 more. How many apples does he have?", "Tom has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"),
    ("A box holds 12 pens. How many pens are in 3 boxes?", "3 boxes hold 3 * 12 = <<3*12=36>>36 pens.\n#### 36"),
    ("Sara had $1,200 and spent $250. How much is left?", "She has 1200 - 250 = <<1200-250=950>>950 left.\n#### 950"),
    ("It was -2 degrees and got 5 degrees warmer. What is the temperature?", "-2 + 5 = <<-2+5=3>>3.\n#### 3"),
    ("A rope of 10 m is cut into 4 equal parts. How long is each part in metres?", "10 / 4 = <<10/4=2.5>>2.5.\n#### 2.5"),
    ("Ann reads 20 pages a day for 7 days. How many pages?", "20 * 7 = <<20*7=140>>140.\n#### 140"),
]


def write_gsm8k_prompt(root: Path) -> Path:
    """GSM8K's default few-shot prompt where the task reads it (cot_hub_prompts/gsm8k/lib_prompt/
    prompt_original.txt, in the hub's layout): 8 made-up exemplars standing in for Wei et al.'s."""
    path = root / "cot_hub_prompts" / "gsm8k" / "lib_prompt" / "prompt_original.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n\n".join(
        f"Question: Pat has {k} marbles and finds {k + 1} more. How many marbles does Pat have?\n"
        f"Let's think step by step\nPat starts with {k} marbles.\n{k} + {k + 1} = {2 * k + 1}.\n"
        f"The answer is {2 * k + 1}." for k in range(1, 9)) + "\n")
    return path


@pytest.fixture
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir with a six-item GSM8K (test), the same six as train, and a default prompt file."""
    root = tmp_path / "data"
    (root / "gsm8k").mkdir(parents=True)
    for split in ("test", "train"):
        with (root / "gsm8k" / f"{split}.jsonl").open("w") as fh:
            for q, a in GSM8K_ROWS:
                fh.write(json.dumps({"question": q, "answer": a}) + "\n")
    write_gsm8k_prompt(root)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "POLARIS_STORE"))}
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def polaris(*args: str, env: dict[str, str] | None = None, timeout: float = 300, cwd: Path | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real `polaris` command in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "polaris", *args], capture_output=True, text=True,
                          env=env or cli_env(), timeout=timeout, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(f"polaris {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc



def stored_samples(store: Path) -> int:
    """Samples in a store, read as a user's sqlite3 shell would (a plain read-write connection that
    creates the file if polaris has not yet: the case that once left a store whose main file stayed
    empty and lost samples)."""
    import sqlite3

    try:
        return sqlite3.connect(store).execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_at(args: list[str], env: dict[str, str], store: Path, targets: list[int]) -> int:
    """Start the run once per target and SIGKILL it when the store holds that many samples; the number of kills."""
    import signal
    import time

    kills = 0
    for target in targets:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        while proc.poll() is None and stored_samples(store) < target:
            time.sleep(0.005)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    return kills

def answers_for(task_name: str, data_dir: Path | str | None = None, **options) -> dict[str, str]:
    """Question text as the prompts phrase it -> gold answer, for the fake server (from `data_dir` when
    given, else POLARIS_DATA_DIR)."""
    from unittest import mock

    from polaris.tasks.registry import get_task

    env = {"POLARIS_DATA_DIR": str(data_dir)} if data_dir is not None else {}
    with mock.patch.dict(os.environ, env):
        task = get_task(task_name, **options)
        return {task.template_for(it.group).item_text(it): task.scorer.gold(it) for it in task.dataset.load()}


def write_gsm8k(root: Path, n: int) -> Path:
    """A synthetic GSM8K-format data dir with n test items (and 8 train items)."""
    (root / "gsm8k").mkdir(parents=True, exist_ok=True)
    for split, count in (("test", n), ("train", 8)):
        with (root / "gsm8k" / f"{split}.jsonl").open("w") as fh:
            for i in range(count):
                a, b = 3 * i + 1, 7 * i + 2
                fh.write(json.dumps({"question": f"[{split} {i}] What is {a} plus {b}?",
                                     "answer": f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {a + b}"}) + "\n")
    write_gsm8k_prompt(root)
    return root



def pytest_configure(config):
    """`-n N` distributes like `--dist loadgroup`: tests marked `xdist_group` share one worker (the Ray
    tests share one Ray instance); all others are spread as with the default `--dist load`."""
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"
