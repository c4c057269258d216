"""The report and the viewer in a real headless browser (Debian's chromium through playwright's
executable_path; nothing is downloaded): stored text that tries to run script is shown literally and
runs nothing. Skipped when playwright or /usr/bin/chromium is absent."""

from __future__ import annotations

import re

import pytest
from conftest import polaris
from reportdata import HOSTILE, HOSTILE_ERROR, HOSTILE_GROUP, HOSTILE_MODEL, build_store

from browserkit import ARGS, CHROMIUM, needs_chromium, serving

expect = None  # playwright.sync_api.expect once the browser fixture has imported it

# Waits go through playwright's locators (its own isolated script world): the viewer's content policy
# forbids evaluating strings in the page, and the tests keep that policy on.
pytestmark = needs_chromium


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    global expect
    expect = sync_api.expect
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    info = build_store(root)
    out = root / "out"
    proc = polaris("report", "--store", str(info["store"]), "--out", str(out), env=info["env"])
    assert proc.returncode == 0, proc.stderr
    info["out"] = out
    return info


class Watch:
    """A page with every dialog, console error and request outside the page's own origin recorded."""

    def __init__(self, browser, origin: str) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(origin) else self.foreign.append(r.url))

    def pwned(self):
        return self.page.evaluate("window.__pwned")

    def check_inert(self) -> None:
        assert self.pwned() is None and self.dialogs == [] and self.errors == [], (self.dialogs, self.errors)
        assert self.foreign == []
        # No element the stored text described exists in the page.
        assert self.page.evaluate("document.querySelectorAll('img[src=x], iframe, svg[onload], b[onmouseover],"
                                  " a[href^=javascript]').length") == 0


def test_report_shows_hostile_text_literally_and_runs_nothing(browser, store):
    index = (store["out"] / "index.html").resolve()
    w = Watch(browser, index.parent.as_uri())
    w.page.goto(index.as_uri())
    w.page.wait_for_load_state("load")
    # Open every folded breakdown/error box, then read what is shown.
    for d in w.page.locator("details summary").all():
        d.click()
    text = w.page.inner_text("body")
    for raw in (HOSTILE_MODEL, HOSTILE_GROUP, HOSTILE_ERROR):
        assert raw in text
    # The hostile manifest fields are shown as text too (in the manifests table).
    assert w.page.locator("#manifests td", has_text="<script>window.__pwned=1</script>").count() >= 1
    w.check_inert()
    assert w.page.evaluate("document.scripts.length") == 0
    # The figures beside the page load under the page's content policy.
    sizes = w.page.evaluate("[...document.images].map(i => [i.getAttribute('src'), i.complete && i.naturalWidth])")
    assert sizes and all(width > 100 for _, width in sizes), sizes
    w.page.close()


@pytest.fixture(scope="module")
def viewer(store):
    with serving(store["store"]) as url:
        yield url


def test_viewer_shows_hostile_responses_literally_and_runs_nothing(browser, viewer):
    w = Watch(browser, viewer.rstrip("/"))
    w.page.goto(viewer)
    w.page.wait_for_selector("#rows tbody tr")
    # The hostile model name is an option's text, not markup.
    assert HOSTILE_MODEL in w.page.locator("select[name=model]").inner_text()
    w.page.select_option("select[name=model]", "openai/evil")
    expect(w.page.locator("#rows tbody tr")).to_have_count(10)
    w.page.locator("#rows tbody tr").first.click()
    w.page.wait_for_selector("#detail pre")
    pres = w.page.locator("#detail pre").all_inner_texts()
    assert any(HOSTILE in p for p in pres), pres
    w.check_inert()

    # The hostile run: model name, answers, groups and the server's error page.
    w.page.select_option("select[name=model]", HOSTILE_MODEL)
    expect(w.page.locator("#rows tbody tr")).to_have_count(7)
    listed = w.page.inner_text("#rows")
    assert HOSTILE_GROUP in listed and HOSTILE_ERROR in listed and HOSTILE in listed
    w.page.select_option("select[name=verdict]", "error")
    expect(w.page.locator("#rows tbody tr")).to_have_count(1)
    w.page.locator("#rows tbody tr").first.click()
    w.page.wait_for_selector("#detail .error")
    assert HOSTILE_ERROR in w.page.inner_text("#detail .error")
    w.check_inert()

    # Planning feedback quoting hostile text.
    w.page.select_option("select[name=verdict]", "")
    w.page.select_option("select[name=model]", "openai/planner")
    expect(w.page.locator("#rows tbody tr")).to_have_count(12)
    w.page.locator("#rows tbody tr", has_text="3blocks/3").click()
    w.page.wait_for_selector("#detail h3:has-text('LLM-Modulo')")
    assert any(HOSTILE in p for p in w.page.locator("#detail pre").all_inner_texts())
    w.check_inert()
    w.page.close()


def test_viewer_pages_and_filters_in_the_browser(browser, viewer):
    w = Watch(browser, viewer.rstrip("/"))
    w.page.goto(viewer)
    w.page.wait_for_selector("#rows tbody tr")
    w.page.select_option("select[name=limit]", "25")
    expect(w.page.locator("#rows tbody tr")).to_have_count(25)
    first = w.page.locator("#rows tbody tr").first.get_attribute("data-item")
    w.page.click("#next")
    expect(w.page.locator("#pos")).to_have_text(re.compile("^26–50 of "))
    assert w.page.locator("#rows tbody tr").first.get_attribute("data-item") != first
    w.page.click("#prev")
    expect(w.page.locator("#pos")).to_have_text(re.compile("^1–25 of "))
    assert w.page.locator("#rows tbody tr").first.get_attribute("data-item") == first
    w.page.select_option("select[name=verdict]", "wrong")
    expect(w.page.locator("#pos")).to_have_text(re.compile("^1–"))
    expect(w.page.locator("#rows tbody tr td.v-right")).to_have_count(0)
    assert w.page.locator("#rows tbody tr td.v-wrong").count() > 0
    # The filters live in the address, so a reload shows the same selection.
    assert "verdict=wrong" in w.page.url
    w.page.reload()
    w.page.wait_for_selector("#rows tbody tr")
    assert w.page.locator("select[name=verdict]").input_value() == "wrong"
    w.page.select_option("select[name=extraction]", "unextracted")
    expect(w.page.locator("#status")).to_have_text("no items match these filters")
    expect(w.page.locator("#pos")).to_have_text("0 of 0")
    w.check_inert()
    w.page.close()
