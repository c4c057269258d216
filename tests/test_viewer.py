"""`polaris view`: filters and keyset pagination return exactly the right rows, item details carry the
stored texts, the store is only read, and the server binds 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import cli_env

from polaris.report.viewer import make_server
from polaris.store.store import ResultRow, Store

RUNS = {
    # run id: (model, task, prompt, strategy, items, samples per item)
    "aaaa000000000001": ("openai/a", "gsm8k", "fewshot-cot", "greedy", 53, 1),
    "aaaa000000000002": ("openai/a", "gsm8k", "zeroshot-cot", "greedy", 41, 1),
    "bbbb000000000003": ("openai/b", "math", "fewshot-cot", "sc3@t0.7", 30, 3),
    "bbbb000000000004": ("openai/b", "gsm8k", "fewshot-cot", "greedy", 25, 1),
}


def _row(run: str, i: int, k: int) -> ResultRow:
    """A deterministic mix of right, wrong, partly right (tie credit), unextracted, disagreeing and failed items."""
    h = f"{run}-req-{i}"
    if i % 11 == 5:
        return ResultRow(f"q{i:03d}", i, "g", None, None, False, "http 503: busy", None, str(i), {"request": h})
    extracted = i % 4 != 0
    correct = 1.0 if extracted and i % 3 == 0 else 0.5 if extracted and i % 7 == 0 else 0.0
    answer = str(i if correct == 1.0 else i + 1) if extracted else None
    strict = answer if i % 5 else ("other" if extracted else "x")
    samples = [{"idx": j, "answer": answer, "strict": strict, "correct": correct, "strict_correct": 0.0,
                "vote": 0 if extracted else None, "steps": 2 + j, "finish": "stop"} for j in range(k)]
    data = {"request": h, "strict_answer": strict, "samples": samples}
    if k > 1:
        data["votes"] = {"top": k, "valid": k if extracted else 0, "tied": 1}
    return ResultRow(f"q{i:03d}", i, f"group-{i % 3}", correct, 1.0 if strict == str(i) else 0.0, extracted, None,
                     answer, str(i), data)


def _fill(path: Path) -> dict[str, list[ResultRow]]:
    db = Store(path)
    rows = {}
    try:
        for run, (model, task, prompt, strategy, n, k) in RUNS.items():
            spec = {"model": model, "task": task, "prompt": prompt, "samples": k, "temperature": 0.7 if k > 1 else 0.0}
            db.put_run(run, f"{model}/{task}/{prompt}/{strategy}", spec, {"strategy": strategy, "prompt": prompt})
            rows[run] = [_row(run, i, k) for i in range(n)]
            # Insert out of order: pages must follow (run, idx), not insertion order.
            db.put_results(run, list(reversed(rows[run])))
            for r in rows[run][:6]:
                request = {"model": model, "kind": "chat", "decoding": {"temperature": 0.0},
                           "messages": [{"role": "user", "content": f"Question {r.item} of {run}?"}]}
                db.record_call(r.data["request"], request, run=run, first_idx=0, n=k,
                               samples=[{"idx": j, "text": f"Response {j} to {r.item}", "finish": "stop"}
                                        for j in range(k)])
    finally:
        db.close()
    return rows


@pytest.fixture(scope="module")
def viewer(tmp_path_factory):
    path = tmp_path_factory.mktemp("viewer") / "store.db"
    rows = _fill(path)
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": server.url, "rows": rows, "path": path, "server": server}
    server.shutdown()
    server.server_close()


def get(url: str, path: str, params: dict | None = None, headers: dict | None = None) -> tuple[int, dict]:
    full = url.rstrip("/") + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(full, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _verdict(r: ResultRow) -> str:
    return "error" if r.error else "right" if (r.correct or 0) >= 1 else "wrong"


def expected(rows: dict[str, list[ResultRow]], f: dict) -> list[tuple[str, str]]:
    out = []
    for run, (model, task, prompt, strategy, _, _) in RUNS.items():
        if any(f.get(k) not in (None, v) for k, v in (("model", model), ("task", task), ("prompt", prompt),
                                                       ("strategy", strategy), ("run", run))):
            continue
        for r in rows[run]:
            if f.get("verdict") and _verdict(r) != f["verdict"]:
                continue
            if f.get("extraction") and (r.error or r.extracted != (f["extraction"] == "extracted")):
                continue
            if f.get("disagree") and (r.error or r.answer == r.data.get("strict_answer")):
                continue
            out.append((run, r.idx, r.item))
    return [(run, item) for run, _, item in sorted(out)]


FILTERS = [
    {}, {"model": "openai/a"}, {"task": "math"}, {"prompt": "zeroshot-cot"}, {"strategy": "sc3@t0.7"},
    {"run": "bbbb000000000004"}, {"verdict": "right"}, {"verdict": "wrong"}, {"verdict": "error"},
    {"extraction": "extracted"}, {"extraction": "unextracted"}, {"disagree": "1"},
    {"model": "openai/b", "verdict": "wrong", "extraction": "extracted"},
    {"task": "gsm8k", "prompt": "fewshot-cot", "disagree": "1", "verdict": "right"},
    {"model": "openai/nobody"}, {"model": "openai/a", "task": "math"},
]


@pytest.mark.parametrize("f", FILTERS, ids=[json.dumps(f) for f in FILTERS])
def test_filters_and_pages_return_exactly_the_right_rows(viewer, f):
    want = expected(viewer["rows"], f)
    got: list[tuple[str, str]] = []
    after = None
    pages = 0
    while True:
        params = dict(f, limit=7) | ({"after": json.dumps(after)} if after else {})
        status, page = get(viewer["url"], "/api/results", params)
        assert status == 200, page
        assert page["total"] == len(want)
        assert len(page["rows"]) <= 7
        got += [(r["run"], r["item"]) for r in page["rows"]]
        pages += 1
        if page["next"] is None:
            break
        after = page["next"]
    assert got == want
    assert pages == max(1, -(-len(want) // 7))
    assert get(viewer["url"], "/api/count", f) == (200, {"total": len(want)})


def test_rows_carry_what_the_list_shows(viewer):
    status, page = get(viewer["url"], "/api/results", {"run": "aaaa000000000001", "limit": 50})
    assert status == 200
    by_item = {r.item: r for r in viewer["rows"]["aaaa000000000001"]}
    for got in page["rows"]:
        r = by_item[got["item"]]
        assert (got["answer"], got["gold"], got["correct"], got["error"], got["extracted"]) == \
               (r.answer, r.gold, r.correct, r.error, r.extracted)
        assert got["strict_answer"] == r.data.get("strict_answer") and got["verdict"] == _verdict(r)
        assert got["label"] == "openai/a/gsm8k/fewshot-cot/greedy" and got["group"] == r.group
    assert [g["idx"] for g in page["rows"]] == list(range(50))
    status, page = get(viewer["url"], "/api/results", {"limit": 100000, "count": "0"})
    assert len(page["rows"]) == 149 and "total" not in page  # capped at 500 per page; count skipped


def test_item_detail_has_prompt_responses_votes(viewer):
    status, d = get(viewer["url"], "/api/item", {"run": "bbbb000000000003", "item": "q003"})
    assert status == 200
    assert d["request"]["messages"] == [{"role": "user", "content": "Question q003 of bbbb000000000003?"}]
    assert [s["text"] for s in d["samples"]] == [f"Response {j} to q003" for j in range(3)]
    assert [s["steps"] for s in d["samples"]] == [2, 3, 4] and d["votes"] == {"top": 3, "valid": 3, "tied": 1}
    assert (d["gold"], d["answer"], d["correct"], d["verdict"]) == ("3", "3", 1.0, "right")
    assert d["run"]["label"] == "openai/b/math/fewshot-cot/sc3@t0.7"
    status, d = get(viewer["url"], "/api/item", {"run": "aaaa000000000001", "item": "q005"})
    assert status == 200 and d["verdict"] == "error" and d["error"] == "http 503: busy"
    assert [s["text"] for s in d["samples"]] == ["Response 0 to q005"]  # no per-sample records: what is stored
    status, d = get(viewer["url"], "/api/item", {"run": "aaaa000000000001", "item": "q040"})
    assert status == 200 and d["request"] is None  # no call stored for it: the item still shows
    status, d = get(viewer["url"], "/api/item", {"run": "aaaa000000000001", "item": "nope"})
    assert status == 404


def test_planning_item_shows_verdict_and_rounds(tmp_path):
    from reportdata import planning_rows

    path = tmp_path / "plan.db"
    db = Store(path)
    rows = planning_rows()
    for r in rows:  # give each round a stored response
        for rd in r.data["modulo"]["rounds"]:
            rd["request"] = f"{r.item}-round-{rd['round']}"
            db.record_call(rd["request"], {"messages": []}, run="p", first_idx=0, n=1,
                           samples=[{"idx": 0, "text": f"[PLAN] round {rd['round']} of {r.item}"}])
    db.put_run("p", "openai/planner/blocksworld/one-shot/greedy", {"model": "openai/planner", "task": "blocksworld",
                                                                   "prompt": "one-shot"}, {"strategy": "greedy"})
    db.put_results("p", rows)
    db.close()
    server = make_server(path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, d = get(server.url, "/api/item", {"run": "p", "item": "3blocks/3"})  # never valid: 3 rounds
        assert status == 200
        assert d["detail"]["valid"] is False and d["detail"]["kind"] == "inexecutable"
        assert d["modulo"]["valid_at"] is None and d["modulo"]["feedback"] == "first"
        assert [r["response"] for r in d["modulo"]["rounds"]] == [f"[PLAN] round {k} of 3blocks/3" for k in range(3)]
        assert d["modulo"]["rounds"][0]["feedback"].startswith("The plan is invalid.")
    finally:
        server.shutdown()
        server.server_close()


def test_bad_requests_are_refused(viewer):
    url = viewer["url"]
    status, body = get(url, "/api/results", {"verdict": "maybe"})
    assert status == 400 and "verdict" in body["error"]
    status, body = get(url, "/api/results", {"after": "not json"})
    assert status == 400
    status, body = get(url, "/api/results", {"after": json.dumps(["x", "y", "z"])})
    assert status == 400 and "cursor" in body["error"]
    status, body = get(url, "/api/results", {"limit": "ten"})
    assert status == 400
    assert get(url, "/etc/passwd")[0] == 404 and get(url, "/../store.db")[0] == 404
    # DNS rebinding: a page on another origin that resolves to 127.0.0.1 sends its own Host header.
    status, body = get(url, "/api/meta", headers={"Host": "attacker.example:80"})
    assert status == 403
    assert get(url, "/api/meta", headers={"Host": "localhost"})[0] == 200
    # Cursors that are not cursors: a one-line 400, never a dropped connection.
    for after in ('["a", 1, "' + "x" * 5000 + '"]', "[" * 3000 + "]" * 3000, json.dumps(["a", 10**40, "b"]),
                  json.dumps(["a", 1, {"x": 1}]), json.dumps([1, 2, 3])):
        status, body = get(url, "/api/results", {"after": after})
        assert status == 400 and "after" in body["error"], (after[:40], body)


def test_host_header_must_name_this_server(viewer):
    url = viewer["url"]
    port = viewer["server"].server_address[1]
    for host in ("127.0.0.1.nip.io", f"127.0.0.1.nip.io:{port}", "127.1.2.3", f"localhost.attacker.example:{port}",
                 f"localhost:{port + 1}", "[::1]:1", "", "0.0.0.0"):
        assert get(url, "/api/meta", headers={"Host": host})[0] == 403, host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "LOCALHOST", "127.0.0.1"):
        assert get(url, "/api/meta", headers={"Host": host})[0] == 200, host


def test_a_non_loopback_host_warns_and_is_accepted_by_name(viewer):
    from polaris.report.viewer import host_allowed

    assert host_allowed("192.168.1.5:8765", {"localhost", "127.0.0.1", "[::1]", "192.168.1.5"}, 8765)
    assert not host_allowed("192.168.1.5.nip.io:8765", {"localhost", "127.0.0.1", "[::1]", "192.168.1.5"}, 8765)
    proc = subprocess.Popen([sys.executable, "-m", "polaris", "view", "--store", str(viewer["path"]), "--port", "0",
                             "--host", "0.0.0.0"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=cli_env())
    try:
        warning = proc.stderr.readline()
        assert warning.startswith("warning: the viewer listens on 0.0.0.0") and "anyone" in warning
        m = re.search(r"at (http://[^ ]+/)", proc.stderr.readline())
        port = m.group(1).rsplit(":", 1)[1].rstrip("/")
        assert get(f"http://127.0.0.1:{port}/", "/api/meta")[0] == 200
        assert get(f"http://127.0.0.1:{port}/", "/api/meta", headers={"Host": f"evil.example:{port}"})[0] == 403
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_meta_lists_runs_and_facets_and_sees_new_runs(viewer):
    status, meta = get(viewer["url"], "/api/meta")
    assert status == 200
    assert meta["facets"]["model"] == ["openai/a", "openai/b"]
    assert meta["facets"]["strategy"] == ["greedy", "sc3@t0.7"]
    assert {r["id"]: r["items"] for r in meta["runs"]} == {k: v[4] for k, v in RUNS.items()}


def test_page_html_and_script_are_served_with_a_strict_policy(viewer):
    with urllib.request.urlopen(viewer["url"], timeout=30) as res:
        page = res.read().decode()
        csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert '<script src="/viewer.js"' in page and "://" not in page
    js = (Path(__file__).resolve().parents[1] / "src/polaris/report/static/viewer.js").read_text()
    code = "\n".join(line for line in js.splitlines() if not line.lstrip().startswith("//"))
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", code)


def test_store_is_only_read(tmp_path):
    path = tmp_path / "ro.db"
    _fill(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    server = make_server(path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for p, q in (("/api/meta", None), ("/api/results", {"disagree": "1"}), ("/api/item", {"run": "aaaa000000000001",
                                                                                             "item": "q001"})):
            assert get(server.url, p, q)[0] == 200
    finally:
        server.shutdown()
        server.server_close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_cli_binds_loopback_by_default(viewer):
    proc = subprocess.Popen([sys.executable, "-m", "polaris", "view", "--store", str(viewer["path"]), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=cli_env())
    try:
        line = proc.stderr.readline()
        m = re.search(r"at (http://([^:/]+):(\d+)/)", line)
        assert m, line
        assert m.group(2) == "127.0.0.1"
        status, meta = get(m.group(1), "/api/meta")
        assert status == 200 and len(meta["runs"]) == len(RUNS)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    server = make_server(viewer["path"], port=0)
    try:
        assert server.server_address[0] == "127.0.0.1" and server.loopback
    finally:
        server.server_close()


def test_cli_view_errors(tmp_path):
    from conftest import polaris

    proc = polaris("view", "--store", str(tmp_path / "none.db"), "--port", "0")
    assert proc.returncode == 2 and "no Polaris store" in proc.stderr


def test_busy_port_is_a_one_line_error(viewer):
    from polaris.errors import PolarisError

    port = viewer["server"].server_address[1]
    with pytest.raises(PolarisError, match=f"cannot listen on 127.0.0.1:{port}"):
        make_server(viewer["path"], port=port)


def test_ctrl_c_stops_the_viewer_quietly(viewer):
    import signal

    proc = subprocess.Popen([sys.executable, "-m", "polaris", "view", "--store", str(viewer["path"]), "--port", "0"],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=cli_env())
    assert "Polaris viewer for" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err.strip() == "viewer stopped"


def test_a_failed_item_names_its_request(tmp_path):
    """A real run whose server failed some requests (one attempt each): each failed item's result names
    the request it sent, and the viewer shows that request, its question and its failed call."""
    import os
    from unittest import mock

    from conftest import answers_for, polaris, write_gsm8k
    from fakeserver import FakeOpenAI, Policy

    data = write_gsm8k(tmp_path / "data", 16)
    with mock.patch.dict(os.environ, {"POLARIS_DATA_DIR": str(data)}):
        answers = answers_for("gsm8k")
    store = tmp_path / "store.db"
    with FakeOpenAI(Policy(answers=answers, faults={"500": 0.4})) as server:
        proc = polaris("run", "-m", "openai/flaky", "--base-url", server.base_url, "--store", str(store), "-p",
                       "zeroshot-cot", "--max-attempts", "1", "--no-progress", env=cli_env(POLARIS_DATA_DIR=str(data)))
    assert proc.returncode == 4, proc.stderr
    db = Store(store, readonly=True)
    try:
        (run,) = db.runs()
        failed = [r for r in db.results(run.id) if r.error is not None]
        assert failed
        calls = {h: (ok, error) for h, ok, error in db.db.execute("SELECT hash, ok, error FROM calls")}
        for r in failed:
            assert calls[r.data["request"]] == (0, r.error)  # the request that failed, with this error
    finally:
        db.close()
    server = make_server(store, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status, d = get(server.url, "/api/item", {"run": run.id, "item": failed[0].item})
        assert status == 200 and d["verdict"] == "error" and d["request_found_by"] == "result"
        assert d["request"]["messages"][-1]["content"] == d["question"] and d["question"].startswith("Question:")
        assert [f["error"] for f in d["failures"]] == [failed[0].error] and d["failures"][0]["attempts"] == 1
        status, page = get(server.url, "/api/results", {"run": run.id, "verdict": "error"})
        assert len(page["rows"]) == len(failed) and all(r["question"].startswith("Question:") for r in page["rows"])
    finally:
        server.shutdown()
        server.server_close()


def test_an_older_failed_result_finds_its_request_among_the_failed_calls(tmp_path):
    """Results stored before they named a failed request: the run's one failed call with the same error
    is that request; several such calls cannot be told apart, and the page says which case it is."""
    path = tmp_path / "store.db"
    db = Store(path)
    try:
        db.put_run("cccc000000000001", "openai/c/gsm8k/zeroshot-cot/greedy",
                   {"model": "openai/c", "task": "gsm8k", "prompt": "zeroshot-cot"}, {"strategy": "greedy"})
        body = {"model": "openai/c", "kind": "chat", "messages": [{"role": "user", "content": "What is 2+2?"}]}
        db.record_call("h-once", body, run="cccc000000000001", first_idx=0, n=1, error="timeout: 600 s", attempts=3)
        for h in ("h-a", "h-b"):
            db.record_call(h, body | {"messages": [{"role": "user", "content": h}]}, run="cccc000000000001",
                           first_idx=0, n=1, error="http: HTTP 503", attempts=2)
        db.put_results("cccc000000000001", [
            ResultRow("q0", 0, "", None, None, False, "timeout: 600 s", None, "4", {"outcome": "error"}),
            ResultRow("q1", 1, "", None, None, False, "http: HTTP 503", None, "5", {"outcome": "error"}),
            ResultRow("q2", 2, "", None, None, False, "reset: gone", None, "6", {"outcome": "error"}),
        ])
    finally:
        db.close()
    server = make_server(path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        found = {item: get(server.url, "/api/item", {"run": "cccc000000000001", "item": item})[1]
                 for item in ("q0", "q1", "q2")}
    finally:
        server.shutdown()
        server.server_close()
    assert found["q0"]["request_found_by"] == "calls" and found["q0"]["question"] == "What is 2+2?"
    assert found["q0"]["failures"] == [{"error": "timeout: 600 s", "attempts": 3, "latency": None,
                                        "created": found["q0"]["failures"][0]["created"]}]
    assert (found["q1"]["request"], found["q1"]["request_found_by"]) == (None, "several")
    assert (found["q2"]["request"], found["q2"]["request_found_by"]) == (None, "none")


def test_the_question_is_what_was_asked():
    from polaris.analysis.answers import question_of

    lab = {"prompt": "562+568\n\nAnswer directly.\n"}
    # Zero-shot: the whole prompt (operands and hint), not its last block (the hint alone).
    assert question_of(lab, "zeroshot-direct") == "562+568\n\nAnswer directly."
    fewshot = {"prompt": "Q: 1+1?\nA: 2\n\nQ: 2+3?\nA:"}
    assert question_of(fewshot, "fewshot-direct") == "Q: 2+3?\nA:"
    chat = {"messages": [{"role": "user", "content": "Q: 1+1?"}, {"role": "assistant", "content": "2"},
                         {"role": "user", "content": "Q: 2+3?"}]}
    assert question_of(chat, "fewshot-cot") == question_of(chat, "zeroshot-cot") == "Q: 2+3?"
