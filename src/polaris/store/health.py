"""A store file's health: what it is, which schema it has, and one-line errors for what goes wrong.

- The schema version (meta key `schema`) is checked on every open: a store written by a newer
  Polaris is refused (its tables may mean something this version does not know); an older one is
  brought up to date by MIGRATIONS, which are additive (new tables and columns only), so older
  stores and the results in them stay valid. To change the schema: add an entry with the next
  version number whose SQL is idempotent (CREATE TABLE IF NOT EXISTS, guarded ALTER TABLE ADD COLUMN).
- A file that is not a store, a directory, a damaged file (`PRAGMA quick_check`), a full disk, a
  read-only medium: each is one line naming the file (`describe`), never a traceback.
- Read-only commands open the store read-only, and on read-only media immutable (`open_readonly`).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from polaris.errors import PolarisError
from polaris.store import invocations, leases

SCHEMA_VERSION = 3
MIGRATIONS: dict[int, str] = {
    2: leases.SCHEMA,  # one store, several processes: request leases (store/leases.py)
    3: invocations.SCHEMA,  # run histories: invocations and result sources (store/invocations.py)
}
SQLITE_MAGIC = b"SQLite format 3\x00"
# Process-wide on purpose: an error raised far from where the store was opened (a damaged page met by
# a report query) and a Ctrl-C anywhere are reported by the CLI, which needs the file's name and how
# much this command stored ("interrupted: N results kept").
_opened: dict[str, None] = {}
_kept = [0]


def count_kept(n: int) -> None:
    _kept[0] += n


def kept() -> int:
    """Responses and item results this process has committed to a store."""
    return _kept[0]


class StoreError(PolarisError):
    """The store file cannot be used as asked; the message names the file and what to do."""


def remember(path: Path) -> None:
    _opened[str(path)] = None


def opened() -> list[str]:
    return list(_opened)


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(path.resolve()))}?{query}"


def open_readonly(path: Path, timeout: float = 60) -> sqlite3.Connection:
    """A read-only connection. On read-only media SQLite cannot create the WAL index a WAL store
    needs, so the store is opened immutable: nothing can change it there."""
    con = sqlite3.connect(_uri(path, mode="ro"), uri=True, timeout=timeout, isolation_level=None,
                          check_same_thread=False)
    try:
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return con
    except sqlite3.OperationalError as exc:
        con.close()
        if "unable to open" not in str(exc) and "readonly" not in str(exc):
            raise
    wal = Path(f"{path}-wal")
    if wal.exists() and wal.stat().st_size > 0 and os.access(path.parent, os.W_OK):
        raise StoreError(f"cannot read {path}: its write-ahead log {wal} cannot be opened; is another user writing it?")
    con = sqlite3.connect(_uri(path, mode="ro", immutable="1"), uri=True, timeout=timeout, isolation_level=None,
                          check_same_thread=False)
    return con


def quick_check(path: Path) -> str:
    """'ok', or the first problem `PRAGMA quick_check` finds (or the error it stops with)."""
    try:
        con = open_readonly(path, timeout=5)
        try:
            rows = con.execute("PRAGMA quick_check").fetchmany(3)
        finally:
            con.close()
    except (sqlite3.Error, PolarisError) as exc:
        return str(exc)
    first = rows[0][0] if rows else "no answer"
    if first == "ok":
        return "ok"
    problems = [p.strip() for r in rows for p in str(r[0]).splitlines() if p.strip() and "***" not in p]
    return f"quick_check: {(problems or [first])[0][:120]}" + (" and more" if len(problems) > 1 else "")


def damaged(path: Path, detail: str) -> StoreError:
    return StoreError(f"{path} is damaged ({detail}); restore it from a copy, or salvage what is readable with"
                      f" `sqlite3 {path} .recover | sqlite3 recovered.db`")


def inspect(path: Path) -> int | None:
    """The schema version of the Polaris store at `path`, None if there is none yet (no file, or an
    empty one); one-line errors for a directory, another kind of file, a damaged or a newer store."""
    if path.is_dir():
        raise StoreError(f"{path} is a directory, not a store file; pass --store {path / 'polaris.db'}")
    if not path.exists() or path.stat().st_size == 0:
        return None
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror or exc}") from None
    if head != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a Polaris store (not an SQLite database); choose another --store")
    try:
        con = open_readonly(path)
    except sqlite3.DatabaseError as exc:
        raise describe(exc, path) from None
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return None  # another process is creating it right now
        meta = dict(con.execute("SELECT key, value FROM meta WHERE key IN ('app', 'schema')").fetchall()) \
            if "meta" in tables else {}
    except sqlite3.DatabaseError as exc:
        check = quick_check(path)
        raise damaged(path, check if check != "ok" else str(exc)) from None
    finally:
        con.close()
    if meta.get("app") != "polaris":
        raise StoreError(f"{path} is an SQLite database but not a Polaris store; choose another --store")
    try:
        version = int(meta.get("schema", "1"))
    except ValueError:
        raise StoreError(f"{path} has an unreadable schema version {meta.get('schema')!r}") from None
    if version > SCHEMA_VERSION:
        from polaris import __version__

        raise StoreError(f"{path} was written by a newer Polaris (store schema {version}; Polaris {__version__} knows"
                         f" up to {SCHEMA_VERSION}); upgrade Polaris to use it, or choose another --store")
    return version


def migrate(db: sqlite3.Connection, version: int) -> None:
    """Bring a store from `version` up to SCHEMA_VERSION (additive, in one transaction)."""
    if version >= SCHEMA_VERSION:
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        current = int((db.execute("SELECT value FROM meta WHERE key='schema'").fetchone() or ("1",))[0])
        for v in range(current + 1, SCHEMA_VERSION + 1):
            for statement in filter(str.strip, MIGRATIONS.get(v, "").split(";")):
                db.execute(statement)
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def describe(exc: sqlite3.Error, path: str | Path | None = None) -> StoreError:
    """A one-line StoreError for an SQLite failure on a store (named, or the one this process opened)."""
    where = Path(path) if path is not None else (Path(opened()[-1]) if opened() else None)
    shown = str(where) if where is not None else "the store"
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(f"the disk holding {shown} is full (or the file reached a size limit); everything stored"
                          " is kept: free some space and run the same command again to continue")
    unwritable = where is not None and where.exists() and not (os.access(where, os.W_OK)
                                                              and os.access(where.parent, os.W_OK))
    if name.startswith("SQLITE_READONLY") or "readonly" in text or (unwritable and "unable to open" in text):
        return StoreError(f"{shown} is read-only (read-only media or permissions); commands that only read it work,"
                          " this one writes to it")
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return StoreError(f"cannot write {shown}: disk I/O error (a full disk, a size limit or a failing device);"
                          " everything committed is kept: fix it and run the same command again")
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return StoreError(f"{shown} stayed locked by another process for over a minute; try again when it is done")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        check = quick_check(where) if where is not None else text
        return damaged(where, check if check != "ok" else text) if where is not None else StoreError(
            f"the store is damaged ({text})")
    return StoreError(f"cannot use {shown}: {text}")
