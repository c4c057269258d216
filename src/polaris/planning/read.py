"""Two readings of a planning response: the plan in the prompt's format (strict) and the plan the model
meant (flexible, the headline), with how each line was read.

Strict: `parse_plan(strict=True)`, the fixed grammar of the rendering over the text after the last
`[PLAN]` line; every line must be an action (format compliance).

Flexible, in three steps:

1. **Lines.** `[PLAN]`-like tags (`[PLAN]`, `[QUERY_PLAN]`, `[PLAN END]`, `[PLAN_END]`, ...) and
   `[STATEMENT]` are markers wherever they stand; code fences are markers; list markers (`1.`, `2)`,
   `-`, `*`, `Step 3:`), headings and Markdown emphasis are removed. A line is an *action line* when
   it starts with a verb of the rendering or is PDDL (`phrases.py` reads it, commentary skipped);
   otherwise it is prose, a heading (ends with `:`, `#`, or all bold) or a `(plan` wrapper.
2. **Statements.** Action lines are grouped into plan statements. A statement ends at a marker or a
   fence, when the numbering starts again (`1.` after `5.`), and at a prose paragraph or heading
   unless the next step continues the numbering (`3.` after `2.`, explanation in between). Lines
   indented under an action item (sub-bullets: reasons, preconditions, effects) are explanation.
   Inside `[PLAN]` markers or a fence nothing but a marker ends the statement.
3. **The plan.** The statements inside `[PLAN]` markers if there are any, else all of them; the last
   one is the plan (a restated or corrected plan comes last; a restatement cut off by the end of the
   text yields to the statement it restates). Text after a new `[STATEMENT]` that follows a plan is
   another problem and is not read. When the statements differ and the text offers them as
   alternatives ("Alternatively", "Option 2", "Or even ...", "either plan"), the plan cannot be
   singled out: `ambiguous-plan`.

Nothing is guessed: a line that looks like an action and cannot be read stays in the plan as a
`ParseIssue` (`unreadable-action`, `wrong-arity`, `unknown-object`, `unknown-action`), so the
validator fails the plan at that step.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from polaris.planning.model import Action, ParseIssue, Problem
from polaris.planning.parse import ParsedPlan, parse_plan
from polaris.planning.phrases import WRAPPER, LineRead, default_objects, phrasebook
from polaris.planning.vocab import Rendering, get_rendering

_TAG = re.compile(r"\[\s*([A-Za-z][A-Za-z _-]{0,40}?)\s*\]")
_STATEMENT_TAGS = {"statement", "query problem", "problem", "domain"}
_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKER = re.compile(r"^(?:(?:[-+•·▪◦‣]|\*(?=\s))\s+|(?:\*\*)?\(?(\d+)\s*[.):](?:\*\*)?(?=\s)\s*|#{1,6}\s+|>\s*)")
_STEP_NUMBER = re.compile(r"^(?:step|action|move)\s*#?\s*(\d+)\b")
_QUOTES = "\"'“”‘’"
_ALTERNATIVE = re.compile(
    r"\b(?:alternativ\w*|another (?:possible |valid |correct |equally valid )?(?:plan|option|way|approach|solution)|"
    r"or even|option\s*\d|either (?:plan|option|of (?:these|the))|both (?:plans|options|solutions)|"
    r"(?:any|all) of (?:these|the above|the) (?:plans|options|solutions)|you could also|or you could)\b"
)

HOW = ("action", "issue", "explanation", "retracted", "prose", "heading", "marker", "other-statement", "after-statement")


@dataclass(frozen=True, slots=True)
class LineReading:
    """How the flexible reader took one line (a line split at a marker keeps its number)."""

    line: int
    text: str
    how: str  # one of HOW
    items: tuple[Action | ParseIssue, ...] = ()
    note: str = ""  # commentary skipped on an action line

    def to_json(self) -> dict:
        out: dict = {"line": self.line, "how": self.how, "text": self.text}
        if self.items:
            out["read"] = [str(i) if isinstance(i, Action) else f"{i.kind}: {i.detail}" for i in self.items]
        if self.note:
            out["skipped"] = self.note
        return out


@dataclass(frozen=True)
class PlanReading:
    flexible: ParsedPlan  # the plan the model meant: what the validator judges
    strict: ParsedPlan  # the plan in the format the prompt asked for
    lines: tuple[LineReading, ...]
    statements: int  # plan statements found (a restated plan counts twice)
    chosen: tuple[int, int] | None  # first and last line of the statement read
    open_ended: bool = False  # the plan runs to the end of the text: cut there, if the response was cut

    @property
    def found(self) -> bool:
        return bool(self.flexible.items)


@dataclass
class _Line:
    line: int
    text: str
    kind: str  # blank start end statement fence action retracted prose heading wrapper
    indent: int = 0
    number: int | None = None
    listed: bool = False
    read: LineRead | None = None
    verb: bool = False  # starts with a verb of the rendering (an action cut short reads as prose)


@dataclass
class _Block:
    marked: bool
    lines: list[int] = field(default_factory=list)  # indexes of its action lines
    subs: list[int] = field(default_factory=list)
    first: int = 0  # index range in the line list
    last: int = 0
    indent: int = 0  # of the last action line
    number: int | None = None
    listed: bool = False

    def items(self, recs: list[_Line]) -> tuple[Action | ParseIssue, ...]:
        return tuple(i for k in self.lines for i in recs[k].read.items)  # type: ignore[union-attr]


def _segments(text: str):
    """(line number, text, tag kind or None): lines split around [PLAN]-like tags."""
    for n, raw in enumerate(text.splitlines(), 1):
        if "[" not in raw:
            yield n, raw, None
            continue
        pos = 0
        for m in _TAG.finditer(raw):
            words = m.group(1).lower().replace("_", " ").replace("-", " ").split()
            if "plan" in words:
                kind = "end" if "end" in words else "start"
            elif " ".join(words) in _STATEMENT_TAGS:
                kind = "statement"
            else:
                continue
            if raw[pos:m.start()].strip():
                yield n, raw[pos:m.start()], None
            yield n, m.group(0), kind
            pos = m.end()
        if raw[pos:].strip() or pos == 0:
            yield n, raw[pos:], None


def _cells(stripped: str) -> tuple[str, int | None]:
    """A Markdown table row: its first cell that is not a step number (the action), and the number."""
    cells = [c.strip() for c in stripped.strip().strip("|").split("|")]
    if all(re.fullmatch(r":?-*:?", c) for c in cells):
        return "", None  # the rule under the header
    number = next((int(m.group(1)) for c in cells if (m := re.fullmatch(r"\**(?:step\s*)?(\d+)\.?\**", c, re.I))), None)
    text = next((c for c in cells if c and not re.fullmatch(r"\**(?:step\s*)?\d+\.?\**", c, re.I)), "")
    return text, number


def _content(stripped: str) -> tuple[str, int | None, bool, bool]:
    """(content, list number, listed, markdown heading): the line without markers and emphasis."""
    s, number, listed, heading = stripped, None, False, False
    if s.startswith("|") and s.count("|") >= 2:
        s, number = _cells(s)
        listed = number is not None
    for _ in range(3):
        m = _MARKER.match(s)
        if m is None:
            break
        listed = True
        heading = heading or s.startswith("#")
        if m.group(1):
            number = int(m.group(1))
        s = s[m.end():]
    bold = s.startswith("**") and s.rstrip(" :").endswith("**")
    s = s.replace("**", "").replace("__", "").replace("*", "").replace("`", "").strip().strip(_QUOTES).strip()
    s = " ".join(s.lower().split())
    if number is None:
        step = _STEP_NUMBER.match(s)
        if step:
            number, listed = int(step.group(1)), True
    return s, number, listed, heading or bold


def _lines(text: str, rendering: Rendering, objects: tuple[str, ...]) -> list[_Line]:
    book = phrasebook(rendering, objects)
    out = []
    for n, raw, tag in _segments(text):
        if tag is not None:
            out.append(_Line(n, raw.strip(), tag))
            continue
        stripped = raw.expandtabs(4)
        indent = len(stripped) - len(stripped.lstrip())
        stripped = stripped.strip().replace("\u00a0", " ")
        if not stripped:
            out.append(_Line(n, "", "blank"))
            continue
        if _FENCE.match(stripped):
            out.append(_Line(n, stripped, "fence"))
            continue
        content, number, listed, heading = _content(stripped)
        if not content.strip("*_-=~#>|"):
            out.append(_Line(n, stripped, "blank"))  # a rule or stray emphasis
            continue
        read = book.read_line(content, n, stripped) if content else None
        if read is not None and read.retracted and not read.items:
            out.append(_Line(n, stripped, "retracted", indent, number, listed, read))
        elif read is not None:
            out.append(_Line(n, stripped, "action", indent, number, listed, read))
        elif WRAPPER.match(content):
            out.append(_Line(n, stripped, "wrapper", indent))
        elif heading or content.endswith(":"):
            out.append(_Line(n, stripped, "heading", indent))
        else:
            out.append(_Line(n, stripped, "prose", indent, number, listed, verb=bool(book.verb_re.match(content))))
    return out


def _blocks(recs: list[_Line]) -> tuple[list[_Block], int]:
    """Plan statements, and the index where reading stopped (a new [STATEMENT] after a plan)."""
    # A response that ends a plan before starting one continues the prompt's own [PLAN].
    first_end = next((k for k, r in enumerate(recs) if r.kind in ("start", "end")), None)
    marked = first_end is not None and recs[first_end].kind == "end"
    fenced = False
    blocks: list[_Block] = []
    cur: _Block | None = None
    pending: str | bool = False  # since the last action: "prose", or "heading" (also ends indented runs)
    for k, r in enumerate(recs):
        if r.kind in ("start", "end", "fence", "statement"):
            cur, pending = None, False
            if r.kind == "statement" and any(b.lines for b in blocks):
                return blocks, k
            marked = r.kind == "start" if r.kind != "fence" else marked
            fenced = not fenced if r.kind == "fence" else fenced
            continue
        if r.kind == "blank":
            continue
        under = cur is not None and cur.listed and r.indent > cur.indent and pending != "heading"
        if r.kind == "action":
            if under and r.number is None:
                cur.subs.append(k)  # type: ignore[union-attr]
                cur.last = k  # type: ignore[union-attr]
                continue
            if cur is not None and r.number is not None and cur.number is not None and r.number <= cur.number:
                cur = None  # numbering starts again: a new statement
            elif cur is not None and pending and not (r.number is not None and cur.number is not None
                                                      and r.number == cur.number + 1):
                cur = None
            if cur is None:
                cur = _Block(marked or fenced, first=k)
                blocks.append(cur)
            cur.lines.append(k)
            cur.last, cur.indent, cur.listed = k, r.indent, r.listed
            cur.number = r.number if r.number is not None else (None if cur.number is None else cur.number + 1)
            pending = False
        elif r.kind == "retracted":
            if cur is not None:  # a step ruled out keeps its number: the statement goes on
                cur.subs.append(k)
                cur.last, cur.number = k, r.number if r.number is not None else cur.number
        elif cur is not None:
            if under:
                cur.subs.append(k)
                cur.last = k
            elif not (marked or fenced):
                pending = "heading" if r.kind in ("heading", "wrapper") else pending or "prose"
    return blocks, len(recs)


def _choose(blocks: list[_Block], recs: list[_Line], stop: int) -> tuple[_Block | None, str]:
    """The statement that is the plan, and why not when it cannot be singled out ('' if it can)."""
    # A statement none of whose lines reads as an action (a description of the plan) is not the plan
    # when another statement has actions.
    cands = [b for b in blocks if any(isinstance(i, Action) for i in b.items(recs))] or [b for b in blocks if b.lines]
    if not cands:
        return None, ""
    pool = [b for b in cands if b.marked] or cands
    chosen = pool[-1]
    plans = [b.items(recs) for b in pool]
    if len(pool) > 1:
        tail = [r for r in recs[chosen.last + 1:stop] if r.kind not in ("blank", "end", "fence")]
        mine = plans[-1]
        cut = (not tail and isinstance(mine[-1], ParseIssue)) or (len(tail) == 1 and tail[0].verb and stop == len(recs))
        done = mine[:-1] if isinstance(mine[-1], ParseIssue) else mine
        if cut and len(done) < len(plans[-2]) and plans[-2][: len(done)] == done:
            chosen, plans = pool[-2], plans[:-1]  # a restatement cut off by the end of the text
    distinct = {tuple(str(i) if isinstance(i, Action) else i.kind for i in p) for p in plans}
    if len(distinct) > 1:
        k = pool.index(chosen)
        start = pool[k - 1].last + 1 if k > 0 else 0
        around = [r.text for r in recs[start:chosen.first]] + [r.text for r in recs[chosen.last + 1:stop]
                                                             if r.kind in ("prose", "heading")]
        if _ALTERNATIVE.search(" ".join(around).lower()):
            lines = ", ".join(str(recs[b.first].line) for b in pool)
            return chosen, f"the response offers {len(distinct)} different plans as alternatives (at lines {lines})"
    return chosen, ""


def read_plan(text: str, rendering: str | Rendering = "blocksworld", problem: Problem | None = None) -> PlanReading:
    """Both readings of a response (pure). `problem` supplies object names (else the vocabulary's)."""
    r = get_rendering(rendering)
    objects = problem.objects if problem is not None else default_objects(r)
    strict = parse_plan(text, r, problem, strict=True)
    recs = _lines(text, r, objects)
    blocks, stop = _blocks(recs)
    chosen, ambiguous = _choose(blocks, recs, stop)
    if chosen is None:
        items: tuple[Action | ParseIssue, ...] = ()
    elif ambiguous:
        first = recs[chosen.first]
        items = (ParseIssue("ambiguous-plan", first.line, first.text, ambiguous),)
    else:
        items = chosen.items(recs)
    mine = set(chosen.lines) if chosen else set()
    span = range(chosen.first, chosen.last + 1) if chosen else range(0)
    others = {k for b in blocks if b is not chosen for k in b.lines}
    out = []
    for k, rec in enumerate(recs):
        if rec.kind == "blank":
            continue
        if k >= stop:
            how = "after-statement"
        elif rec.kind in ("start", "end", "statement", "fence"):
            how = "marker"
        elif rec.read is not None and not rec.read.items:
            how = "retracted"  # "pick up the red block is not needed": stated only to be ruled out
        elif k in mine:
            how = "issue" if any(isinstance(i, ParseIssue) for i in rec.read.items) else "action"  # type: ignore[union-attr]
        elif k in span:
            how = "explanation"
        elif k in others:
            how = "other-statement"
        elif rec.kind in ("heading", "wrapper"):
            how = "heading"
        else:
            how = "prose"
        read = rec.read
        out.append(LineReading(rec.line, rec.text, how, read.items if read else (), read.note if read else ""))
    where = (recs[chosen.first].line, recs[chosen.last].line) if chosen else None
    open_ended = chosen is not None and all(r.kind == "blank" for r in recs[chosen.last + 1:])
    return PlanReading(ParsedPlan(items), strict, tuple(out), sum(1 for b in blocks if b.lines), where, open_ended)
