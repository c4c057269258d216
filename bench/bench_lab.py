"""The emergence lab's speed: `polaris demo` (the README's first command) and the two inference engines.

  1. `polaris demo` whole-process in a fresh directory, as after the core install (torch cannot be
     imported), then again in the same directory (everything from the store)   target: < 120 s cold
  2. inference on the shipped ladder, numpy engine vs torch engine, same machine, same moment:
     greedy answers to all 500 test items of lab/add-3 in both formats for all 18 models, then the
     log-prob of each gold response (what the demo asks); one CPU thread each, interleaved per model
     so both see the same load                                              target: numpy <= 1.2 x torch

    python bench/bench_lab.py            (torch installed for part 2; part 1 blocks it either way)
    python bench/bench_lab.py --against ../main [--rounds 2]
                                         part 1 only, alternating with another checkout (its `src/`)
                                         in the same minutes: a change's cost on a shared machine
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_core import measure  # noqa: E402


def demo_times(root: Path = ROOT) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root / "tests" / "notorch"), str(root / "src")]))
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "polaris", "demo", "--out", str(Path(tmp) / "polaris-demo"), "--json"]
        cold = measure(cmd, env)
        cached = measure(cmd, env)
    doc = json.loads(cold.stdout)
    assert json.loads(cached.stdout)["calls"] == 0, "the second demo called a model"
    return {"cold": cold.seconds, "cold_cpu": cold.cpu, "cold_rss": cold.rss_mib, "cached": cached.seconds,
            "cached_rss": cached.rss_mib, "calls": doc["calls"], "evaluate": doc["seconds"]["evaluate"],
            "analyse": doc["seconds"]["analyse"], "report": doc["seconds"]["report"]}


def engine_times() -> dict[str, float] | None:
    try:
        import torch
    except ImportError:
        return None
    from polaris.lab.decode import Row, generate, loglik
    from polaris.lab.engine import BLAS, load_engine
    from polaris.lab.ladder import list_models
    from polaris.lab.tasks import make_task, prompt_and_response

    torch.set_num_threads(1)
    task = make_task("lab/add-3")
    pairs = {f: [prompt_and_response(task, it, f) for it in task.dataset.load()] for f in task.formats}
    rows = {f: [Row(p, 128, stop=task.template.stop) for p, _ in ps] for f, ps in pairs.items()}
    spent = {"numpy": {"generate": 0.0, "loglik": 0.0}, "torch": {"generate": 0.0, "loglik": 0.0}}
    BLAS.acquire()
    try:
        for i, m in enumerate(list_models()):
            order = ("numpy", "torch") if i % 2 == 0 else ("torch", "numpy")
            answers = {}
            for kind in order:
                engine, tok, _ = load_engine(m.path, kind)
                for f in task.formats:
                    t = time.perf_counter()
                    answers[kind, f] = [d.text for d in generate(engine, tok, rows[f])]
                    spent[kind]["generate"] += time.perf_counter() - t
                    t = time.perf_counter()
                    loglik(engine, tok, pairs[f])
                    spent[kind]["loglik"] += time.perf_counter() - t
            for f in task.formats:
                assert answers["numpy", f] == answers["torch", f], f"{m.id} {f}: the engines disagree"
    finally:
        BLAS.release()
    return {f"{k}_{part}": v for k, parts in spent.items() for part, v in parts.items()}


def against(other: Path, rounds: int) -> None:
    """The demo of this checkout and of `other`, alternating (this, other, other, this, ...)."""
    times: dict[str, list[tuple[float, float, float]]] = {"this": [], "other": []}
    for i in range(rounds):
        for name in (("this", "other") if i % 2 == 0 else ("other", "this")):
            d = demo_times(ROOT if name == "this" else other)
            times[name].append((d["cold"], d["cached"], d["report"]))
            print(f"{name}: cold {d['cold']:.1f} s (report step {d['report']:.1f} s), cached {d['cached']:.1f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for name, ts in times.items():
        print(f"{name}: mean cold {sum(t[0] for t in ts) / len(ts):.1f} s, mean cached "
              f"{sum(t[1] for t in ts) / len(ts):.1f} s, mean report step {sum(t[2] for t in ts) / len(ts):.1f} s")


def main() -> None:
    if "--against" in sys.argv:
        args = sys.argv[1:]
        rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 2
        against(Path(args[args.index("--against") + 1]).resolve(), rounds)
        return
    load = os.getloadavg()[0]
    demo = demo_times()
    print(f"polaris demo (no torch): cold {demo['cold']:.1f} s (CPU {demo['cold_cpu']:.1f} s; evaluation "
          f"{demo['evaluate']:.1f} s, analysis {demo['analyse']:.1f} s, report {demo['report']:.1f} s; "
          f"{demo['calls']} calls; peak RSS {demo['cold_rss']:.0f} MiB), cached {demo['cached']:.1f} s "
          f"(peak RSS {demo['cached_rss']:.0f} MiB); target cold < 120 s: {'met' if demo['cold'] < 120 else 'NOT met'}")
    eng = engine_times()
    if eng is None:
        print("engines: torch is not installed, numpy vs torch not measured")
    else:
        n, t = eng["numpy_generate"] + eng["numpy_loglik"], eng["torch_generate"] + eng["torch_loglik"]
        print(f"engines, 36 cells x 500 items, same greedy answers: numpy {n:.1f} s (generate "
              f"{eng['numpy_generate']:.1f}, loglik {eng['numpy_loglik']:.1f}), torch {t:.1f} s (generate "
              f"{eng['torch_generate']:.1f}, loglik {eng['torch_loglik']:.1f}); numpy / torch = {n / t:.2f} "
              f"(target <= 1.2: {'met' if n / t <= 1.2 else 'NOT met'})")
    print(f"load average at start {load:.1f}, at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
