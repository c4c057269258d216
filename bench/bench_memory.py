"""Peak memory of a sampled run as K (samples per item) and the number of items grow.

Each configuration is a fresh `polaris run` of a synthetic GSM8K (zero-shot CoT, T = 0.7) against
tests/fakeserver.py, whose samples are right with probability 0.3 and otherwise one of a few wrong
answers, each about 900 characters of "reasoning" long (a realistic chain of thought). The polaris
process is a subprocess: its own peak RSS (wait4's ru_maxrss, what resource.getrusage reports for
it) is printed with the ratio against a floor measured in the same run:

  floor        32 items, K = 1 (greedy): what polaris itself costs with nothing sampled
  K sweep      32 items, --concurrency 4, K = 16, 128, 1024
  item sweep   K = 64, --concurrency 4, 100, 1000 and 3000 items (each also greedy, K = 1)
  then, on the K = 1024 store: `polaris rescore` (judges again from the stored samples) and
  `polaris report` (reads every run back)

With bounded judging, memory grows with concurrency x K (the samples of the items in flight) and by
a small amount per item, not with items x K x text. Each line also prints a fingerprint of what was
stored (every result row, the request hash left out since it names the server's port) and of the
summary (volatile fields left out), so runs of two versions of Polaris can be checked to give
identical results: `--save FILE` writes them, `--against FILE` compares.

    python bench/bench_memory.py [--quick] [--save out.json] [--against out.json] [--src OTHER/src]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from bench_core import ROOT, measure  # noqa: E402
from fakeserver import FakeOpenAI, Policy  # noqa: E402

CONCURRENCY = 4
REASONING = "".join(f"Step {i}: we look at the numbers again and keep track of what they mean so far.\n"
                    for i in range(11))  # ~900 characters, as a model's chain of thought
TEMPLATE = REASONING + "The answer is {answer}."
VOLATILE = ("seconds", "latency", "run")  # wall-clock figures; `run` lists endpoints (the port)


def write_data(root: Path, n: int) -> dict[str, str]:
    """A GSM8K-format data dir with n test items; returns question text as prompted -> gold answer."""
    (root / "gsm8k").mkdir(parents=True, exist_ok=True)
    for split, count in (("test", n), ("train", 8)):
        with (root / "gsm8k" / f"{split}.jsonl").open("w") as fh:
            for i in range(count):
                a, b = 3 * i + 1, 7 * i + 2
                q = f"[{split} {i}] What is {a} plus {b}?"
                fh.write(json.dumps({"question": q, "answer": f"{a} + {b} = {a + b}\n#### {a + b}"}) + "\n")
    prompt = root / "cot_hub_prompts" / "gsm8k" / "lib_prompt" / "prompt_original.txt"  # the default exemplars
    prompt.parent.mkdir(parents=True, exist_ok=True)
    prompt.write_text("\n\n".join(f"Question: What is {k} plus {k}?\nLet's think step by step\n{k} + {k} = {2 * k}."
                                   f"\nThe answer is {2 * k}." for k in range(1, 9)) + "\n")
    os.environ["POLARIS_DATA_DIR"] = str(root)
    from polaris.tasks.registry import get_task

    task = get_task("gsm8k")
    return {task.template_for(it.group).item_text(it): task.scorer.gold(it) for it in task.dataset.load()}


def fingerprint_rows(store: Path) -> str:
    """sha256 of every stored result row (request hash left out), in item order."""
    h = hashlib.sha256()
    con = sqlite3.connect(store)
    for row in con.execute("SELECT item, idx, grp, correct, strict, extracted, error, answer, gold, data"
                           " FROM results ORDER BY idx"):
        data = json.loads(row[-1])
        data.pop("request", None)
        h.update(json.dumps([*row[:-1], data], sort_keys=True).encode())
    con.close()
    return h.hexdigest()[:16]


def fingerprint_summary(summary: dict) -> str:
    kept = {k: v for k, v in summary.items() if k not in VOLATILE}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


SRC = ROOT / "src"  # --src: another checkout's src/ (an older Polaris, for a side-by-side table)


def polaris(*args: str, data: Path):
    env = dict(os.environ, PYTHONPATH=str(SRC), POLARIS_DATA_DIR=str(data))
    return measure([sys.executable, "-m", "polaris", *args], env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="K up to 128 and 100/300 items (a smoke test)")
    ap.add_argument("--save", type=Path, help="write the measurements and fingerprints here (JSON)")
    ap.add_argument("--against", type=Path, help="compare fingerprints with a file written by --save")
    ap.add_argument("--src", type=Path, help="run the polaris of this src/ directory (default: this checkout's)")
    args = ap.parse_args()
    global SRC
    SRC = args.src.resolve() if args.src else SRC
    tmp = Path(tempfile.mkdtemp())
    print(f"polaris from {SRC}; load average {os.getloadavg()[0]:.1f}")
    ks = (16, 128) if args.quick else (16, 128, 1024)
    sizes = (100, 300) if args.quick else (100, 1000, 3000)
    # Each item count greedy (K = 1) too: what the items cost by themselves (dataset, prompts, records).
    configs = [("floor", 32, 1)] + [("K sweep", 32, k) for k in ks] + [("item sweep", n, k) for n in sizes
                                                                        for k in (1, 64)]
    out: dict[str, dict] = {}
    biggest = None
    print(f"{'sweep':10s} {'items':>6s} {'K':>5s} {'samples':>8s} {'seconds':>8s} {'CPU s':>6s} {'peak MiB':>9s}"
          f" {'ratio':>6s}  {'accuracy':>8s}  rows fingerprint  summary fingerprint")
    floor = None
    for sweep, n, k in configs:
        data = tmp / f"data{n}"
        answers = write_data(data, n)
        policy = Policy(answers=answers, template=TEMPLATE, p_correct=0.3, keep_bodies=False)
        store = tmp / f"{n}x{k}.db"
        with FakeOpenAI(policy) as server:
            m = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--task", "gsm8k",
                        "--prompt", "zeroshot-cot", "--samples", str(k), "--temperature", "0.7",
                        "--concurrency", str(CONCURRENCY), "--store", str(store), "--json", "--no-progress",
                        data=data)
        summary = json.loads(m.stdout)["results"][0]
        floor = floor or m.rss_mib
        key = f"{n}x{k}"
        out[key] = {"seconds": round(m.seconds, 1), "cpu": round(m.cpu, 1), "rss_mib": round(m.rss_mib, 1),
                    "ratio": round(m.rss_mib / floor, 2), "accuracy": summary["accuracy"],
                    "rows": fingerprint_rows(store), "summary": fingerprint_summary(summary)}
        print(f"{sweep:10s} {n:6d} {k:5d} {n * k:8d} {m.seconds:8.1f} {m.cpu:6.1f} {m.rss_mib:9.1f}"
              f" {m.rss_mib / floor:6.2f}  {summary['accuracy']:8.4f}  {out[key]['rows']:16s}  {out[key]['summary']}")
        if sweep == "K sweep":
            biggest = (store, data, key)
    assert biggest is not None
    store, data, key = biggest
    m = polaris("rescore", "--store", str(store), "--json", data=data)
    rescored = json.loads(m.stdout)["results"][0]
    out["rescore " + key] = {"seconds": round(m.seconds, 1), "cpu": round(m.cpu, 1), "rss_mib": round(m.rss_mib, 1),
                             "rows": fingerprint_rows(store), "accuracy": rescored["accuracy"]}
    print(f"rescore of {key}: {m.seconds:.1f} s ({m.cpu:.1f} s CPU), peak {m.rss_mib:.1f} MiB"
          f" ({m.rss_mib / floor:.2f}x floor), rows {out['rescore ' + key]['rows']} (accuracy {rescored['accuracy']:.4f})")
    m = polaris("report", "--store", str(store), "-o", str(tmp / "report"), data=data)
    out["report " + key] = {"seconds": round(m.seconds, 1), "cpu": round(m.cpu, 1), "rss_mib": round(m.rss_mib, 1)}
    print(f"report of {key}: {m.seconds:.1f} s ({m.cpu:.1f} s CPU), peak {m.rss_mib:.1f} MiB"
          f" ({m.rss_mib / floor:.2f}x floor)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if args.save:
        args.save.write_text(json.dumps(out, indent=1))
    if args.against:
        ref = json.loads(args.against.read_text())
        same = [k for k in out if k in ref
                and all(out[k].get(f) == ref[k].get(f) for f in ("rows", "summary", "accuracy"))]
        diff = [k for k in out if k in ref and k not in same]
        print(f"identical to {args.against}: {len(same)} of {len(same) + len(diff)}"
              + (f"; DIFFERENT: {diff}" if diff else ""))


if __name__ == "__main__":
    main()
