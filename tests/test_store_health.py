"""A store that is a directory, on a full disk, damaged, written by a newer Polaris, or on read-only media:
one line naming the file, never a traceback; nothing stored is lost and a full disk's run resumes."""

from __future__ import annotations

import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from conftest import answers_for, cli_env, polaris, stored_samples, write_gsm8k
from fakeserver import FakeOpenAI, Policy


@pytest.fixture
def data(tmp_path):
    return write_gsm8k(tmp_path / "data", 300)


def _one_line(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@contextmanager
def tmpfs(path: Path, size: str):
    """A small tmpfs at `path` (root only); skips the test where mounting is not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                           capture_output=True).returncode != 0:
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _run(server, store, data, preexec=None):
    return subprocess.run([sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--base-url",
                           server.base_url, "--store", str(store), "--json"], env=cli_env(POLARIS_DATA_DIR=str(data)),
                          capture_output=True, text=True, preexec_fn=preexec, timeout=300)


def test_a_directory_is_not_a_store(tmp_path, data):
    (tmp_path / "dir.db").mkdir()
    for args in (["run", "-m", "baseline/gold"], ["report", "--out", str(tmp_path / "r")], ["rescore"]):
        line = _one_line(polaris(*args, "--store", str(tmp_path / "dir.db"), env=cli_env(POLARIS_DATA_DIR=str(data))))
        assert "is a directory, not a store file" in line


def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes_once_space_is_freed(tmp_path, data):
    answers = answers_for("gsm8k", data)
    with tmpfs(tmp_path / "mnt", "24m") as mnt, FakeOpenAI(Policy(answers=answers)) as server:
        if mnt is not None:  # a real full filesystem: a filler takes all of it but 600 kB
            store = mnt / "s.db"
            (mnt / "filler").write_bytes(b"\0" * (24 * 2**20 - 600_000))
            proc = _run(server, store, data)
        else:  # no mount here: a file size limit (RLIMIT_FSIZE) fills up the same way
            store = tmp_path / "s.db"
            proc = _run(server, store, data, preexec=lambda: resource.setrlimit(resource.RLIMIT_FSIZE,
                                                                                (600_000, 600_000)))
        line = _one_line(proc)
        assert ("is full" in line or "disk I/O error" in line) and str(store) in line
        assert "everything" in line and "run the same command again" in line
        kept = stored_samples(store)
        assert 0 < kept < 300
        with closing(sqlite3.connect(store)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if mnt is not None:
            (mnt / "filler").unlink()  # space freed
        before = server.hits["chat"]
        again = _run(server, store, data)
        assert again.returncode == 0, again.stderr
        res = json.loads(again.stdout)["results"][0]
        assert res["n"] == 300 and res["errors"] == 0 and res["accuracy"] == 1.0
        assert res["requests_sent"] == 300 - kept and server.hits["chat"] - before == 300 - kept


def _gold_store(tmp_path, data) -> Path:
    store = tmp_path / "s.db"
    polaris("run", "-m", "baseline/gold", "--store", str(store), "--json", env=cli_env(POLARIS_DATA_DIR=str(data)),
            check=True)
    return store


def test_a_damaged_store_is_called_damaged(tmp_path, data):
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = _gold_store(tmp_path, data)
    size = store.stat().st_size
    half = tmp_path / "half.db"
    half.write_bytes(store.read_bytes()[: size // 2])
    scribbled = tmp_path / "scribbled.db"
    raw = bytearray(store.read_bytes())
    for page in range(3, size // 4096 - 1, 2):  # every other page after the first few, overwritten
        raw[page * 4096: page * 4096 + 4096] = os.urandom(4096)
    scribbled.write_bytes(bytes(raw))
    for damaged in (half, scribbled):
        for args in (["rescore"], ["report", "--out", str(tmp_path / "r")], ["run", "-m", "baseline/gold", "--json"]):
            line = _one_line(polaris(*args, "--store", str(damaged), env=env))
            assert f"{damaged} is damaged" in line and ".recover" in line, line
    assert "damaged" not in polaris("rescore", "--store", str(store), env=env).stderr


def test_a_store_from_a_newer_polaris_is_refused(tmp_path, data):
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = _gold_store(tmp_path, data)
    with closing(sqlite3.connect(store)) as db:
        db.execute("UPDATE meta SET value='99' WHERE key='schema'")
        db.commit()
    for args in (["run", "-m", "baseline/gold"], ["report", "--out", str(tmp_path / "r")],
                 ["leaderboard"], ["rescore"]):
        line = _one_line(polaris(*args, "--store", str(store), env=env))
        assert "written by a newer Polaris (store schema 99" in line


def test_an_old_store_is_brought_up_to_date(tmp_path, data):
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = _gold_store(tmp_path, data)
    with closing(sqlite3.connect(store)) as db:  # as the first Polaris wrote it: schema 1, no lease tables
        db.execute("DROP TABLE leases")
        db.execute("DROP TABLE holders")
        db.execute("DROP TABLE invocations")  # schema 3: run histories
        db.execute("DROP TABLE result_sources")
        db.execute("UPDATE meta SET value='1' WHERE key='schema'")
        db.commit()
    assert polaris("report", "--store", str(store), "--out", str(tmp_path / "r"), env=env).returncode == 0
    proc = polaris("run", "-m", "baseline/gold", "--store", str(store), "--json", env=env)
    assert proc.returncode == 0, proc.stderr and json.loads(proc.stdout)["results"][0]["cached"] == 300
    with closing(sqlite3.connect(store)) as db:
        assert db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == "3"
        assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM invocations").fetchone()[0] == 1  # the run after the migration


def test_read_only_media_can_be_read(tmp_path, data):
    env = cli_env(POLARIS_DATA_DIR=str(data))
    built = _gold_store(tmp_path, data)
    with tmpfs(tmp_path / "ro", "8m") as mnt:
        if mnt is not None:
            shutil.copy(built, mnt / "s.db")
            assert subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True).returncode == 0
            store = mnt / "s.db"
        elif os.geteuid() != 0:  # without root: a read-only directory and file
            ro = tmp_path / "ro"
            shutil.copy(built, ro / "s.db")
            os.chmod(ro / "s.db", 0o444)
            os.chmod(ro, 0o555)
            store = ro / "s.db"
        else:
            pytest.skip("cannot make read-only media here (root without mount)")
        for args in (["report", "--out", str(tmp_path / "r")], ["leaderboard"], ["samples", "-t", "gsm8k"],
                     ["leaderboard", "--json"]):
            proc = polaris(*args, "--store", str(store), env=env)
            assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
        assert (tmp_path / "r" / "index.html").is_file()
        line = _one_line(polaris("run", "-m", "baseline/gold", "--store", str(store), env=env))
        assert "read-only" in line and str(store) in line
        if mnt is None:
            os.chmod(tmp_path / "ro", 0o755)


def test_a_run_from_a_newer_polaris_is_named_not_a_traceback(tmp_path, data):
    """A newer Polaris may add fields to a cell (same store schema): this one says so in one line."""
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = _gold_store(tmp_path, data)
    with closing(sqlite3.connect(store)) as db:
        (spec,) = db.execute("SELECT spec FROM runs").fetchone()
        db.execute("UPDATE runs SET spec=?", (json.dumps({**json.loads(spec), "speculative_decoding": 4}),))
        db.commit()
    line = _one_line(polaris("rescore", "--store", str(store), env=env))
    assert "stored by a newer Polaris" in line and "speculative_decoding" in line
