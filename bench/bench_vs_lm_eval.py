"""Polaris against lm-evaluation-harness on the same local server and the same GSM8K work.

Both evaluate the 1319 GSM8K test questions, 8-shot chain of thought, as chat (exemplars as turns),
64 requests in flight, against the same fake OpenAI-compatible server (tests/fakeserver.py, instant,
always "The answer is 42."), and both are timed whole-process, start-up included (median of 3):

  polaris run -m openai/fake --task gsm8k --prompt fewshot-cot --concurrency 64
  lm_eval --model local-chat-completions --tasks gsm8k_cot (data files from the same directory)
          --apply_chat_template --fewshot_as_multiturn, num_concurrent=64

lm-eval 0.4.13 lives in its own venv under bench/out/ (made on first use: the local CPU torch wheel
first, then `lm-eval[api]==0.4.13`); its gsm8k_cot task reads the same jsonl files through a task
file that only swaps the Hub dataset for them. Both must report the same accuracy (6/1319).

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_vs_lm_eval.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import CONCURRENCY, N_ITEMS, ROOT, measure, start_server  # noqa: E402

OUT = ROOT / "bench" / "out"
VENV = OUT / "lm-eval-venv"
LM_EVAL = "lm-eval[api]==0.4.13"


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not (VENV / "bin" / "lm_eval").exists():
        print(f"creating {VENV} (torch CPU wheel, then {LM_EVAL}) ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "torch==2.13.0"], check=True)  # the local CPU wheel; other specs pull CUDA
        subprocess.run([*pip, LM_EVAL], check=True)
    return VENV / "bin" / "lm_eval"


def task_dir(data: Path) -> Path:
    """lm-eval's own gsm8k_cot task, reading the local files instead of the Hub."""
    site = next((VENV / "lib").glob("python3*/site-packages"))
    d = OUT / "lm-eval-task"
    d.mkdir(parents=True, exist_ok=True)
    (d / "gsm8k_cot_local.yaml").write_text(
        f"include: {site / 'lm_eval/tasks/gsm8k/gsm8k-cot.yaml'}\n"
        "task: gsm8k_cot_local\ntag: []\ndataset_path: json\ndataset_name: null\n"
        "dataset_kwargs:\n  data_files:\n"
        f"    test: {data / 'gsm8k/test.jsonl'}\n    train: {data / 'gsm8k/train.jsonl'}\n"
    )
    return d


def main() -> None:
    data = Path(os.environ.get("POLARIS_DATA_DIR") or ROOT.parent / "shared" / "datasets").resolve()
    lm_eval = ensure_venv()
    tasks = task_dir(data)
    tmp = OUT / "vs-lm-eval"
    tmp.mkdir(parents=True, exist_ok=True)
    server, url = start_server(0.0)
    try:
        penv = dict(os.environ, PYTHONPATH=str(ROOT / "src"), POLARIS_DATA_DIR=str(data))
        polaris_runs = []
        for i in range(3):
            store = tmp / f"polaris{i}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)
            m = measure(
                [sys.executable, "-m", "polaris", "run", "-m", "openai/fake", "--base-url", url, "--task", "gsm8k",
                 "--prompt", "fewshot-cot", "--concurrency", str(CONCURRENCY), "--json", "--no-progress",
                 "--store", str(store)], penv)
            res = json.loads(m.stdout)["results"][0]
            assert res["requests_sent"] == N_ITEMS, res
            polaris_runs.append((m.seconds, m.rss_mib, res["accuracy"]))
        lenv = dict(os.environ, HF_HOME=str(OUT / "hf-home"), HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1",
                    TOKENIZERS_PARALLELISM="false")
        lenv.pop("PYTHONPATH", None)
        lm_runs = []
        for i in range(3):
            m = measure(
                [str(lm_eval), "--model", "local-chat-completions", "--model_args",
                 f"model=fake,base_url={url}/chat/completions,num_concurrent={CONCURRENCY},max_retries=3",
                 "--tasks", "gsm8k_cot_local", "--include_path", str(tasks), "--apply_chat_template",
                 "--fewshot_as_multiturn", "--output_path", str(tmp / f"lm-eval{i}")], lenv)
            row = next(line for line in m.stdout.splitlines() if "flexible-extract" in line)
            lm_runs.append((m.seconds, m.rss_mib, float(row.split("|")[7])))
    finally:
        server.terminate()
    p = sorted(polaris_runs)[1]
    lm = sorted(lm_runs)[1]
    print(f"{'whole process, 1319 GSM8K 8-shot CoT, 64 in flight':52s} {'seconds':>8s} {'peak MiB':>9s} {'accuracy':>9s}")
    print(f"{'polaris (median of 3)':52s} {p[0]:8.2f} {p[1]:9.0f} {p[2]:9.4f}   runs: "
          + ", ".join(f"{r[0]:.2f}" for r in polaris_runs))
    print(f"{'lm-eval 0.4.13 local-chat-completions (median of 3)':52s} {lm[0]:8.2f} {lm[1]:9.0f} {lm[2]:9.4f}   runs: "
          + ", ".join(f"{r[0]:.2f}" for r in lm_runs))
    print(f"lm-eval / polaris: x{lm[0] / p[0]:.1f} time, x{lm[1] / p[1]:.1f} memory")


if __name__ == "__main__":
    main()
