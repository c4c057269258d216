"""Sample viewer latency on a store of 100,000 samples.

Builds the store with bulk inserts (18 greedy runs x 5,000 items and one self-consistency run of
1,000 items x 10 samples: 100,000 samples, 91,000 item results, a CoT-length response each), starts
the real `polaris view` in a subprocess and times API calls over one kept-alive HTTP connection:
the first page, a page deep in the store, every filter (the rare ones read the most rows), an empty
result (every row of a model's runs is read), item details. Floors measured in the same run: the
round trip of a request that touches no database (/favicon.ico), and the page's SQL run directly.

    PYTHONPATH=src python bench/bench_viewer.py [--keep DIR] [--repeat 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MODELS = ["openai/model-a", "openai/model-b", "openai/model-c"]
CELLS = [("gsm8k", "fewshot-cot"), ("gsm8k", "zeroshot-cot"), ("gsm8k", "fewshot-direct"), ("math", "fewshot-cot"),
         ("math", "zeroshot-cot"), ("bbh", "fewshot-cot")]
ITEMS = 5000
SC_ITEMS, SC_K = 1000, 10
RESPONSE = ("Let's think step by step. " + "We add the numbers one at a time and keep track of the carry. " * 8
            + "\nThe answer is {answer}.")


def build(path: Path) -> dict[str, int]:
    """The store, written the way `polaris run` lays it out, in a few bulk transactions."""
    from polaris.store.store import Store

    Store(path).close()  # schema, meta, WAL
    rng = random.Random(0)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    now = time.time()
    counts = {"runs": 0, "results": 0, "samples": 0}
    specs = [(m, t, p, 1) for m in MODELS for t, p in CELLS] + [(MODELS[0], "gsm8k", "fewshot-cot", SC_K)]
    db.execute("BEGIN")
    for n_run, (model, task, prompt, k) in enumerate(specs):
        run = f"{n_run:04d}" + "%012x" % rng.getrandbits(48)
        strategy = "greedy" if k == 1 else f"sc{k}@t0.7"
        spec = {"model": model, "task": task, "prompt": prompt, "samples": k, "temperature": 0.7 if k > 1 else 0.0}
        db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?)",
                   (run, f"{model}/{task}/{prompt}/{strategy}", json.dumps(spec),
                    json.dumps({"strategy": strategy, "prompt": prompt}), now, now))
        n_items = ITEMS if k == 1 else SC_ITEMS
        requests, samples, calls, results = [], [], [], []
        for i in range(n_items):
            h = f"{run}-{i:06d}"
            gold = str(rng.randrange(1000))
            body = json.dumps({"model": model, "kind": "chat", "decoding": {"temperature": 0.0, "max_tokens": 1024},
                               "messages": [{"role": "user", "content": f"Question {i}: what is {gold} + 0?"}]})
            requests.append((h, model, None, "chat", body, now))
            calls.append((h, run, 0, k, 1, None, 1, 0.5, None, now))
            recs = []
            for j in range(k):
                right = rng.random() < 0.6
                extracted = rng.random() < 0.98
                answer = (gold if right else str(rng.randrange(1000))) if extracted else None
                strict = answer if rng.random() < 0.95 else None
                finish = "stop" if extracted or rng.random() < 0.5 else "length"  # half the unanswered were cut
                outcome = ("correct" if answer == gold else "wrong") if extracted else (
                    "truncated" if finish == "length" else "no-answer")
                samples.append((h, j, RESPONSE.format(answer=answer or "unclear"), finish, None, 180, None, None))
                recs.append({"idx": j, "answer": answer, "strict": strict, "correct": float(answer == gold),
                             "strict_correct": float(strict == gold), "vote": 0 if answer else None, "steps": 9,
                             "finish": finish, "tokens": 180, "outcome": outcome})
            first = recs[0]
            error = "http 503: overloaded" if rng.random() < 0.005 else None
            data = {"request": h, "strict_answer": first["strict"], "samples": recs,
                    "outcome": "error" if error else first["outcome"]}
            results.append((run, f"{task}/test/{i}", i, f"group-{i % 27}", None if error else first["correct"],
                            None if error else first["strict_correct"], int(first["answer"] is not None and not error),
                            error, None if error else first["answer"], gold, json.dumps(data)))
        db.executemany("INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?)", requests)
        db.executemany("INSERT INTO calls (hash, run, first_idx, n, ok, error, attempts, latency, usage, created)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", calls)
        db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)", samples)
        db.executemany("INSERT INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", results)
        counts["runs"] += 1
        counts["results"] += len(results)
        counts["samples"] += len(samples)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return counts


def start_viewer(store: Path) -> tuple[subprocess.Popen, str, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "polaris", "view", "--store", str(store), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    line = proc.stderr.readline()  # type: ignore[union-attr]
    m = re.search(r"http://([^:/]+):(\d+)/", line)
    if not m:
        proc.kill()
        raise SystemExit(f"viewer did not start: {line}")
    return proc, m.group(1), int(m.group(2))


def timed(conn: http.client.HTTPConnection, path: str, repeat: int) -> tuple[list[float], dict | None]:
    times, body = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        conn.request("GET", path)
        res = conn.getresponse()
        raw = res.read()
        times.append(1000 * (time.perf_counter() - t))
        if res.status != 200 and res.status != 204:
            raise SystemExit(f"{path}: HTTP {res.status} {raw[:200]!r}")
        body = json.loads(raw) if raw and res.headers.get("Content-Type") == "application/json" else None
    return times, body


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keep", type=Path, help="build (or reuse) the store in this directory")
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-viewer-"))
    tmp.mkdir(parents=True, exist_ok=True)
    store = tmp / "store.db"
    if not store.exists():
        t = time.perf_counter()
        counts = build(store)
        print(f"built {store}: {counts['runs']} runs, {counts['results']:,} item results, "
              f"{counts['samples']:,} samples, {store.stat().st_size / 2**20:.0f} MiB in {time.perf_counter() - t:.1f} s")
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    runs = [r[0] for r in db.execute("SELECT id FROM runs ORDER BY id")]
    mid = runs[len(runs) // 2]
    item = db.execute("SELECT item FROM results WHERE run=? AND idx=2500", (mid,)).fetchone()[0]
    sc_run = db.execute("SELECT id FROM runs WHERE label LIKE '%sc10%'").fetchone()[0]
    from polaris.report import query

    info = query.read_runs(db)
    t = time.perf_counter()
    for _ in range(args.repeat):
        query.page(db, info, query.Filters(), limit=50, count=False)
    direct = 1000 * (time.perf_counter() - t) / args.repeat
    plan = db.execute("EXPLAIN QUERY PLAN SELECT r.run FROM results r INDEXED BY results_run_idx WHERE"
                      " r.run IN (?, ?) AND (r.run, r.idx, r.item) > (?, ?, ?) ORDER BY r.run, r.idx, r.item"
                      " LIMIT 51", (runs[0], runs[1], runs[0], 10, "x")).fetchall()
    db.close()

    proc, host, port = start_viewer(store)
    try:
        conn = http.client.HTTPConnection(host, port, timeout=60)
        filters = [
            ("no filter", {}),
            ("deep page (run 10 of 19, item 2,500)", {"after": json.dumps([mid, 2500, item])}),
            ("model", {"model": MODELS[1]}),
            ("model + task + prompt", {"model": MODELS[2], "task": "math", "prompt": "zeroshot-cot"}),
            ("verdict=wrong (40%)", {"verdict": "wrong"}),
            ("extraction=unextracted (2%)", {"extraction": "unextracted"}),
            ("strict/flexible disagree (5%)", {"disagree": 1}),
            ("verdict=error (0.5%)", {"verdict": "error"}),
            ("outcome=truncated (1%)", {"outcome": "truncated"}),
            ("no match (a model's 30,000 rows read)", {"model": MODELS[0], "verdict": "error",
                                                      "extraction": "extracted"}),
        ]
        floor, _ = timed(conn, "/favicon.ico", args.repeat)
        floor_ms = statistics.median(floor)
        print(f"load average {os.getloadavg()[0]:.1f}; floor: HTTP round trip {floor_ms:.2f} ms,"
              f" first page's SQL in-process {direct:.2f} ms")
        print("query plan:", "; ".join(r[-1] for r in plan))

        def stats(times: list[float]) -> tuple[float, float]:
            times = sorted(times)
            return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]

        print(f"{'page of 50 (/api/results), filter':40} {'rows':>5} {'median ms':>10} {'p95 ms':>8} {'x floor':>8}"
              f" {'matching':>9} {'count ms':>9}")
        for name, f in filters:
            times, body = timed(conn, "/api/results?" + urllib.parse.urlencode(f | {"limit": 50, "count": 0}),
                                args.repeat)
            med, p95 = stats(times)
            ctimes, cbody = timed(conn, "/api/count?" + urllib.parse.urlencode(
                {k: v for k, v in f.items() if k != "after"}), args.repeat)
            print(f"{name:40} {len(body['rows']):5} {med:10.2f} {p95:8.2f} {med / floor_ms:8.1f}"
                  f" {cbody['total']:9} {stats(ctimes)[0]:9.2f}")
        for name, path in [
            ("page of 200, no filter", "/api/results?limit=200&count=0"),
            ("item detail (greedy)", "/api/item?" + urllib.parse.urlencode({"run": mid, "item": item})),
            ("item detail (10 samples)", "/api/item?" + urllib.parse.urlencode({"run": sc_run, "item": "gsm8k/test/7"})),
            ("/api/meta (runs, facets, counts)", "/api/meta"),
            ("the page itself (/)", "/"),
        ]:
            times, _ = timed(conn, path, args.repeat)
            med, p95 = stats(times)
            print(f"{name:40} {'':5} {med:10.2f} {p95:8.2f} {med / floor_ms:8.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
