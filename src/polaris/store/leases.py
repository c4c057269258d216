"""Leases: one store, several processes, and no request sent twice.

Before a process sends a request it takes the request's lease in the store (`leases`, keyed by the
request hash); the call that stores the response releases it in the same transaction. A second
process that wants the same request finds the lease held and waits for the samples to appear
instead of sending it again. A lease dies with its holder: each process that writes a store is a row
in `holders` with a heartbeat every BEAT seconds (from the store writer's housekeeping thread); a
holder whose heartbeat is older than STALE seconds, or whose process is gone (same host), no longer
holds anything, so a killed run delays the others by at most STALE seconds (on one machine, by at
most a poll).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
import uuid

SCHEMA = """
CREATE TABLE IF NOT EXISTS holders (id TEXT PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, beat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS leases (hash TEXT PRIMARY KEY, holder TEXT NOT NULL, since REAL NOT NULL) WITHOUT ROWID;
"""
BEAT = 2.0
STALE = 20.0
FORGET = 86400.0  # holders silent this long are deleted when a new one registers


def new_holder() -> str:
    return uuid.uuid4().hex


def register(db: sqlite3.Connection, holder: str) -> None:
    """Enter this process as a holder (inside the caller's transaction); forget long-dead ones."""
    now = time.time()
    db.execute("DELETE FROM holders WHERE beat < ?", (now - FORGET,))
    db.execute("DELETE FROM leases WHERE holder NOT IN (SELECT id FROM holders)")
    db.execute("INSERT OR REPLACE INTO holders VALUES (?, ?, ?, ?)", (holder, os.getpid(), socket.gethostname(), now))


def beat(db: sqlite3.Connection, holder: str) -> None:
    db.execute("UPDATE holders SET beat=? WHERE id=?", (time.time(), holder))


def drop(db: sqlite3.Connection, holder: str) -> None:
    """This process is done with the store: its leases and its holder row go."""
    db.execute("DELETE FROM leases WHERE holder=?", (holder,))
    db.execute("DELETE FROM holders WHERE id=?", (holder,))


def _alive(db: sqlite3.Connection, holder: str, now: float) -> bool:
    row = db.execute("SELECT pid, host, beat FROM holders WHERE id=?", (holder,)).fetchone()
    if row is None or row[2] < now - STALE:
        return False
    pid, host = row[0], row[1]
    if host != socket.gethostname():
        return True  # another machine's process with a fresh heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire(db: sqlite3.Connection, request_hash: str, holder: str) -> bool:
    """Take the lease of a request (inside the caller's transaction): True if this holder has it now."""
    now = time.time()
    cur = db.execute("INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(hash) DO NOTHING", (request_hash, holder, now))
    if cur.rowcount == 1:
        return True
    row = db.execute("SELECT holder FROM leases WHERE hash=?", (request_hash,)).fetchone()
    if row is None or row[0] == holder:
        if row is None:
            db.execute("INSERT INTO leases VALUES (?, ?, ?)", (request_hash, holder, now))
        return True
    if _alive(db, row[0], now):
        return False
    db.execute("UPDATE leases SET holder=?, since=? WHERE hash=?", (holder, now, request_hash))  # the holder died
    return True


def release(db: sqlite3.Connection, request_hash: str, holder: str) -> None:
    db.execute("DELETE FROM leases WHERE hash=? AND holder=?", (request_hash, holder))
