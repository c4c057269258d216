"""math-verify equivalence checks in worker processes, each under a hard time limit.

math-verify's own timeouts use SIGALRM, which only works in a process's main thread, and sympy can
hang inside C code (`10^{10^{10^{10}}}`) where no signal gets through. So the checks run in worker
processes with math-verify's timeouts disabled, and the parent enforces a deadline per check: a
worker that misses it is killed and replaced, and its check counts as "not shown equivalent" (the
normalised string match, done before any check is sent, is the fallback).

The pool starts lazily (a worker imports sympy in ~0.5 s), keeps one worker per usable core, and
stays up across batches until `close()` or interpreter exit. Workers are spawned, not forked, so the
pool is safe to use from any thread of a process that runs an event loop or other threads.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from typing import Any

TIME_LIMIT = 5.0  # seconds per check, as lm-eval and lighteval allow math-verify
STARTUP_LIMIT = 120.0  # seconds for a worker to import sympy and math-verify on a loaded machine
MEMORY_LIMIT = 3 << 30  # address space per worker: a runaway expansion fails instead of eating RAM

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- worker side


@lru_cache(maxsize=4096)
def _parse(answer: str) -> Any:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    configs = [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]
    return parse(f"${answer}$", extraction_config=configs, parsing_timeout=None)


def check(gold: str, pred: str) -> bool:
    """math-verify's verdict on two extracted answers, without any time limit (workers only)."""
    from math_verify import verify

    from polaris.scoring.mathnorm import verify_form

    g, p = _parse(verify_form(gold)), _parse(verify_form(pred))
    if not g or not p:
        return False
    return bool(verify(g, p, timeout_seconds=None))


def _worker_main(conn: Connection) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, ValueError, OSError):
        pass
    try:
        for name in ("math_verify", "latex2sympy2_extended"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        check("\\frac{1}{2}", "0.5")  # imports and parser set-up happen before "ready", off the clock
    except BaseException as exc:  # noqa: BLE001
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        key, gold, pred = msg
        try:
            ok = check(gold, pred)
        except BaseException:  # noqa: BLE001  (MemoryError, RecursionError, sympy internals)
            ok = False
        conn.send((key, ok))


# ---------------------------------------------------------------- parent side


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    started: float
    ready: bool = False
    task: int | None = None
    deadline: float = 0.0


@dataclass
class CheckPool:
    """Runs `check(gold, pred)` pairs in parallel; each result is True, False or None (timed out)."""

    processes: int = 0  # 0: one per usable core
    time_limit: float = TIME_LIMIT
    timeouts: int = 0  # checks that hit the limit since the pool started (diagnostics)
    _workers: list[_Worker] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _size(self) -> int:
        if self.processes > 0:
            return self.processes
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)

    def _spawn(self) -> _Worker:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_worker_main, args=(child,), daemon=True, name="polaris-mathcheck")
        proc.start()
        child.close()
        return _Worker(proc, parent, time.monotonic())

    def _replace(self, w: _Worker) -> None:
        _kill(w)
        self._workers[self._workers.index(w)] = self._spawn()

    def run(self, checks: Sequence[tuple[str, str]]) -> list[bool | None]:
        results: list[bool | None] = [None] * len(checks)
        if not checks:
            return results
        with self._lock:
            while len(self._workers) < min(self._size(), len(checks)):
                self._workers.append(self._spawn())
            todo = deque(range(len(checks)))
            while todo or any(w.task is not None for w in self._workers):
                now = time.monotonic()
                for w in self._workers:
                    if w.ready and w.task is None and todo:
                        i = todo.popleft()
                        w.conn.send((i, *checks[i]))
                        w.task, w.deadline = i, now + self.time_limit
                waiting = [w for w in self._workers if not w.ready or w.task is not None]
                due = [w.deadline if w.ready else w.started + STARTUP_LIMIT for w in waiting]
                ready = wait([w.conn for w in waiting], timeout=max(0.0, min(due) - now))
                for conn in ready:
                    w = next(w for w in waiting if w.conn is conn)
                    self._receive(w, results)
                now = time.monotonic()
                for w in list(self._workers):
                    if w.task is not None and now > w.deadline:
                        log.info("math-verify check %r timed out", checks[w.task])
                        self.timeouts += 1
                        results[w.task] = None
                        self._replace(w)
                    elif not w.ready and now > w.started + STARTUP_LIMIT:
                        self.close_locked()
                        raise RuntimeError("math-verify workers did not start in time")
        return results

    def _receive(self, w: _Worker, results: list[bool | None]) -> None:
        try:
            tag, value = w.conn.recv()
        except (EOFError, OSError):  # the worker died (memory limit, segfault)
            if not w.ready:
                self.close_locked()
                raise RuntimeError("a math-verify worker exited while starting") from None
            if w.task is not None:
                results[w.task] = None
            self._replace(w)
            return
        if tag == "ready":
            w.ready = True
        elif tag == "error":
            self.close_locked()
            raise RuntimeError(f"math-verify workers cannot start: {value}")
        else:
            results[tag] = bool(value)
            w.task = None

    def close_locked(self) -> None:
        for w in self._workers:
            _kill(w, polite=w.ready and w.task is None)
        self._workers.clear()

    def close(self) -> None:
        with self._lock:
            self.close_locked()


def _kill(w: _Worker, polite: bool = False) -> None:
    if polite:
        try:
            w.conn.send(None)
            w.proc.join(timeout=1.0)
        except (OSError, ValueError):
            pass
    if w.proc.is_alive():
        w.proc.kill()
        w.proc.join(timeout=5.0)
    w.conn.close()


# A process-wide pool per time limit: scoring `math` and `math500`, voting and `equivalent` share
# workers instead of each starting its own. Pools hold processes, not results, so sharing them
# cannot change any verdict.
_pools: dict[float, CheckPool] = {}
_pools_lock = threading.Lock()


def shared_pool(time_limit: float = TIME_LIMIT) -> CheckPool:
    with _pools_lock:
        pool = _pools.get(time_limit)
        if pool is None:
            pool = _pools[time_limit] = CheckPool(time_limit=time_limit)
        return pool


@atexit.register
def _close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()
