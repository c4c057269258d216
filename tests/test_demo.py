"""`polaris demo`, the README's first command, end to end as a user runs it after the core install:
a subprocess in which torch cannot be imported, a fresh output directory, then the same command
again (everything from the store). Its numbers must be the shipped ladder's recorded evaluations."""

from __future__ import annotations

import html
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from polaris.lab.ladder import list_models

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"
MODELS = list_models()
TASK = "lab/add-3"
FORMATS = ("zeroshot-direct", "zeroshot-cot")


def _demo(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLARIS_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS / "notorch"), str(SRC)])  # torch is not installed
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run([sys.executable, "-m", "polaris", "demo", "--out", str(out), *args],
                          cwd=out.parent, env=env, capture_output=True, text=True, timeout=600)


def _calls(store: Path) -> int:
    with sqlite3.connect(store) as db:
        return db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The demo twice in one directory: cold (JSON), then cached (the plain text a user reads)."""
    out = tmp_path_factory.mktemp("demo") / "polaris-demo"
    first = _demo(out, "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    calls_after_first = _calls(out / "polaris.db")
    second = _demo(out)
    assert second.returncode == 0, second.stderr[-3000:]
    return out, json.loads(first.stdout), calls_after_first, second


def test_demo_runs_without_torch_and_writes_store_report_and_json(runs):
    out, doc, _, _ = runs
    assert doc["engine"] == "numpy"
    assert Path(doc["report"]) == (out / "report" / "index.html").resolve() and Path(doc["report"]).is_file()
    assert Path(doc["store"]) == out / "polaris.db"
    assert json.loads((out / "demo.json").read_text())["results"] == doc["results"]
    assert doc["tasks"] == [TASK] and doc["cells"] == len(MODELS) * len(FORMATS) == 36
    assert set(doc["items"].values()) == {500}
    # Every item asked once: a generation and the gold response's log-prob.
    assert doc["calls"] == 36 * 500 * 2 and doc["cached"] == 0
    page = (out / "report" / "index.html").read_text()
    assert doc["report_sections"][:2] == ["Findings", "Leaderboard"] and "Scaling" in doc["report_sections"]
    assert 'id="scaling"' in page and TASK in page and "<script" not in page.lower()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    for sentence in doc["summary"]:  # the findings open the page
        assert " ".join(sentence.split()) in text
    figures = list((out / "report" / "figures").glob("scaling*.png"))
    assert figures and all(f.stat().st_size > 10_000 for f in figures)


def test_numbers_match_the_shipped_ladders_recorded_evaluation(runs):
    _, doc, _, _ = runs
    results = doc["results"][TASK]
    for m in MODELS:
        measured = results["models"][m.name]
        for fmt in FORMATS:
            recorded = m.eval[TASK][fmt]
            # The index was measured with torch after training; numpy gives the same greedy answers.
            assert measured[fmt]["exact"] == pytest.approx(recorded["exact"], abs=0.004), (m.name, fmt)
            assert measured[fmt]["per-token"] == pytest.approx(recorded["digits"], abs=0.004), (m.name, fmt)
            assert measured[fmt]["logprob"] < 0 and measured[fmt]["edit"] >= 0
    for fmt in FORMATS:
        points = results["curves"][fmt]["exact"]
        assert [p["size"] for p in points] == ["s1", "s2", "s3", "s4", "s5", "s6"]
        for p in points:
            seeds = [m for m in MODELS if m.size == p["size"]]
            assert p["models"] == len(seeds) == 3
            expected = sum(m.eval[TASK][fmt]["exact"] for m in seeds) / len(seeds)
            assert p["mean"] == pytest.approx(expected, abs=0.004)
            assert p["low"] <= p["mean"] <= p["high"]


def test_verdicts_say_the_jump_is_in_the_metric(runs):
    """Direct exact match leaps above the smaller models' trend; per-digit accuracy, edit distance and
    target log-prob are predictable on the same answers (docs/lab.md's reading of the ladder)."""
    _, doc, _, _ = runs
    verdicts = {(v["prompt"], v["metric"]): v for v in doc["results"][TASK]["verdicts"]}
    exact = verdicts[("zeroshot-direct", "exact")]
    assert exact["verdict"] == "emergent" and exact["above_baseline"] is True and exact["z"] > 5
    assert set(exact["smooth_under"]) == {"per-token", "edit", "logprob"}
    for metric in ("per-token", "edit", "logprob"):
        assert verdicts[("zeroshot-direct", metric)]["verdict"] == "predictable"
        assert exact["metric_sensitivity"][metric] > 5  # B(exact) - B(metric): the breakthrough is exact match's
    assert ("zeroshot-cot", "exact") in verdicts


def test_sentences_are_the_measured_numbers(runs):
    _, doc, _, _ = runs
    text = " ".join(doc["summary"])
    curves = doc["results"][TASK]["curves"]
    direct, digits = curves["zeroshot-direct"]["exact"], curves["zeroshot-direct"]["per-token"]
    for p in (direct[0], direct[-1], digits[0], digits[-1]):
        assert f"{100 * p['mean']:.1f}%" in text
    assert "10k" in text and "244k" in text
    assert "emergent" in text and "the jump is in the metric" in text
    z = next(v["z"] for v in doc["results"][TASK]["verdicts"]
             if v["prompt"] == "zeroshot-direct" and v["metric"] == "exact")
    assert f"z = {z:.1f}" in text
    # Where direct exact match gets worse from one size to the next, the findings say so with the numbers.
    shape = doc["results"][TASK]["shape"]["zeroshot-direct"]["exact"]
    for d in shape["dips"]:
        assert "Direct exact match is not monotonic in size" in text
        assert f"{100 * d['before']:.1f}% at" in text and f"to {100 * d['after']:.1f}% at" in text
    seeds = shape["widest_seeds"]
    if seeds["high"] - seeds["low"] >= 0.2:
        assert f"from {100 * seeds['low']:.1f}% to {100 * seeds['high']:.1f}%" in text


@pytest.mark.parametrize("width", (1400, 800))
def test_the_report_opens_with_the_findings_and_their_figure(runs, width):
    """The demo's page in a real browser: the findings' scaling figure (exact match beside per-digit
    accuracy) is whole within the first screen, and nothing runs off the page's right edge."""
    from browserkit import CHROMIUM, OVERFLOW, launch

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium (/usr/bin/chromium) is not installed")
    p, browser = launch(pytest.importorskip("playwright.sync_api"))
    try:
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.goto((runs[0] / "report" / "index.html").resolve().as_uri())
        page.wait_for_load_state("load")
        img = page.locator("#summary figure img")
        assert img.get_attribute("src") == "figures/findings.png"
        box = img.bounding_box()
        assert box and 0 < box["y"] and box["y"] + box["height"] <= 900, box
        assert page.evaluate(OVERFLOW, ".wide")["over"] == []
    finally:
        browser.close()
        p.stop()


def test_what_every_row_shares_is_said_once(runs):
    """The demo's 18 contrasts are all CoT vs direct, its 36 cells all greedy, its 8 curves all of 6 sizes
    and 18 models: said above the tables, not repeated in columns of every row."""
    page = (runs[0] / "report" / "index.html").read_text()

    def section(key: str) -> tuple[str, list[str]]:
        body = page[page.index(f'<section id="{key}">'):]
        body = body[:body.index("</section>")]
        return body, re.findall(r"<th(?: [^>]*)?>(.*?)</th>", body)

    contrasts, header = section("contrasts")
    assert "Every contrast below: contrast CoT vs direct (A zeroshot-cot, B zeroshot-direct)" in contrasts
    assert header[:2] == ["where", "n"] and "A %" in header and "contrast" not in header
    tasks, header = section("tasks")
    assert "Every row: strategy greedy+completions." in tasks
    assert header[:3] == ["model", "prompt", "n"]
    scaling, header = section("scaling")
    assert "6 sizes and 18 models per curve." in scaling and "sizes" not in header
    assert header[header.index("B") - 1] == "smooth under"


def test_second_run_is_served_from_the_store(runs):
    out, doc, calls_after_first, second = runs
    assert _calls(out / "polaris.db") == calls_after_first  # no model was called
    assert "no model called" in second.stdout
    saved = json.loads((out / "demo.json").read_text())
    assert saved["calls"] == 0 and saved["cached"] == 36 * 500 * 2
    assert saved["results"] == doc["results"] and saved["summary"] == doc["summary"]
    # The plain output ends with where the report is and what it shows.
    tail = " ".join(second.stdout.split())
    assert re.search(r"Report: \S+index\.html", tail)
    for sentence in doc["summary"]:
        assert " ".join(sentence.split()) in tail


def test_out_must_be_a_directory(tmp_path):
    (tmp_path / "file").write_text("x")
    res = _demo(tmp_path / "file")
    assert res.returncode == 2 and res.stderr.strip().count("\n") == 0
    assert "is a file" in res.stderr and (tmp_path / "file").read_text() == "x"


def test_one_progress_bar_spans_the_cells_run_one_after_another():
    from polaris.lab.demo import one_bar

    seen = []
    per_cell = one_bar(lambda description, total: lambda done, n, errors: seen.append((done, n, errors)), "all", 10)
    first = per_cell("cell a", 4)
    first(2, 4, 0)
    first(4, 4, 1)
    second = per_cell("cell b", 6)
    second(3, 6, 0)
    second(6, 6, 2)
    assert seen == [(2, 10, 0), (4, 10, 1), (7, 10, 1), (10, 10, 3)]  # items and errors add up across cells
