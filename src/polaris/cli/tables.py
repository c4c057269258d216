"""Tables that fit the terminal: every result table of the CLI is printed through `Grid`.

rich shrinks a table that is too wide by cutting its widest columns, words included ("strate gy"), and a
table wider than the terminal wraps into broken boxes. `Grid` decides the widths itself so that no word
of a header or of a cell is ever split and no line is wider than the console:

1. a table whose cells all fit on one line is printed as is;
2. otherwise the row-naming columns (`key`) that hold the same value on every row are said once in the
   title instead ("every row: prompt fewshot-cot, strategy greedy"): nothing is lost;
3. below 100 columns, cells given a short form (`Brief`, e.g. a mean without its interval) are shown short;
4. then columns wrap at spaces, each at least as wide as its longest word (or its whole text when it
   must not wrap: a model name, an interval);
5. if that is still too wide, the lesser columns (`drop` 3, then 2) are left out, then the row-naming
   columns are merged into one, then the `drop` 1 columns go; a line under the table names what was
   left out. Only a table that cannot fit even so has its longest words folded.

Below 100 columns the lighter frame of `lab models` is used (two spaces between columns, no outer
box), which leaves about a third more room for the cells. Cells are plain text: markup in them is
never interpreted (callers escape model output with `display.plain`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

NARROW = 100  # below this many columns: the light frame, and lesser columns may be left out
PIPE_WIDTH = 240  # no terminal anywhere (a file, CI): nothing to fit, so little reason to wrap


class Brief(str):
    """A cell with a shorter form for a narrow terminal: `Brief("45.2 [40.9, 49.6]", "45.2")`. When a table
    would wrap, every Brief cell is shown short and a line under the table says what went (`brief`)."""

    short: str

    def __new__(cls, text: str, short: str) -> Brief:
        cell = super().__new__(cls, text)
        cell.short = short
        return cell


@dataclass(frozen=True)
class Col:
    header: str
    justify: str = "left"
    drop: int = 0  # 0: always shown; 1-3: left out when the terminal is too narrow, 3 first
    wrap: bool = True  # may wrap at spaces (never inside a word); False: the whole text stays on one line
    key: bool = False  # names the row (model, task, ...): said once in the title when every row has one value


def terminal_width(file: Any = None) -> int:
    """Columns to fit: $COLUMNS when set, else the terminal's (the output's, or stderr's when the output
    is piped, as in `polaris leaderboard | less`), else PIPE_WIDTH."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    for f in (file or sys.stdout, sys.stderr):
        try:
            if f.isatty():
                return os.get_terminal_size(f.fileno()).columns
        except (AttributeError, OSError, ValueError):
            continue
    return PIPE_WIDTH


def table_console(file: Any = None, width: int | None = None) -> Any:
    """A rich console for tables and the lines around them: markup and highlighting off."""
    from rich.console import Console

    file = file or sys.stdout
    return Console(file=file, width=width or terminal_width(file), markup=False, highlight=False,
                   soft_wrap=False)


def _words_len(text: str) -> tuple[int, int]:
    """(longest word, longest line) of a cell in terminal cells."""
    from rich.cells import cell_len

    lines = text.split("\n")
    longest = max((cell_len(w) for line in lines for w in line.split()), default=0)
    return longest, max((cell_len(line) for line in lines), default=0)


class Grid:
    """A table built like rich's (`add_row`, `add_section`) and printed to fit `console.width`."""

    def __init__(self, title: str | None, cols: Sequence[Col | str], *, show_lines: bool = False,
                 one_line: bool = False, brief: str = "") -> None:
        self.title = title
        self.brief = brief  # what Brief cells lose when shown short ("95% CIs"), for the note under the table
        self.shorts: dict[tuple[int, int], str] = {}  # (row, column) -> short form of a Brief cell
        self.one_line = one_line  # leave lesser columns out rather than wrap rows (a list read line by line)
        self.cols = [c if isinstance(c, Col) else Col(c) for c in cols]
        self.rows: list[tuple[list[str], bool]] = []  # cells, section ends after it
        self.show_lines = show_lines

    def add_row(self, *cells: Any) -> None:
        if len(cells) != len(self.cols):
            raise ValueError(f"{len(cells)} cells for {len(self.cols)} columns")
        for j, c in enumerate(cells):
            if isinstance(c, Brief):
                self.shorts[(len(self.rows), j)] = c.short
        self.rows.append(([("" if c is None else str(c)) for c in cells], False))

    def add_section(self) -> None:
        if self.rows:
            self.rows[-1] = (self.rows[-1][0], True)

    # -- layout -------------------------------------------------------------------------------------

    def _measure(self, cols: list[Col], cells: list[list[str]]) -> list[tuple[int, int, int]]:
        """(minimum, body, natural) width of each column: the longest word (whole text for no-wrap cells),
        the longest line of the cells, the longest line with the header's."""
        out = []
        for j, c in enumerate(cols):
            low, head = _words_len(c.header)
            body = 0
            for row in cells:
                word, line = _words_len(row[j])
                low, body = max(low, line if not c.wrap else word), max(body, line)
            low = max(low, 1)
            out.append((low, max(body, low), max(body, head, low)))
        return out

    def _chrome(self, n: int, light: bool) -> int:
        """Frame and padding around n columns' cells."""
        return 2 * (n - 1) if light else 3 * n + 1

    def layout(self, width: int) -> tuple[list[Col], list[list[str]], list[int], list[str], list[str], bool]:
        """(columns, cells, widths, hoisted 'name value' texts, left-out headers, light frame)."""
        light = width < NARROW
        cols, cells = list(self.cols), [list(r) for r, _ in self.rows]
        hoisted: list[str] = []
        dropped: list[str] = []
        origin = list(range(len(cols)))  # each remaining column's index in self.cols

        def fits(at: int) -> bool:  # at 0: minimum widths, 2: natural widths
            return sum(m[at] for m in self._measure(cols, cells)) + self._chrome(len(cols), light) <= width

        def remove(j: int) -> None:
            del cols[j]
            del origin[j]
            for r in cells:
                del r[j]

        if not fits(2) and len(cells) >= 1:
            for j in reversed(range(len(cols))):  # the last key columns (strategy, prompt) go first
                values = {r[j] for r in cells}
                if cols[j].key and len(values) == 1 and sum(c.key for c in cols) > 1:
                    value = values.pop()
                    if value:
                        hoisted.insert(0, f"{cols[j].header} {value}")
                    remove(j)
        if self.shorts and light and not fits(2):  # below NARROW: short forms before leaving anything out
            where = {orig: k for k, orig in enumerate(origin)}
            for (i, j), short in self.shorts.items():
                if j in where:
                    cells[i][where[j]] = short
            dropped.append(self.brief or "details")
        for level in (3, 2, 1) if self.one_line else ():
            if fits(2):
                break
            for j in reversed(range(len(cols))):
                if cols[j].drop == level and len(cols) > 1:
                    dropped.insert(0, cols[j].header)
                    remove(j)
        for level in (3, 2, "merge", 1):
            if fits(0):
                break
            if level == "merge":
                keys = [j for j, c in enumerate(cols) if c.key]
                if len(keys) > 1:
                    first = keys[0]
                    for r in cells:
                        r[first] = " ".join(r[j] for j in keys if r[j])
                    cols[first] = replace(cols[first], header=" ".join(cols[j].header for j in keys), wrap=True)
                    for j in reversed(keys[1:]):
                        remove(j)
                continue
            for j in reversed(range(len(cols))):
                if cols[j].drop == level and len(cols) > 1:
                    dropped.insert(0, cols[j].header)
                    remove(j)
        order = [self.brief or "details", *(c.header for c in self.cols)]
        dropped.sort(key=lambda h: order.index(h) if h in order else len(order))  # a merged key column last
        return cols, cells, self._widths(cols, cells, width, light), hoisted, dropped, light

    def _widths(self, cols: list[Col], cells: list[list[str]], width: int, light: bool) -> list[int]:
        """Each column its minimum, then the room left shared out so that the columns needing least
        become whole first (water-filling); below the minimum (nothing else left): shrunk evenly."""
        measured = self._measure(cols, cells)
        widths = [low for low, _, _ in measured]
        room = width - self._chrome(len(cols), light) - sum(widths)
        if room < 0:  # last resort: fold the longest words of the widest wrapping columns first
            for _ in range(-room):
                pool = [j for j, c in enumerate(cols) if c.wrap and widths[j] > 8] or \
                       [j for j in range(len(widths)) if widths[j] > 1]
                if not pool:
                    break
                widths[max(pool, key=lambda j: widths[j])] -= 1
            return widths
        # First the cells (a wrapped cell costs a line on every row), then the headers (a line once).
        for tier in (1, 2):
            wanting = [j for j, m in enumerate(measured) if m[tier] > widths[j]]
            while room > 0 and wanting:
                share = max(1, room // len(wanting))
                for j in sorted(wanting, key=lambda j: measured[j][tier] - widths[j]):
                    give = min(share, measured[j][tier] - widths[j], room)
                    widths[j] += give
                    room -= give
                wanting = [j for j in wanting if widths[j] < measured[j][tier]]
        return widths

    # -- output -------------------------------------------------------------------------------------

    def render(self, width: int, laid: tuple[Any, ...]) -> tuple[Any, list[str]]:
        """(the rich Table, lines to print under it) from `layout(width)`. The title is printed above the table by `print`,
        wrapped at the console's width: rich would wrap it at the table's, which for a narrow table
        breaks a one-line title over several lines."""
        from rich import box
        from rich.table import Table
        from rich.text import Text

        cols, cells, widths, _, dropped, light = laid
        frame = dict(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True) if light else {}
        table = Table(show_lines=self.show_lines, **frame)  # type: ignore[arg-type]
        for c, w in zip(cols, widths):
            table.add_column(Text(c.header), justify=c.justify, width=w, overflow="fold",  # type: ignore[arg-type]
                             no_wrap=False)
        for r, (_, section) in zip(cells, self.rows):
            table.add_row(*(Text(x) for x in r), end_section=section)
        notes = []
        if dropped:
            notes.append(f"left out at {width} columns: {', '.join(dropped)} (a wider terminal shows them)")
        return table, notes

    def heading(self, laid: tuple[Any, ...]) -> str:
        """The title, with the values of the key columns said once (see `layout`)."""
        _, cells, _, hoisted, _, _ = laid
        title = self.title or ""
        if hoisted:
            every = "every row: " if len(cells) > 1 else ""
            title = f"{title}\n({every}{', '.join(hoisted)})".lstrip("\n")
        return title

    def print(self, console: Any = None) -> Any:
        """Print to `console` (default: a table console on stdout); returns the console."""
        console = console or table_console()
        laid = self.layout(console.width)  # measuring every cell is the costly part: once per print
        table, notes = self.render(console.width, laid)
        heading = self.heading(laid)
        if heading:
            console.print(heading, style="italic")
        console.print(table)
        for line in notes:
            console.print(line, style="dim")
        return console
