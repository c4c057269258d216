"""Published outputs of real models replayed through Polaris's scoring: per file, the published accuracy,
Polaris's flexible and strict accuracy, the items where Polaris and the source disagree, the outcomes,
and the time to judge the file.

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_published.py [--src DIR] [--json]

`--src DIR` replays with another checkout's `src/` (e.g. `--src /work/main/src` for the rules before
issue 15), which gives the "before" column of BENCHMARKS.md. The replay itself is tests/published.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the polaris sources to replay with")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    sys.path.insert(0, str(ROOT / "tests"))
    data = Path(os.environ.setdefault("POLARIS_DATA_DIR", str(ROOT.parent / "shared" / "datasets")))
    import published  # noqa: E402  (tests/published.py, after the path is set)

    rows_out = []
    started = time.perf_counter()
    for replay in published.replays(data):
        t0 = time.perf_counter()
        rows, summary = published.score(replay)
        seconds = time.perf_counter() - t0
        diffs = published.differences(replay, rows)
        outcomes = summary.get("outcomes") or {}
        rows_out.append({
            "file": replay.name, "items": len(rows), "published": replay.published,
            "flexible": round(100 * summary["accuracy"], 2), "strict": round(100 * summary["strict_accuracy"], 2),
            "delta": round(100 * summary["accuracy"] - replay.published, 2), "differences": len(diffs),
            "outcomes": {k: v for k, v in outcomes.items() if v and k not in ("correct", "wrong")},
            "seconds": round(seconds, 3),
        })
    total = time.perf_counter() - started
    if args.json:
        json.dump({"src": str(args.src), "files": rows_out, "seconds": round(total, 2)}, sys.stdout, indent=2)
        print()
        return
    print(f"src: {args.src}  load avg {os.getloadavg()[0]:.1f}")
    print(f"{'file':52} {'items':>5} {'published':>9} {'flexible':>8} {'delta':>6} {'strict':>6} {'differ':>6}  outcomes")
    for r in rows_out:
        outs = ", ".join(f"{k} {v}" for k, v in r["outcomes"].items()) or "-"
        print(f"{r['file']:52} {r['items']:>5} {r['published']:>9.2f} {r['flexible']:>8.2f} {r['delta']:>+6.2f}"
              f" {r['strict']:>6.2f} {r['differences']:>6}  {outs}")
    worst = max(abs(r["delta"]) for r in rows_out)
    items = sum(r["items"] for r in rows_out)
    print(f"{len(rows_out)} files, {items} responses judged in {total:.2f} s ({items / total:.0f}/s);"
          f" largest |delta| {worst:.2f} points; {sum(r['differences'] for r in rows_out)} items differ from the source")


if __name__ == "__main__":
    main()
