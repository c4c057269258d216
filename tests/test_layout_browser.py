"""What a reader sees, measured in Debian's headless chromium: the report's first screen holds a figure
and nothing on the page runs off its right edge, at 1400 and 800 pixels; the viewer's list breaks no
word (header or cell) and fits its pane at both widths; a failed item shows its request beside its
error; a lab item shows its whole question (operands and hint)."""

from __future__ import annotations

import os
import re
from unittest import mock

import pytest
from browserkit import BROKEN_WORDS, OVERFLOW, launch, needs_chromium, serving
from conftest import answers_for, polaris
from fakeserver import FakeOpenAI, Policy
from reportdata import build_store

pytestmark = needs_chromium
WIDTHS = (1400, 800)
SCREEN = 900  # the first screen's height


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    p, b = launch(sync_api)
    yield b
    b.close()
    p.stop()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The report tests' store, plus lab cells (the lab's own models, both formats) and a GSM8K run
    whose server failed a third of its requests (one attempt each), then the report of it all."""
    root = tmp_path_factory.mktemp("layout")
    info = build_store(root)
    env = info["env"]
    for fmt in ("zeroshot-direct", "zeroshot-cot"):
        proc = polaris("run", "-m", "lab/add3-s1-seed0", "-t", "lab/add-3", "-p", fmt, "--limit", "12",
                       "--store", str(info["store"]), "--no-progress", env=env)
        assert proc.returncode == 0, proc.stderr
    with mock.patch.dict(os.environ, {"POLARIS_DATA_DIR": env["POLARIS_DATA_DIR"]}):
        answers = answers_for("gsm8k")
    with FakeOpenAI(Policy(answers=answers, faults={"500": 0.35})) as server:
        proc = polaris("run", "-m", "openai/flaky", "--base-url", server.base_url, "--store", str(info["store"]),
                       "-p", "zeroshot-cot", "--max-attempts", "1", "--limit", "20", "--no-progress", env=env)
        assert proc.returncode == 4, proc.stderr  # finished with items in error
    out = root / "out"
    proc = polaris("report", "--store", str(info["store"]), "--out", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    info["out"] = out
    return info


@pytest.fixture(scope="module")
def viewer(store):
    with serving(store["store"]) as url:
        yield url


@pytest.mark.parametrize("width", WIDTHS)
def test_report_first_screen_holds_a_figure_and_nothing_overflows(browser, store, width, tmp_path):
    page = browser.new_page(viewport={"width": width, "height": SCREEN})
    page.goto((store["out"] / "index.html").resolve().as_uri())
    page.wait_for_load_state("load")
    shot = tmp_path / f"report-{width}.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000
    # Findings open the page, and their figure is loaded and whole within the first screen.
    assert page.evaluate("document.querySelector('main section').id") == "summary"
    box = page.evaluate("(() => { const i = document.querySelector('#summary figure img');"
                        " const r = i.getBoundingClientRect();"
                        " return {top: r.top, bottom: r.bottom, width: r.width, natural: i.naturalWidth}; })()")
    assert box["natural"] > 300 and box["width"] > 0.45 * width, box
    assert 0 < box["top"] and box["bottom"] <= SCREEN, box
    # Nothing runs off the page's right edge: wide tables scroll inside their own box.
    got = page.evaluate(OVERFLOW, ".wide")
    assert got["scroll"] <= width and got["over"] == [], got
    # Column headers keep their words whole.
    assert page.evaluate(BROKEN_WORDS, "main th") == []
    page.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_viewer_list_breaks_no_word_and_fits_its_pane(browser, viewer, width):
    page = browser.new_page(viewport={"width": width, "height": SCREEN})
    # 100 rows: several runs (the run column shows), groups (the hostile run's), errors and lab items.
    page.goto(viewer + "#limit=100")
    page.wait_for_selector("#rows tbody tr")
    page.wait_for_function("document.querySelectorAll('#rows tbody tr').length === 100")
    assert page.evaluate("getComputedStyle(document.querySelector('#rows th.c-run')).display") != "none"
    broken = page.evaluate(BROKEN_WORDS, "#rows th, #rows td")
    assert broken == [], broken[:10]
    # Every column fits the list's pane: no sideways scrolling to reach the answer and the gold.
    fit = page.evaluate("(() => { const l = document.querySelector('#list'), s = getComputedStyle(l);"
                        " const t = document.querySelector('#rows');"
                        " return {table: t.getBoundingClientRect().width, pane: l.clientWidth"
                        " - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)}; })()")
    assert fit["table"] <= fit["pane"] + 0.5, fit
    assert page.evaluate(OVERFLOW, "#list, #detail")["scroll"] <= width
    page.close()


def test_failed_item_shows_its_request_and_error(browser, viewer):
    page = browser.new_page(viewport={"width": 1400, "height": SCREEN})
    page.goto(viewer + "#model=openai%2Fflaky&verdict=error")
    page.wait_for_selector("#rows tbody tr")
    page.locator("#rows tbody tr").first.click()
    page.wait_for_selector("#detail .error")
    assert re.search(r"request failed: .*500", page.inner_text("#detail .error"))
    detail = page.inner_text("#detail")
    assert "The request is not in the store" not in detail and "does not name its request" not in detail
    # The question as it was sent (a GSM8K question and the zero-shot hint), then the prompt's settings.
    question = page.locator("#detail h3:has-text('Question') + pre").inner_text()
    assert question.startswith("Question:") and "step by step" in question
    # The list's narrow column starts with the question itself, not its template's "Question:".
    listed = page.locator("#rows tbody tr td.c-question").first.inner_text()
    assert listed == " ".join(question.split()[1:]), listed
    # A task without groups and a request without stop sequences show no empty rows for them.
    assert not page.locator("#detail dt", has_text="group").count()
    assert not page.locator("#detail dt", has_text="stop").count()
    assert "max_tokens" in detail and "1 failed call, 1 attempt in all." in detail
    page.close()


def test_lab_item_shows_its_whole_question(browser, viewer):
    page = browser.new_page(viewport={"width": 1400, "height": SCREEN})
    page.goto(viewer + "#task=lab%2Fadd-3&prompt=zeroshot-direct")
    page.wait_for_selector("#rows tbody tr")
    listed = page.locator("#rows tbody tr td.c-question").first.inner_text()
    assert re.fullmatch(r"\d+\+\d+ Answer directly\.", listed), listed
    page.locator("#rows tbody tr").first.click()
    page.wait_for_selector("#detail h3:has-text('Item metadata')")
    question = page.locator("#detail h3:has-text('Question') + pre").inner_text()
    operands = re.search(r"operands\s*\[(\d+),(\d+)\]", page.inner_text("#detail"))
    assert operands and question.split() == [f"{operands[1]}+{operands[2]}", "Answer", "directly."], question
    page.close()
