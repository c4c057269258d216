"""Import speed: `polaris import` of the 14 PlanBench development files (6,100 records: 12 files of 500
and two LLM-Modulo files of 50) and of the four GSM8K example-solution systems (5,276 records), read,
matched, stored and scored with Polaris's scorers, whole process, into an empty store.

  1. planbench, 14 files          target < 10 s
  2. gsm8k-solutions, 4 systems   target < 10 s
  3. the same import again        (a no-op: every run already imported) reported

The floor, measured in the same run alternating with the imports: a bare Python process that only
parses the same files with `json` (what any importer must do at least).

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_import.py [--repeat 3]
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
sys.path.insert(0, str(ROOT / "bench"))
from bench_core import measure, polaris  # noqa: E402

TARGET = 10.0
FLOOR = """
import json, sys
for name in sys.argv[1:]:
    with open(name) as fh:
        if name.endswith(".jsonl"):
            rows = [json.loads(line) for line in fh]
        else:
            rows = json.load(fh)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="imports per source (the median is reported)")
    args = ap.parse_args()
    data = Path(os.environ.setdefault("POLARIS_DATA_DIR", str(ROOT.parent / "shared" / "datasets")))
    sources = {
        "planbench": ["planbench", *sorted(str(p) for p in (data / "planbench" / "responses").glob("*.json"))],
        "gsm8k-solutions": ["gsm8k-solutions",
                            str(data / "published" / "gsm8k" / "openai_example_model_solutions.jsonl")],
    }
    if not all(len(argv) > 1 and Path(argv[1]).is_file() for argv in sources.values()):
        sys.exit(f"no PlanBench responses or GSM8K solutions under {data}: set POLARIS_DATA_DIR")
    tmp = Path(tempfile.mkdtemp())
    load = os.getloadavg()[0]
    print(f"load average: {load:.2f} at start (2 cores)")
    print(f"{'measure':44s} {'seconds':>8s} {'CPU s':>7s} {'target':>7s}  ok   note")
    for name, argv in sources.items():
        runs, cpu, floors = [], [], []
        for i in range(args.repeat):
            floors.append(measure([sys.executable, "-c", FLOOR, *argv[1:]]).seconds)
            m = polaris("import", *argv, "--store", str(tmp / f"{name}{i}.db"), "--json")
            doc = json.loads(m.stdout)
            runs.append(m.seconds)
            cpu.append(m.cpu)
        records = sum(r["matching"]["records"] for r in doc["runs"])
        matched = sum(r["matching"]["matched"] for r in doc["runs"])
        again = polaris("import", *argv, "--store", str(tmp / f"{name}0.db"), "--json")
        assert {r["status"] for r in json.loads(again.stdout)["runs"]} == {"already imported"}
        med, floor = statistics.median(runs), statistics.median(floors)
        ok = "yes" if med < TARGET else "NO "
        print(f"{f'{name}: {len(argv) - 1} files, {records} records':44s} {med:8.2f} {statistics.median(cpu):7.2f} "
              f"{TARGET:7.1f}  {ok}  {len(doc['runs'])} runs, {matched} matched; runs "
              f"{', '.join(f'{t:.2f}' for t in runs)}; x{med / floor:.1f} the json floor")
        print(f"{'  json.load of the same files (floor)':44s} {floor:8.2f}")
        print(f"{'  the same import again (no-op)':44s} {again.seconds:8.2f} {again.cpu:7.2f}")
    print(f"load average: {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
