"""Bad input: a one-line error that names what is wrong and where, exit code 2, store unchanged."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
from conftest import answers_for, cli_env, polaris, write_gsm8k, write_gsm8k_prompt
from fakeserver import FakeOpenAI, Policy


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data dir, a store with one finished run, and a live fake server."""
    root = tmp_path_factory.mktemp("bad")
    data = write_gsm8k(root / "data", 5)
    env = cli_env(POLARIS_DATA_DIR=str(data))
    answers = answers_for("gsm8k", data)
    server = FakeOpenAI(Policy(answers=answers)).__enter__()
    not_openai = FakeOpenAI(Policy(not_openai=True)).__enter__()
    locked = FakeOpenAI(Policy(answers=answers, api_key="the-right-key")).__enter__()
    store = root / "store.db"
    ok = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(store), env=env)
    assert ok.returncode == 0, ok.stderr
    # Malformed variants of the data directory.
    bad = {}
    for name, content in {
        "malformed_json": b'{"question": "q", "answer": "#### 1"}\n{"question": oops}\n',
        "missing_field": b'{"question": "q"}\n',
        "not_utf8": b'{"question": "caf\\u00e9", "answer": "#### 1"}\n{"question": "\xff\xfe", "answer": "#### 2"}\n',
        "no_final_answer": b'{"question": "q", "answer": "just text"}\n',
        "truncated_jsonl": b'{"question": "q", "answer": "#### 1"}\n{"question": "q2", "ans',
    }.items():
        d = root / name / "gsm8k"
        d.mkdir(parents=True)
        (d / "test.jsonl").write_bytes(content)
        (d / "train.jsonl").write_bytes((data / "gsm8k" / "train.jsonl").read_bytes())
        write_gsm8k_prompt(root / name)
        bad[name] = root / name
    # MMLU-style CSV files (headerless: question, four options, answer letter).
    good_row = b'"Which is a bone?",femur,liver,"heart, left",lung,A\n'
    for name, content in {
        "truncated_csv": good_row + b'"Which is an organ?",femur,liv',
        "bad_csv_answer": good_row + b'"Which is an organ?",femur,liver,heart,lung,E\n',
        "missing_csv": None,
    }.items():
        d = root / name / "mmlu" / "test"
        d.mkdir(parents=True)
        if content is not None:
            (d / "anatomy_test.csv").write_bytes(content)
        bad[name] = root / name
    # Experiment files (for `polaris experiment run`).
    for name, content in {
        "grid_syntax.yaml": b"models: [openai/fake-model\ntasks: [gsm8k]\n",
        "grid_list.yaml": b"- openai/fake-model\n- gsm8k\n",
        "grid_types.yaml": b"models: 42\ntasks: {gsm8k: yes}\nprompts: fewshot-cot\n",
        "grid_bytes.yaml": b"models: [openai/fake-model]\ntasks: [\xff\xfe]\n",
    }.items():
        (root / name).write_bytes(content)
    (root / "notadb.db").write_text("just some text, not a database\n")
    import sqlite3

    other = sqlite3.connect(root / "other.db")
    other.execute("CREATE TABLE t (x)")
    other.commit()
    other.close()
    has_experiment = polaris("experiment", "--help", env=env).returncode == 0
    yield {"root": root, "data": data, "env": env, "server": server, "store": store, "bad": bad,
           "not_openai": not_openai, "locked": locked, "has_experiment": has_experiment}
    for s in (server, not_openai, locked):
        s.__exit__(None, None, None)


def run_args(w, *extra, server="server"):
    return ["run", "-m", "openai/fake-model", "--base-url", w[server].base_url, "--store", str(w["store"]), *extra]


def experiment(name):
    return lambda w: ["experiment", "run", str(w["root"] / name)]


CASES = {
    "unknown task": (lambda w: run_args(w, "--task", "gsm9k"), None, "unknown task 'gsm9k'"),
    "unknown model provider": (lambda w: ["run", "-m", "nope/x", "--store", str(w["store"])], None, "unknown model provider"),
    "model without provider": (lambda w: ["run", "-m", "gpt4", "--store", str(w["store"])], None, "<provider>/<model>"),
    "unknown prompt format": (lambda w: run_args(w, "--prompt", "fewshot-tot"), None, "prompt format 'fewshot-tot'"),
    "unknown api": (lambda w: run_args(w, "--api", "responses"), None, "unknown --api 'responses'"),
    "wrong option type": (lambda w: run_args(w, "--limit", "ten"), None, "Invalid value for '--limit'"),
    "negative concurrency": (lambda w: run_args(w, "--concurrency", "0"), None, "--concurrency"),
    "unreachable base url": (lambda w: ["run", "-m", "openai/x", "--base-url", "http://127.0.0.1:9/v1", "--store",
                                        str(w["store"])], None, "cannot reach http://127.0.0.1:9/v1"),
    "base url not http": (lambda w: ["run", "-m", "openai/x", "--base-url", "ftp://x", "--store", str(w["store"])],
                          None, "not an http(s) URL"),
    "malformed JSONL row": (lambda w: run_args(w), "malformed_json", "test.jsonl:2: malformed JSON"),
    "missing field": (lambda w: run_args(w), "missing_field", "test.jsonl:1: missing field 'answer'"),
    "non-UTF-8 bytes": (lambda w: run_args(w), "not_utf8", "test.jsonl:2: not valid UTF-8"),
    "no #### answer": (lambda w: run_args(w), "no_final_answer", "test.jsonl:1: field 'answer'"),
    "missing data dir": (lambda w: run_args(w), "absent", "missing data file"),
    "exemplar file missing": (lambda w: run_args(w, "--exemplars", "nope.txt"), None, "--exemplars 'nope.txt'"),
    "samples without temperature": (lambda w: run_args(w, "--samples", "4"), None, "--samples > 1 needs --temperature"),
    "store is not sqlite": (lambda w: ["run", "-m", "baseline/gold", "--store", str(w["root"] / "notadb.db")], None,
                            "is not a Polaris store"),
    "store is another sqlite db": (lambda w: ["run", "-m", "baseline/gold", "--store", str(w["root"] / "other.db")],
                                   None, "not a Polaris store"),
    "rescore missing store": (lambda w: ["rescore", "--store", str(w["root"] / "nothing" / "x.db")], None,
                              "no Polaris store at"),  # rescore reads a store; it never creates one
    "truncated JSONL line": (lambda w: run_args(w), "truncated_jsonl", "test.jsonl:2: malformed JSON"),
    "truncated CSV file": (lambda w: run_args(w, "--task", "mmlu/anatomy", "--prompt", "zeroshot-cot"),
                           "truncated_csv", "anatomy_test.csv:2: expected 6 fields, found 3"),
    "malformed CSV row": (lambda w: run_args(w, "--task", "mmlu/anatomy", "--prompt", "zeroshot-cot"),
                          "bad_csv_answer", "anatomy_test.csv row 2: field 'answer' is 'E'"),
    "missing CSV file": (lambda w: run_args(w, "--task", "mmlu/anatomy", "--prompt", "zeroshot-cot"),
                         "missing_csv", "mmlu/test/anatomy_test.csv"),
    "server is not OpenAI-compatible": (lambda w: run_args(w, server="not_openai"), None,
                                        "is not an OpenAI-compatible server"),
    "401 from the server": (lambda w: run_args(w, server="locked"), None, "refused the API key (HTTP 401)"),
    "unknown executor": (lambda w: run_args(w, "--executor", "spark"), None, "unknown --executor 'spark'"),
    "ray option without ray": (lambda w: run_args(w, "-M", "ray-workers=2"), None, "-M ray-workers needs --executor ray"),
    # Work to do (a cell not in the store), so the executor has to reach the cluster.
    "unreachable Ray cluster": (lambda w: run_args(w, "--executor", "ray", "-M", "ray-address=127.0.0.1:9", "--prompt",
                                                   "zeroshot-cot"), None,
                                "cannot reach the Ray cluster at 127.0.0.1:9" if importlib.util.find_spec("ray")
                                else "--executor ray needs Ray"),
    # `polaris experiment run` (skipped where the command does not exist yet): the error names the file.
    "experiment YAML syntax error": (experiment("grid_syntax.yaml"), None, "grid_syntax.yaml"),
    "experiment YAML not a mapping": (experiment("grid_list.yaml"), None, "grid_list.yaml"),
    "experiment YAML wrong types": (experiment("grid_types.yaml"), None, "grid_types.yaml"),
    "experiment YAML not UTF-8": (experiment("grid_bytes.yaml"), None, "grid_bytes.yaml"),
    "experiment file missing": (experiment("no_such_grid.yaml"), None, "no_such_grid.yaml"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gives_one_line_and_exit_2(world, case):
    make_args, data, expected = CASES[case]
    args = make_args(world)
    if args[0] == "experiment" and not world["has_experiment"]:
        pytest.skip("`polaris experiment` is not available in this build")
    env = dict(world["env"])
    env["POLARIS_STORE"] = str(world["store"])  # for commands that take the store from the environment
    if data == "absent":
        env["POLARIS_DATA_DIR"] = str(world["root"] / "does-not-exist")
    elif data:
        env["POLARIS_DATA_DIR"] = str(world["bad"][data])
    watched = [world["store"], world["root"] / "notadb.db", world["root"] / "other.db"]
    before = [_digest(p) for p in watched]
    proc = polaris(*args, env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    assert proc.stdout == ""
    assert [_digest(p) for p in watched] == before


def test_store_still_answers_after_bad_inputs(world):
    proc = polaris(*run_args(world, "--json"), env=world["env"])
    res = json.loads(proc.stdout)["results"][0]
    assert res["requests_sent"] == 0 and res["accuracy"] == 1.0
