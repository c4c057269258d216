"""Debian's headless chromium through playwright (`executable_path`; nothing is downloaded), and what the
layout tests measure in a page: horizontal overflow and words broken across lines."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

needs_chromium = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed"),
]


def launch(sync_api):
    """(playwright, browser); the caller closes both."""
    p = sync_api.sync_playwright().start()
    return p, p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


@contextmanager
def serving(store: Path) -> Iterator[str]:
    """`polaris view` of `store` on a free loopback port, serving in a thread: its address."""
    from polaris.report.viewer import make_server

    server = make_server(store, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.url
    finally:
        server.shutdown()
        server.server_close()


# Words (runs of non-space characters) of the matched elements' text that the browser laid out over
# more than one line: "verdic|t", "0000|0", "zeroshot-|cot". Hidden elements are skipped.
BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const box of document.querySelectorAll(selector)) {
    if (!box.getClientRects().length) continue;
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    let node;
    while ((node = walker.nextNode())) {
      const words = /\\S+/g;
      let m;
      while ((m = words.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""

# Elements whose right edge lies past the window's width, outside the boxes meant to scroll sideways
# (`.wide`, the report's wide tables; the viewer's panes scroll on their own).
OVERFLOW = """(scrollers) => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const node of document.body.querySelectorAll("*")) {
    if (scrollers && node.closest(scrollers)) continue;
    const r = node.getBoundingClientRect();
    if (r.width > 0 && r.right > width + 0.5) out.push(node.tagName + "." + node.className + " " + Math.round(r.right));
  }
  return {scroll: document.documentElement.scrollWidth, width, over: out.slice(0, 10)};
}"""
