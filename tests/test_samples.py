"""`polaris samples`: the filters return exactly the wrong / unextracted / disagreeing items of a run whose
responses are scripted, model output is printed inert, and the counts match the run's summary."""

from __future__ import annotations

import json

import pytest
from conftest import GSM8K_ROWS, cli_env, polaris
from fakeserver import FakeOpenAI, Policy

HOSTILE = "\x1b[2J\x1b[31m[bold red]pwned[/bold red]\u202eevil\rThe answer is 2.5."
# Scripted responses to the six tiny GSM8K questions (golds 7, 36, 950, 3, 2.5, 140).
RESPONSES = [
    "Adding gives 7.\nThe answer is 7.",  # right, both extractors agree
    "The answer is 35.",  # wrong
    "I cannot work this out.",  # nothing to extract: wrong and unextracted
    "It ends up at 3 degrees.",  # right by the flexible reading only: a disagreement
    HOSTILE,  # right, and hostile to terminals
    "So it is\n#### 141",  # wrong, flexible reads 141, strict reads nothing: a disagreement
]
IDS = [f"gsm8k/test/{i}" for i in range(6)]


@pytest.fixture
def store(tiny_data, tmp_path):
    from polaris.tasks.registry import get_task

    task = get_task("gsm8k")
    items = list(task.dataset.load())
    assert [it.target for it in items] == [a.rsplit("#### ", 1)[1] for _, a in GSM8K_ROWS]
    answers = {task.template.item_text(it): r for it, r in zip(items, RESPONSES)}
    path = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers, template="{answer}")) as server:
        proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(path),
                       "--json", env=cli_env(POLARIS_DATA_DIR=str(tiny_data)))
        assert proc.returncode == 0, proc.stderr
        table = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(path),
                        env=cli_env(POLARIS_DATA_DIR=str(tiny_data)))
    (res,) = json.loads(proc.stdout)["results"]
    return path, res, table.stdout


def _samples(path, *args: str):
    proc = polaris("samples", "--store", str(path), "--task", "gsm8k", *args)
    assert proc.returncode == 0, proc.stderr
    return proc


def _items(path, *args: str) -> list[dict]:
    (run,) = json.loads(_samples(path, "--json", *args).stdout)["runs"]
    return run["items"]


def test_summary_counts_extraction_and_disagreement(store):
    _, res, table = store
    assert res["accuracy"] == pytest.approx(3 / 6) and res["strict_accuracy"] == pytest.approx(2 / 6)
    assert res["extracted"] == pytest.approx(5 / 6) and res["disagree"] == 2
    header = next(line for line in table.splitlines() if "disagree" in line)
    row = next(line for line in table.splitlines() if "openai/fake-model" in line)
    cols = [c.strip() for c in header.split("┃")]
    vals = [c.strip() for c in row.split("│")]
    assert vals[cols.index("disagree")] == "2" and vals[cols.index("extracted %")] == "83.3"


@pytest.mark.parametrize("flag, wanted", [("--wrong", [1, 2, 5]), ("--unextracted", [2]), ("--disagree", [3, 5]),
                                          (None, [0, 1, 2, 3, 4, 5])])
def test_filters_return_exactly_the_matching_items(store, flag, wanted):
    path, res, _ = store
    items = _items(path, *([flag] if flag else []))
    assert [v["item"] for v in items] == [IDS[i] for i in wanted]
    if flag == "--disagree":
        assert len(items) == res["disagree"]
        assert [(v["answer"], v["strict_answer"]) for v in items] == [("3", None), ("141", None)]


def test_json_items_carry_response_answers_gold_and_verdict(store):
    path, _, _ = store
    items = {v["item"]: v for v in _items(path, "--limit", "0")}
    assert [items[i]["verdict"] for i in IDS] == ["correct", "wrong", "unextracted", "correct", "correct", "wrong"]
    assert [items[i]["gold"] for i in IDS] == ["7", "36", "950", "3", "2.5", "140"]
    assert [items[i]["samples"][0]["text"] for i in IDS] == RESPONSES  # byte for byte, hostile text included
    assert items[IDS[1]]["answer"] == "35" and items[IDS[1]]["strict_answer"] == "35"
    assert items[IDS[2]]["answer"] is None and items[IDS[2]]["extracted"] is False
    assert items[IDS[0]]["question"].startswith("Question: Tom has 3 apples")
    assert len(_items(path, "--limit", "2")) == 2


def test_text_output_is_inert(store):
    path, _, _ = store
    out = _samples(path).stdout
    assert "\x1b" not in out and "\u202e" not in out and "\r" not in out
    assert "\\x1b[2J\\x1b[31m[bold red]pwned[/bold red]\\u202eevil\\x0dThe answer is 2.5." in out
    block = out.split(f"--- {IDS[5]} · WRONG ---", 1)[1]
    assert block.lstrip().startswith("gold: 140\nflexible: 141 (wrong)   strict: none (wrong)")
    assert "So it is\n#### 141" in block


def test_errors_are_never_wrong_and_filters_are_exclusive(tiny_data, tmp_path):
    from polaris.tasks.registry import get_task

    task = get_task("gsm8k")
    answers = {task.template.item_text(it): r for it, r in zip(task.dataset.load(), RESPONSES)}
    path = tmp_path / "s.db"
    with FakeOpenAI(Policy(answers=answers, template="{answer}", faults={"500": 0.5})) as server:
        proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(path),
                       "--json", "-M", "max-attempts=1", env=cli_env(POLARIS_DATA_DIR=str(tiny_data)))
    (res,) = json.loads(proc.stdout)["results"]
    assert 0 < res["errors"] < 6
    listed = _items(path, "--limit", "0")
    failed = {v["item"] for v in listed if v["verdict"] == "error"}
    assert len(failed) == res["errors"] and all(v["error"] for v in listed if v["item"] in failed)
    for flag in ("--wrong", "--unextracted", "--disagree"):
        assert not failed & {v["item"] for v in _items(path, flag)}
    assert "(not scored; asked again on the next run)" in _samples(path).stdout
    bad = polaris("samples", "--store", str(path), "--task", "gsm8k", "--wrong", "--disagree")
    assert bad.returncode == 2 and "choose one of --wrong, --unextracted, --disagree" in bad.stderr
    missing = polaris("samples", "--store", str(path), "--task", "mmlu")
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "stored: openai/fake-model gsm8k" in missing.stderr


def test_gold_answers_each_item_even_where_bbh_repeats_a_prompt(shared_data, tmp_path):
    """BBH causal_judgement asks two questions twice with opposite labels. A real model gets the same
    prompt once (the cache shares the answer); the gold baseline answers from the item, so its requests
    are keyed per item and it scores 100%."""
    path = tmp_path / "s.db"
    env = cli_env(POLARIS_DATA_DIR=str(shared_data))
    proc = polaris("run", "-m", "baseline/gold", "-t", "bbh/causal_judgement", "--store", str(path), "--json",
                   env=env)
    (res,) = json.loads(proc.stdout)["results"]
    assert res["n"] == 187 and res["accuracy"] == 1.0 and res["requests_sent"] == 187
    with FakeOpenAI(Policy(fixed="The answer is Yes.")) as server:
        proc = polaris("run", "-m", "openai/fake", "--base-url", server.base_url, "-t", "bbh/causal_judgement",
                       "--store", str(path), "--json", env=env)
    (res,) = json.loads(proc.stdout)["results"]
    assert res["requests_sent"] == 185 and res["cached"] == 2  # the two repeated prompts
    out = polaris("samples", "--store", str(path), "--task", "bbh/causal_judgement", "--model", "openai/fake",
                  "--json", "--limit", "0", env=env)
    (run,) = json.loads(out.stdout)["runs"]
    by_item = {v["item"]: v for v in run["items"]}
    for first, second in (("32", "104"), ("36", "119")):
        a, b = by_item[f"bbh/causal_judgement/{first}"], by_item[f"bbh/causal_judgement/{second}"]
        assert a["gold"] != b["gold"] and a["answer"] == b["answer"] == "Yes"
