"""Group commit: responses are written by one background thread, many per transaction.

The event loop hands each finished call to the writer and waits until it is committed before the
worker asks for more, so the store never lags the network by more than the calls in flight (a
SIGKILL loses at most those) while the loop itself never blocks on SQLite. Under load one commit
carries every call that finished meanwhile, which is what keeps a 64-in-flight run I/O-bound.

The writer is also this process's lease holder (store/leases.py): `lease(hash)` takes a request's
lease before it is sent, in the same group commits, and the call that stores its response releases
it. Its housekeeping thread keeps the holder's heartbeat. An SQLite failure (a full disk) reaches
every waiting worker as a one-line `StoreError`.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from typing import Any

from polaris.store import health, leases
from polaris.store.store import Store

_STOP = object()


class StoreWriter:
    def __init__(self, path: Any) -> None:
        self._path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._checkpointer: threading.Thread | None = None
        self._stopped = threading.Event()
        self._error: BaseException | None = None
        self.holder = leases.new_holder()
        self.committed = 0  # responses committed (for the "N results kept" of an interrupted command)

    def start(self) -> StoreWriter:
        ready = threading.Event()

        def loop() -> None:
            # Its own connection (SQLite objects stay in their thread), without re-checking the file.
            store = Store(self._path, known=True)
            # Checkpoints (copying the WAL into the database file, then an fsync) take tens of ms
            # and every worker waits for the commit that would run one: they run in their own thread.
            store.db.execute("PRAGMA wal_autocheckpoint=0")
            try:
                with store.transaction():
                    leases.register(store.db, self.holder)
            except sqlite3.Error as exc:
                self._error = health.describe(exc, self._path)
            ready.set()
            try:
                self._drain(store)
            finally:
                try:
                    with store.transaction():
                        leases.drop(store.db, self.holder)
                except sqlite3.Error:
                    pass  # its leases die with it anyway (no heartbeat)
                store.close()

        self._thread = threading.Thread(target=loop, name="polaris-store-writer", daemon=True)
        self._thread.start()
        ready.wait(60)
        if self._error is not None:
            self.close()
            raise self._error
        self._checkpointer = threading.Thread(target=self._checkpoints, name="polaris-store-checkpoint", daemon=True)
        self._checkpointer.start()
        return self

    def _checkpoints(self) -> None:
        """PASSIVE checkpoints every quarter second: they never block the writer or readers, and keep
        the WAL from growing through a long run. And the lease holder's heartbeat."""
        store = Store(self._path, known=True)
        beats = 0
        try:
            while not self._stopped.wait(0.25):
                beats += 1
                try:
                    store.db.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    if beats % int(leases.BEAT / 0.25) == 0:
                        leases.beat(store.db, self.holder)
                except sqlite3.Error:
                    pass  # only housekeeping: the next checkpoint, or the last connection's close, does it
        finally:
            store.close()

    def _drain(self, store: Store) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stop = any(job is _STOP for job in batch)
            jobs = [job for job in batch if job is not _STOP]
            if jobs:
                results: list[Any] = []
                try:
                    with store.transaction():
                        for _, _, kind, payload in jobs:
                            if kind == "call":
                                store.write_call(**payload, holder=self.holder)
                                results.append(None)
                            elif kind == "lease":
                                results.append(leases.acquire(store.db, payload, self.holder))
                            else:
                                leases.release(store.db, payload, self.holder)
                                results.append(None)
                    kept = sum(len(p.get("samples", ())) for _, _, k, p in jobs if k == "call")
                    self.committed += kept
                    health.count_kept(kept)
                    outcome: BaseException | None = None
                except sqlite3.Error as exc:  # a full disk: reported to every waiting worker, in one line
                    outcome = health.describe(exc, self._path)
                except BaseException as exc:
                    outcome = exc
                if outcome is not None:
                    results = [None] * len(jobs)
                # One wake-up per event loop and batch, not one per call.
                by_loop: dict[Any, list[tuple[asyncio.Future[Any], Any]]] = {}
                for (loop, fut, _, _), result in zip(jobs, results):
                    if fut is not None:
                        by_loop.setdefault(loop, []).append((fut, result))
                for loop, futs in by_loop.items():
                    try:
                        loop.call_soon_threadsafe(_settle_all, futs, outcome)
                    except RuntimeError:
                        pass  # that event loop is gone (the command was interrupted): nobody is waiting
            if stop:
                return

    async def record_call(self, **kwargs: Any) -> None:
        """Queue a call for writing and wait until it is committed (releasing its request's lease)."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((loop, fut, "call", kwargs))
        await fut

    async def lease(self, request_hash: str) -> bool:
        """Take the lease of a request before sending it: False while another live process holds it."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._queue.put((loop, fut, "lease", request_hash))
        return await fut

    def release(self, request_hash: str) -> None:
        """Give a lease back without storing anything (the call was cancelled); does not wait."""
        if self._thread is not None:
            self._queue.put((None, None, "release", request_hash))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        if self._checkpointer is not None:
            self._stopped.set()
            self._checkpointer.join()
            self._checkpointer = None


def _settle_all(futs: list[tuple[asyncio.Future[Any], Any]], exc: BaseException | None) -> None:
    for fut, result in futs:
        if fut.done():
            continue
        if exc is None:
            fut.set_result(result)
        else:
            fut.set_exception(exc)
