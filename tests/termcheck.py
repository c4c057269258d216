"""Checks of what the CLI prints in a terminal of a given width (COLUMNS): every line fits, and every
column header is shown whole or named as left out, never split mid-word ("strate gy")."""

from __future__ import annotations

import re


def lines_fit(text: str, width: int) -> None:
    long = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not long, f"{len(long)} line(s) wider than {width}:\n" + "\n".join(long[:5])


def whole(text: str, word: str) -> bool:
    """`word` appears as a whole token (between spaces, box characters or line ends)."""
    return re.search(rf"(?<![^\s│┃|(]){re.escape(word)}(?![^\s│┃|,)])", text) is not None


def headers_whole(text: str, headers: list[str]) -> None:
    """Each header's words appear whole, unless the header was left out (named under the table) or said
    once above it ("every row: prompt fewshot-cot")."""
    left_out = " ".join(line for line in _joined(text) if line.startswith("left out at "))
    for h in headers:
        if h in left_out:
            continue
        for word in h.split():
            assert whole(text, word), f"header word {word!r} of {h!r} is split or missing:\n{text}"


def _joined(text: str) -> list[str]:
    """Lines with their wrapped continuations joined (a note wraps at the width too)."""
    out: list[str] = []
    for line in text.splitlines():
        if out and line and not line[0].isspace() and out[-1].startswith("left out at ") and not out[-1].endswith(")"):
            out[-1] += " " + line.strip()
        else:
            out.append(line.strip())
    return out


def check(text: str, width: int, headers: list[str]) -> None:
    lines_fit(text, width)
    headers_whole(text, headers)
