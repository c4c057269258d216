"""Misbehaving servers on 127.0.0.1: malformed responses are retried, then recorded as errors with their
reason, never a traceback and never a wrong answer; stalled requests are caught long before --timeout."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

BAD = ("bad_status", "deep", "number", "finish_object", "null_content", "no_message")


@pytest.fixture
def data20(tmp_path, monkeypatch):
    root = write_gsm8k(tmp_path / "data", 20)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


def _run(url, store, data, *extra, model="openai/fake-model"):
    proc = polaris("run", "-m", model, "--base-url", url, "--store", str(store), "--json", *extra,
                   env=cli_env(POLARIS_DATA_DIR=str(data)))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_malformed_responses_are_retried_to_the_clean_answers(data20, tmp_path, stream):
    answers = answers_for("gsm8k")
    with FakeOpenAI(Policy(answers=answers, wrong_every=3)) as clean:
        ref = json.loads(_run(clean.base_url, tmp_path / "clean.db", data20).stdout)["results"][0]
    faults = {kind: 0.06 for kind in BAD}
    with FakeOpenAI(Policy(answers=answers, wrong_every=3, faults=faults, stream=stream)) as server:
        proc = _run(server.base_url, tmp_path / "s.db", data20, "-M", "backoff=0.01", "-M", "max-attempts=30")
        served = dict(server.faults_served)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)["results"][0]
    assert res["errors"] == 0 and res["accuracy"] == ref["accuracy"] and res["retries"] == sum(served.values()) > 0
    assert len(served) >= 4  # most kinds were met
    rows = sqlite3.connect(tmp_path / "s.db").execute("SELECT item, answer FROM results ORDER BY idx").fetchall()
    assert rows == sqlite3.connect(tmp_path / "clean.db").execute("SELECT item, answer FROM results ORDER BY idx").fetchall()


@pytest.mark.parametrize("kind,reason", [
    ("null_content", "message content is null"), ("no_message", "choice without a message"),
    ("number", "content is a number"), ("finish_object", "finish_reason is an object"),
    ("deep", "JSON nested too deeply"), ("bad_status", "malformed HTTP response"),
])
def test_a_server_that_always_answers_malformed_gives_errors_with_the_reason(data20, tmp_path, kind, reason):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), faults={kind: 1.0})) as server:
        proc = _run(server.base_url, tmp_path / "s.db", data20, "--limit", "5", "-M", "max-attempts=2",
                    "-M", "backoff=0.01")
    assert proc.returncode == 4, proc.stderr  # items in error: exit code 4, after the summary by reason
    res = json.loads(proc.stdout)["results"][0]
    assert res["errors"] == 5 and res["scored"] == 0 and res["accuracy"] is None  # errors, not wrong answers
    assert reason in res["error_reasons"][0]["example"] and reason in proc.stderr
    assert "5 items failed after retries" in proc.stderr
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("SELECT COUNT(*) FROM results WHERE error IS NOT NULL AND correct IS NULL").fetchone()[0] == 5
    assert db.execute("SELECT COUNT(*) FROM calls WHERE ok = 0 AND attempts = 2").fetchone()[0] == 5


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "plain"])
def test_content_parts_are_joined_and_lone_surrogates_are_made_valid(data20, tmp_path, stream):
    answers = answers_for("gsm8k")
    for shape in ("parts", "surrogate"):
        store = tmp_path / f"{shape}.db"
        with FakeOpenAI(Policy(answers=answers, shape=shape, stream=stream)) as server:
            proc = _run(server.base_url, store, data20)
        assert proc.returncode == 0, proc.stderr
        res = json.loads(proc.stdout)["results"][0]
        assert res["accuracy"] == 1.0 and res["errors"] == 0
        texts = [t for (t,) in sqlite3.connect(store).execute("SELECT text FROM samples")]
        assert len(texts) == 20 and all("The answer is" in t for t in texts)
        if shape == "surrogate":
            assert all(t.startswith("\ufffd") for t in texts)  # stored as valid UTF-8
        assert sqlite3.connect(store).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _raw_server(responses):
    """A socket server that answers each connection with the next raw bytes (then closes it)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)

    def serve():
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length")), b"0"))
                while len(rest) < length:
                    rest += conn.recv(65536)
                path = head.split(b" ")[1]
                conn.sendall(responses(path, rest))

    threading.Thread(target=serve, daemon=True).start()
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


def test_raw_garbage_from_a_socket_never_crashes_the_run(data20, tmp_path):
    """Malformed status lines, headers, chunked framing and half bodies, one after another; the run ends
    with every item in error, each with its reason."""
    models = b'{"object": "list", "data": [{"id": "m"}]}'
    garbage = [b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}",
               b"garbage\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX: " + b"a" * 70000 + b"\r\n\r\n{}",
               b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"choices\": [",
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\nzz\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00{"]
    count = [0]

    def respond(path, body):
        if path.endswith(b"/models"):
            return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
                len(models), models)
        count[0] += 1
        return garbage[count[0] % len(garbage)]

    sock, url = _raw_server(respond)
    try:
        proc = _run(url, tmp_path / "s.db", data20, "--limit", "6", "-M", "max-attempts=3", "-M", "backoff=0.01",
                    model="openai/m")
    finally:
        sock.close()
    assert proc.returncode == 4, proc.stderr
    res = json.loads(proc.stdout)["results"][0]
    assert res["errors"] == 6 and count[0] <= 18  # some attempts die on a connection the server already closed
    attempts = sqlite3.connect(tmp_path / "s.db").execute("SELECT attempts FROM calls").fetchall()
    assert attempts == [(3,)] * 6
    assert {"protocol", "truncated", "bad response"} & {r["reason"] for r in res["error_reasons"]}


def test_hung_and_stalled_requests_are_resent_long_before_the_timeout(data20, tmp_path):
    """1 request in 10 never answers (or stops mid-stream) for a minute; with --timeout 600 the stall
    detector resends it after a few seconds, and the scores equal a clean run's."""
    answers = answers_for("gsm8k")
    policy = Policy(answers=answers, faults={"hang": 0.1, "stall": 0.1}, hang_seconds=60)
    with FakeOpenAI(policy) as server:
        proc = _run(server.base_url, tmp_path / "s.db", data20, "-M", "stall-timeout=2", "-M", "timeout=600")
        log = list(server.attempt_log)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)["results"][0]
    assert res["accuracy"] == 1.0 and res["errors"] == 0 and res["retries"] > 0
    by_key: dict[str, list[tuple[float, str | None]]] = {}
    for t, key, fault in log:
        by_key.setdefault(key, []).append((t, fault))
    gaps = [b[0] - a[0] for tries in by_key.values() for a, b in zip(tries, tries[1:]) if a[1] in ("hang", "stall")]
    assert gaps and max(gaps) < 20  # resent within seconds, not after the 600 s timeout or the 60 s hang


def test_a_server_that_does_not_stream_falls_back_to_the_timeout(data20, tmp_path):
    answers = answers_for("gsm8k")
    # Faults are seeded by request: at 0.3 some of the 20 requests hang whatever the prompts are.
    with FakeOpenAI(Policy(answers=answers, stream=False, faults={"hang": 0.3}, hang_seconds=30)) as server:
        proc = _run(server.base_url, tmp_path / "s.db", data20, "-M", "timeout=2")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)["results"][0]
    assert res["accuracy"] == 1.0 and res["retries"] > 0


def test_a_server_that_refuses_stream_is_asked_without_it(data20, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), refuse_stream=True)) as server:
        proc = _run(server.base_url, tmp_path / "s.db", data20, "--concurrency", "1")
        bodies = list(server.bodies)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)["results"][0]
    assert res["accuracy"] == 1.0 and res["errors"] == 0 and res["retries"] == 0
    assert bodies[0].get("stream") is True and not any(b.get("stream") for b in bodies[2:])
    assert len(bodies) == 21  # one refused streamed request, then 20 plain ones
