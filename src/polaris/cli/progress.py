"""Progress on stderr: rich bars in a terminal, plain lines anywhere else (a pipe, a log file, CI).

`progress(enabled)` yields a factory `bar(description, total) -> update(done, total, errors)`;
`update.status(text)` sets the status (requests in flight, retries and errors by kind: runner/monitor.py),
`update.sent(calls)` says how many requests the cell has sent so far, and `bar.notice(message)` prints a
warning above the bars.

Rates and ETAs count only work actually sent: they start when the first request of a cell has been sent
(`update.sent`), so items answered from the store do not make a "10131.5/s"; a cell answered entirely
from the store says so instead. Without a terminal, each bar is a line every 10% of its items (at most
one every `PLAIN_GAP` seconds), every `PLAIN_EVERY` seconds while nothing else is said (so a stuck
server shows), and once when the bar ends: whole lines, never a bar redrawn and cut.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

PLAIN_EVERY = 30.0  # seconds between plain progress lines when no 10% step has been reached
PLAIN_GAP = 2.0  # at most one line per this many seconds for the 10% steps (a cached cell: its last line only)
WARMUP = 0.5  # seconds of sending before a rate is shown


class Pace:
    """Items per second and the time left, counted from the first request sent."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.calls = 0
        self.start: float | None = None  # when the first sent request was seen
        self.base = 0  # items done at that moment (answered from the store, or by that request)

    def sent(self, calls: int, done: int) -> None:
        if calls > 0 and self.start is None:
            self.start, self.base = self.clock(), done
        self.calls = calls

    def rate(self, done: int, total: int | None = None) -> float | None:
        """Items per second since the first request; None in the first WARMUP seconds of a bar still
        running (too few items to say), or when nothing was sent."""
        if self.start is None:
            return None
        spent = self.clock() - self.start
        finished = total is not None and done >= total
        if done <= self.base or spent <= 0 or (spent < WARMUP and not finished):
            return None
        return (done - self.base) / spent

    def eta(self, done: int, total: int) -> float | None:
        r = self.rate(done, total)
        return (total - done) / r if r else None

    def texts(self, done: int, total: int) -> tuple[str, str]:
        """(rate, eta) as shown: "12.3/s", "0:01:05"; "from store" when nothing was sent."""
        if self.start is None:
            return ("from store" if done and done >= total else "-/s"), "-"
        r, left = self.rate(done, total), self.eta(done, total)
        return (f"{r:.1f}/s" if r else "-/s"), (clock_text(left) if left is not None else "-")


def clock_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _warn(message: str) -> None:
    from polaris.cli.display import plain

    print(f"warning: {plain(message)}", file=sys.stderr, flush=True)


class NoBars:
    """`progress(False)`: bars that draw nothing; notices still go to stderr as warnings."""

    def __call__(self, description: str, total: int) -> Any:
        def update(done: int, total: int, errors: int) -> None:
            pass

        update.status = lambda text: None  # type: ignore[attr-defined]
        update.sent = lambda calls: None  # type: ignore[attr-defined]
        return update

    @staticmethod
    def notice(message: str) -> None:
        _warn(message)


class PlainBar:
    """One bar as plain lines on a stream (module docstring)."""

    def __init__(self, description: str, total: int, out: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self.description, self.total, self.out, self.clock = description, total, out, clock
        self.done = self.errors = 0
        self.status_text = ""
        self.pace = Pace(clock)
        self.step = 0  # the last 10% step said
        self.said_at = clock()
        self.last_line = ""
        self.closed = False

    def line(self) -> str:
        from polaris.cli.display import plain

        share = f" ({100 * self.done // self.total}%)" if self.total else ""
        parts = [f"{self.done}/{self.total}{share}"]
        rate = self.pace.rate(self.done, self.total)
        if self.pace.start is None and self.done and self.done >= self.total:
            parts.append("answered from the store")
        elif rate:  # only once requests were sent (and, while running, for WARMUP seconds)
            left = self.pace.eta(self.done, self.total)
            parts.append(f"{rate:.1f}/s" + (f", eta {clock_text(left)}" if left and self.done < self.total else ""))
        parts.append(f"{self.errors} errors")
        if self.status_text and self.done < self.total:
            parts.append(self.status_text)
        return plain(f"{self.description}: " + ", ".join(parts))

    def say(self) -> None:
        text = self.line()
        if text != self.last_line:
            print(text, file=self.out, flush=True)
            self.last_line = text
        self.said_at = self.clock()

    def update(self, done: int, total: int, errors: int) -> None:
        self.done, self.total, self.errors = done, total, errors
        step = 10 * done // total if total else 10
        now = self.clock()
        if done >= total:
            self.step = 10
            self.say()
        elif (step > self.step and now - self.said_at >= PLAIN_GAP) or now - self.said_at >= PLAIN_EVERY:
            self.step = step
            self.say()

    def status(self, text: str) -> None:
        self.status_text = text
        if self.done < self.total and self.clock() - self.said_at >= PLAIN_EVERY:
            self.say()

    def sent(self, calls: int) -> None:
        self.pace.sent(calls, self.done)

    def close(self) -> None:
        """The bar's last word when it ended short of its total (a budget stop, an interrupt)."""
        if not self.closed and self.done < self.total:
            self.say()
        self.closed = True


class PlainBars:
    def __init__(self, out: Any) -> None:
        self.out = out
        self.bars: list[PlainBar] = []

    def __call__(self, description: str, total: int) -> Any:
        b = PlainBar(description, total, self.out)
        self.bars.append(b)

        def update(done: int, total: int, errors: int) -> None:
            b.update(done, total, errors)

        update.status = b.status  # type: ignore[attr-defined]
        update.sent = b.sent  # type: ignore[attr-defined]
        return update

    @staticmethod
    def notice(message: str) -> None:
        _warn(message)

    def close(self) -> None:
        for b in self.bars:
            b.close()


@contextmanager
def progress(enabled: bool = True) -> Iterator[Any]:
    """Bars on stderr (module docstring): rich in a terminal, plain lines otherwise."""
    if not enabled:
        yield NoBars()
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        bars = PlainBars(sys.stderr)
        try:
            yield bars
        finally:
            bars.close()
        return
    yield from _rich(console)


def _rich(console: Any) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
    from rich.table import Column
    from rich.text import Text

    from polaris.cli.display import plain

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(task.fields["pace"].texts(int(task.completed), int(task.total or 0))[0], style="cyan")

    class Eta(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text("eta " + task.fields["pace"].texts(int(task.completed), int(task.total or 0))[1])

    class Status(ProgressColumn):
        def render(self, task: Any) -> Text:
            return Text(plain(task.fields.get("status") or ""), style="dim")

    # Sized for 80 columns: done/total, rate, ETA and errors never wrap; a long description is cut with
    # an ellipsis before they are; the status (in flight, retries, errors by kind) comes last and wraps.
    with Progress(
        TextColumn("{task.description}", table_column=Column(no_wrap=True, overflow="ellipsis", min_width=12)),
        BarColumn(bar_width=12), MofNCompleteColumn(table_column=Column(no_wrap=True)),
        Rate(table_column=Column(no_wrap=True)), Eta(table_column=Column(no_wrap=True)),
        TextColumn("[red]{task.fields[errors]} errors", table_column=Column(no_wrap=True)), Status(),
        console=console, transient=False, refresh_per_second=8,
    ) as prog:

        def bar(description: str, total: int) -> Any:
            pace = Pace()
            tid = prog.add_task(description, total=total, errors=0, status="", pace=pace)
            now = [0]

            def update(done: int, total: int, errors: int) -> None:
                now[0] = done
                prog.update(tid, completed=done, total=total, errors=errors)

            update.status = lambda text: prog.update(tid, status=text)  # type: ignore[attr-defined]
            update.sent = lambda calls: pace.sent(calls, now[0])  # type: ignore[attr-defined]
            return update

        bar.notice = lambda message: prog.console.print(  # type: ignore[attr-defined]
            Text(f"warning: {plain(message)}", style="yellow"))
        yield bar
