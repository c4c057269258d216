"""Core speed and memory: a full GSM8K 8-shot CoT run against a local OpenAI-compatible server.

Measures, whole-process (start-up included), against floors measured in the same run:
  1. uncached run, instant server, 64 in flight      target <= 3 s; floor: bare aiohttp client
  2. same with 0.2 s server latency                   target <= 1.25 x ceil(1319/64) x 0.2 s
  3. fully cached re-run                              target <= 1.5 s and zero requests
  4. `polaris --help` and a one-item run              target <= 1 s each
  5. peak resident memory of any polaris process      target <= 150 MiB

    POLARIS_DATA_DIR=../shared/datasets python bench/bench_core.py
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
N_ITEMS = 1319
CONCURRENCY = 64


def start_server(latency: float = 0.0, fixed: str = "Let me think.\nThe answer is 42.") -> tuple[subprocess.Popen, str]:
    """tests/fakeserver.py in its own process, answering `fixed` to everything: (process, base URL)."""
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fakeserver.py"), "--port", "0", "--latency", str(latency),
         "--fixed", fixed],
        stdout=subprocess.PIPE, text=True,
    )
    port = proc.stdout.readline().strip()  # type: ignore[union-attr]
    return proc, f"http://127.0.0.1:{port}/v1"


@dataclass
class Measured:
    seconds: float  # wall time of the whole process
    cpu: float  # its user + system CPU seconds
    rss_mib: float  # its own peak resident set (wait4), not its parent's or a server's
    stdout: str


def measure(cmd: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run one process to completion and read its own resource usage; a failure stops the benchmark."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(cmd[:6])} failed:\n{err.read()[-3000:]}")
        out.seek(0)
        return Measured(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read())


def polaris(*args: str) -> Measured:
    """`polaris ARGS` whole-process, from this checkout."""
    return measure([sys.executable, "-m", "polaris", *args], dict(os.environ, PYTHONPATH=str(ROOT / "src")))


def bare_aiohttp_floor(base_url: str, bodies: list[bytes], concurrency: int = CONCURRENCY) -> float:
    """Seconds for a bare aiohttp client to send the same requests with the same concurrency."""
    import aiohttp

    async def main() -> float:
        sem = asyncio.Semaphore(concurrency)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
            async def one(b: bytes) -> None:
                async with sem:
                    async with s.post(base_url + "/chat/completions", data=b,
                                      headers={"Content-Type": "application/json"}) as r:
                        await r.read()
            t0 = time.perf_counter()
            await asyncio.gather(*(one(b) for b in bodies))
            return time.perf_counter() - t0

    return asyncio.run(main())


def request_bodies(task: str = "gsm8k", prompt: str = "fewshot-cot") -> list[bytes]:
    """The JSON bodies polaris sends for a full run of `task`, for the bare-client floor."""
    from polaris.models.base import GenRequest
    from polaris.models.openai import OpenAIBackend
    from polaris.runner.cell import CellSpec
    from polaris.runner.runner import prepare
    from polaris.runner.solvers import decoding

    cell = prepare(CellSpec(model="openai/fake", task=task, prompt=prompt))
    backend = OpenAIBackend("fake", base_url="http://x/v1")
    return [json.dumps(backend._body(GenRequest(p, decoding(cell.spec)))[1]).encode() for p in cell.prompts]


def main() -> None:
    if not os.environ.get("POLARIS_DATA_DIR"):
        os.environ["POLARIS_DATA_DIR"] = str(ROOT.parent / "shared" / "datasets")
    tmp = Path(tempfile.mkdtemp())
    rows = []
    peaks: list[float] = []  # peak RSS of each polaris process (MiB)

    def row(name: str, seconds: float, target: float, note: str = "") -> None:
        rows.append((name, seconds, target, note))

    server, url = start_server(0.0)
    try:
        floor = min(bare_aiohttp_floor(url, request_bodies()) for _ in range(2))
        base = ["run", "-m", "openai/fake", "--base-url", url, "--task", "gsm8k", "--prompt", "fewshot-cot",
                "--concurrency", str(CONCURRENCY), "--json", "--no-progress"]
        runs = []
        for i in range(3):
            m = polaris(*base, "--store", str(tmp / f"cold{i}.db"))
            res = json.loads(m.stdout)["results"][0]
            assert res["requests_sent"] == N_ITEMS, res
            runs.append(m.seconds)
            peaks.append(m.rss_mib)
        cold = sorted(runs)[1]
        row("full GSM8K run, instant server (median of 3)", cold, 3.0, f"bare aiohttp floor {floor:.2f} s (x{cold / floor:.1f})")
        warm = []
        for _ in range(3):
            m = polaris(*base, "--store", str(tmp / "cold0.db"))
            assert json.loads(m.stdout)["results"][0]["requests_sent"] == 0
            warm.append(m.seconds)
            peaks.append(m.rss_mib)
        row("fully cached re-run, 0 requests (median of 3)", sorted(warm)[1], 1.5)
        t_help = sorted(polaris("--help").seconds for _ in range(3))[1]
        row("polaris --help", t_help, 1.0)
        t_one = sorted(polaris(*base, "--limit", "1", "--store", str(tmp / f"one{i}.db")).seconds for i in range(3))[1]
        row("one-item run", t_one, 1.0)
    finally:
        server.terminate()
    server, url = start_server(0.2)
    try:
        latency_floor = math.ceil(N_ITEMS / CONCURRENCY) * 0.2
        m = polaris("run", "-m", "openai/fake", "--base-url", url, "--concurrency", str(CONCURRENCY), "--json",
                    "--no-progress", "--store", str(tmp / "slow.db"))
        t = m.seconds
        peaks.append(m.rss_mib)
        row("full GSM8K run, 0.2 s latency", t, 1.25 * latency_floor, f"floor {latency_floor:.1f} s (x{t / latency_floor:.2f})")
    finally:
        server.terminate()
    peak = max(peaks)
    print(f"{'measure':50s} {'seconds':>8s} {'target':>8s}  ok   note")
    for name, s, target, note in rows:
        print(f"{name:50s} {s:8.2f} {target:8.2f}  {'yes' if s <= target else 'NO ':3s}  {note}")
    print(f"{'peak RSS of a polaris process (MiB)':50s} {peak:8.1f} {150:8.0f}  {'yes' if peak <= 150 else 'NO '}")


if __name__ == "__main__":
    main()
