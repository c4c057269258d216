"""Model text -> actions, by a fixed grammar per rendering, with nothing silently dropped: the strict
reading (the plan in the format the prompt asked for). The flexible reading is `read.py`.

Which text is the plan: everything after the last `[PLAN]` line if there is one, else the whole text,
up to `[PLAN END]` (or `[PLAN_END]`, or a new `[STATEMENT]`), where reading stops. Blank lines, code fences and `;` comments
are ignored. Every other line is read as follows:

* PDDL form, in every rendering: `(unstack a b)`, several per line allowed. The action may be named in
  the rendering's vocabulary or in Blocksworld's; objects are PDDL names.
* Natural language (not in PDDL renderings): after list markers (`1.`, `2)`, `-`, `Step 3:`), markdown
  emphasis and a final full stop are removed, the line must start with an action of the rendering
  ("unstack", "feast", ...), and what follows, with each object mention ("the red block", "object a")
  replaced by `{}`, must be one of the action's phrasings, e.g. for unstack `{} from on top of {}`,
  `{} from {}`, `{} off {}`, `{} off of {}`.

A line that fails is a `ParseIssue` of one kind: `unknown-action` (no known action, but it names
objects or is PDDL), `wrong-arity`, `unknown-object`, or `unparseable`. With `strict=False`, lines
that neither start with an action nor are PDDL are taken as prose and listed in `skipped` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from polaris.planning.model import ARITY, OPS, Action, ParseIssue, Problem
from polaris.planning.vocab import COLOURS, Rendering, get_rendering

_LIST_MARKER = re.compile(r"^(?:(?:step|action)\s*\d+\b\s*[:.)-]?|\d+\s*[.):-]|[-*+•]|#+|>)\s*")
_MARKER_START = set("sa-*+•#>")
_PDDL_GROUP = re.compile(r"\(([^()]*)\)")
_PLAN_START = re.compile(r"^\[\s*plan\s*\]$")
_PLAN_END = re.compile(r"\[\s*(?:plan[ _]end|end[ _]plan|statement)\s*\]")

# Phrasings accepted after the verb, with objects as {}. Natural-language Blocksworld plans from models
# say "unstack X from Y" and "put down X on the table" as often as PlanBench's own wording.
_BW_PHRASES = {
    "pick-up": {"{}", "{} from the table", "{} off the table"},
    "put-down": {"{}", "{} on the table", "{} onto the table"},
    "stack": {"{} on top of {}", "{} on {}", "{} onto {}", "{} on to {}", "{} atop {}"},
    "unstack": {"{} from on top of {}", "{} from {}", "{} off of {}", "{} off {}", "{} from the top of {}", "{} from atop {}"},
}  # fmt: skip
_OBF_PHRASES = {"pick-up": {"{}"}, "put-down": {"{}"}, "stack": {"{} from {}"}, "unstack": {"{} from {}"}}


@dataclass(frozen=True, slots=True)
class ParsedPlan:
    items: tuple[Action | ParseIssue, ...]  # in plan order; validate() numbers steps over these
    skipped: tuple[tuple[int, str], ...] = ()  # (line, text) taken as prose (strict=False only)

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(i for i in self.items if isinstance(i, Action))

    @property
    def issues(self) -> tuple[ParseIssue, ...]:
        return tuple(i for i in self.items if isinstance(i, ParseIssue))

    @property
    def ok(self) -> bool:
        return not self.issues


def _clean(line: str) -> str:
    s = line.replace("**", "").replace("__", "").replace("`", "").strip().lower()
    while s and (s[0] in _MARKER_START or s[0].isdigit()):  # fast path: most lines have no marker
        shorter = _LIST_MARKER.sub("", s, count=1).strip()
        if shorter == s:
            break
        s = shorter
    s = s.rstrip(".;,!").strip()
    return " ".join(s.split())


class _Grammar:
    """The per-rendering tables: verbs, object mentions, PDDL names."""

    def __init__(self, rendering: Rendering, objects: tuple[str, ...] | None):
        vocab = rendering.vocab
        self.pddl_only = rendering.pddl
        self.pddl_ops = {op: op for op in OPS} | {name: op for op, name in vocab.actions.items()}
        if vocab.colours:
            self.verbs = {"pick up": "pick-up", "pick-up": "pick-up", "pickup": "pick-up",
                          "put down": "put-down", "put-down": "put-down", "putdown": "put-down",
                          "unstack": "unstack", "stack": "stack"}  # fmt: skip
            self.phrases = _BW_PHRASES
            self.mention = re.compile(r"(?:\bthe\s+)?\b([a-z]+)\s+block\b")
            named = vocab.object_nl(objects) if objects is not None else {chr(97 + i): f"{c} block" for i, c in enumerate(COLOURS)}
            self.objects = {nl[: -len(" block")]: o for o, nl in named.items()}
        else:
            self.verbs = {name.lower(): op for op, name in vocab.actions.items()}
            self.phrases = _OBF_PHRASES
            self.mention = re.compile(r"\bobject[\s_]+([a-z0-9_-]+)\b")
            self.objects = {o: o for o in objects} if objects is not None else None
        self.known_pddl = set(objects) if objects is not None else None
        self.verb_re = re.compile(r"^(" + "|".join(re.escape(v) for v in sorted(self.verbs, key=len, reverse=True)) + r")\b\s*")

    def pddl(self, text: str, lineno: int, raw: str) -> list[Action | ParseIssue]:
        out: list[Action | ParseIssue] = []
        for group in _PDDL_GROUP.findall(text):
            tokens = group.split()
            if not tokens:
                out.append(ParseIssue("unparseable", lineno, raw, "empty parentheses"))
                continue
            op = self.pddl_ops.get(tokens[0])
            args = tuple(tokens[1:])
            if op is None:
                out.append(ParseIssue("unknown-action", lineno, raw, f"unknown action '{tokens[0]}'"))
            elif len(args) != ARITY[op]:
                out.append(ParseIssue("wrong-arity", lineno, raw, f"{tokens[0]} takes {ARITY[op]} object(s), found {len(args)}"))
            elif self.known_pddl is not None and any(a not in self.known_pddl for a in args):
                bad = next(a for a in args if a not in self.known_pddl)
                out.append(ParseIssue("unknown-object", lineno, raw, f"unknown object '{bad}'"))
            else:
                out.append(Action(op, args))
        return out

    def natural(self, text: str, lineno: int, raw: str) -> Action | ParseIssue | None:
        """An action, an issue, or None when the line does not start with an action (prose)."""
        m = self.verb_re.match(text)
        if m is None:
            return None
        op = self.verbs[m.group(1)]
        rest = text[m.end():]
        mentions = list(self.mention.finditer(rest))
        arity = ARITY[op]
        if not mentions:
            return ParseIssue("unparseable", lineno, raw, f"no object found after '{m.group(1)}'")
        if len(mentions) != arity:
            return ParseIssue("wrong-arity", lineno, raw, f"'{m.group(1)}' takes {arity} object(s), found {len(mentions)}")
        args = []
        for mm in mentions:
            key = mm.group(1)
            if self.objects is None:
                args.append(key)
            elif key in self.objects:
                args.append(self.objects[key])
            else:
                return ParseIssue("unknown-object", lineno, raw, f"unknown object '{mm.group(0).strip()}'")
        skeleton = " ".join(self.mention.sub("{}", rest).split())
        if skeleton not in self.phrases[op]:
            return ParseIssue("unparseable", lineno, raw, f"'{m.group(1)}' is not followed by one of its phrasings")
        return Action(op, tuple(args))


@lru_cache(maxsize=256)
def _grammar(rendering: Rendering, objects: tuple[str, ...] | None) -> _Grammar:
    # Renderings are immutable and hash by identity; building the tables is most of a short parse.
    return _Grammar(rendering, objects)


def _plan_lines(text: str) -> list[tuple[int, str]]:
    lines = text.splitlines()
    start = 0
    for n, line in enumerate(lines):
        if "[" in line and _PLAN_START.match(_clean(line)):
            start = n + 1
    out = []
    for n in range(start, len(lines)):
        line = lines[n]
        end = _PLAN_END.search(line.lower()) if "[" in line else None
        if end:
            line = line[: end.start()]
        out.append((n + 1, line))
        if end:
            break
    return out


def parse_plan(text: str, rendering: str | Rendering = "blocksworld", problem: Problem | None = None, strict: bool = True) -> ParsedPlan:
    """Read a plan out of model text. `problem` supplies object names (else the vocabulary's defaults)."""
    grammar = _grammar(get_rendering(rendering), problem.objects if problem is not None else None)
    items: list[Action | ParseIssue] = []
    skipped: list[tuple[int, str]] = []
    for lineno, raw in _plan_lines(text):
        line = _clean(raw)
        if not line or line.startswith(";") or raw.strip().startswith("```"):
            continue
        raw = raw.strip()
        if line.startswith("("):
            rest = _PDDL_GROUP.sub("", line).replace(",", "").strip()
            if rest:
                items.append(ParseIssue("unparseable", lineno, raw, "text outside the parentheses of a PDDL action"))
            else:
                items.extend(grammar.pddl(line, lineno, raw))
            continue
        found = None if grammar.pddl_only else grammar.natural(line, lineno, raw)
        if found is not None:
            items.append(found)
        elif not strict:
            skipped.append((lineno, raw))
        elif not grammar.pddl_only and grammar.mention.search(line):
            items.append(ParseIssue("unknown-action", lineno, raw, "names objects but starts with no action of this rendering"))
        else:
            items.append(ParseIssue("unparseable", lineno, raw, "not an action of this rendering"))
    return ParsedPlan(items=tuple(items), skipped=tuple(skipped))
