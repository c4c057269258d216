"""One SQLite file that keeps every request, every sample, every call and every scored item.

The unit of caching is a *sample*: (request hash, sample index). The request hash covers the
backend identity, the prompt payload and the decoding parameters, never the API key. Each
response is committed as soon as it arrives (WAL, synchronous=NORMAL: a SIGKILL loses nothing
that was committed), so a killed run loses at most the calls in flight. Several processes may
share one store: SQLite serialises writers and `busy_timeout` makes them wait rather than fail.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.store import health, leases
from polaris.store import invocations as history_tables
from polaris.store.health import SCHEMA_VERSION, StoreError  # noqa: F401 - re-exported
from polaris.store.rows import InvocationRow, ResultRow, RunRow, SampleRow, canonical_json, digest  # noqa: F401 - re-exported

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
  hash TEXT PRIMARY KEY, model TEXT NOT NULL, endpoint TEXT, kind TEXT NOT NULL,
  body TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
  hash TEXT NOT NULL, idx INTEGER NOT NULL, text TEXT, finish TEXT, reasoning TEXT,
  tokens INTEGER, data TEXT, call INTEGER, PRIMARY KEY (hash, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls (
  id INTEGER PRIMARY KEY, hash TEXT NOT NULL, run TEXT, first_idx INTEGER, n INTEGER,
  ok INTEGER NOT NULL, error TEXT, attempts INTEGER, latency REAL, usage TEXT, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS calls_run ON calls (run);
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, label TEXT NOT NULL, spec TEXT NOT NULL, manifest TEXT NOT NULL,
  created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS results (
  run TEXT NOT NULL, item TEXT NOT NULL, idx INTEGER NOT NULL, grp TEXT, correct REAL, strict REAL,
  extracted INTEGER, error TEXT, answer TEXT, gold TEXT, data TEXT,
  PRIMARY KEY (run, item)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS results_run_idx ON results (run, idx);
""" + leases.SCHEMA + history_tables.SCHEMA


class Store:
    def __init__(self, path: str | Path, *, readonly: bool = False, known: bool = False) -> None:
        """Open (or create) a store. `known=True` skips the file check for a store this process has
        already opened: reading the file with plain `open()` and closing it would drop the POSIX locks
        SQLite holds on it for the other connection (SQLite's "how to corrupt", section 2.2)."""
        self.path = Path(path)
        self._uncommitted = [0]  # results written inside a still open outer transaction (_count_kept)
        version = SCHEMA_VERSION if known else health.inspect(self.path)
        exists = version is not None
        if readonly and not exists:
            from polaris.config import missing_store

            raise PolarisError(missing_store(self.path))
        if not exists and self.path.parent and not self.path.parent.exists():
            raise PolarisError(f"cannot create store {self.path}: directory {self.path.parent} does not exist")
        health.remember(self.path)
        try:
            if readonly:
                self.db = health.open_readonly(self.path)
            else:
                self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA busy_timeout=60000")
            if not readonly:
                if not exists:
                    # Schema first, in rollback-journal mode, so the main file gets a real header and
                    # tables before WAL mode keeps new pages in the -wal file: a store whose main file
                    # is still empty looks new to every other process, which is how data gets lost.
                    self.db.executescript(
                        f"BEGIN IMMEDIATE; {SCHEMA} INSERT OR IGNORE INTO meta VALUES ('app', 'polaris');"
                        f" INSERT OR IGNORE INTO meta VALUES ('schema', '{SCHEMA_VERSION}'); COMMIT;"
                    )
                mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise PolarisError(f"cannot open store {self.path} in WAL mode (is it on a network filesystem?)")
                self.db.execute("PRAGMA synchronous=NORMAL")
                if exists and version < SCHEMA_VERSION:
                    health.migrate(self.db, version)
        except sqlite3.Error as exc:
            raise health.describe(exc, self.path) from None

    def _has(self, table: str) -> bool:
        """Whether the store has a table (a store opened read-only is not migrated: invocations)."""
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None

    # -- transactions -------------------------------------------------------------------------

    def transaction(self) -> _Tx:
        return _Tx(self.db, self._uncommitted)

    def _count_kept(self, n: int) -> None:
        """Count what reached the store ("interrupted: N results kept"): a write joined into an outer
        transaction (an import) counts when that one commits, not at all if it rolls back."""
        if self.db.in_transaction:
            self._uncommitted[0] += n
        else:
            health.count_kept(n)

    def close(self) -> None:
        self.db.close()

    # -- requests and samples -----------------------------------------------------------------

    def samples(self, request_hash: str) -> dict[int, SampleRow]:
        rows = self.db.execute(
            "SELECT idx, text, finish, reasoning, tokens, data FROM samples WHERE hash=?", (request_hash,)
        ).fetchall()
        return {r[0]: SampleRow(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]) if r[5] else None) for r in rows}

    def record_call(self, request_hash: str, request: dict[str, Any], **kwargs: Any) -> None:
        """Persist one call to a backend (its samples if it succeeded, its error if not) atomically."""
        with self.transaction():
            self.write_call(request_hash=request_hash, request=request, **kwargs)
        self._count_kept(len(kwargs.get("samples", ())))

    def write_call(
        self,
        *,
        request_hash: str,
        request: dict[str, Any],
        run: str | None,
        first_idx: int,
        n: int,
        samples: Sequence[dict[str, Any]] = (),
        error: str | None = None,
        attempts: int = 1,
        latency: float | None = None,
        usage: dict[str, Any] | None = None,
        body_json: str | None = None,
        holder: str | None = None,
    ) -> None:
        """The inserts of `record_call`, inside the caller's transaction; `holder`'s lease on the request
        (store/leases.py) is released with them."""
        now = time.time()
        self.db.execute(
            "INSERT OR IGNORE INTO requests VALUES (?, ?, ?, ?, ?, ?)",
            (
                request_hash,
                request.get("model", ""),
                request.get("endpoint"),
                request.get("kind", "chat"),
                body_json or json.dumps(request, sort_keys=True, ensure_ascii=False),
                now,
            ),
        )
        cur = self.db.execute(
            "INSERT INTO calls (hash, run, first_idx, n, ok, error, attempts, latency, usage, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_hash, run, first_idx, n, int(error is None), error, attempts, latency,
             json.dumps(usage) if usage else None, now),
        )
        call_id = cur.lastrowid
        self.db.executemany(
            "INSERT OR IGNORE INTO samples VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (request_hash, s["idx"], s.get("text"), s.get("finish"), s.get("reasoning"), s.get("tokens"),
                 json.dumps(s["data"]) if s.get("data") is not None else None, call_id)
                for s in samples
            ],
        )
        if holder is not None:
            leases.release(self.db, request_hash, holder)

    def request(self, request_hash: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT body FROM requests WHERE hash=?", (request_hash,)).fetchone()
        return json.loads(row[0]) if row else None

    def sample_calls(self, hashes: Iterable[str]) -> dict[tuple[str, int], tuple[int, dict[str, Any], float | None]]:
        """(hash, idx) -> (samples the call returned, its usage, its latency) for the call that drew each
        stored sample of these requests: token accounting per sample however samples were batched."""
        rows: list[tuple[str, int, int, str | None, float | None]] = []
        todo = sorted(set(hashes))
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            rows += self.db.execute(
                "SELECT s.hash, s.idx, c.id, c.usage, c.latency FROM samples s JOIN calls c ON c.id = s.call"
                f" WHERE s.hash IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
        # A call's samples all share its request hash, so they are all in `rows`: count them there
        # (a server that ignores `n` returns fewer than the call asked for).
        per_call: dict[int, int] = {}
        for _, _, call, _, _ in rows:
            per_call[call] = per_call.get(call, 0) + 1
        return {(h, idx): (per_call[call], json.loads(usage) if usage else {}, latency)
                for h, idx, call, usage, latency in rows}

    def sample_counts(self, hashes: Iterable[str], below: int) -> dict[str, int]:
        """Stored samples with index < `below` per request hash (what a dry run would not ask again)."""
        out: dict[str, int] = {}
        todo = sorted(set(hashes))
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            out.update(self.db.execute(
                f"SELECT hash, COUNT(*) FROM samples WHERE idx < ? AND hash IN ({','.join('?' * len(chunk))})"
                " GROUP BY hash", [below, *chunk]).fetchall())
        return out

    # -- small key-value notes (experiment cell leases) ------------------------------------------

    def put_meta(self, key: str, value: str | None) -> None:
        """Set (or, with None, delete) a note in the meta table; Polaris's own keys are not prefixed."""
        with self.transaction():
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key=?", (key,))
            else:
                self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self, prefix: str) -> dict[str, str]:
        rows = self.db.execute("SELECT key, value FROM meta WHERE key >= ? AND key < ?", (prefix, prefix + "\uffff"))
        return dict(rows.fetchall())

    def answered(self, run: str) -> int:
        """Requests answered under a run id (distinct request hashes with a successful call): work a
        killed or stopped invocation did before it could store its item results."""
        return self.db.execute("SELECT COUNT(DISTINCT hash) FROM calls WHERE run=? AND ok=1", (run,)).fetchone()[0]

    def usage(self, run: str) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (blob,) in self.db.execute("SELECT usage FROM calls WHERE run=? AND usage IS NOT NULL", (run,)):
            for k, v in json.loads(blob).items():
                if isinstance(v, int):
                    totals[k] = totals.get(k, 0) + v
        return totals

    # -- runs and results ---------------------------------------------------------------------

    def put_run(self, run_id: str, label: str, spec: dict[str, Any], manifest: dict[str, Any]) -> None:
        now = time.time()
        with self.transaction():
            self.db.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET"
                " label=excluded.label, spec=excluded.spec, manifest=excluded.manifest, updated=excluded.updated",
                (run_id, label, json.dumps(spec, sort_keys=True), json.dumps(manifest, sort_keys=True), now, now),
            )

    def run(self, run_id: str) -> RunRow | None:
        r = self.db.execute("SELECT id, label, spec, manifest, created, updated FROM runs WHERE id=?", (run_id,)).fetchone()
        return RunRow(r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4], r[5]) if r else None

    def runs(self) -> list[RunRow]:
        rows = self.db.execute("SELECT id, label, spec, manifest, created, updated FROM runs ORDER BY created")
        return [RunRow(r[0], r[1], json.loads(r[2]), json.loads(r[3]), r[4], r[5]) for r in rows]

    # -- invocations: the history of what filled each run -------------------------------------

    def begin_invocation(self, run_id: str, *, source: str, endpoint: str | None = None, limit: int | None = None,
                         items_asked: int | None = None, polaris_version: str | None = None,
                         scorer_version: str | None = None, data: dict[str, Any] | None = None,
                         started: float | None = None) -> int:
        """Record that an invocation starts filling a run; returns its id (for `end_invocation` and
        for the item results it judges: `put_results(..., invocation=)`)."""
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO invocations (run, source, started, endpoint, item_limit, items_asked, polaris_version,"
                " scorer_version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, source, started if started is not None else time.time(), endpoint, limit, items_asked,
                 polaris_version, scorer_version, json.dumps(data or {}, sort_keys=True, ensure_ascii=False)))
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def end_invocation(self, invocation: int, *, items_scored: int, errors: int,
                       data: dict[str, Any] | None = None) -> None:
        """Close an invocation with what it scored; `data` is merged into what `begin_invocation` kept."""
        with self.transaction():
            row = self.db.execute("SELECT data FROM invocations WHERE id=?", (invocation,)).fetchone()
            merged = {**json.loads(row[0] or "{}"), **(data or {})} if row else dict(data or {})
            self.db.execute("UPDATE invocations SET finished=?, items_scored=?, errors=?, data=? WHERE id=?",
                            (time.time(), items_scored, errors, json.dumps(merged, sort_keys=True, ensure_ascii=False),
                             invocation))

    def invocations(self, run_id: str | None = None) -> list[InvocationRow]:
        """The invocations of one run (or of all runs), oldest first; [] for a store made before them."""
        if not self._has("invocations"):
            return []
        sql = ("SELECT id, run, source, started, finished, endpoint, item_limit, items_asked, items_scored, errors,"
               " polaris_version, scorer_version, data FROM invocations")
        rows = (self.db.execute(sql + " WHERE run=? ORDER BY id", (run_id,)) if run_id is not None
                else self.db.execute(sql + " ORDER BY id"))
        return [InvocationRow(*r[:12], json.loads(r[12] or "{}")) for r in rows]

    def put_results(self, run_id: str, results: Iterable[ResultRow], invocation: int | None = None) -> None:
        """Store item results (replacing earlier ones of the same items); with `invocation`, record that
        it judged them (`result_sources`), in the same transaction."""
        rows = list(results)
        with self.transaction():
            self.db.executemany(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, r.item, r.idx, r.group, r.correct, r.strict, int(r.extracted), r.error, r.answer,
                     r.gold, json.dumps(r.data, ensure_ascii=False))
                    for r in rows
                ],
            )
            if invocation is not None:
                self.db.executemany("INSERT OR REPLACE INTO result_sources VALUES (?, ?, ?)",
                                    [(run_id, r.item, invocation) for r in rows])
        self._count_kept(len(rows))

    def result_counts(self, run_id: str) -> tuple[int, int, dict[int | None, int]]:
        """(items stored, items scored, items per judging invocation: None for results stored before
        run histories) of a run, counted without reading the results."""
        items, scored = self.db.execute("SELECT COUNT(*), COALESCE(SUM(error IS NULL), 0) FROM results WHERE run=?",
                                        (run_id,)).fetchone()
        if not self._has("result_sources"):
            return items, scored, ({None: items} if items else {})
        per = self.db.execute(
            "SELECT s.invocation, COUNT(*) FROM results r LEFT JOIN result_sources s ON s.run = r.run AND s.item = r.item"
            " WHERE r.run=? GROUP BY s.invocation", (run_id,)).fetchall()
        return items, scored, dict(per)

    def result_sources(self, run_id: str) -> dict[str, int]:
        """item -> the invocation that last judged its stored result ({} for stores before run histories)."""
        if not self._has("result_sources"):
            return {}
        return dict(self.db.execute("SELECT item, invocation FROM result_sources WHERE run=?", (run_id,)).fetchall())

    def results(self, run_id: str, items: Iterable[str] | None = None) -> list[ResultRow]:
        return list(self.iter_results(run_id, items))

    def iter_results(self, run_id: str, items: Iterable[str] | None = None) -> Iterator[ResultRow]:
        """`results` one row at a time (in item order), for runs too large to hold: a run of K samples
        per item keeps K sample records in each row (runner/tally.py reduces each as it is read)."""
        wanted = set(items) if items is not None else None
        cur = self.db.execute(
            "SELECT item, idx, grp, correct, strict, extracted, error, answer, gold, data FROM results"
            " WHERE run=? ORDER BY idx", (run_id,))
        try:
            for r in cur:
                if wanted is None or r[0] in wanted:
                    yield ResultRow(r[0], r[1], r[2] or "", r[3], r[4], bool(r[5]), r[6], r[7], r[8],
                                    json.loads(r[9] or "{}"))
        finally:
            cur.close()

    def result_items(self, run_id: str) -> list[str]:
        """The item ids of a run's stored results, in item order, without reading the results."""
        return [r[0] for r in self.db.execute("SELECT item FROM results WHERE run=? ORDER BY idx", (run_id,))]


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT: takes the write lock up front so concurrent writers queue."""

    def __init__(self, db: sqlite3.Connection, uncommitted: list[int] | None = None) -> None:
        self.db = db
        self.joined = False
        self.uncommitted = uncommitted if uncommitted is not None else [0]

    def __enter__(self) -> sqlite3.Connection:
        # Inside an open transaction (an import writes many runs as one) this one joins it: the
        # outer transaction commits or rolls back everything.
        self.joined = self.db.in_transaction
        if not self.joined:
            self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.joined:
            return  # the outer transaction commits or rolls back
        done, self.uncommitted[0] = self.uncommitted[0], 0
        if exc_type is not None:
            self.db.execute("ROLLBACK")
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error:
            if self.db.in_transaction:  # a COMMIT that failed (a full disk) leaves the transaction open
                self.db.execute("ROLLBACK")
            raise
        health.count_kept(done)
