"""Permanent errors fail loudly and early; quirks of a server are said once; bounds are one-line errors.

Exit codes (docs/scale.md): 0 done, 2 one-line error (and a cell the server refused), 3 budget, 4 items
in error after retries, 130 interrupted."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy


@pytest.fixture
def data(tmp_path, monkeypatch):
    root = write_gsm8k(tmp_path / "data", 40)
    monkeypatch.setenv("POLARIS_DATA_DIR", str(root))
    return root


def _run(server, store, data, *extra, model="openai/fake-model", env=None):
    proc = polaris("run", "-m", model, "--base-url", server if isinstance(server, str) else server.base_url,
                   "--store", str(store), *extra, env=env or cli_env(POLARIS_DATA_DIR=str(data)))
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]


def test_model_name_is_checked_against_the_servers_list(data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), served=["qwen-0.5b", "llama-3-8b"])) as server:
        proc = _run(server, tmp_path / "s.db", data, model="openai/gpt-4o")
        assert server.hits["chat"] == 0
    assert proc.returncode == 2 and len(_lines(proc.stderr)) == 1
    assert "does not serve model 'gpt-4o'" in proc.stderr and "qwen-0.5b, llama-3-8b" in proc.stderr
    # Ollama lists its models with a tag; the bare name means :latest.
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), served=["llama3:latest"])) as server:
        ok = _run(server, tmp_path / "t.db", data, "--limit", "2", model="openai/llama3")
    assert ok.returncode == 0, ok.stderr


def test_a_refused_cell_stops_at_once_quoting_the_server(data, tmp_path):
    """`transformers serve MODEL` lists nothing useful and answers every other model name with 400."""
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), pinned=True, served=[])) as server:
        proc = _run(server, tmp_path / "s.db", data, "--concurrency", "4", "--json", model="openai/other")
        sent = server.hits["chat"]
    assert proc.returncode == 2
    errors = [line for line in _lines(proc.stderr) if line.startswith("error:")]
    assert len(errors) == 1 and "stopped, the server refused its first" in errors[0]
    assert "Server is pinned to 'fake-model'; requested 'other'." in errors[0]
    assert 3 <= sent <= 4 + 3  # not the 40 items: at most the requests already in flight
    res = json.loads(proc.stdout)["results"][0]
    assert "Server is pinned" in res["refused"] and res["scored"] == 0
    # An item-level refusal among answered items is that item's error, and the run goes on.
    policy = Policy(answers=answers_for("gsm8k"), faults={"400": 0.3})
    with FakeOpenAI(policy) as server:
        proc = _run(server, tmp_path / "t.db", data, "--concurrency", "1", "--json")
    res = json.loads(proc.stdout)["results"][0]
    if res.get("refused"):  # the first three drawn were all refusals (seeded by request: possible, rare)
        assert proc.returncode == 2
    else:
        assert proc.returncode == 4 and res["n"] == 40 and 0 < res["errors"] < 40
        assert res["error_reasons"][0]["reason"] == "HTTP 400" and "invalid request" in proc.stderr


def test_loglik_on_a_server_without_batched_prompts_is_exit_2(tmp_path):
    from mcdata import write_mmlu

    root = write_mmlu(tmp_path / "mc")
    with FakeOpenAI(Policy(string_prompt_only=True)) as server:
        proc = _run(server, tmp_path / "s.db", root, "-t", "mmlu/anatomy", "--scoring", "loglik", "--json",
                    env=cli_env(POLARIS_DATA_DIR=str(root)))
    assert proc.returncode == 2, proc.stderr
    assert "does not return prompt log-probabilities" in proc.stderr and "prompt must be a string." in proc.stderr
    assert len(_lines(proc.stderr)) == 1


def test_ignored_n_is_said_once_and_compensated(data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), ignore_n=True, p_correct=0.7)) as server:
        proc = _run(server, tmp_path / "s.db", data, "--limit", "10", "--samples", "4", "--temperature", "0.7",
                    "--json")
        calls = server.hits["chat"]
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("ignores `n`") == 1
    res = json.loads(proc.stdout)["results"][0]
    assert calls == 40 and res["samples_per_item"] == 4 and "n" in res["quirks"]
    assert not res.get("sampling_degenerate")


def test_ignored_temperature_is_warned_and_curves_are_marked_degenerate(data, tmp_path):
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), ignore_temperature=True, p_correct=0.5)) as server:
        proc = _run(server, store, data, "--limit", "8", "--samples", "4", "--temperature", "0.8", "--json")
        table = _run(server, store, data, "--limit", "8", "--samples", "4", "--temperature", "0.8")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("seems to ignore temperature") == 1
    res = json.loads(proc.stdout)["results"][0]
    assert res["sampling_degenerate"] is True and res["maj_at"]["4"] == res["maj_at"]["1"]
    assert "degenerate" in table.stdout  # the curves table says so
    rescored = json.loads(polaris("rescore", "--store", str(store), "--json").stdout)["results"][0]
    assert rescored["sampling_degenerate"] is True  # from the store alone
    out = tmp_path / "report"
    rep = polaris("report", "--store", str(store), "--out", str(out))
    assert rep.returncode == 0, rep.stderr
    assert "degenerate" in (out / "index.html").read_text()
    # A server that samples: no warning, no mark.
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), p_correct=0.5)) as server:
        fine = _run(server, tmp_path / "t.db", data, "--limit", "8", "--samples", "4", "--temperature", "0.8",
                    "--json")
    assert "temperature" not in fine.stderr and "sampling_degenerate" not in json.loads(fine.stdout)["results"][0]


@pytest.mark.parametrize("args,message", [
    (["--samples", "1000000000", "--temperature", "0.7"], "--samples is at most 1024"),
    (["-M", "timeout=inf"], "finite"),
    (["-M", "timeout=nan"], "finite"),
    (["-M", "stall-timeout=inf"], "finite"),
    (["--temperature", "inf"], "finite"),
    (["--temperature", "nan"], "finite"),
    (["--top-p", "nan"], "finite"),
])
def test_bounds_are_one_line_errors(data, tmp_path, args, message):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        proc = _run(server, tmp_path / "s.db", data, *args)
        assert server.hits["chat"] == 0
    assert proc.returncode == 2 and message in proc.stderr and len(_lines(proc.stderr)) == 1, proc.stderr


def test_many_samples_are_asked_in_bounded_calls(data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"), fixed="The answer is 3.")) as server:
        proc = _run(server, tmp_path / "s.db", data, "--limit", "1", "--samples", "300", "--temperature", "1",
                    "--json")
        ns = [b.get("n", 1) for b in server.bodies]
    assert proc.returncode == 0, proc.stderr
    assert ns == [128, 128, 44]
    assert sqlite3.connect(tmp_path / "s.db").execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 300


def test_credentials_in_the_url_with_a_key_is_one_line(data, tmp_path):
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        url = server.base_url.replace("http://", "http://user:hunter22@")
        proc = _run(url, tmp_path / "s.db", data, env=cli_env(POLARIS_DATA_DIR=str(data), OPENAI_API_KEY="sk-1234"))
    assert proc.returncode == 2 and len(_lines(proc.stderr)) == 1
    assert "user name and password and OPENAI_API_KEY" in proc.stderr and "hunter22" not in proc.stderr


def test_a_query_string_goes_after_the_path_and_its_secrets_are_not_stored(data, tmp_path):
    store = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers_for("gsm8k"))) as server:
        url = server.base_url + "?api-version=2024-06-01&key=SECRETVALUE123"
        proc = _run(url, store, data, "--limit", "3", "--json")
        queries = list(server.queries)
    assert proc.returncode == 0, proc.stderr
    assert queries == ["api-version=2024-06-01&key=SECRETVALUE123"] * 3  # sent on every request, after the path
    dump = "\n".join(sqlite3.connect(store).iterdump())
    assert "SECRETVALUE123" not in dump and "SECRETVALUE123" not in proc.stdout + proc.stderr
    assert "api-version=2024-06-01&key=***" in dump
    bad = _run(server.base_url + "#frag", tmp_path / "t.db", data)
    assert bad.returncode == 2 and "fragment" in bad.stderr
