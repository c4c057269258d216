"""The 4-operator Blocksworld: states, facts, actions and problems.

Everything here uses the canonical vocabulary (pick-up, put-down, stack, unstack; on, ontable, clear,
handempty, holding). Obfuscated vocabularies (Mystery, random words) are a rendering concern and are
mapped to these names at the edges (`vocab.py`, `pddl.py`, `parse.py`).

A state is stored as one tuple: `below[i]` is the index of the block under block i, `TABLE` or
`HAND`. That makes states hashable, cheap to copy and impossible to make inconsistent in ways a fact
set allows (a block on two blocks, two blocks on one), which is why PDDL input is checked once on load
and never again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

TABLE = -1
HAND = -2

OPS = ("pick-up", "put-down", "stack", "unstack")
ARITY = {"pick-up": 1, "put-down": 1, "stack": 2, "unstack": 2}
PRED_ARITY = {"clear": 1, "ontable": 1, "handempty": 0, "holding": 1, "on": 2}

# Fact = ("on", "a", "b") | ("ontable", "a") | ("clear", "a") | ("handempty",) | ("holding", "a")
Fact = tuple


class Action(NamedTuple):
    """One grounded action with canonical operator name and PDDL object names."""

    op: str
    args: tuple[str, ...]

    def __str__(self) -> str:
        return f"({self.op} {' '.join(self.args)})"


def preconditions(action: Action) -> tuple[Fact, ...]:
    """The action's preconditions, in the order PlanBench's domain file lists them."""
    op, args = action.op, action.args
    if op == "pick-up":
        return (("clear", args[0]), ("ontable", args[0]), ("handempty",))
    if op == "put-down":
        return (("holding", args[0]),)
    if op == "stack":
        return (("clear", args[1]), ("holding", args[0]))
    return (("on", args[0], args[1]), ("clear", args[0]), ("handempty",))


def object_names(n: int) -> tuple[str, ...]:
    """PlanBench names blocks a, b, c, ...; past 26 blocks we switch to b1..bN (IPC style)."""
    if n <= 26:
        return tuple(chr(ord("a") + i) for i in range(n))
    return tuple(f"b{i + 1}" for i in range(n))


@dataclass(frozen=True, slots=True)
class State:
    below: tuple[int, ...]

    @property
    def holding(self) -> int:
        for i, b in enumerate(self.below):
            if b == HAND:
                return i
        return -1

    def above(self) -> list[int]:
        """above[i] = the block directly on i, or -1."""
        up = [-1] * len(self.below)
        for i, b in enumerate(self.below):
            if b >= 0:
                up[b] = i
        return up


def state_facts(state: State, objects: tuple[str, ...]) -> list[Fact]:
    """All true facts, in PlanBench's instance-file order: hand, per-block support, then clear."""
    up = state.above()
    held = state.holding
    facts: list[Fact] = [("handempty",)] if held < 0 else [("holding", objects[held])]
    for i, b in enumerate(state.below):
        if b == TABLE:
            facts.append(("ontable", objects[i]))
        elif b >= 0:
            facts.append(("on", objects[i], objects[b]))
    facts.extend(("clear", objects[i]) for i in range(len(objects)) if up[i] < 0 and i != held)
    return facts


def state_from_facts(facts: list[Fact], objects: tuple[str, ...]) -> State | str:
    """Build a state from a complete fact set, or return why the facts are not a Blocksworld state."""
    index = {o: i for i, o in enumerate(objects)}
    n = len(objects)
    below: list[int | None] = [None] * n
    clear = [False] * n
    handempty = False
    held = []
    for fact in facts:
        name, args = fact[0], fact[1:]
        if name == "handempty":
            handempty = True
        elif name == "clear":
            clear[index[args[0]]] = True
        elif name in ("ontable", "on", "holding"):
            i = index[args[0]]
            where = TABLE if name == "ontable" else HAND if name == "holding" else index[args[1]]
            if below[i] is not None and below[i] != where:
                return f"block {args[0]} is in two places"
            if where == i:
                return f"block {args[0]} is on itself"
            below[i] = where
            if name == "holding":
                held.append(args[0])
    for i, b in enumerate(below):
        if b is None:
            return f"block {objects[i]} is neither on the table, on a block nor held"
    if len(held) > 1:
        return f"the hand holds {len(held)} blocks ({', '.join(held)})"
    if handempty == bool(held):
        return "the hand is both empty and holding a block" if handempty else "the hand is neither empty nor holding a block"
    up = [-1] * n
    for i, b in enumerate(below):
        if b is not None and b >= 0:
            if below[b] == HAND:
                return f"block {objects[i]} is on the held block {objects[b]}"
            if up[b] >= 0:
                return f"blocks {objects[up[b]]} and {objects[i]} are both on {objects[b]}"
            up[b] = i
    for i in range(n):  # a chain of `on` that never reaches the table is a cycle
        seen, j = set(), i
        while below[j] is not None and below[j] >= 0:
            if j in seen:
                return f"the blocks under {objects[i]} form a cycle"
            seen.add(j)
            j = below[j]
    for i in range(n):
        should = up[i] < 0 and below[i] != HAND
        if clear[i] and not should:
            why = "it is held" if below[i] == HAND else f"{objects[up[i]]} is on it"
            return f"block {objects[i]} is marked clear but {why}"
        if should and not clear[i]:
            return f"block {objects[i]} has nothing on it but is not marked clear"
    return State(tuple(b for b in below))  # type: ignore[misc]


@dataclass(frozen=True, slots=True)
class Problem:
    """A Blocksworld problem: objects, a complete initial state and a conjunctive goal."""

    objects: tuple[str, ...]
    init: State
    goal: tuple[Fact, ...]
    name: str = ""

    @property
    def blocks(self) -> int:
        return len(self.objects)

    def key(self) -> tuple:
        """Identity of the problem for deduplication: initial state and goal as sets of facts.

        This is PlanBench's rule (an md5 of the sorted facts); two problems that differ only by a
        renaming of blocks are different problems to a model that reads colour names.
        """
        return (self.objects, self.init.below, tuple(sorted(self.goal)))


def unmet_goals(state: State, goal: tuple[Fact, ...], objects: tuple[str, ...]) -> list[Fact]:
    """The goal facts that do not hold in `state` (empty list: goal reached)."""
    index = {o: i for i, o in enumerate(objects)}
    return [f for f in goal if not fact_holds(state, f, index)]


def fact_holds(state: State, fact: Fact, index: dict[str, int]) -> bool:
    name = fact[0]
    below = state.below
    if name == "on":
        return below[index[fact[1]]] == index[fact[2]]
    if name == "ontable":
        return below[index[fact[1]]] == TABLE
    if name == "holding":
        return below[index[fact[1]]] == HAND
    if name == "handempty":
        return HAND not in below
    i = index[fact[1]]
    return below[i] != HAND and i not in below


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """A line of model output that is not an action: its kind, 1-based line number and text."""

    kind: str  # "unparseable" | "unknown-action" | "unknown-object" | "wrong-arity"
    line: int
    text: str
    detail: str
