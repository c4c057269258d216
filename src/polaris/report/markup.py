"""HTML built from values, escaped by construction.

Everything that reaches the report from a store (model names, labels, group names, error messages,
answers) is hostile input: a response or a shared store can hold `<script>`. So the report never
formats HTML by string interpolation. `el()` escapes every child and attribute value unless it is
`Markup` that this module produced; code that wants raw HTML must wrap it in `Markup` explicitly
(only constant strings written in this package do).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from typing import Any


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


def esc(value: Any) -> Markup:
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def _children(items: Iterable[Any]) -> str:
    out = []
    for c in items:
        if c is None or c is False:
            continue
        if isinstance(c, (list, tuple)):
            out.append(_children(c))
        else:
            out.append(esc(c))
    return "".join(out)


_VOID = {"img", "br", "meta", "hr", "link", "wbr"}


def el(tag: str, *children: Any, **attrs: Any) -> Markup:
    """<tag attrs>children</tag>. Attribute names come from code (`class_` -> class, `data_run` ->
    data-run); values and children are escaped unless they are Markup. A None/False attribute is
    left out, True is written bare."""
    parts = [tag]
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        name = name.rstrip("_").replace("_", "-")
        parts.append(name if value is True else f'{name}="{esc(value)}"')
    head = "<" + " ".join(parts) + ">"
    if tag in _VOID:
        return Markup(head)
    return Markup(f"{head}{_children(children)}</{tag}>")


def join(*parts: Any) -> Markup:
    return Markup(_children(parts))


def pct(x: float | None, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:.{digits}f}"


def pts(x: float | None) -> str:
    """A difference of proportions in percentage points, signed."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{100 * x:+.1f}"


def ci(acc: float | None, bounds: Any) -> str:
    if acc is None:
        return "-"
    if not bounds:
        return pct(acc)
    return f"{pct(acc)} [{pct(bounds[0])}, {pct(bounds[1])}]"


P_FLOOR = 1e-300  # below this a double's p-value is underflow, not a number to print


def pval(p: float | None) -> str:
    """A p-value for people: two significant digits down to 0.001 ("0.69", "0.012"), then a short
    exponent ("6.1e-5", "3.5e-183"), and "< 1e-300" where the computation underflowed (p = 0)."""
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "-"
    if p < P_FLOOR:
        return "< 1e-300"
    if p >= 0.001:
        return f"{p:.2g}"
    mantissa, exp = f"{p:.1e}".split("e")
    return f"{mantissa}e{int(exp)}"


def p_is(p: float | None) -> str:
    """"p = 0.69", "p = 6.1e-5", "p < 1e-300"."""
    text = pval(p)
    return "p " + text if text.startswith("<") else f"p = {text}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """"1 task", "2 tasks", "18,000 item results"."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def num(x: Any, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def table(header: Iterable[Any], rows: Iterable[Iterable[Any] | tuple[dict[str, Any], Iterable[Any]]],
          *, class_: str | None = None, numeric_from: int = 1) -> Markup:
    """A table; columns from `numeric_from` on are right-aligned. A row may be (row attributes, cells).
    The table sits in a `div.wide`, which scrolls sideways on a narrow screen."""
    head = el("thead", el("tr", [el("th", h, class_="num" if i >= numeric_from else None)
                                 for i, h in enumerate(header)]))
    body = []
    for row in rows:
        attrs: dict[str, Any] = {}
        if isinstance(row, tuple) and len(row) == 2 and isinstance(row[0], dict):
            attrs, row = row
        body.append(el("tr", [el("td", c, class_="num" if i >= numeric_from else None)
                              for i, c in enumerate(row)], **attrs))
    # In a box that scrolls sideways when the table is wider than the page, so the page never does.
    return el("div", el("table", head, el("tbody", body), class_=class_), class_="wide")


def label(text: str) -> Markup:
    """A run label (model/task/prompt/strategy) that wraps only after a "/", never inside a part
    ("zeroshot-" / "cot")."""
    parts = str(text).split("/")
    out: list[Any] = []
    for i, part in enumerate(parts):
        out.append(el("span", part + ("/" if i < len(parts) - 1 else ""), class_="nw"))
        if i < len(parts) - 1:
            out.append(el("wbr"))
    return join(*out)


_PATH_VALUE = re.compile(r"=(/[^,\]]*/)([^/,\]]+)")


def task_title(task: str) -> str:
    """A task as a heading or a sentence names it: an option that is an absolute path shows its last
    part (`blocksworld[instances_dir=…/blocksworld,verifier_rounds=14]`); report.json keeps it whole."""
    return _PATH_VALUE.sub(r"=…/\2", str(task))


def run_link(run_id: str) -> Markup:
    """The run id, linking to its manifest in the manifests section."""
    return el("a", run_id, href=f"#run-{run_id}", class_="run")
