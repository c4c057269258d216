"""Every suite's default is the canonical published prompt of the Chain-of-Thought Hub setup, named in
the manifest; cells stored under an earlier default keep their own run ids and are never mixed in."""

from __future__ import annotations

import json
import sqlite3

import pytest
from conftest import cli_env, polaris

from polaris.prompts.exemplars import parse_hub_file
from polaris.runner.cell import CellSpec
from polaris.runner.runner import exemplars_record, prepare
from polaris.store.store import ResultRow, Store


def test_gsm8k_default_is_wei_et_al_8_shot_prompt(shared_data, tmp_path):
    hub = parse_hub_file(shared_data / "cot_hub_prompts" / "gsm8k" / "lib_prompt" / "prompt_original.txt")
    assert len(hub) == 8
    cot = prepare(CellSpec("m", "gsm8k", api="completions"), limit=1).prompts[0].text
    direct = prepare(CellSpec("m", "gsm8k", prompt="fewshot-direct", api="completions"), limit=1).prompts[0].text
    at = [cot.index(f"Question: {e.question}\n") for e in hub]
    assert at == sorted(at)  # the 8 questions, in the published order
    for e in hub:
        assert f"{e.rationale}\nThe answer is {e.answer}." in cot
        assert f"Question: {e.question}\nThe answer is {e.answer}." in direct  # standard prompting: answers only
    assert "Natalia sold clips" not in cot  # the first training problem, the old default's first exemplar

    env = cli_env(POLARIS_DATA_DIR=str(shared_data))
    store = tmp_path / "s.db"
    proc = polaris("run", "-m", "baseline/gold", "-t", "gsm8k", "-p", "fewshot-cot", "-p", "zeroshot-cot",
                   "--limit", "20", "--store", str(store), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert [r["accuracy"] for r in json.loads(proc.stdout)["results"]] == [1.0, 1.0]
    manifests = {json.loads(s)["prompt"]: json.loads(m) for s, m in
                 sqlite3.connect(store).execute("SELECT spec, manifest FROM runs")}
    few = manifests["fewshot-cot"]["exemplars"]
    assert few["prompt"].startswith("Wei et al. (2022) 8-shot chain of thought") and few["tag"] == "wei2022-8shot"
    assert few["ids"][""] == [f"prompt_original.txt#{k}" for k in range(8)]
    # A zero-shot run shows no exemplars, and its manifest says so (not "default").
    assert manifests["zeroshot-cot"]["exemplars"] == {"strategy": "none", "prompt": "zero-shot: no exemplars", "ids": {}}


@pytest.mark.parametrize("task,cot,direct", [
    ("gsm8k", "Wei et al. (2022) 8-shot", "Wei et al. (2022) 8 questions"),
    ("bbh", "Suzgun et al. (2022) 3-shot", "Suzgun et al. (2022) 3 exemplars"),
    ("mmlu/anatomy", "CoT Hub 5-shot", "Hendrycks et al. (2021) 5-shot"),
    ("math500", "Minerva 4-shot", "Minerva 4 problems"),
])
def test_every_suite_names_its_default_prompt(shared_data, task, cot, direct):
    for prompt, name in (("fewshot-cot", cot), ("fewshot-direct", direct)):
        cell = prepare(CellSpec("m", task, prompt=prompt), limit=2)
        record = exemplars_record(cell.task, cell.spec, cell.exemplar_ids)
        assert record["strategy"] == "default" and record["prompt"].startswith(name)
    shuffled = prepare(CellSpec("m", task, exemplars="shuffle", exemplar_seed=3), limit=2)
    assert exemplars_record(shuffled.task, shuffled.spec, {})["prompt"].endswith("drawn with seed 3")


def test_run_ids_name_the_prompt_that_was_shown():
    # Cells whose prompts did not change keep the run ids their results are stored under.
    kept = {("bbh", "fewshot-cot", "default"): "4100628d3eeab551", ("mmlu", "fewshot-cot", "default"): "af29c0b54068b615",
            ("math", "fewshot-cot", "default"): "d728453a03d067bf", ("gsm8k", "zeroshot-cot", "default"): "3c0a64355b7d4e7e",
            ("gsm8k", "fewshot-cot", "complex"): "ec1ef184523f9f2f"}
    for (task, prompt, ex), run_id in kept.items():
        assert CellSpec("openai/m", task, prompt=prompt, exemplars=ex).run_id == run_id
    # GSM8K's few-shot default changed: its cells are new ones, named by the prompt's tag.
    new = CellSpec("openai/m", "gsm8k")
    assert new.run_id != "6fed482fe42c5704" and new.identity()["prompt_tag"] == "wei2022-8shot"
    assert CellSpec("openai/m", "gsm8k", exemplars="shuffle").identity()["prompt_tag"] == "wei2022-8shot"
    assert "prompt_tag" not in CellSpec("openai/m", "gsm8k", prompt="zeroshot-direct").identity()


def test_a_run_under_the_old_default_is_kept_apart_and_labelled(tiny_data, tmp_path):
    """A store holding GSM8K results of the old default (first 8 training problems): a new run does not
    add to them, and the leaderboard prefers the new run and says why the old one is not comparable."""
    store = tmp_path / "s.db"
    spec = CellSpec("baseline/gold", "gsm8k").resolved()
    legacy = {k: v for k, v in spec.identity().items() if k != "prompt_tag"}
    from polaris.store.store import digest

    old_id = digest(legacy)[:16]
    db = Store(store)
    db.put_run(old_id, spec.label, spec.as_dict(), {"prompt": "fewshot-cot", "strategy": "greedy",
                                                     "exemplars": {"strategy": "default", "seed": 0, "ids": {}}})
    db.put_results(old_id, [ResultRow(f"gsm8k/test/{i}", i, "", 0.0, 0.0, True, None, "1", "2", {}) for i in range(6)])
    db.close()
    env = cli_env(POLARIS_DATA_DIR=str(tiny_data))
    board = polaris("leaderboard", "--store", str(store), "--json", env=env)
    cell = json.loads(board.stdout)["rows"][0]["cells"]["gsm8k"]
    assert cell["run_id"] == old_id and "earlier default prompt" in cell["reason"]
    proc = polaris("run", "-m", "baseline/gold", "-t", "gsm8k", "--limit", "3", "--store", str(store), "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    (res,) = json.loads(proc.stdout)["results"]
    assert res["run_id"] != old_id and res["accuracy"] == 1.0
    db = Store(store, readonly=True)
    assert [r.correct for r in db.results(old_id)] == [0.0] * 6  # untouched
    assert len(db.results(res["run_id"])) == 3
    db.close()
    board = polaris("leaderboard", "--store", str(store), "--json", env=env)
    cell = json.loads(board.stdout)["rows"][0]["cells"]["gsm8k"]
    assert cell["run_id"] == res["run_id"] and "earlier default prompt" not in cell["reason"]
