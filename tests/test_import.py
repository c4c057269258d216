"""`polaris import` on real published generations (the development sets in ../shared/datasets): PlanBench's
result files, OpenAI's GSM8K example solutions, BIG-Bench Hard's Codex outputs. The imported runs are
ordinary runs: the leaderboard, report, samples, viewer, compare, rescore and analyze scaling work on
them; the manifest says where the responses came from; Polaris's verdicts are compared with the
source's. Agreement thresholds are floors, not today's exact figures (extraction rules improve)."""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import SHARED, cli_env, polaris

pytestmark = pytest.mark.skipif(SHARED is None, reason="benchmark data (../shared/datasets) not available")

PB = SHARED / "planbench" / "responses" if SHARED else Path()
GSM = SHARED / "published" / "gsm8k" / "openai_example_model_solutions.jsonl" if SHARED else Path()
BBH = SHARED / "published" / "bbh" if SHARED else Path()
PB_FILES = ["blocksworld_gpt-4_chat_task_1_plan_generation_zero_shot.json",
            "blocksworld_gpt-4_chat_task_1_plan_generation_backprompting.json"]
BBH_FILES = ["cot/date_understanding_few_shot_template_0-255000.json",
             "cot/sports_understanding_few_shot_template_0-255000.json",
             "direct/sports_understanding_few_shot_template_0-255000.json"]
PUBLISHED = {"6b_finetuning": 21.68, "6b_verification": 39.04, "175b_finetuning": 34.72, "175b_verification": 56.25}


def run(*args: str, check: bool = True):
    proc = polaris(*args, env=cli_env(POLARIS_DATA_DIR=str(SHARED)))
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("import") / "imported.db"
    docs = {
        "gsm8k": json.loads(run("import", "gsm8k-solutions", str(GSM), "--store", str(path), "--json").stdout),
        "planbench": json.loads(run("import", "planbench", *(str(PB / f) for f in PB_FILES), "--store", str(path),
                                    "--json").stdout),
        "bbh": json.loads(run("import", "bbh-outputs", *(str(BBH / f) for f in BBH_FILES), "--model",
                              "code-davinci-002", "--store", str(path), "--json").stdout),
    }
    return path, docs


def _runs(path: Path) -> dict[str, dict]:
    con = sqlite3.connect(path)
    try:
        return {rid: json.loads(m) for rid, m in con.execute("SELECT id, manifest FROM runs")}
    finally:
        con.close()


def test_gsm8k_solutions_make_one_run_per_system_and_agree_with_openai_labels(store):
    _, docs = store
    runs = {r["model"]: r for r in docs["gsm8k"]["runs"]}
    assert set(runs) == set(PUBLISHED)
    for system, r in runs.items():
        assert r["task"] == "gsm8k" and r["prompt"] == "zeroshot-cot" and r["status"] == "new"
        assert r["matching"]["matched"] == 1319 and r["matching"]["by_question"] == 1319
        assert r["agreement"]["n"] == 1319 and r["agreement"]["rate"] >= 0.99
        assert 100 * r["accuracy"] == pytest.approx(PUBLISHED[system], abs=1.0)  # the paper's figures
    files = docs["gsm8k"]["files"]
    assert len(files) == 4 and all(f["agreement"]["n"] == 1319 for f in files)


def test_planbench_runs_are_matched_by_instance_and_keep_their_provenance(store):
    path, docs = store
    runs = {r["prompt"] + ("/modulo" if "verifier_rounds" in r["label"] else ""): r for r in docs["planbench"]["runs"]}
    assert set(runs) == {"zero-shot", "one-shot/modulo"}
    assert runs["zero-shot"]["matching"]["by_id"] == 500 and runs["one-shot/modulo"]["matching"]["by_id"] == 50
    assert runs["zero-shot"]["agreement"]["rate"] >= 0.9 and runs["one-shot/modulo"]["agreement"]["rate"] >= 0.9
    manifest = _runs(path)[runs["zero-shot"]["run_id"]]
    prov = manifest["backend"]["imported"]
    assert prov["format"] == "planbench" and prov["sent_by_polaris"] is False
    (f,) = prov["files"]
    import hashlib

    assert f["name"] == PB_FILES[0] and f["sha256"] == hashlib.sha256((PB / PB_FILES[0]).read_bytes()).hexdigest()
    assert len(prov["items"]) == 500 and {v[2] for v in prov["items"].values()} == {0.0, 1.0}
    # The import is the run's one invocation, and the manifest lists it with where it came from.
    (inv,) = manifest["invocations"]
    assert inv["source"] == "import" and inv["endpoint"] == "imported:gpt-4_chat"
    assert inv["provenance"]["files"] == prov["files"] and inv["provenance"]["sent_by_polaris"] is False
    assert inv["items_scored"] == 500 and "items" not in inv["provenance"]
    # The LLM-Modulo file: its conversation rounds were read as rounds, not as samples.
    con = sqlite3.connect(path)
    rounds = [json.loads(d) for (d,) in con.execute("SELECT json_extract(data, '$.modulo') FROM results WHERE run=?",
                                                    (runs["one-shot/modulo"]["run_id"],))]
    con.close()
    assert max(len(r["rounds"]) for r in rounds) > 5 and all(r["max_rounds"] == 14 for r in rounds)


def test_per_file_agreement_is_printed(tmp_path):
    out = run("import", "planbench", str(PB / PB_FILES[0]), "--store", str(tmp_path / "t.db")).stdout
    assert "Agreement with the source's verdicts, per file" in out
    line = next(ln for ln in out.splitlines() if PB_FILES[0][:30] in ln)
    assert "(500)" in line  # agreement over the 500 items the source judged


def test_per_file_lines_tell_files_of_the_same_name_apart(tmp_path):
    out = run("import", "bbh-outputs", str(BBH / BBH_FILES[1]), str(BBH / BBH_FILES[2]), "--model", "codex",
              "--store", str(tmp_path / "t.db")).stdout
    flat = "".join(ln.replace("│", "").strip() for ln in out.splitlines())  # names fold over lines
    assert "cot/sports_understanding" in flat and "direct/sports_understanding" in flat


def test_bbh_outputs_become_one_bbh_run_per_prompt_format_beside_the_papers_scores(store):
    _, docs = store
    runs = {r["prompt"]: r for r in docs["bbh"]["runs"]}
    assert set(runs) == {"fewshot-cot", "fewshot-direct"} and all(r["task"] == "bbh" for r in runs.values())
    assert runs["fewshot-cot"]["matching"]["matched"] == 500 and runs["fewshot-cot"]["matching"]["by_prompt"] == 500
    assert runs["fewshot-cot"]["matching"]["twins"] == 4  # sports_understanding holds two questions twice
    for f in docs["bbh"]["files"]:
        assert f["agreement"] is None and f["source_score"]["accuracy"] is not None  # no per-item verdicts
        assert f["polaris_accuracy"] == pytest.approx(f["source_accuracy"], abs=0.02)


def test_leaderboard_marks_imported_cells(store):
    path, _ = store
    board = json.loads(run("leaderboard", "--store", str(path), "--prompt", "zeroshot-cot", "--json").stdout)
    cells = {row["model"]: row["cells"]["gsm8k"] for row in board["rows"]}
    assert cells["175b_verification"]["imported"] == "gsm8k-solutions"
    assert cells["175b_verification"]["status"] == "full"
    text = run("leaderboard", "--store", str(path)).stdout
    assert "imported [" in text and "Polaris did not send these prompts" in text  # the BBH cell, marked


def test_samples_against_source_shows_both_verdicts_and_readings(store):
    path, docs = store
    (zs,) = [r for r in docs["planbench"]["runs"] if r["prompt"] == "zero-shot"]
    a = zs["agreement"]
    doc = json.loads(run("samples", "--task", "blocksworld", "--prompt", "zero-shot", "--against-source", "--limit",
                         "0", "--store", str(path), "--json").stdout)
    (r,) = [x for x in doc["runs"] if x["run_id"] == zs["run_id"]]
    assert r["matched"] == a["n"] - a["agree"] and r["agreement"]["rate"] == a["rate"]
    for item in r["items"]:
        assert item["source"]["correct"] != (item["correct"] >= 1.0)
        assert item["source"]["file"] == PB_FILES[0] and isinstance(item["source"]["line"], int)
    assert any(item["source"]["answer"] for item in r["items"])  # PlanBench's own reading of the plan
    text = run("samples", "--task", "blocksworld", "--prompt", "zero-shot", "--against-source", "--limit", "2",
               "--store", str(path)).stdout
    assert "Polaris and the source agree on" in text and "source: " in text and "flexible: " in text
    gsm = run("samples", "--task", "gsm8k", "--against-source", "--store", str(path), "--json").stdout
    assert all(x["agreement"]["n"] == 1319 for x in json.loads(gsm)["runs"])
    refused = run("samples", "--task", "mmlu", "--against-source", "--store", str(path), check=False)
    assert refused.returncode == 2


def test_rescore_reproduces_the_import_and_keeps_the_provenance(store, tmp_path):
    path, _ = store
    copy = tmp_path / "copy.db"
    src = sqlite3.connect(path)
    src.execute(f"VACUUM INTO '{copy}'")
    src.close()

    def results(p: Path) -> list:
        con = sqlite3.connect(p)
        try:
            return con.execute("SELECT run, item, correct, strict, extracted, error, answer, data FROM results "
                               "ORDER BY run, item").fetchall()
        finally:
            con.close()

    before = results(copy)
    run("rescore", "--store", str(copy), "--task", "gsm8k", "--json")
    run("rescore", "--store", str(copy), "--task", "blocksworld", "--json")
    assert results(copy) == before
    assert all(m["backend"]["imported"]["format"] for m in _runs(copy).values())
    # The rescore is one more line in each run's history; the import stays first, with its provenance.
    gsm = next(m for m in _runs(copy).values() if m["task"] == "gsm8k")
    assert [i["source"] for i in gsm["invocations"]] == ["import", "rescore"]
    assert gsm["invocations"][0]["provenance"]["format"] == "gsm8k-solutions"


def test_importing_the_same_files_again_changes_nothing(store):
    path, _ = store

    def counts() -> tuple:
        con = sqlite3.connect(path)
        try:
            return tuple(con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                         for t in ("runs", "results", "samples", "calls", "requests"))
        finally:
            con.close()

    before = counts()
    again = json.loads(run("import", "gsm8k-solutions", str(GSM), "--store", str(path), "--json").stdout)
    assert {r["status"] for r in again["runs"]} == {"already imported"}
    assert counts() == before


def test_report_and_viewer_show_imported_runs(store, tmp_path):
    path, docs = store
    out = tmp_path / "report"
    run("report", "--store", str(path), "--out", str(out))
    page = (out / "index.html").read_text()
    assert "†" in page and "Polaris did not send these prompts" in page and "gsm8k-solutions" in page
    planning = page[page.index('id="planning"'):]
    planning = planning[:planning.index("</section>")]
    assert "zero-shot greedy †" in planning  # the planning tables mark them too
    board = page[page.index('id="leaderboard"'):]
    board = board[:board.index("</section>")]
    assert "†" in board and "Polaris did not send these prompts" in board  # and the leaderboards, with their source
    # Headings and sentences name a task's instance directory by its last part, not the importer's absolute path.
    shown = re.findall(r"<h3[^>]*>(.*?)</h3>", page) + re.findall(r'<section id="summary">.*?</section>', page, re.S)
    assert any("instances_dir=…/" in s for s in shown) and not any("instances_dir=/" in s for s in shown)
    manifests = json.loads((out / "manifests.json").read_text())
    assert any(m.get("manifest", m).get("backend", {}).get("imported") for m in manifests.values())

    from polaris.report.viewer import make_server

    server = make_server(path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (zs,) = [r for r in docs["planbench"]["runs"] if r["prompt"] == "zero-shot"]
        q = urllib.parse.urlencode({"run": zs["run_id"], "item": "instance-2"})
        with urllib.request.urlopen(f"{server.url.rstrip('/')}/api/item?{q}", timeout=30) as res:
            item = json.loads(res.read())
    finally:
        server.shutdown()
        server.server_close()
    source = json.loads((PB / PB_FILES[0]).read_text())["instances"]
    record = next(r for r in source if r["instance_id"] == 2)
    assert item["request"]["prompt"] == record["query"]  # what the source sent, not a Polaris rendering
    assert item["samples"][0]["text"] == record["llm_raw_response"]


def test_compare_and_analyze_scaling_work_on_imported_runs(store, tmp_path):
    path, docs = store
    runs = {r["model"]: r["run_id"] for r in docs["gsm8k"]["runs"]}
    cmp = json.loads(run("compare", runs["175b_finetuning"], runs["6b_finetuning"], "--store", str(path),
                         "--json").stdout)
    assert cmp["n"] == 1319 and cmp["delta"] == pytest.approx(cmp["mean_a"] - cmp["mean_b"])
    assert cmp["mean_a"] == pytest.approx(runs_acc := next(r["accuracy"] for r in docs["gsm8k"]["runs"]
                                                            if r["model"] == "175b_finetuning"))
    assert runs_acc > cmp["mean_b"]
    models = tmp_path / "models.yaml"
    models.write_text("models:\n"
                      "  6b_finetuning: {params: 6B, family: gpt3-gsm8k-ft}\n"
                      "  175b_finetuning: {params: 175B, family: gpt3-gsm8k-ft}\n")
    study = run("analyze", "scaling", "--task", "gsm8k", "--family", "gpt3-gsm8k-ft", "--models", str(models),
                "--prompt", "zeroshot-cot", "--store", str(path), "--json")
    (st,) = json.loads(study.stdout)["studies"]
    exact = next(c for c in st["curves"] if c["metric"] == "exact")
    assert [(m["model"], m["params"], m["run_id"]) for m in exact["models"]] == [
        ("6b_finetuning", 6e9, runs["6b_finetuning"]), ("175b_finetuning", 175e9, runs["175b_finetuning"])]
