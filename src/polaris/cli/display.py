"""Terminal output: progress bars on stderr, result tables on stdout (rich is imported lazily)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

# Characters that can rewrite a terminal or reorder what it shows: C0/C1 controls (ESC sequences, \r),
# bidirectional overrides and isolates ("Trojan Source"), line/paragraph separators. Tabs and
# newlines stay.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def wide_console(min_width: int = 120) -> Any:
    """The console tables are printed on (stdout, the terminal's width: cli/tables.py). `min_width` is
    no longer forced: tables fit the terminal by wrapping at words and leaving out lesser columns."""
    from polaris.cli.tables import table_console

    return table_console(sys.stdout)


def plain(text: str) -> str:
    """Model output (or anything read from a store) made safe to print to a terminal as-is: every
    character that could act on the terminal is shown as an escape such as \\x1b or \\u202e."""

    def escape(m: re.Match[str]) -> str:
        c = ord(m.group())
        return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"

    return _UNSAFE.sub(escape, text.replace("\r\n", "\n"))


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def ci_text(s: dict[str, Any]) -> str:
    if s.get("accuracy") is None:
        return "-"
    lo, hi = s["ci95"]
    return f"{pct(s['accuracy'])} [{pct(lo)}, {pct(hi)}]"


@contextmanager
def progress(enabled: bool = True) -> Iterator[Any]:
    """Progress on stderr: yields a factory `bar(description, total) -> update(done, total, errors)`, with
    `update.status(text)`, `update.sent(calls)` and `bar.notice(message)`; rich bars in a terminal, plain
    lines otherwise (cli/progress.py)."""
    from polaris.cli.progress import progress as bars

    with bars(enabled) as bar:
        yield bar


def results_table(summaries: Sequence[dict[str, Any]], title: str = "Results") -> None:
    from polaris.cli.tables import Col, Grid
    from polaris.scoring.outcome import describe

    # Model names and intervals never wrap (a cut model name is ambiguous). In a narrow terminal the
    # rates the outcomes column already counts go first, then the reading checks, then errors and
    # requests (outcomes count errors too).
    table = Grid(title, [
        Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
        Col("strategy", key=True), Col("n", "right"), Col("accuracy % [95% CI]", "right", wrap=False),
        Col("truncated %", "right", drop=3), Col("no answer %", "right", drop=3), Col("strict %", "right", drop=2),
        Col("extracted %", "right", drop=2), Col("disagree", "right", drop=2), Col("errors", "right", drop=1),
        Col("requests", "right", drop=1), Col("outcomes")])
    for s in summaries:
        table.add_row(
            s["model"], s["task"], s["prompt"], s["strategy"], n_text(s), ci_text(s), pct(s.get("truncated_rate")),
            pct(s.get("no_answer_rate")), pct(s["strict_accuracy"]), pct(s["extracted"]), s.get("disagree", "-"),
            s["errors"], s.get("requests_sent", "-"), describe(s.get("outcomes")))
    table.print(console(sys.stdout))
    planning_table(summaries)  # only prints for planning tasks


def n_text(s: dict[str, Any]) -> str:
    """Items of a summary, marked when they are not the whole task (`--limit`, a budget stop, errors)."""
    cov = s.get("coverage") or {}
    if s.get("partial") and cov.get("of"):
        return f"{s['n']} of {cov['of']} (partial)"
    return str(s["n"])


def console(file: Any) -> Any:
    """A rich console for tables: the terminal's width ($COLUMNS, else the terminal's, else 240 for a file
    or a pipe with no terminal; cli/tables.py). Markup in cells is never interpreted."""
    from polaris.cli.tables import table_console

    return table_console(file)


def _pm(m: dict[str, Any] | None, ratio: bool = False) -> str:
    """A planning metric {"mean", "ci95"} as 'mean [low, high]' (percent, or a plain ratio)."""
    if not m or m.get("mean") is None:
        return "-"
    fmt = (lambda x: f"{x:.2f}") if ratio else pct
    return f"{fmt(m['mean'])} [{fmt(m['ci95'][0])}, {fmt(m['ci95'][1])}]"


def planning_table(summaries: Sequence[dict[str, Any]]) -> None:
    """Plan-generation metrics (see `polaris.analysis.planning`) for the summaries that have them."""
    rows = [s for s in summaries if isinstance(s.get("planning"), dict)]
    if not rows:
        return
    from polaris.cli.tables import Col, Grid

    table = Grid("Planning", [
        Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
        Col("success % [95% CI]", "right", wrap=False), Col("by blocks: success %"),
        Col("optimality", "right", drop=2), Col("exec. prefix %", "right", drop=2), Col("failures %", drop=1),
        Col("LLM-Modulo success@round %")])
    for s in rows:
        p = s["planning"]
        blocks = " ".join(f"{b}:{pct(m['success']['mean'])}" for b, m in p.get("by_blocks", {}).items())
        fails = " ".join(f"{k} {pct(m['mean'])}" for k, m in p.get("failures", {}).items())
        mod = p.get("modulo")
        rounds = " ".join(f"{m['round']}:{pct(m['mean'])}" for m in mod["success_at"]) if mod else "-"
        table.add_row(s["model"], s["task"], s["prompt"], _pm(p.get("success")), blocks,
                      _pm(p.get("optimality"), ratio=True), _pm(p.get("executable_prefix")), fails or "-", rounds)
    table.print(console(sys.stdout))


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def p_text(p: float | None) -> str:
    if p is None or p != p:
        return "-"
    if p < 1e-300:  # underflow: "0.0e+00" would read as a p-value of zero
        return "<1e-300"
    return f"{p:.2g}" if p >= 0.001 else f"{p:.1e}"


def plural(count: int, word: str) -> str:
    """'1 item', '2 items' (people read "item(s)" as a hedge)."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def p_is(p: float | None) -> str:
    """"p=0.32", "p<1e-300": a p-value as a reader writes it."""
    text = p_text(p)
    return f"p{text}" if text.startswith("<") else f"p={text}"


def chance_text(s: dict[str, Any]) -> tuple[str, str]:
    """(baseline %, "normalised (p)") of a summary: the random baseline and the one-sided test."""
    if s.get("baseline") is None:
        return "-", "-"
    t = s.get("above_chance") or {}
    norm = s.get("normalised")
    mark = "" if t.get("above") else " ns"
    return pct(s["baseline"]), ("-" if norm is None else f"{norm:+.1f}") + f" ({p_is(t.get('p'))}){mark}"


def chance_table(summaries: Sequence[dict[str, Any]]) -> None:
    """Each cell against its random baseline: chance level, normalised score, one-sided test."""
    rows = [s for s in summaries if s.get("baseline") is not None]
    if not rows:
        return
    from polaris.cli.tables import Col, Grid

    table = Grid("Against chance (normalised = 100·(acc - chance)/(1 - chance); p one-sided; ns: not above"
                 " chance at 5%)", [
                     Col("model", key=True, wrap=False), Col("task", key=True, wrap=False), Col("prompt", key=True),
                     Col("strategy", key=True), Col("accuracy %", "right"), Col("chance %", "right"),
                     Col("normalised (p)", "right"), Col("chance from", drop=2)])
    for s in rows:
        base, norm = chance_text(s)
        table.add_row(s["model"], s["task"], s["prompt"], s["strategy"], pct(s.get("accuracy")), base, norm,
                      s.get("baseline_method", "-"))
    table.print(wide_console())
