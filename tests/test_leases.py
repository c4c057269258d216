"""One store, several processes: a request being sent by one process is not sent by another (a lease in
the store), and a lease whose holder died is taken over."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter

from conftest import answers_for, cli_env, stored_samples, write_gsm8k
from fakeserver import FakeOpenAI, Policy

from polaris.store import leases


def _start(server, store, env, *extra):
    return subprocess.Popen([sys.executable, "-m", "polaris", "run", "-m", "openai/fake-model", "--base-url",
                             server.base_url, "--store", str(store), "--json", "--concurrency", "8", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _held(store) -> int:
    try:
        return sqlite3.connect(store).execute("SELECT COUNT(*) FROM leases").fetchone()[0]
    except sqlite3.Error:
        return 0


def _sent(server) -> Counter[str]:
    return Counter(json.dumps(b.get("messages"), sort_keys=True) for b in server.bodies)


def test_two_identical_runs_send_each_request_once(tmp_path):
    data = write_gsm8k(tmp_path / "data", 120)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k", data), latency=0.05, wrong_every=4)) as server:
        a, b = _start(server, store, env), _start(server, store, env)
        outs = [p.communicate(timeout=300) for p in (a, b)]
        sent = _sent(server)
    assert a.returncode == b.returncode == 0, outs
    ra, rb = (json.loads(out)["results"][0] for out, _ in outs)
    assert len(sent) == 120 and max(sent.values()) == 1  # the README's promise: never the same request twice
    assert ra["requests_sent"] + rb["requests_sent"] == 120
    assert ra["accuracy"] == rb["accuracy"] and ra["n"] == rb["n"] == 120 and ra["errors"] == rb["errors"] == 0
    db = sqlite3.connect(store)
    assert db.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 120
    assert db.execute("SELECT COUNT(*) FROM leases").fetchone()[0] == 0  # all given back
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_killed_holders_leases_are_taken_over(tmp_path):
    data = write_gsm8k(tmp_path / "data", 60)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k", data), latency=0.4)) as server:
        a = _start(server, store, env)
        while a.poll() is None and (stored_samples(store) < 8 or _held(store) == 0):
            time.sleep(0.01)
        a.send_signal(signal.SIGKILL)  # dies holding the leases of its requests in flight
        a.wait()
        held = _held(store)
        b = _start(server, store, env)
        out, err = b.communicate(timeout=300)
        sent = _sent(server)
    assert b.returncode == 0, err
    res = json.loads(out)["results"][0]
    assert held > 0 and res["n"] == 60 and res["errors"] == 0 and res["accuracy"] == 1.0
    # Only what the killed run had in flight was sent twice.
    assert sum(sent.values()) - len(sent) <= 8 and len(sent) == 60


def test_lease_rules(tmp_path):
    """The lease table on its own: taken once, refused to another live holder, released, stolen from the dead."""
    from polaris.store.store import Store

    db = Store(tmp_path / "s.db").db
    db.execute("BEGIN")
    leases.register(db, "me")
    leases.register(db, "other")
    assert leases.acquire(db, "h1", "me") and leases.acquire(db, "h1", "me")  # re-entrant
    assert not leases.acquire(db, "h1", "other")
    leases.release(db, "h1", "me")
    assert leases.acquire(db, "h1", "other")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db.execute("UPDATE holders SET pid=? WHERE id='other'", (dead.pid,))
    assert leases.acquire(db, "h1", "me")  # its holder's process is gone
    db.execute("UPDATE holders SET beat=beat-60 WHERE id='me'")
    assert leases.acquire(db, "h1", "other")  # a heartbeat older than STALE: gone too (another machine)
    db.execute("COMMIT")
