"""Outcomes everywhere and `polaris audit`, with and without a judge model: a run whose responses are
scripted (one per outcome), a scripted OpenAI-compatible judge on 127.0.0.1, the real CLI."""

from __future__ import annotations

import json
import re
import sqlite3

import pytest
from conftest import cli_env, polaris
from fakeserver import FakeOpenAI, Policy

# Scripted responses to the six tiny GSM8K questions (golds 7, 36, 950, 3, 2.5, 140).
CUT = "12 + 12 = 24, and 24 + 12 = 36, then 36 + 12 = 48, and 48 +"
RESPONSES = [
    "3 + 4 = 7. The answer is 7.",  # correct
    CUT,  # cut at the token limit before an answer: truncated (its last number is not an answer)
    "The answer is 950 or 1450.",  # hedged
    "It got warmer.",  # no answer
    "Each part is 2.5 m.\nAnswer: 2.5",  # correct
    "The answer is 141.",  # wrong
]
IDS = [f"gsm8k/test/{i}" for i in range(6)]
OUTCOMES = ["correct", "truncated", "hedged", "no-answer", "correct", "wrong"]


def judge_reply(body: dict) -> str:
    """A scripted judge: the last number of a response that says "answer", HEDGED for "or", else NONE;
    for the cut response it states a number (a judge that disagrees with the rules there, to be listed)."""
    prompt = body["messages"][-1]["content"]
    response = prompt.split("Response:\n<<<\n", 1)[1].rsplit("\n>>>", 1)[0]
    numbers = re.findall(r"\d+(?:\.\d+)?", response)
    if " or " in response:
        return "The response offers two answers.\nFINAL ANSWER: HEDGED"
    if response == CUT:
        return "It reaches 36 first.\nFINAL ANSWER: 36"
    if "nswer" in response:
        return f"FINAL ANSWER: {numbers[-1]}"
    return "FINAL ANSWER: NONE"


@pytest.fixture
def store(tiny_data, tmp_path):
    from polaris.tasks.registry import get_task

    task = get_task("gsm8k")
    answers = {task.template.item_text(it): r for it, r in zip(task.dataset.load(), RESPONSES)}
    path = tmp_path / "s.db"
    policy = Policy(answers=answers, template="{answer}", finish=lambda text: "length" if text == CUT else "stop")
    env = cli_env(POLARIS_DATA_DIR=str(tiny_data))
    with FakeOpenAI(policy) as server:
        proc = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(path),
                       "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        table = polaris("run", "-m", "openai/fake-model", "--base-url", server.base_url, "--store", str(path), env=env)
    (res,) = json.loads(proc.stdout)["results"]
    return path, res, table.stdout, env


def test_every_item_gets_its_outcome_and_the_run_its_counts(store):
    path, res, table, _ = store
    assert res["outcomes"] == {"correct": 2, "wrong": 1, "truncated": 1, "hedged": 1, "invalid-option": 0,
                               "no-answer": 1, "error": 0}
    assert res["accuracy"] == pytest.approx(2 / 6)  # correct over scored, as before
    assert res["truncated_rate"] == pytest.approx(1 / 6) and res["no_answer_rate"] == pytest.approx(2 / 6)
    assert "2 correct · 1 wrong · 1 truncated · 1 hedged · 1 no-answer" in table
    header = next(line for line in table.splitlines() if "truncated %" in line)
    assert "no answer %" in header
    with sqlite3.connect(path) as db:  # stored with each result
        stored = dict(db.execute("SELECT item, json_extract(data, '$.outcome') FROM results").fetchall())
    assert [stored[i] for i in IDS] == OUTCOMES


@pytest.mark.parametrize("outcome", ["truncated", "hedged", "no-answer", "correct"])
def test_samples_filters_by_outcome(store, outcome):
    path, *_ = store
    proc = polaris("samples", "--store", str(path), "--task", "gsm8k", "--outcome", outcome, "--json")
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)["runs"]
    assert [v["item"] for v in run["items"]] == [i for i, o in zip(IDS, OUTCOMES) if o == outcome]
    assert all(v["outcome"] == outcome for v in run["items"])
    text = polaris("samples", "--store", str(path), "--task", "gsm8k", "--outcome", outcome).stdout
    assert f"items with outcome {outcome}" in text


def test_samples_rejects_an_unknown_outcome(store):
    path, *_ = store
    proc = polaris("samples", "--store", str(path), "--task", "gsm8k", "--outcome", "cut")
    assert proc.returncode == 2 and "unknown outcome 'cut'" in proc.stderr and "truncated" in proc.stderr


def test_audit_without_a_judge_reads_the_store_only(store):
    path, *_ = store
    before = path.read_bytes()
    proc = polaris("audit", "--store", str(path), "--task", "gsm8k", "--json")
    assert proc.returncode == 0, proc.stderr
    (run,) = json.loads(proc.stdout)["runs"]
    rules = run["rules"]
    assert rules["outcomes"]["truncated"] == 1 and rules["scored"] == 6
    # Strict and flexible differ on the "Answer: 2.5" item only (the hedge is no answer either way).
    assert [d["item"] for d in rules["disagreements"]] == ["gsm8k/test/4"]
    assert rules["flexible_only_right"] == 1
    endings = {e["text"]: e for e in rules["endings"]}
    assert endings["# + # = #, and # + # = #, then # + # = #, and # +"]["outcomes"] == {"truncated": 1}
    assert endings["It got warmer."]["example"]["item"] == "gsm8k/test/3"
    assert run["judge"] is None
    text = polaris("audit", "--store", str(path)).stdout
    assert "truncated 16.7%, no answer 33.3%" in text and "commonest endings" in text
    assert path.read_bytes() == before


def test_audit_with_a_judge_lists_disagreements_and_sends_nothing_the_second_time(store):
    path, _, _, env = store
    with FakeOpenAI(Policy(respond=judge_reply, model="judge")) as judge:
        args = ("audit", "--store", str(path), "--task", "gsm8k", "--judge", "openai/judge", "--base-url",
                judge.base_url, "--json")
        first = polaris(*args, env=env)
        assert first.returncode == 0, first.stderr
        sent = judge.hits["chat"]
        again = polaris(*args, env=env)
        assert again.returncode == 0, again.stderr
        assert judge.hits["chat"] == sent == 6 and judge.hits["models"] == 1  # the re-run sent nothing
        prompt = judge.bodies[0]["messages"][0]["content"]
    doc = json.loads(first.stdout)
    (run,) = doc["runs"]
    j = run["judge"]
    assert j["read"] == 6 and j["agree"] == 5 and j["agreement"] == pytest.approx(5 / 6)
    (d,) = j["disagreements"]
    assert (d["item"], d["rule"], d["judge"]) == ("gsm8k/test/1", None, "36")
    assert j["rules_accuracy"] == pytest.approx(2 / 6) and j["judge_accuracy"] == pytest.approx(3 / 6)
    assert j["calls_sent"] == 6 and json.loads(again.stdout)["runs"][0]["judge"]["calls_sent"] == 0
    assert "Do not solve the question yourself" in prompt and "Tom has 3 apples" in prompt
    assert doc["judge_manifest"]["prompt"].split("{form}")[0] in prompt
    assert doc["judge_manifest"]["prompt_version"] == "judge-1"


def test_score_with_judge_stores_a_run_marked_as_judged(store):
    path, _, _, env = store
    with FakeOpenAI(Policy(respond=judge_reply, model="judge")) as judge:
        proc = polaris("audit", "--store", str(path), "--judge", "openai/judge", "--base-url", judge.base_url,
                       "--score-with", "judge", env=env)
        assert proc.returncode == 0, proc.stderr
    assert "stored the run scored by the judge" in proc.stdout
    from polaris.store.store import Store

    db = Store(path, readonly=True)
    try:
        runs = {r.label: r for r in db.runs()}
        label = "openai/fake-model/gsm8k/fewshot-cot/greedy+judge:openai:judge"
        judged = runs[label]
        rows = {r.item: r for r in db.results(judged.id)}
    finally:
        db.close()
    scored = judged.manifest["scored_with"]
    assert scored["model"] == "openai/judge" and scored["prompt_version"] == "judge-1" and "FINAL ANSWER" in scored["prompt"]
    assert scored["source_run"] == runs["openai/fake-model/gsm8k/fewshot-cot/greedy"].id
    assert judged.manifest["summary"]["scored_with"] == "judge:openai/judge"
    assert rows["gsm8k/test/1"].answer == "36" and rows["gsm8k/test/1"].correct == 1.0
    assert rows["gsm8k/test/2"].data["outcome"] == "hedged" and rows["gsm8k/test/2"].data["judge"]["model"] == "openai/judge"
    # The table of the report and `samples` show it by its label; the viewer says how it was scored.
    shown = polaris("samples", "--store", str(path), "--task", "gsm8k", "--strategy",
                    "greedy+judge:openai:judge", "--json")
    assert json.loads(shown.stdout)["runs"][0]["label"] == label
    from polaris.report import query

    con = sqlite3.connect(path)
    try:
        item = query.item(con, query.read_runs(con), judged.id, "gsm8k/test/1")
    finally:
        con.close()
    assert item["scored_with"]["model"] == "openai/judge" and item["outcome"] == "correct"
    # The report lists it beside its source run, each with its outcomes.
    out = path.parent / "report"
    rep = polaris("report", "--out", str(out), "--store", str(path), env=env)
    assert rep.returncode == 0, rep.stderr
    html = (out / "index.html").read_text()
    assert "greedy+judge:openai:judge" in html and "truncated %" in html
    assert "2 correct · 1 wrong · 1 truncated · 1 hedged · 1 no-answer" in html
    # `polaris rescore` leaves the judge-scored run alone (its answers are not the rules').
    res = polaris("rescore", "--store", str(path), "--json", env=env)
    assert res.returncode == 0 and "scored by a judge" in res.stderr
    assert [r["strategy"] for r in json.loads(res.stdout)["results"]] == ["greedy"]


def test_sample_judges_n_items_and_score_with_needs_a_judge(store):
    path, _, _, env = store
    with FakeOpenAI(Policy(respond=judge_reply, model="judge")) as judge:
        proc = polaris("audit", "--store", str(path), "--judge", "openai/judge", "--base-url", judge.base_url,
                       "--sample", "2", "--seed", "3", "--json", env=env)
        assert proc.returncode == 0, proc.stderr
        assert judge.hits["chat"] == 2
    assert json.loads(proc.stdout)["runs"][0]["judge"]["items"] == 2
    bad = polaris("audit", "--store", str(path), "--score-with", "judge")
    assert bad.returncode == 2 and "--score-with judge needs --judge" in bad.stderr


def test_viewer_filters_by_outcome(store):
    from polaris.report import query

    path, *_ = store
    con = sqlite3.connect(path)
    try:
        runs = query.read_runs(con)
        page = query.page(con, runs, query.Filters(outcome="truncated"))
        assert [r["item"] for r in page["rows"]] == ["gsm8k/test/1"] and page["total"] == 1
        assert [r["outcome"] for r in query.page(con, runs, query.Filters())["rows"]] == OUTCOMES
        # Results stored before outcomes existed get theirs from their other columns.
        con.execute("UPDATE results SET data = json_remove(data, '$.outcome')")
        assert query.page(con, runs, query.Filters(outcome="truncated"))["total"] == 1
        assert query.page(con, runs, query.Filters(outcome="no-answer"))["total"] == 2  # the hedge, unflagged
    finally:
        con.close()
    with pytest.raises(Exception, match="unknown outcome"):
        query.Filters(outcome="nope")


def test_the_judge_reply_is_read_by_the_task_scorer():
    from polaris.audit.judge_model import as_extraction, judge_prompt, parse_reading
    from polaris.tasks.base import Item
    from polaris.tasks.registry import get_task

    assert parse_reading("The response settles on B.\nFINAL ANSWER: **(B)**") == ("answer", "(B)")
    assert parse_reading("final answer: NONE") == ("none", None)
    assert parse_reading("FINAL ANSWER: Hedged between (A) and (B)") == ("hedged", None)
    assert parse_reading("42") == ("answer", "42")  # a bare short reply is its answer
    assert parse_reading("I looked at it carefully and I think it is about the trains.\nNo idea.")[0] == "unreadable"
    mc = get_task("bbh/snarks")
    two = Item("s", "q", "(B)", choices=("x", "y"), group="snarks", meta={"kind": "choice"})
    assert as_extraction(mc, two, "answer", "B").answer == "(B)"
    assert as_extraction(mc, two, "answer", "(C)").flag == "invalid-option"
    gsm = get_task("gsm8k")
    assert as_extraction(gsm, Item("g", "q", "1200"), "answer", "$1,200").answer == "1200"
    assert as_extraction(gsm, Item("g", "q", "1200"), "hedged", None).flag == "hedged"
    long = "start " + "x" * 20000 + " The answer is 7."
    text = judge_prompt("What is 3 + 4?", long, False).messages[0].content
    assert "start" in text and "The answer is 7." in text and "characters omitted" in text and len(text) < 10000
