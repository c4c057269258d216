"""Bad input to `polaris import` is one line naming the file (and line), exit 2, and nothing stored; an
import is one transaction; importing the same file again is a no-op and a changed file makes a new run;
matching never guesses (ambiguous questions are reported, not assigned)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import GSM8K_ROWS, cli_env, polaris

from polaris.errors import PolarisError


def run(data: Path, *args: str):
    return polaris(*args, env=cli_env(POLARIS_DATA_DIR=str(data)))


def gens(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def good(path: Path, answer: str = "7") -> Path:
    golds = [a.rsplit(" ", 1)[1] for _, a in GSM8K_ROWS]
    return gens(path, [{"id": f"gsm8k/test/{i}", "response": f"The answer is {answer if i == 0 else g}.", "model": "m"}
                       for i, g in enumerate(golds)])


def tables(store: Path) -> dict[str, int]:
    if not store.exists():
        return {}
    con = sqlite3.connect(store)
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "results", "samples", "calls", "requests")}
    finally:
        con.close()


def one_line_error(proc, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_unknown_format(tiny_data, tmp_path):
    one_line_error(run(tiny_data, "import", "helm", str(good(tmp_path / "g.jsonl")), "--store", str(tmp_path / "s.db")),
                   "unknown import format 'helm'", "planbench")
    assert tables(tmp_path / "s.db") == {}


@pytest.mark.parametrize("fmt, needle", [("planbench", "not a PlanBench result file"),
                                          ("bbh-outputs", "not a BIG-Bench Hard output file"),
                                          ("gsm8k-solutions", "record without a response"),
                                          ("lm-eval", "not an lm-eval log_samples record"),
                                          ("inspect", "not an inspect_ai eval log")])
def test_a_file_of_another_format(tiny_data, tmp_path, fmt, needle):
    src = tiny_data / "gsm8k" / "test.jsonl"  # GSM8K's own data: JSONL of questions and answers
    if fmt == "bbh-outputs":
        src = tmp_path / "date_understanding_few_shot_template_0-255000.json"
        src.write_text(json.dumps({"examples": []}))
    line = one_line_error(run(tiny_data, "import", fmt, str(src), "--store", str(tmp_path / "s.db")), needle, str(src))
    if fmt in ("lm-eval", "gsm8k-solutions"):
        assert f"{src}:1" in line  # the line
    assert tables(tmp_path / "s.db") == {}


def test_a_record_without_a_response_names_file_and_line(tiny_data, tmp_path):
    src = gens(tmp_path / "g.jsonl", [{"id": "gsm8k/test/0", "response": "The answer is 7.", "model": "m"},
                                      {"id": "gsm8k/test/1", "model": "m"}])
    one_line_error(run(tiny_data, "import", "jsonl", str(src), "--task", "gsm8k", "--store", str(tmp_path / "s.db")),
                   f"{src}:2", "record without a response")
    assert tables(tmp_path / "s.db") == {}


def test_a_bad_file_after_a_good_one_imports_nothing(tiny_data, tmp_path):
    store = tmp_path / "s.db"
    first = good(tmp_path / "a.jsonl")
    bad = tmp_path / "b.jsonl"
    bad.write_text('{"id": "gsm8k/test/0", "response": "x", "model": "m"}\n{"id": \n')
    one_line_error(run(tiny_data, "import", "jsonl", str(first), str(bad), "--task", "gsm8k", "--store", str(store)),
                   f"{bad}:2", "malformed JSON")
    assert tables(store) == {}


def test_missing_model_and_task_are_asked_for(tiny_data, tmp_path):
    src = gens(tmp_path / "g.jsonl", [{"id": "gsm8k/test/0", "response": "The answer is 7."}])
    one_line_error(run(tiny_data, "import", "jsonl", str(src), "--task", "gsm8k", "--store", str(tmp_path / "s.db")),
                   f"{src}:1", "--model")
    one_line_error(run(tiny_data, "import", "jsonl", str(src), "--model", "m", "--store", str(tmp_path / "s.db")),
                   "--task")
    one_line_error(run(tiny_data, "import", "jsonl", str(src), "--task", "gsm8k", "--model", "m", "--prompt",
                       "one-shot", "--store", str(tmp_path / "s.db")), "no prompt format 'one-shot'")


def test_nothing_matched_is_an_error(tiny_data, tmp_path):
    src = gens(tmp_path / "g.jsonl", [{"question": "What is the capital of France?", "response": "Paris",
                                       "model": "m"}])
    one_line_error(run(tiny_data, "import", "jsonl", str(src), "--task", "gsm8k", "--store", str(tmp_path / "s.db")),
                   "no record matched", f"{src}:1")


def test_reimport_is_a_no_op_and_a_changed_file_is_a_new_run(tiny_data, tmp_path):
    store = tmp_path / "s.db"
    src = good(tmp_path / "g.jsonl")
    args = ("import", "jsonl", str(src), "--task", "gsm8k", "--store", str(store), "--json")
    first = json.loads(run(tiny_data, *args).stdout)["runs"][0]
    counts = tables(store)
    again = json.loads(run(tiny_data, *args).stdout)["runs"][0]
    assert again["status"] == "already imported" and again["run_id"] == first["run_id"]
    assert tables(store) == counts
    good(src, answer="8")  # the same file, changed: item 0 now wrong
    changed = json.loads(run(tiny_data, *args).stdout)["runs"][0]
    assert changed["status"] == "new" and changed["run_id"] != first["run_id"]
    assert (first["accuracy"], changed["accuracy"]) == (1.0, pytest.approx(5 / 6))
    assert tables(store)["runs"] == 2  # the first import is kept


def test_a_failure_while_scoring_rolls_back_every_cell(tiny_data, tmp_path, monkeypatch):
    from polaris.importers import read_all
    from polaris.importers import writer
    from polaris.importers.plan import plan
    from polaris.importers.records import ReadOptions
    from polaris.store.store import Store

    src = gens(tmp_path / "g.jsonl", [{"id": "gsm8k/test/0", "response": "The answer is 7.", "model": m}
                                      for m in ("a", "b")])
    opts = ReadOptions(task="gsm8k")
    cells = plan("jsonl", *read_all("jsonl", [src], opts), opts)
    assert len(cells) == 2
    real = writer.finish_cell
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise PolarisError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "finish_cell", failing)
    store = tmp_path / "s.db"
    db = Store(store)
    with pytest.raises(PolarisError):
        writer.write(db, cells)
    db.close()
    assert tables(store) == {"runs": 0, "results": 0, "samples": 0, "calls": 0, "requests": 0}


def test_equal_questions_with_other_golds_are_ambiguous_not_guessed(tmp_path):
    from polaris.importers.match import match
    from polaris.importers.records import Record, Response
    from polaris.tasks.base import Dataset, Item, Task
    from polaris.tasks.gsm8k import TEMPLATE
    from polaris.scoring.numeric import NumericScorer

    items = [Item("a", "How many legs has a spider?", "8"), Item("b", "How many legs has a spider?", "6"),
             Item("c", "How many legs has a spider? Count carefully.", "8"), Item("d", "Name a colour.", "1")]
    task = Task("t", "", Dataset(load=lambda: items, exemplars=lambda g="": ()), TEMPLATE, NumericScorer())

    def rec(n: int, **kw) -> Record:
        return Record(file="f.jsonl", line=n, model="m", task="t", prompt_format=None, responses=(Response("8"),), **kw)

    got = match(task, items, [
        rec(1, question="How many legs has a spider?"),  # two items with this text, other golds: ambiguous
        rec(2, question="How many legs has a spider?", target="6"),  # the source's gold tells them apart
        # The last question in the prompt is the longer one; the shorter inside it does not count.
        rec(3, prompt="Question: Name a colour.\nAnswer: 1\n\nQuestion: How many legs has a spider? Count carefully."),
        rec(4, prompt="Question: Name a colour.\nAnswer: red"),
    ])
    assert [(m.status, m.item.id if m.item else None) for m in got] == [
        ("ambiguous", None), ("matched", "b"), ("matched", "c"), ("matched", "d")]
    assert "2 items have this question (a, b)" in got[0].reason


# The writer is slowed down in the child (a slow disk or a big import) so Ctrl-C lands inside the
# import's transaction, after the first run was scored but before the import commits.
_SLOW_IMPORT = """
import pathlib, sys, time
import polaris.importers.writer as writer
real, ready = writer.finish_cell, pathlib.Path(sys.argv[1])
def slow(*args, **kwargs):
    out = real(*args, **kwargs)
    ready.write_text("scored")
    time.sleep(60)
    return out
writer.finish_cell = slow
sys.argv = ["polaris", *sys.argv[2:]]
from polaris.cli import main
main()
"""


def test_ctrl_c_during_an_import_keeps_nothing_and_says_so(tiny_data, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    store, ready = tmp_path / "s.db", tmp_path / "ready"
    src = gens(tmp_path / "g.jsonl", [{"id": "gsm8k/test/0", "response": "The answer is 7.", "model": m}
                                      for m in ("a", "b")])
    args = ["import", "jsonl", str(src), "--task", "gsm8k", "--store", str(store)]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_IMPORT, str(ready), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(POLARIS_DATA_DIR=str(tiny_data)))
    deadline = time.monotonic() + 120
    while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # The shared Ctrl-C line counts what was committed: a rolled-back import kept nothing.
    assert err.strip().splitlines()[-1] == "interrupted: 0 results kept; run the same command to continue"
    assert tables(store) == {"runs": 0, "results": 0, "samples": 0, "calls": 0, "requests": 0}
    again = run(tiny_data, *args, "--json")
    assert again.returncode == 0, again.stderr
    assert [r["status"] for r in json.loads(again.stdout)["runs"]] == ["new", "new"]
