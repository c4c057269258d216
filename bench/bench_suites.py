"""Suite speed and memory: the full MMLU (14042 items, fewshot-direct, 64 in flight) against an instant
local OpenAI-compatible server, whole-process (start-up, data loading, prompt rendering, judging and
summary included), beside a floor measured in the same run.

  1. full MMLU run, empty store          target <= 15 s; floor: a bare aiohttp client sending the
                                         same request bodies with the same concurrency to the same server,
                                         alternating with the runs
  2. fully cached re-run (0 requests)    reported, no target
  3. peak resident memory of the run     reported (the core target for GSM8K is 150 MiB)

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_suites.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
from bench_core import bare_aiohttp_floor, polaris, request_bodies, start_server  # noqa: E402
N_ITEMS = 14042
CONCURRENCY = 64
TARGET = 15.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="cold runs (the median is reported)")
    args = ap.parse_args()
    if not os.environ.get("POLARIS_DATA_DIR"):
        os.environ["POLARIS_DATA_DIR"] = str(ROOT.parent / "shared" / "datasets")
    tmp = Path(tempfile.mkdtemp())
    load = os.getloadavg()[0]
    server, url = start_server(fixed="The answer is (A).")
    try:
        bodies = request_bodies("mmlu", "fewshot-direct")
        assert len(bodies) == N_ITEMS, len(bodies)
        base = ["run", "-m", "openai/fake", "--base-url", url, "--task", "mmlu", "--prompt", "fewshot-direct",
                "--concurrency", str(CONCURRENCY), "--json", "--no-progress"]
        floors, cold, cpu, rss = [], [], [], []
        # Floor and run alternate, so that both see the same (shared, changing) machine load.
        for i in range(args.repeat):
            floors.append(bare_aiohttp_floor(url, bodies))
            m = polaris(*base, "--store", str(tmp / f"cold{i}.db"))
            t, c, peak = m.seconds, m.cpu, m.rss_mib
            res = json.loads(m.stdout)["results"][0]
            assert res["n"] == N_ITEMS and res["errors"] == 0, res
            # MMLU repeats a few prompts verbatim: those are served from the store within the run.
            assert res["requests_sent"] + res["cached"] == N_ITEMS, res
            cold.append(t)
            cpu.append(c)
            rss.append(peak)
        m = polaris(*base, "--store", str(tmp / "cold0.db"))
        warm, warm_cpu = m.seconds, m.cpu
        assert json.loads(m.stdout)["results"][0]["requests_sent"] == 0
    finally:
        server.terminate()
        server.wait()
    med, floor = statistics.median(cold), statistics.median(floors)
    print(f"load average: {load:.2f} at start, {os.getloadavg()[0]:.2f} at end (2 cores)")
    print(f"{'measure':44s} {'seconds':>8s} {'target':>8s}  ok   note")
    print(f"{f'full MMLU run, instant server (median of {len(cold)})':44s} {med:8.2f} {TARGET:8.2f}  "
          f"{'yes' if med <= TARGET else 'NO ':3s}  runs {', '.join(f'{t:.2f}' for t in cold)}; "
          f"CPU {statistics.median(cpu):.2f} s")
    print(f"{'  bare aiohttp floor, same bodies (median)':44s} {floor:8.2f} {'-':>8s}       "
          f"runs {', '.join(f'{t:.2f}' for t in floors)}; polaris/floor x{med / floor:.2f}")
    print(f"{'fully cached re-run, 0 requests':44s} {warm:8.2f} {'-':>8s}       CPU {warm_cpu:.2f} s")
    print(f"{'peak RSS of the polaris process (MiB)':44s} {max(rss):8.1f}")

if __name__ == "__main__":
    main()
