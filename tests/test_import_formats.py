"""`polaris import` for lm-evaluation-harness `--log_samples` files, inspect_ai logs and generic JSONL (an
OpenAI Batch API output file through the documented `--map`). The lm-eval and inspect files in
tests/importer_data were written by those tools (inspect: tests/importer_data/make_inspect_log.py);
where lm-eval is installed a fresh log is also written in the test. Their questions are the first
GSM8K test questions, so these tests read the real GSM8K data."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SHARED, cli_env, polaris

HERE = Path(__file__).resolve().parent / "importer_data"
LM_EVAL = HERE / "samples_tiny_gsm8k_2026-12-03T10-06-29.661692.jsonl"
needs_gsm8k = pytest.mark.skipif(SHARED is None, reason="benchmark data (../shared/datasets) not available")


def run(*args: str, data: Path | None = None, check: bool = True):
    proc = polaris(*args, env=cli_env(POLARIS_DATA_DIR=str(data or SHARED)))
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def _results(store: Path) -> dict[str, tuple]:
    con = sqlite3.connect(store)
    try:
        return {item: (correct, error, json.loads(data)) for item, correct, error, data in
                con.execute("SELECT item, correct, error, data FROM results")}
    finally:
        con.close()


@needs_gsm8k
def test_lm_eval_log_samples_file(tmp_path):
    store = tmp_path / "s.db"
    missing = run("import", "lm-eval", str(LM_EVAL), "--model", "scripted", "--store", str(store), check=False)
    assert missing.returncode == 2 and "--task" in missing.stderr  # lm-eval's task name is not a Polaris one
    doc = json.loads(run("import", "lm-eval", str(LM_EVAL), "--task", "gsm8k", "--prompt", "zeroshot-cot", "--model",
                         "scripted", "--store", str(store), "--json").stdout)
    (r,) = doc["runs"]
    assert r["model"] == "scripted" and r["matching"]["matched"] == 4 and r["matching"]["by_question"] == 4
    # lm-eval's exact_match on its strict-match filter, against Polaris's flexible reading: replies 18 (gold 18),
    # 4 (gold 3), "no idea" (gold 70000), 70000 (gold 540).
    a = r["agreement"]
    assert (a["n"], a["both_right"], a["both_wrong"]) == (4, 1, 3) and a["rate"] == 1.0
    got = _results(store)
    assert got["gsm8k/test/0"][0] == 1.0 and got["gsm8k/test/1"][0] == 0.0
    assert got["gsm8k/test/2"][2]["samples"][0]["answer"] is None


SCRIPT = """
import json, sys
from lm_eval import simple_evaluate
from lm_eval.api.model import LM
from lm_eval.loggers import EvaluationTracker

class Scripted(LM):
    def generate_until(self, requests, disable_tqdm=False):
        return ["So she makes 9 * 2 = 18 dollars.\\n#### 18", "#### 4", "no idea"][: len(requests)]
    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError
    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError

cfg = {"task": "tiny_gsm8k", "dataset_path": "json", "dataset_kwargs": {"data_files": {"test": sys.argv[1]}},
       "test_split": "test", "output_type": "generate_until", "doc_to_text": "Question: {{question}}\\nAnswer:",
       "doc_to_target": "{{answer.split('####')[-1].strip()}}", "generation_kwargs": {"until": ["Question:"]},
       "filter_list": [{"name": "strict-match",
                        "filter": [{"function": "regex", "regex_pattern": "#### (\\\\-?[0-9\\\\.\\\\,]+)"},
                                   {"function": "take_first"}]}],
       "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}]}
tracker = EvaluationTracker(output_path=sys.argv[2])
res = simple_evaluate(model=Scripted(), tasks=[cfg], log_samples=True, evaluation_tracker=tracker)
tracker.save_results_aggregated(results=res, samples=res["samples"])
for name, samples in res["samples"].items():
    tracker.save_results_samples(task_name=name, samples=samples)
"""


@needs_gsm8k
def test_lm_eval_writes_a_log_that_imports(tmp_path):
    pytest.importorskip("lm_eval")
    data = tmp_path / "test.jsonl"
    data.write_text("".join((SHARED / "gsm8k" / "test.jsonl").read_text().splitlines(keepends=True)[:3]))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(data), str(out)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600, env=cli_env(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    (samples,) = out.rglob("samples_tiny_gsm8k_*.jsonl")
    store = tmp_path / "s.db"
    doc = json.loads(run("import", "lm-eval", str(samples), "--task", "gsm8k", "--model", "scripted", "--store",
                         str(store), "--json").stdout)
    (r,) = doc["runs"]
    assert r["matching"]["matched"] == 3 and r["agreement"]["n"] == 3 and r["agreement"]["both_right"] == 1


@needs_gsm8k
def test_inspect_json_log_epochs_become_samples(tmp_path):
    store = tmp_path / "s.db"
    doc = json.loads(run("import", "inspect", str(HERE / "inspect_gsm8k.json"), "--prompt", "zeroshot-cot", "--store",
                         str(store), "--json").stdout)
    (r,) = doc["runs"]
    assert r["model"] == "mockllm/model" and r["task"] == "gsm8k" and r["strategy"].startswith("sc2@")
    assert r["matching"]["matched"] == 3 and r["matching"]["by_question"] == 3  # inspect ids are not Polaris ids
    got = _results(store)
    # Epoch replies: 18 / 20 (gold 18), 3 / nothing (gold 3), 70000 / 70,000 (gold 70000).
    answers = {item: [s["answer"] for s in data["samples"]] for item, (_, _, data) in got.items()}
    assert answers == {"gsm8k/test/0": ["18", "20"], "gsm8k/test/1": ["3", None], "gsm8k/test/2": ["70000", "70000"]}
    assert got["gsm8k/test/2"][0] == 1.0 and got["gsm8k/test/1"][0] == 1.0  # the one extracted answer wins the vote
    con = sqlite3.connect(store)
    sources = [json.loads(d)["source"] for (d,) in con.execute("SELECT data FROM samples ORDER BY hash, idx")]
    usage = [json.loads(u) for (u,) in con.execute("SELECT usage FROM calls")]
    con.close()
    assert sorted(s["verdict"] for s in sources) == [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]  # inspect's own per-epoch scores
    assert all(u["completion_tokens"] > 0 for u in usage)


@needs_gsm8k
def test_inspect_eval_log(tmp_path):
    store = tmp_path / "s.db"
    proc = run("import", "inspect", str(HERE / "inspect_gsm8k.eval"), "--prompt", "zeroshot-cot", "--store",
               str(store), "--json", check=False)
    try:
        import inspect_ai  # noqa: F401
    except ImportError:
        # Recent inspect_ai compresses .eval logs with zstd, which Python 3.11 cannot read without it.
        assert proc.returncode == 2 and "zstd" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        return
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["runs"][0]["matching"]["matched"] == 3


def _batch_line(i: int, custom_id: str, text: str | None, finish: str = "stop", error: str | None = None) -> str:
    """A line of an OpenAI Batch API output file, as OpenAI documents it."""
    if error is not None:
        return json.dumps({"id": f"batch_req_{i}", "custom_id": custom_id, "response": None,
                           "error": {"code": "server_error", "message": error}})
    body = {"id": f"chatcmpl-{i}", "object": "chat.completion", "created": 1733000000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 10 + i, "total_tokens": 90 + i}}
    return json.dumps({"id": f"batch_req_{i}", "custom_id": custom_id,
                       "response": {"status_code": 200, "request_id": f"req_{i}", "body": body}, "error": None})


BATCH_MAP = ["--map", "id=custom_id", "--map", "responses=response.body.choices.*.message.content",
             "--map", "model=response.body.model", "--map", "usage=response.body.usage",
             "--map", "finish=response.body.choices.0.finish_reason",
             "--map", "error=error.message|response.body.error.message"]


def batch_file(path: Path) -> Path:
    lines = [
        _batch_line(1, "gsm8k/test/0", "Tom has 3 + 4 = 7 apples.\nThe answer is 7."),
        _batch_line(2, "gsm8k/test/1", "3 * 12 = 35.\nThe answer is 35."),
        _batch_line(3, "gsm8k/test/2", "She started with 1200 and spent 250, which leaves", finish="length"),
        _batch_line(4, "gsm8k/test/3", "It is 3 degrees.\nThe answer is 3."),
        _batch_line(5, "gsm8k/test/4", None, error="The server had an error while processing your request."),
        _batch_line(6, "gsm8k/test/5", "20 * 7 = 140.\nThe answer is 140."),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_openai_batch_output_with_the_documented_map(tiny_data, tmp_path):
    store = tmp_path / "s.db"
    src = batch_file(tmp_path / "batch_output.jsonl")
    doc = json.loads(run("import", "jsonl", str(src), "--task", "gsm8k", *BATCH_MAP, "--store", str(store), "--json",
                         data=tiny_data).stdout)
    (r,) = doc["runs"]
    assert r["model"] == "gpt-4o-mini-2024-07-18" and r["matching"]["by_id"] == 6
    assert r["errors"] == 1 and r["scored"] == 5 and r["accuracy"] == pytest.approx(3 / 5)
    got = _results(store)
    assert got["gsm8k/test/4"][1] is not None  # the failed request is an error, not a wrong answer
    assert got["gsm8k/test/2"][2]["samples"][0]["finish"] == "length"
    assert got["gsm8k/test/0"][2]["samples"][0]["tokens"] == 11.0  # the batch's own usage


def test_generic_jsonl_matching_by_id_question_and_last_question(tiny_data, tmp_path):
    from conftest import GSM8K_ROWS

    q = [row[0] for row in GSM8K_ROWS]
    records = [
        {"id": "gsm8k/test/0", "response": "The answer is 7.", "correct": True, "model": "m"},
        {"question": "  " + q[1].replace(" ", "\n  "), "response": "The answer is 35.", "correct": False, "model": "m"},
        # Exemplars first (one of them is a test question too): the last question names the item.
        {"prompt": f"Question: {q[0]}\nAnswer: 7\n\nQuestion: {q[2]}\nAnswer:", "response": "The answer is 950.",
         "correct": True, "model": "m"},
        {"question": "What is the capital of France?", "response": "Paris", "model": "m"},
        {"id": "gsm8k/test/0", "response": "The answer is 8.", "model": "m"},
        {"question": q[3], "response": "The answer is 3.", "correct": False, "answer": "three", "model": "m"},
    ]
    src = tmp_path / "gens.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    store = tmp_path / "s.db"
    doc = json.loads(run("import", "jsonl", str(src), "--task", "gsm8k", "--prompt", "fewshot-cot", "--store",
                         str(store), "--json", "--show-unmatched", data=tiny_data).stdout)
    (r,) = doc["runs"]
    m = r["matching"]
    got = (m["matched"], m["unmatched"], m["duplicate"], m["by_id"], m["by_question"], m["by_prompt"])
    assert got == (4, 1, 1, 1, 2, 1)
    assert sorted(_results(store)) == ["gsm8k/test/0", "gsm8k/test/1", "gsm8k/test/2", "gsm8k/test/3"]
    missed = {u["where"]: u["status"] for u in doc["unmatched"]}
    assert missed == {f"{src}:4": "unmatched", f"{src}:5": "duplicate"}
    # The source said item 3 was wrong; Polaris reads 3, the gold: one disagreement, shown with both readings.
    assert r["agreement"]["n"] == 4 and r["agreement"]["polaris_only"] == 1
    text = run("import", "jsonl", str(src), "--task", "gsm8k", "--prompt", "fewshot-cot", "--store", str(store),
               "--show-unmatched", data=tiny_data).stdout
    assert f"{src}:4: unmatched" in text and "already imported" in text
    (item,) = json.loads(run("samples", "--task", "gsm8k", "--against-source", "--store", str(store), "--json",
                             data=tiny_data).stdout)["runs"][0]["items"]
    assert item["item"] == "gsm8k/test/3" and item["answer"] == "3" and item["source"]["answer"] == "three"


def test_records_with_k_responses_make_a_sampled_cell(tiny_data, tmp_path):
    from conftest import GSM8K_ROWS

    src = tmp_path / "k.jsonl"
    src.write_text("".join(json.dumps({"question": q, "responses": ["The answer is 7.", "The answer is 8.",
                                                                    "The answer is 7."]}) + "\n"
                           for q, _ in GSM8K_ROWS[:2]))
    doc = json.loads(run("import", "jsonl", str(src), "--task", "gsm8k", "--model", "m", "--store",
                         str(tmp_path / "s.db"), "--json", data=tiny_data).stdout)
    (r,) = doc["runs"]
    assert r["strategy"] == "sc3@t1" and r["accuracy"] == pytest.approx(0.5)  # 7 wins the vote; gold 7 then 36
