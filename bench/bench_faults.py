"""The headline promises under attack, on full GSM8K (1319 items, 8-shot CoT), with the default settings:

  faults   a server with 5% HTTP 500, 5% 429, 2% garbage (1% malformed JSON, 1% malformed responses of
           the other kinds) and 1% hung requests (no answer for 10 minutes): the accuracy must equal a
           clean run's exactly, with 0 errors; the time shows how fast hangs are caught (-M stall-timeout=30)
  kills    three SIGKILLs at random moments, then a resume: requests sent more than once must be at most
           the requests in flight at each kill (--concurrency)
  two      two identical runs at once on one store: every request sent exactly once (store leases)

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_faults.py
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
from conftest import answers_for  # noqa: E402
from fakeserver import FakeOpenAI, Policy  # noqa: E402

N_ITEMS = 1319
CONCURRENCY = 32  # the default
FAULTS = {"500": 0.05, "429": 0.05, "malformed": 0.01, "null_content": 0.0025, "deep": 0.0025,
          "bad_status": 0.0025, "number": 0.0025, "hang": 0.01}


def _cmd(url: str, store: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--base-url", url, "--task", "gsm8k",
            "--prompt", "fewshot-cot", "--json", "--no-progress", "--store", str(store), *extra]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def _run(url: str, store: Path, *extra: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    proc = subprocess.run(_cmd(url, store, *extra), env=_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"polaris failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)["results"][0], seconds


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.Error:
        return 0


def _answers(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT item, correct, answer FROM results ORDER BY idx").fetchall()


def _sent(server: FakeOpenAI) -> Counter[str]:
    return Counter(json.dumps(b.get("messages"), sort_keys=True) for b in server.bodies)


def main() -> None:
    if not os.environ.get("POLARIS_DATA_DIR"):
        os.environ["POLARIS_DATA_DIR"] = str(ROOT.parent / "shared" / "datasets")
    tmp = Path(tempfile.mkdtemp())
    answers = answers_for("gsm8k")
    rows = []
    with FakeOpenAI(Policy(answers=answers, wrong_every=4)) as clean:
        ref, t_clean = _run(clean.base_url, tmp / "clean.db")
    rows.append(("clean server", t_clean, f"accuracy {ref['accuracy']:.4f}, {ref['requests_sent']} requests"))

    with FakeOpenAI(Policy(answers=answers, wrong_every=4, faults=FAULTS, hang_seconds=600)) as flaky:
        res, t_flaky = _run(flaky.base_url, tmp / "flaky.db")
        served = dict(flaky.faults_served)
    same = _answers(tmp / "flaky.db") == _answers(tmp / "clean.db")
    rows.append(("faults (defaults: -M timeout=600, -M stall-timeout=30)", t_flaky,
                 f"accuracy {res['accuracy']:.4f} (clean {ref['accuracy']:.4f}), items identical: {same}, errors"
                 f" {res['errors']}, retries {res['retries']}; served {sum(served.values())} faults"
                 f" ({', '.join(f'{k} {v}' for k, v in sorted(served.items()))})"))
    assert same and res["errors"] == 0 and res["accuracy"] == ref["accuracy"], res

    rng = random.Random(0)
    with FakeOpenAI(Policy(answers=answers, wrong_every=4, latency=0.05)) as server:
        store = tmp / "killed.db"
        repeats = []
        t0 = time.perf_counter()
        for target in sorted(rng.sample(range(100, N_ITEMS - 100), 3)):
            before = _sent(server)
            proc = subprocess.Popen(_cmd(server.base_url, store, "--concurrency", str(CONCURRENCY)), env=_env(),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while proc.poll() is None and _stored(store) < target:
                time.sleep(0.005)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            repeats.append(sum(before.values()))
        res, _ = _run(server.base_url, store, "--concurrency", str(CONCURRENCY))
        t_kill = time.perf_counter() - t0
        sent = _sent(server)
    repeated = sum(sent.values()) - len(sent)
    same = [(i, c) for i, c, _ in _answers(store)] == [(i, c) for i, c, _ in _answers(tmp / "clean.db")]
    rows.append(("three SIGKILLs, then a resume", t_kill,
                 f"requests sent twice: {repeated} (at most {3 * CONCURRENCY} = 3 kills x {CONCURRENCY} in flight),"
                 f" items identical: {same}, errors {res['errors']}"))
    assert repeated <= 3 * CONCURRENCY and same and res["errors"] == 0

    with FakeOpenAI(Policy(answers=answers, wrong_every=4, latency=0.05)) as server:
        store = tmp / "two.db"
        t0 = time.perf_counter()
        procs = [subprocess.Popen(_cmd(server.base_url, store), env=_env(), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate() for p in procs]
        t_two = time.perf_counter() - t0
        sent = _sent(server)
    a, b = (json.loads(o)["results"][0] for o, _ in outs)
    rows.append(("two identical runs at once on one store", t_two,
                 f"requests {sum(sent.values())} for {len(sent)} distinct (sent twice: {sum(sent.values()) - len(sent)});"
                 f" split {a['requests_sent']} + {b['requests_sent']}; accuracies {a['accuracy']:.4f} / {b['accuracy']:.4f}"))
    assert sum(sent.values()) == len(sent) == N_ITEMS

    print(f"{'full GSM8K, 1319 items, 8-shot CoT':52s} {'seconds':>8s}  result")
    for name, seconds, note in rows:
        print(f"{name:52s} {seconds:8.1f}  {note}")


if __name__ == "__main__":
    main()
