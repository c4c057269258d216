"""The Ray executor's overhead against the local one, the fully cached re-run, and memory.

Full GSM8K 8-shot CoT (1319 requests) against the fake server, whole-process timings (median of 3):
  local executor, 64 in flight                          the reference
  --executor ray -M ray-address= (a running 2-CPU Ray)    1 worker x 64, and 2 workers x 32 in flight
  --executor ray, no address                            the command starts (and stops) its own Ray
  the same with 0.2 s server latency                    floor: ceil(1319/64) x 0.2 s
  fully cached re-run, local and ray                    0 requests; ray needs no cluster for it
  full MMLU (57 subjects, 14042 items, 5-shot CoT)      local and ray, then its cached re-run
Peak RSS of the polaris process (both executors) and of each Ray worker process (sampled with ps).

The Ray instance is started by this script (ray.init, 2 CPUs) and stopped at its end.

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_scale.py
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import CONCURRENCY, N_ITEMS, ROOT, measure, start_server  # noqa: E402

OUT = ROOT / "bench" / "out" / "scale"


class WorkerRSS:
    """Peak RSS (MiB) of any Ray worker process serving polaris, sampled every 0.1 s."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            ps = subprocess.run(["ps", "-eo", "rss,args"], capture_output=True, text=True).stdout
            for line in ps.splitlines():
                if "ray::ShardWorker" in line:
                    self.peak = max(self.peak, int(line.split()[0]) / 1024)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak


def main() -> None:
    import ray

    data = Path(os.environ.get("POLARIS_DATA_DIR") or ROOT.parent / "shared" / "datasets").resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["PYTHONPATH"] = str(ROOT / "src")  # the Ray workers import polaris from this checkout
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    # After ray.init: it sets RAY_AUTH_MODE=token, which drivers need to join this token-authenticated cluster.
    env = dict(os.environ, POLARIS_DATA_DIR=str(data))
    address = ray.get_runtime_context().gcs_address
    rows: list[tuple[str, float, float, str]] = []
    counter = iter(range(10_000))

    def polaris(url: str, *extra: str, store: Path | None = None, expect: int = N_ITEMS, task: str = "gsm8k",
                items: int = N_ITEMS) -> tuple[float, float]:
        if store is None:  # a new store: nothing cached
            store = OUT / f"s{next(counter)}.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{store}{suffix}").unlink(missing_ok=True)
        m = measure(
            [sys.executable, "-m", "polaris", "run", "-m", "openai/fake", "--base-url", url, "--task", task,
             "--prompt", "fewshot-cot", "--json", "--no-progress", "--store", str(store), *extra], env)
        res = json.loads(m.stdout)["results"][0]
        assert (expect is None or res["requests_sent"] == expect) and res["n"] == items, res
        return m.seconds, m.rss_mib

    def median3(fn) -> tuple[float, float]:
        runs = sorted(fn() for _ in range(3))
        return runs[1][0], max(r[1] for r in runs)

    ray_addr = ["--executor", "ray", "-M", f"ray-address={address}"]
    try:
        server, url = start_server(0.0)
        try:
            polaris(url, "--concurrency", str(CONCURRENCY))  # warm-up (page cache, server)
            local, local_rss = median3(lambda: polaris(url, "--concurrency", str(CONCURRENCY)))
            rows.append(("local executor, 64 in flight", local, local_rss, "reference"))
            sampler = WorkerRSS()
            one, one_rss = median3(lambda: polaris(url, "--concurrency", "64", *ray_addr, "-M", "ray-workers=1"))
            two, two_rss = median3(lambda: polaris(url, "--concurrency", "32", *ray_addr, "-M", "ray-workers=2"))
            worker_rss = sampler.stop()
            rows.append(("ray, running cluster, 1 worker x 64", one, one_rss, f"+{one - local:.2f} s vs local"))
            rows.append(("ray, running cluster, 2 workers x 32", two, two_rss, f"+{two - local:.2f} s vs local"))
            own, own_rss = polaris(url, "--concurrency", "32", "--executor", "ray", "-M", "ray-workers=2")
            rows.append(("ray, starting its own Ray (no address), 2 x 32", own, own_rss, f"+{own - local:.2f} s vs local"))
            for name in ("cached", "mmlu-local", "mmlu-ray"):
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{OUT / name}.db{suffix}").unlink(missing_ok=True)
            store = OUT / "cached.db"
            polaris(url, "--concurrency", "64", store=store)
            warm_local, warm_rss = median3(lambda: polaris(url, store=store, expect=0))
            warm_ray, warm_ray_rss = median3(lambda: polaris(url, *ray_addr, store=store, expect=0))
            rows.append(("fully cached re-run, local", warm_local, warm_rss, "0 requests"))
            rows.append(("fully cached re-run, ray", warm_ray, warm_ray_rss, "0 requests, no cluster contact"))
            mmlu = {"task": "mmlu", "items": 14042, "expect": None}  # a few questions repeat: fewer requests
            t, rss = polaris(url, "--concurrency", "64", store=OUT / "mmlu-local.db", **mmlu)
            rows.append(("full MMLU (14042 items), local, 64 in flight", t, rss, ""))
            t, rss = polaris(url, "--concurrency", "64", store=OUT / "mmlu-local.db", **(mmlu | {"expect": 0}))
            rows.append(("full MMLU, fully cached re-run, local", t, rss, "0 requests"))
            sampler = WorkerRSS()
            t, rss = polaris(url, "--concurrency", "32", *ray_addr, "-M", "ray-workers=2", store=OUT / "mmlu-ray.db", **mmlu)
            worker_rss = max(worker_rss, sampler.stop())
            rows.append(("full MMLU, ray, 2 workers x 32", t, rss, ""))
        finally:
            server.terminate()
        server, url = start_server(0.2)
        try:
            floor = math.ceil(N_ITEMS / CONCURRENCY) * 0.2
            slow_local, slow_rss = polaris(url, "--concurrency", "64")
            slow_ray, slow_ray_rss = polaris(url, "--concurrency", "32", *ray_addr, "-M", "ray-workers=2")
            rows.append(("0.2 s latency, local, 64 in flight", slow_local, slow_rss, f"floor {floor:.1f} s (x{slow_local / floor:.2f})"))
            rows.append(("0.2 s latency, ray, 2 workers x 32", slow_ray, slow_ray_rss, f"floor {floor:.1f} s (x{slow_ray / floor:.2f})"))
        finally:
            server.terminate()
    finally:
        ray.shutdown()
    print(f"{'whole process, full GSM8K (1319 requests) unless said':50s} {'seconds':>8s} {'peak MiB':>9s}  note")
    for name, s, rss, note in rows:
        print(f"{name:50s} {s:8.2f} {rss:9.0f}  {note}")
    print(f"{'peak RSS of a Ray worker process (MiB)':50s} {'':8s} {worker_rss:9.0f}")


if __name__ == "__main__":
    main()
