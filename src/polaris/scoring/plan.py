"""Plans as answers (Blocksworld): read the plan a model wrote, validate it, describe why it fails.

Every response has two readings (`polaris.planning.read`):
- flexible (the headline): the plan the model meant, read from free-form text: the plan statement
  singled out from markers, fences and lists, explanation skipped, paraphrased actions read;
- strict: the plan in the format the prompt asked for (the rendering's fixed grammar; any other line
  in the plan segment is a failure): format compliance.

The extracted answer is the plan in a canonical text form, one step per line: an action as PDDL
with Blocksworld's names, `(unstack a b)`, whatever the rendering, or a line that could not be read
as `? <kind>: <the line>` (kind: ambiguous-plan, unreadable-action, unparseable, unknown-action,
unknown-object, wrong-arity). So the stored answer is readable, equal plans vote together, and
scoring only needs the answer: it decodes the lines back into actions and issues and validates them.
A plan that runs to the end of the text is a fallback answer: if the response was cut at the token
limit, it is where the cut fell and the item is `truncated` (scoring/outcome.py), not a wrong plan.
A response with no plan is not extracted (failure kind `no-plan`); the strict reading counts as
extracted only when a line of its segment is an action (possibly a faulty one), so a response in
which neither reading found a plan is not a strict/flexible disagreement.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping
from typing import Any

from polaris.planning import (
    Action,
    ParsedPlan,
    ParseIssue,
    Problem,
    State,
    get_rendering,
    plan_text,
    validate,
)
from polaris.planning.read import PlanReading, read_plan
from polaris.planning.model import ARITY, OPS
from polaris.scoring.base import Extraction
from polaris.scoring.text import split_thinking
from polaris.tasks.base import Item

VERSION = "plan-2"
FAILURE_KINDS = ("no-plan", "ambiguous-plan", "unreadable-action", "unparseable", "unknown-action", "unknown-object",
                 "wrong-arity", "inexecutable", "goal-unmet")


def problem_to_meta(problem: Problem) -> dict[str, Any]:
    """A JSON-able compact problem for `Item.meta` (see `problem_from_meta`)."""
    return {"name": problem.name, "objects": list(problem.objects), "init": list(problem.init.below),
            "goal": [list(f) for f in problem.goal]}


def problem_from_meta(meta: Mapping[str, Any]) -> Problem:
    return Problem(objects=tuple(meta["objects"]), init=State(tuple(meta["init"])),
                   goal=tuple(tuple(f) for f in meta["goal"]), name=meta.get("name", ""))


def encode(items: tuple[Action | ParseIssue, ...] | list[Action | ParseIssue]) -> str:
    return "\n".join(str(i) if isinstance(i, Action) else f"? {i.kind}: {' '.join(i.text.split())}" for i in items)


def decode(answer: str) -> list[Action | ParseIssue]:
    """The inverse of `encode` (never raises: an unreadable line is an `unparseable` issue)."""
    out: list[Action | ParseIssue] = []
    for n, line in enumerate(answer.splitlines(), 1):
        if line.startswith("(") and line.endswith(")"):
            op, *args = line[1:-1].split()
            out.append(Action(op, tuple(args)))
            continue
        kind, _, text = line[2:].partition(": ") if line.startswith("? ") else ("unparseable", "", line)
        out.append(ParseIssue(kind, n, text, kind))
    return out


def actions_from(lines: list[str]) -> tuple[Action, ...]:
    return tuple(a for a in decode("\n".join(lines)) if isinstance(a, Action))


class PlanScorer:
    """Scorer for plan-generation items: `item.meta["problem"]` is the problem, `item.target` its optimal plan."""

    version = VERSION

    def __init__(self, rendering: str) -> None:
        self.rendering = get_rendering(rendering)

    def problem(self, item: Item) -> Problem:
        return problem_from_meta(item.meta["problem"])

    def reading(self, text: str, item: Item) -> PlanReading:
        """Both readings of a response (after any thinking)."""
        return read_plan(split_thinking(text or "").answer, self.rendering, self.problem(item))

    def parsed(self, text: str, item: Item, strict: bool) -> ParsedPlan:
        """The strict or the flexible plan of a response."""
        r = self.reading(text, item)
        return r.strict if strict else r.flexible

    def extract(self, text: str, item: Item) -> Extraction:
        r = self.reading(text, item)
        # The strict reading found a plan when some line of its segment is an action, even a faulty one
        # ("pick up the purple block"); lines that are not actions at all (prose) are no plan.
        strict_found = any(not isinstance(i, ParseIssue) or i.kind != "unparseable" for i in r.strict.items)
        # A plan that runs into the end of the text is where a response cut at the token limit stopped
        # (`fallback`: such a response is "truncated", scoring/outcome.py), not a plan it finished.
        return Extraction(encode(r.flexible.items) or None, encode(r.strict.items) if strict_found else None,
                          fallback=r.open_ended)

    def verdict(self, answer: str, item: Item):
        return validate(self.problem(item), decode(answer))

    def score(self, answer: str | None, item: Item) -> float:
        return 0.0 if answer is None else float(self.verdict(answer, item).valid)

    def vote_key(self, answer: str, item: Item) -> Hashable:
        return answer

    def gold(self, item: Item) -> str:
        """The optimal plan as a perfect model writes it: in the rendering's words, between the plan markers."""
        return self._written(actions_from(item.target.splitlines()), item)

    def random_answer(self, item: Item, rng: random.Random) -> str:
        """As many uniformly random actions over the problem's blocks as the optimal plan has: the chance level."""
        objects = self.problem(item).objects
        steps = []
        for _ in range(max(1, len(item.target.splitlines()))):
            op = rng.choice(OPS)
            args = tuple(rng.sample(objects, ARITY[op])) if len(objects) >= ARITY[op] else objects[:1] * ARITY[op]
            steps.append(Action(op, args))
        return self._written(tuple(steps), item)

    def chance(self, item: Item) -> float:
        return 0.0  # a random action sequence is valid with negligible probability

    def _written(self, actions: tuple[Action, ...], item: Item) -> str:
        end = "[PLAN_END]" if self.rendering.pddl else "[PLAN END]"
        return f"[PLAN]\n{plan_text(actions, self.rendering, self.problem(item))}{end}"

    def detail(self, answer: str | None, item: Item) -> dict[str, Any]:
        """Per-item facts for the summary: failure kind and step, lengths, optimality, executable prefix."""
        optimal = int(item.meta["optimal_length"])
        if answer is None:
            return {"valid": False, "kind": "no-plan", "step": None, "length": 0, "optimal_length": optimal,
                    "optimality": None, "executable_prefix": 0.0}
        v = self.verdict(answer, item)
        steps = len(answer.splitlines())
        f = v.failure
        return {
            "valid": v.valid,
            "kind": None if f is None else f.kind,
            "step": None if f is None else f.step,
            "failure": None if f is None else f.to_json(),
            "length": steps,
            "optimal_length": optimal,
            "optimality": steps / optimal if v.valid and optimal else None,
            "executable_prefix": v.executable_prefix / steps if steps else 0.0,
        }
