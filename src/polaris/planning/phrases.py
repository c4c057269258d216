"""One line of free-form model text -> the actions it states (the flexible reading's phrase grammar).

A line is read only when, after its list marker, emphasis and a short label ("Step 3:", "Then,"), it
starts with a verb the rendering knows; any other line is prose and `read_line` returns None. A
verb line is read as one or more *clauses*, each `verb object [connector object|the table]`:

* Verbs: the rendering's own (Mystery's attack / succumb / overcome / feast, or random names: the
  verb decides the action) and, for Blocksworld, the usual synonyms of its two movements: taking
  (pick up, unstack, lift, take, grab, remove) and putting (put down, put, place, set down, lay down,
  drop, stack). The movement and what follows decide the action: take X (from the table) is
  pick-up, take X from/off Y is unstack, put X (on the table, in an empty space) is put-down, put X
  on/onto Y is stack. `unstack` and `stack` need two blocks. `move X onto Y` is two actions of this
  domain in one and is reported, not split.
* Objects: what the rendering shows ("the red block", "red"; "object a"), and PDDL names in PDDL
  renderings ("block a", "a", "object_a"). "it" in a second clause is the first clause's block.
* After a clause: nothing, or commentary (from any punctuation, or "to", "so", "which", "now", ...),
  which is skipped and kept as the line's note, or a next clause ("..., then put it down",
  "→ put down ...", "; 2. pick up ...").

PDDL syntax `(unstack a b)` is read in every rendering, in any case, with the action named in the
rendering's vocabulary or Blocksworld's and with or without block/object words around the names;
`(plan` / `)` wrappers are not actions.

A verb line that cannot be read is a `ParseIssue`, never dropped: `unreadable-action` (no object, a
phrasing that is not an action, text after the action that is neither commentary nor a clause),
`wrong-arity`, `unknown-object`, `unknown-action` (a PDDL name or another vocabulary's verb).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from polaris.planning.model import ARITY, OPS, Action, ParseIssue
from polaris.planning.vocab import BLOCKSWORLD, COLOURS, MYSTERY, Rendering

TAKE, PUT, MOVE = "take", "put", "move"
# Blocksworld verbs: text -> (the action it names exactly, or None; its movement).
_BW_VERBS = {
    "pick up": ("pick-up", TAKE), "pick-up": ("pick-up", TAKE), "pickup": ("pick-up", TAKE), "pick_up": ("pick-up", TAKE),
    "pick": (None, TAKE), "lift": (None, TAKE), "take": (None, TAKE), "grab": (None, TAKE), "remove": (None, TAKE),
    "unstack": ("unstack", TAKE), "un-stack": ("unstack", TAKE),
    "put down": ("put-down", PUT), "put-down": ("put-down", PUT), "putdown": ("put-down", PUT), "put_down": ("put-down", PUT),
    "set down": (None, PUT), "lay down": (None, PUT), "place": (None, PUT), "put": (None, PUT), "set": (None, PUT),
    "drop": (None, PUT), "stack": ("stack", PUT), "restack": ("stack", PUT),
    "move": (None, MOVE), "transfer": (None, MOVE), "shift": (None, MOVE), "relocate": (None, MOVE),
}  # fmt: skip
_PDDL_SPELLINGS = {"pickup": "pick-up", "pick_up": "pick-up", "putdown": "put-down", "put_down": "put-down"}
# Connectors between the two objects: taking is "from", putting is "on".
_FROM = ("from on top of", "from the top of", "from atop", "from on", "off of", "off the top of", "from off", "from", "off", "away from")
_ON = ("on top of", "onto the top of", "to the top of", "onto", "on to", "on", "atop", "upon", "to", "over")
_OTHER = ("with", "by", "using", "against", "into", "in")  # obfuscated verbs: any connector reads
_TABLE_PLACES = re.compile(
    r"^(?:(?:on|onto|on to|to|from|off|off of|in|into|at)\s+(?:the\s+|an?\s+)?"
    r"(?:table(?:top)?|floor|ground|(?:empty|free|open|clear)\s+(?:space|spot|area|place|position)|side)|aside)\b"
)
_PARTICLES = {"back", "down", "up", "again"}
_COMMENT_WORDS = {"to", "so", "which", "because", "since", "as", "now", "while", "leaving", "making", "thereby",
                  "thus", "hence", "in", "for", "again", "first", "this", "that", "after", "before", "until",
                  "where", "when", "here", "making", "resulting", "giving", "freeing", "clearing", "if", "once"}
_NEXT = re.compile(r"^(?:\s*(?:[,;.]|->|→|=>|-|–|—))*\s*(?:\d+\s*[.)]\s*)?(?:(?:and\s+then|and|then|next|after\s+that|finally)\b\s*,?\s*)?")
_TOKEN = re.compile(r"[a-z0-9]+(?:[_'-][a-z0-9]+)*|\S")
_LABEL = re.compile(
    r"^(?:(?:step|action|move)\s*#?\s*\d+\s*[:.)-]?|(?:first(?:ly)?|then|next|finally|lastly|after\s+that|afterwards|"
    r"second(?:ly)?|third(?:ly)?|now|and)\s*,?)\s+"
)
_RETRACTED = re.compile(
    r"^(?P<act>[^,;:(]+?)\s+(?:is|was|would be|will be)\s+(?:not|no longer|unnecessary|impossible|incorrect|wrong|"
    r"invalid|redundant)\b(?P<rest>.*)$"
)
_RELATIVE = re.compile(r"\b(?:that|which|who|whose|where|when|since|because|as|if|while)\b")  # "X that is not ..."
_SO = re.compile(r"\b(?:so|instead|therefore|hence)\b\s*[,:]?\s*(?:(?:we|i|you)\s+(?:will|need to|should|must|can)\s+)?")
_DANGLING = re.compile(r"^(?:and|then|and then|so)\s*[,.:]*\s*$")
_PLAN_LABEL = re.compile(r"\b(?:plan|steps?|actions?|answer|moves?|solution|sequence|final|order|next|then|\d+)\b")
_PDDL_GROUP = re.compile(r"\(([^()]*)\)")
WRAPPER = re.compile(r"^\(?\s*:?\s*(?:plan|solution|actions?)?\s*[:(]?\s*$|^\)+\s*[.,;]?$")


@dataclass(frozen=True, slots=True)
class LineRead:
    """What a verb line (or PDDL line) says: its actions and issues in order, and the commentary skipped."""

    items: tuple[Action | ParseIssue, ...]
    note: str = ""
    retracted: bool = False  # the line states an action only to say it is not done


@dataclass(frozen=True, slots=True)
class _Mention:
    kind: str  # "obj" | "unknown" | "table" | "it"
    name: str = ""
    end: int = 0  # token index after the mention


class Phrasebook:
    """The flexible phrase grammar of one rendering over one problem's objects."""

    def __init__(self, rendering: Rendering, objects: tuple[str, ...]):
        vocab = rendering.vocab
        self.colours = vocab.colours and not rendering.pddl
        self.bare_names = rendering.pddl or not vocab.colours  # "a" alone names an object
        self.objects = set(objects)
        self.colour_of: dict[str, str] = {}
        if self.colours:
            self.colour_of = {nl[: -len(" block")]: o for o, nl in vocab.object_nl(objects).items()} if objects else {}
        if vocab.colours:
            self.verbs = dict(_BW_VERBS)
            foreign = {name: op for op, name in MYSTERY.actions.items()}
        else:
            self.verbs = {name.lower(): (op, None) for op, name in vocab.actions.items()}
            foreign = {v: e[0] for v, e in _BW_VERBS.items() if e[0]} | {"move": None}
        self.foreign = {v: op for v, op in foreign.items() if v not in self.verbs}
        starts = sorted(set(self.verbs) | set(self.foreign), key=len, reverse=True)
        self.verb_re = re.compile(r"(" + "|".join(re.escape(v).replace(r"\ ", r"\s+") for v in starts) + r")(?![\w-])")
        self.call_re = re.compile(r"^(" + "|".join(re.escape(v) for v in starts if " " not in v) + r")\s*\(([^()]*)\)")
        self.pddl_ops = {op: op for op in OPS} | _PDDL_SPELLINGS | {n.lower(): op for op, n in vocab.actions.items()}
        connectors = (_FROM + _ON) if vocab.colours else (_FROM + _ON + _OTHER)
        self.connectors = [(c, tuple(c.split())) for c in sorted(connectors, key=lambda c: -len(c.split()))]
        self.connector_words = {c.split()[0] for c in connectors} | {"and", "then", "to"}
        self.object_words = {"block", "blocks", "object", "objects", "cube", "it"} | set(COLOURS) | (
            self.objects if self.bare_names else set())

    # -- objects ------------------------------------------------------------------------------------

    def _name(self, token: str) -> str | None:
        """A token as a problem object (PDDL name, object_a, block_a, red_block), or None."""
        t = token
        for pre in ("object_", "object-", "block_", "block-", "obj_"):
            if t.startswith(pre) and len(t) > len(pre):
                t = t[len(pre):]
                break
        for suf in ("_block", "-block"):
            if t.endswith(suf):
                t = t[: -len(suf)]
        if self.colours and t in self.colour_of:
            return self.colour_of[t]
        return t if t in self.objects else None

    def mention(self, toks: list[str], i: int, pronoun: bool = False) -> _Mention | None:
        """The object named from token i ("the red block", "object a", "a", "it"), the table, or None."""
        n = len(toks)
        if i < n and (toks[i] in ("the", "an") or toks[i] == "a" and i + 1 < n and toks[i + 1] not in self.connector_words
                      and re.match(r"[a-z]", toks[i + 1])):
            i += 1  # an article ("a" before a noun; "a" alone is object a)
        if i >= n:
            return None
        t = toks[i]
        if t in ("table", "tabletop"):
            return _Mention("table", end=i + 1)
        if pronoun and t == "it":
            return _Mention("it", end=i + 1)
        if self.colours and t in COLOURS:
            end = i + 2 if i + 1 < n and toks[i + 1] in ("block", "cube", "one") else i + 1
            return _Mention("obj", self.colour_of[t], end) if t in self.colour_of else _Mention("unknown", f"the {t} block", end)
        if t in ("block", "object", "cube") and i + 1 < n and re.fullmatch(r"[a-z0-9_]+", toks[i + 1]):
            if self.colours:
                return None  # colour renderings name blocks by colour only
            name = self._name(toks[i + 1])
            if name is not None:
                return _Mention("obj", name, i + 2)
            if toks[i + 1] not in self.connector_words and toks[i + 1] not in ("another", "other"):
                return _Mention("unknown", f"{t} {toks[i + 1]}", i + 2)
            return None
        name = self._name(t)
        if name is not None and (self.bare_names or t != name):
            end = i + 2 if i + 1 < n and toks[i + 1] in ("block", "object") else i + 1
            return _Mention("obj", name, end)
        if self.bare_names and re.fullmatch(r"[a-z]\d*", t) and t != "a":
            return _Mention("unknown", t, i + 1)  # a PDDL-style name that is not in the problem
        return None

    # -- one line -----------------------------------------------------------------------------------

    def read_line(self, content: str, lineno: int, raw: str) -> LineRead | None:
        """The actions a line states, or None when it is prose (no verb of the rendering, no PDDL)."""
        got = _memo(self, content)
        if got is None or not any(isinstance(i, ParseIssue) for i in got.items):
            return got
        items = tuple(ParseIssue(i.kind, lineno, raw, i.detail) if isinstance(i, ParseIssue) else i for i in got.items)
        return LineRead(items, got.note, got.retracted)

    def _read(self, content: str, lineno: int = 0, raw: str = "") -> LineRead | None:
        text = _strip_label(content, self)
        call = self.call_re.match(text)
        if call:  # unstack(a, b)
            text = f"({call.group(1)} {call.group(2)})" + text[call.end():]
        if text.startswith("("):
            return self._pddl(text, lineno, raw)
        if self.verb_re.match(text) is None:
            return None
        retracted = _RETRACTED.match(text)
        if retracted and not _RELATIVE.search(retracted.group("act")):  # "stack X on Y is not possible, so put down X": the first action is not a step
            then = _SO.search(retracted.group("rest"))
            rest = _strip_label(retracted.group("rest")[then.end():], self) if then else ""
            again = self._read(rest, lineno, raw) if rest and self.verb_re.match(rest) else None
            note = "retracted: " + text if again is None else f"retracted: {retracted.group('act')}; " + again.note
            return LineRead(again.items if again else (), note.strip("; "), retracted=True)
        toks, spans = _tokens(text)
        if not any(t in self.object_words or "_" in t for t in toks[1:]):
            return None  # "Put simply, ...", "Take note": a verb, but nothing to act on
        if text.rstrip().endswith("?"):
            return None  # a question about an action is reasoning, not a step
        items: list[Action | ParseIssue] = []
        pos, prev, note = 0, None, ""
        while True:
            vm = self.verb_re.match(text, spans[pos][0])
            verb = " ".join(vm.group(1).split())  # type: ignore[union-attr]
            got, end = self._clause(verb, toks, _token_at(spans, vm.end()), prev)  # type: ignore[union-attr]
            if isinstance(got, str):
                if prev is not None and got.startswith("unreadable-action: no object"):
                    note = text[spans[pos][0]:].strip()  # "...; take care to ...": not a second action
                    break
                kind, detail = got.split(": ", 1)
                return LineRead((ParseIssue(kind, lineno, raw, detail),))  # the line as a whole is unreadable
            items.append(got)
            prev = got.args[0]
            if end >= len(toks):
                break
            rest = text[spans[end][0]:]
            if rest.startswith("?"):
                return None  # "Stack X on Y? No, ...": weighing an action, not a step
            nxt = _NEXT.match(rest)
            after = rest[nxt.end():] if nxt else rest
            if nxt and nxt.end() and self.verb_re.match(after):
                pos = _token_at(spans, spans[end][0] + nxt.end())
                continue
            if toks[end] in _COMMENT_WORDS or not re.match(r"[a-z0-9]", toks[end]) or _DANGLING.match(rest):
                note = rest.strip() if re.search(r"\w", rest) else ""
                break
            detail = f"'{text[: spans[end - 1][1]]}' is followed by '{rest.strip()}', which is not commentary"
            return LineRead((ParseIssue("unreadable-action", lineno, raw, detail),))
        return LineRead(tuple(items), note)

    def _clause(self, verb: str, toks: list[str], i: int, prev: str | None) -> tuple[Action | str, int]:
        """One clause from token i (after the verb): an Action and the next token index, or 'kind: detail'."""
        if verb in self.foreign:
            return f"unknown-action: '{verb}' is not an action of this rendering", len(toks)
        exact, family = self.verbs[verb]
        if family == MOVE:
            return f"unreadable-action: '{verb}' is not one of the actions (it would be two: take, then put)", len(toks)
        first = self.mention(toks, i, pronoun=prev is not None)
        if first is None or first.kind == "table":
            return f"unreadable-action: no object after '{verb}'", len(toks)
        if first.kind == "unknown":
            return f"unknown-object: unknown object '{first.name}'", len(toks)
        obj = prev if first.kind == "it" else first.name
        j = first.end
        particles = set()
        while j < len(toks) and toks[j] in _PARTICLES:
            particles.add(toks[j])
            j += 1
        conn, k = self._connector(toks, j)
        second = self.mention(toks, k) if conn else None
        if second is not None and second.kind == "unknown":
            return f"unknown-object: unknown object '{second.name}'", len(toks)
        if second is not None and second.kind == "obj":
            end = second.end
            while end < len(toks) and toks[end] in _PARTICLES:
                end += 1
            op = self._two(exact, family, conn)  # type: ignore[arg-type]
            if op is None:
                return f"unreadable-action: '{verb} ... {conn} ...' is not an action of this rendering", len(toks)
            if ARITY[op] != 2:
                return f"wrong-arity: '{verb}' takes {ARITY[op]} object(s), found 2", len(toks)
            return Action(op, (obj, second.name)), end  # type: ignore[arg-type]
        place = _TABLE_PLACES.match(" ".join(toks[j:j + 6])) if j < len(toks) else None
        if conn is None and place is None and exact is not None and ARITY[exact] == 2:
            bare = self.mention(toks, j)  # PDDL-like "unstack c a"
            if bare is not None and bare.kind == "obj":
                return Action(exact, (obj, bare.name)), bare.end  # type: ignore[arg-type]
        end = j + (len(place.group(0).split()) if place else 0)
        if ARITY.get(exact or "", 1) == 2 or conn is not None and place is None:
            later = next((m for m in (self.mention(toks, x) for x in range(j, len(toks))) if m and m.kind == "obj"), None)
            if later is not None:  # "stack X under Y": two blocks, but not in a phrasing of the action
                return f"unreadable-action: '{' '.join(toks[j:later.end])}' is not how '{verb}' names a second object", len(toks)
        if family is None:  # an obfuscated verb is its action
            if ARITY[exact] != 1:  # type: ignore[index]
                return f"wrong-arity: '{verb}' takes 2 object(s), found 1", len(toks)
            return (Action(exact, (obj,)), end) if place is None else (f"unreadable-action: '{verb}' takes no place", len(toks))  # type: ignore[arg-type]
        if exact in ("stack", "unstack"):
            return f"wrong-arity: '{verb}' takes 2 object(s), found 1", len(toks)
        if family == TAKE and (exact or place or "up" in particles):
            return Action("pick-up", (obj,)), end  # type: ignore[arg-type]
        if family == PUT and (exact or place or "down" in particles or verb in ("set down", "lay down", "drop")):
            return Action("put-down", (obj,)), end  # type: ignore[arg-type]
        where = "from the table or from a block" if family == TAKE else "on the table or on a block"
        return f"unreadable-action: '{verb}' does not say whether {where}", len(toks)

    def _connector(self, toks: list[str], j: int) -> tuple[str | None, int]:
        for conn, words in self.connectors:
            if tuple(toks[j:j + len(words)]) == words:
                return conn, j + len(words)
        return None, j

    @staticmethod
    def _two(exact: str | None, family: str | None, conn: str) -> str | None:
        if family is None:
            return exact  # obfuscated: the verb is the action, any connector reads
        if family == TAKE and conn in _FROM:
            return "unstack" if exact in (None, "pick-up", "unstack") else None
        if family == PUT and conn in _ON:
            return "stack" if exact in (None, "put-down", "stack") else None
        return None

    def _pddl(self, text: str, lineno: int, raw: str) -> LineRead | None:
        groups = list(_PDDL_GROUP.finditer(text))
        if not groups:
            if self.verb_re.match(text.lstrip("( ")) or text.lstrip("( ").split(" ")[0] in self.pddl_ops:
                return LineRead((ParseIssue("unreadable-action", lineno, raw, "unbalanced parentheses"),))
            return None
        items: list[Action | ParseIssue] = []
        for g in groups:
            tokens = [t.lower() for t in re.split(r"[\s,]+", g.group(1).strip()) if t]
            if not tokens:
                continue
            head, args = tokens[0], _args(tokens[1:])
            op = self.pddl_ops.get(head)
            names = [self._name(a) for a in args]
            if op is None:
                # An unknown name before object names is a PDDL action; "(now holding the red block)" is prose.
                if args and None not in names and re.fullmatch(r"[a-z][\w-]*", head):
                    items.append(ParseIssue("unknown-action", lineno, raw, f"unknown action '{head}'"))
                continue
            if len(names) != ARITY[op]:
                items.append(ParseIssue("wrong-arity", lineno, raw, f"{head} takes {ARITY[op]} object(s), found {len(names)}"))
            elif None in names:
                items.append(ParseIssue("unknown-object", lineno, raw, f"unknown object '{args[names.index(None)]}'"))
            else:
                items.append(Action(op, tuple(names)))  # type: ignore[arg-type]
        if not items:
            return None
        return LineRead(tuple(items), text[groups[-1].end():].strip(" )"))


def _args(tokens: list[str]) -> list[str]:
    """PDDL arguments without the words models put around names: (unstack block a block b) -> [a, b]."""
    return [t for t in tokens if t not in ("block", "blocks", "object", "objects", "the")]


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    toks, spans = [], []
    for m in _TOKEN.finditer(text):
        toks.append(m.group(0))
        spans.append(m.span())
    return toks, spans


def _token_at(spans: list[tuple[int, int]], offset: int) -> int:
    for k, (s, _) in enumerate(spans):
        if s >= offset:
            return k
    return len(spans)


def _strip_label(text: str, book: Phrasebook) -> str:
    """Drop "Step 3:", "Then,", "Final plan:" before an action (a label is short and precedes a verb)."""
    while True:
        m = _LABEL.match(text)
        if m is None:
            break
        text = text[m.end():]
    if book.verb_re.match(text) or text.startswith("("):
        return text
    colon = text.find(":", 0, 60)
    if colon > 0 and len(text[:colon].split()) <= 6 and _PLAN_LABEL.search(text[:colon]):
        rest = text[colon + 1:].strip()
        if book.verb_re.match(rest) or rest.startswith("("):
            return rest
    return text


@lru_cache(maxsize=65536)
def _memo(book: Phrasebook, content: str) -> LineRead | None:
    # The same lines recur across the responses of a run ("put down the red block"); reading is pure.
    return book._read(content)


@lru_cache(maxsize=256)
def phrasebook(rendering: Rendering, objects: tuple[str, ...]) -> Phrasebook:
    # Renderings are immutable and hash by identity; the tables are most of the cost of a short read.
    return Phrasebook(rendering, objects)


def default_objects(rendering: Rendering) -> tuple[str, ...]:
    """Object names when no problem is given: a..z (Blocksworld's colours name the first 26)."""
    return tuple(chr(97 + i) for i in range(len(COLOURS) if rendering.vocab is BLOCKSWORLD else 26))
