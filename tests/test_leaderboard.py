"""`polaris leaderboard` and the suite breakdowns, end to end: real runs of the four suites (baselines and
a fake OpenAI-compatible server answering from a script, so every item's verdict is known), a real
store, the real CLI. Breakdown numbers are checked against counts made here by hand."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import sqlite3
from decimal import Decimal

import pytest
from conftest import SHARED, cli_env, polaris
from fakeserver import FakeOpenAI, Policy, _h, _norm

from polaris.analysis.stats import mean_ci, wilson_interval

LIMIT = 300  # fake-model items per suite, stratified: MMLU's 57 subjects and BBH's 27 tasks all appear
MATH_LIMIT = 60
SWAP = {"True": "False", "False": "True", "Yes": "No", "No": "Yes", "valid": "invalid", "invalid": "valid"}


def _wrong_answer(task, item) -> str:
    gold = task.scorer.gold(item)
    if item.choices or gold.startswith("("):
        letters = "ABCDEFGHIJKLMNOPQR"[: max(len(item.choices), 4)]
        return f"({letters[(letters.index(gold[1]) + 1) % len(letters)]})"
    if gold in SWAP:
        return SWAP[gold]
    if task.name.startswith("math"):
        return "-987654321"
    try:
        return str(Decimal(gold) + 1)
    except ArithmeticError:
        return "zzz"


def scripted(task_name: str, limit: int) -> tuple[dict[str, str], list[tuple[str, str, dict, float]]]:
    """Responses for the items `--limit` takes (wrong for one question text in three) and, per item,
    (id, group, meta, expected score)."""
    from polaris.runner.runner import limited
    from polaris.tasks.registry import get_task

    task = get_task(task_name)
    items = limited(list(task.dataset.load()), limit, task.headline)
    responses: dict[str, str] = {}
    for it in items:
        template = task.template_for(it.group)
        text = template.item_text(it)
        wrong = _h(_norm(text)) % 3 == 0
        responses[text] = template.answer_sentence(_wrong_answer(task, it) if wrong else task.scorer.gold(it))
    expected = []
    for it in items:
        template = task.template_for(it.group)
        right = responses[template.item_text(it)] == template.answer_sentence(task.scorer.gold(it))
        expected.append((it.id, it.group, dict(it.meta), 1.0 if right else 0.0))
    return responses, expected


@pytest.fixture(scope="module")
def env():
    if SHARED is None:
        pytest.skip("benchmark data (../shared/datasets) not available")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("POLARIS_DATA_DIR", str(SHARED))
        yield cli_env(POLARIS_DATA_DIR=str(SHARED))


@pytest.fixture(scope="module")
def board(env, tmp_path_factory, worker_id):
    """One store: baselines (GSM8K in full, the rest with --limit), the scripted fake model on all four
    suites, and a second fake model that only ran BBH with another prompt format. Built once and shared
    by the xdist workers (they only read it)."""
    # Under xdist the workers' temp dirs share a parent that is new for each session.
    root = tmp_path_factory.getbasetemp()
    shared = (root if worker_id == "master" else root.parent) / "leaderboard-board"
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "done.json"
        if not done.exists():
            done.write_text(json.dumps(_build_board(shared / "s.db", env)))
    expected, runs = json.loads(done.read_text())
    return shared / "s.db", expected, runs


def _build_board(store, env) -> tuple[dict, dict]:
    expected = {}
    answers = {}
    for name, limit in (("gsm8k", LIMIT), ("mmlu", LIMIT), ("bbh", LIMIT), ("math", MATH_LIMIT)):
        got, expected[name] = scripted(name, limit)
        answers.update(got)
    base = ["--store", str(store), "--json", "--no-progress"]
    runs = {}
    with FakeOpenAI(Policy(answers=answers, template="{answer}")) as server:
        url = ["--base-url", server.base_url, "--concurrency", "16"]
        polaris("run", "-m", "baseline/gold", "-m", "baseline/random", "-t", "gsm8k", *base, env=env, check=True)
        polaris("run", "-m", "baseline/gold", "-m", "baseline/random", "-t", "math", "-t", "mmlu", "-t", "bbh",
                "--limit", "60", *base, env=env, check=True)
        for tasks, limit in ((("gsm8k", "mmlu", "bbh"), LIMIT), (("math",), MATH_LIMIT)):
            proc = polaris("run", "-m", "openai/fake-model", *url, *(a for t in tasks for a in ("-t", t)),
                           "--limit", str(limit), *base, env=env, check=True)
            runs.update({r["task"]: r for r in json.loads(proc.stdout)["results"]})
        polaris("run", "-m", "openai/other-model", *url, "-t", "bbh", "-p", "fewshot-direct", "--limit", "30",
                *base, env=env, check=True)
    return expected, runs


def _board(store, env, *args: str):
    proc = polaris("leaderboard", "--store", str(store), *args, env=env)
    assert proc.returncode == 0, proc.stderr
    return proc


def _cells(store, env, *args: str) -> dict[str, dict[str, dict]]:
    doc = json.loads(_board(store, env, "--format", "json", *args).stdout)
    return {row["model"]: row["cells"] for row in doc["rows"]}


def test_fake_model_cells_equal_the_scripted_accuracy(board, env):
    store, expected, runs = board
    cells = _cells(store, env)
    fake = cells["openai/fake-model"]
    for suite in ("gsm8k", "mmlu", "math"):
        scores = [e[3] for e in expected[suite]]
        assert fake[suite]["accuracy"] == pytest.approx(sum(scores) / len(scores)), suite
        assert fake[suite]["n"] == len(scores) and fake[suite]["errors"] == 0
        assert fake[suite]["strict_accuracy"] == fake[suite]["accuracy"] and fake[suite]["extracted"] == 1.0
        assert fake[suite]["disagree"] == 0
        # The cell is what `polaris run` reported for the same run.
        assert fake[suite]["accuracy"] == pytest.approx(runs[suite]["accuracy"])
        assert fake[suite]["ci95"] == pytest.approx(runs[suite]["ci95"])
    assert 0 < fake["mmlu"]["accuracy"] < 1  # the script really has wrong answers
    # BBH's headline is the mean over tasks.
    per_task: dict[str, list[float]] = {}
    for _, group, _, s in expected["bbh"]:
        per_task.setdefault(group, []).append(s)
    assert len(per_task) == 27  # --limit takes as many items from every task (a macro headline needs them all)
    macro = sum(sum(v) / len(v) for v in per_task.values()) / 27
    assert fake["bbh"]["accuracy"] == pytest.approx(macro) and fake["bbh"]["headline"] == "macro"
    assert fake["bbh"]["accuracy"] != pytest.approx(sum(e[3] for e in expected["bbh"]) / LIMIT)


def test_baselines_gold_is_perfect_and_random_is_at_chance(board, env):
    store, _, _ = board
    cells = _cells(store, env)
    for suite in ("gsm8k", "math", "mmlu", "bbh"):
        gold = cells["baseline/gold"][suite]
        assert gold["accuracy"] == 1.0 and gold["strict_accuracy"] == 1.0 and gold["extracted"] == 1.0, suite
    random = cells["baseline/random"]
    # MMLU has four options; BBH's chance is the mean over its tasks of their items' chance.
    from polaris.analysis.baseline import item_chance
    from polaris.runner.runner import limited
    from polaris.tasks.registry import get_task

    bbh = get_task("bbh")
    per_task: dict[str, list[float]] = {}
    for it in limited(list(bbh.dataset.load()), 60, "macro"):
        per_task.setdefault(it.group, []).append(item_chance(bbh.scorer, it)[0])
    bbh_chance = sum(sum(v) / len(v) for v in per_task.values()) / len(per_task)
    for suite, chance in (("mmlu", 0.25), ("bbh", bbh_chance)):
        assert random[suite]["ci95"][0] <= chance <= random[suite]["ci95"][1], suite
    assert random["gsm8k"]["accuracy"] < 0.05 and random["gsm8k"]["n"] == 1319


def test_every_cell_traces_back_to_its_run_manifest(board, env):
    store, _, _ = board
    cells = _cells(store, env)
    db = sqlite3.connect(store)
    manifests = {rid: json.loads(m) for rid, m in db.execute("SELECT id, manifest FROM runs")}
    shown = [(model, c) for model, row in cells.items() for c in row.values() if c["status"] != "missing"]
    assert len(shown) == 2 * 4 + 4
    for model, c in shown:
        m = manifests[c["run_id"]]
        assert (m["model"], m["task"], m["prompt"], m["strategy"], m["label"]) == (
            model, c["task"], c["prompt"], c["strategy"], c["label"])
        assert c["prompt"] == "fewshot-cot" and c["strategy"] == "greedy"
        n = db.execute("SELECT COUNT(*) FROM results WHERE run=? AND error IS NULL", (c["run_id"],)).fetchone()[0]
        assert c["n"] == n


def test_partial_and_missing_cells_say_why(board, env):
    store, _, _ = board
    cells = _cells(store, env)
    gold = cells["baseline/gold"]
    assert gold["gsm8k"]["status"] == "full" and gold["gsm8k"]["n"] == 1319 and gold["gsm8k"]["reason"] == ""
    assert gold["gsm8k"]["accuracy"] == 1.0
    for suite, size in (("math", 5000), ("mmlu", 14042), ("bbh", 6511)):
        assert gold[suite]["status"] == "partial" and gold[suite]["size"] == size
        assert gold[suite]["reason"] == f"60 of {size} items scored"
    other = cells["openai/other-model"]
    assert other["bbh"]["status"] == "missing" and other["bbh"]["accuracy"] is None
    assert other["bbh"]["reason"] == "only runs with other settings: fewshot-direct/greedy"
    assert other["gsm8k"] == other["gsm8k"] | {"status": "missing", "reason": "not run", "run_id": None}
    # Asked for fewshot-direct, only that run fills a cell; everything else is missing.
    direct = _cells(store, env, "--prompt", "fewshot-direct")
    assert direct["openai/other-model"]["bbh"]["status"] == "partial"
    assert direct["openai/other-model"]["bbh"]["n"] == 30
    assert all(c["status"] == "missing" and "fewshot-cot/greedy" in c["reason"]
               for c in direct["baseline/gold"].values())
    # The table names each partial and missing cell and its reason below it.
    text = _board(store, env).stdout
    assert "openai/other-model BBH: missing: only runs with other settings: fewshot-direct/greedy" in text
    assert "baseline/gold MMLU: partial, not comparable with full cells: 60 of 14042 items scored" in text
    assert text.count("partial [") == 3 + 3 + 4 + 0  # gold, random, fake-model partial cells


def test_csv_and_markdown_parse(board, env):
    store, _, _ = board
    doc = _cells(store, env)
    rows = list(csv.DictReader(io.StringIO(_board(store, env, "--format", "csv").stdout)))
    assert [r["model"] for r in rows] == sorted(doc)
    for r in rows:
        for suite in ("gsm8k", "math", "mmlu", "bbh"):
            cell = doc[r["model"]][suite]
            assert r[f"{suite}_status"] == cell["status"] and r[f"{suite}_run_id"] == (cell["run_id"] or "")
            if cell["accuracy"] is not None:
                assert float(r[f"{suite}_accuracy"]) == pytest.approx(cell["accuracy"])
                assert float(r[f"{suite}_ci_low"]) == pytest.approx(cell["ci95"][0])
                assert int(r[f"{suite}_n"]) == cell["n"] and int(r[f"{suite}_disagree"]) == cell["disagree"]
                assert float(r[f"{suite}_extracted"]) == pytest.approx(cell["extracted"])
    md = _board(store, env, "--format", "markdown").stdout.splitlines()
    table = [line for line in md if line.startswith("|")]
    assert table[0] == "| model | GSM8K | MATH | MMLU | BBH |" and table[1] == "|---|---|---|---|---|"
    body = {line.split(" | ")[0][2:]: line for line in table[2:]}
    assert sorted(body) == sorted(doc)
    assert all(line.count(" | ") == 4 for line in [table[0], *table[2:]])
    fake = body["openai/fake-model"]
    assert f"{100 * doc['openai/fake-model']['mmlu']['accuracy']:.1f} [" in fake and "n=300 of 14042" in fake


def test_mmlu_breakdown_equals_hand_counts(board, env):
    store, expected, runs = board
    doc = json.loads(_board(store, env, "--task", "mmlu", "--json").stdout)
    (fake,) = [m for m in doc["models"] if m["model"] == "openai/fake-model"]
    split = fake["breakdown"]
    subjects: dict[str, list[float]] = {}
    categories: dict[str, list[float]] = {}
    for _, group, meta, s in expected["mmlu"]:
        subjects.setdefault(group, []).append(s)
        categories.setdefault(meta["category"], []).append(s)
    assert len(subjects) == 57 and sorted(categories) == ["STEM", "humanities", "other", "social sciences"]
    for name, scores in subjects.items():
        line = split["by"]["subject"][name]
        assert line["n"] == len(scores) and line["accuracy"] == pytest.approx(sum(scores) / len(scores))
        # One subject is one cluster: the plain Wilson interval.
        assert line["ci95"] == pytest.approx(list(wilson_interval(sum(scores), len(scores))))
    for name, scores in categories.items():
        line = split["by"]["category"][name]
        assert line["n"] == len(scores) and line["accuracy"] == pytest.approx(sum(scores) / len(scores))
    macro = sum(sum(v) / len(v) for v in subjects.values()) / 57
    assert split["macro"]["subject"]["accuracy"] == pytest.approx(macro)
    assert split["macro"]["category"]["accuracy"] == pytest.approx(
        sum(sum(v) / len(v) for v in categories.values()) / 4)
    # The headline is the micro average, its interval clustered by subject.
    scores = [e[3] for e in expected["mmlu"]]
    est = mean_ci(scores, clusters=[e[1] for e in expected["mmlu"]])
    assert fake["cell"]["accuracy"] == pytest.approx(sum(scores) / len(scores))
    assert fake["cell"]["ci95"] == pytest.approx([est.low, est.high])
    assert split["micro"]["ci95"] == pytest.approx([est.low, est.high])
    # `polaris run --json` carried the same breakdown.
    assert runs["mmlu"]["breakdown"]["by"]["subject"].keys() == split["by"]["subject"].keys()
    for name in subjects:
        assert runs["mmlu"]["breakdown"]["by"]["subject"][name]["accuracy"] == pytest.approx(
            split["by"]["subject"][name]["accuracy"])


def test_math_breakdown_by_level_and_subject(board, env):
    store, expected, _ = board
    doc = json.loads(_board(store, env, "--task", "math", "--json").stdout)
    (fake,) = [m for m in doc["models"] if m["model"] == "openai/fake-model"]
    levels: dict[str, list[float]] = {}
    subjects: dict[str, list[float]] = {}
    for _, group, meta, s in expected["math"]:
        levels.setdefault(str(meta["level"]), []).append(s)
        subjects.setdefault(group, []).append(s)
    by = fake["breakdown"]["by"]
    assert sorted(by["level"]) == sorted(levels) and sorted(by["subject"]) == sorted(subjects)
    for key, scores in levels.items():
        assert by["level"][key]["n"] == len(scores)
        assert by["level"][key]["accuracy"] == pytest.approx(sum(scores) / len(scores))
    for key, scores in subjects.items():
        assert by["subject"][key]["accuracy"] == pytest.approx(sum(scores) / len(scores))
    table = _board(store, env, "--task", "math").stdout
    assert "by level" in table and "Level 5" in table and "by subject" in table


def test_bbh_breakdown_per_task(board, env):
    store, expected, _ = board
    out = _board(store, env, "--task", "bbh", "--format", "csv").stdout
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["model"] == "openai/fake-model"]
    tasks = {r["key"]: r for r in rows if r["section"] == "task"}
    assert len(tasks) == 27
    for name in tasks:
        scores = [e[3] for e in expected["bbh"] if e[1] == name]
        assert int(tasks[name]["n"]) == len(scores)
        assert float(tasks[name]["accuracy"]) == pytest.approx(sum(scores) / len(scores))
    (head,) = [r for r in rows if r["key"] == "headline (macro)"]
    assert float(head["accuracy"]) == pytest.approx(
        sum(float(t["accuracy"]) for t in tasks.values()) / 27)


def test_sort_and_bad_options(board, env):
    store, _, _ = board
    doc = json.loads(_board(store, env, "--json", "--sort", "mmlu").stdout)
    models = [r["model"] for r in doc["rows"]]
    # All MMLU cells are partial; among them the highest accuracy first, missing last.
    assert models[0] == "baseline/gold" and models[-1] == "openai/other-model"
    for args, word in ((("--format", "xml"), "--format"), (("--task", "drop"), "--task"),
                       (("--prompt", "fewshot"), "--prompt"), (("--sort", "gsm"), "--sort")):
        proc = polaris("leaderboard", "--store", str(store), *args, env=env)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and word in proc.stderr
    proc = polaris("leaderboard", "--store", str(store.parent / "nope.db"), env=env)
    assert proc.returncode == 2 and "no Polaris store" in proc.stderr


def test_random_baseline_on_full_mmlu_is_at_chance(env, tmp_path):
    """The whole of MMLU: a full cell, 57 subjects and 4 categories, and baseline/random at 25%."""
    store = tmp_path / "s.db"
    polaris("run", "-m", "baseline/random", "-t", "mmlu", "--store", str(store), "--no-progress", "--json",
            env=env, check=True, timeout=600)
    doc = json.loads(_board(store, env, "--task", "mmlu", "--json").stdout)
    (m,) = doc["models"]
    cell, split = m["cell"], m["breakdown"]
    assert cell["status"] == "full" and cell["n"] == 14042 and cell["reason"] == ""
    assert cell["ci95"][0] <= 0.25 <= cell["ci95"][1]
    assert len(split["by"]["subject"]) == 57 and sum(v["n"] for v in split["by"]["subject"].values()) == 14042
    assert sorted(split["by"]["category"]) == ["STEM", "humanities", "other", "social sciences"]
    assert all(abs(v["accuracy"] - 0.25) < 0.03 for v in split["by"]["category"].values())


def test_default_board_shows_the_prompt_format_the_store_has(tmp_path):
    """A store of zero-shot (or imported) runs shows them by default, not a board of empty cells; once
    CoT Hub's few-shot CoT runs exist, they are the default board."""
    from conftest import write_gsm8k

    env = cli_env(POLARIS_DATA_DIR=str(write_gsm8k(tmp_path / "data", 6)))
    store = str(tmp_path / "s.db")

    def board(*args):
        proc = polaris("leaderboard", "--store", store, "--json", *args, env=env)
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        return doc["prompt"], doc["rows"][0]["cells"]["gsm8k"]

    for prompt in ("zeroshot-cot", "fewshot-cot"):
        ran = polaris("run", "-m", "baseline/gold", "-t", "gsm8k", "-p", prompt, "--store", store, "--no-progress",
                      env=env)
        assert ran.returncode == 0, ran.stderr
        shown, cell = board()
        assert shown == prompt and cell["prompt"] == prompt and cell["accuracy"] == 1.0 and cell["n"] == 6
    shown, cell = board("--prompt", "zeroshot-cot")  # asked for: always that format
    assert shown == "zeroshot-cot" and cell["accuracy"] == 1.0
