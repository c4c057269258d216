"""LLM-Modulo back-prompts: what the verifier tells the model about its plan.

The wording follows PlanBench's `get_validation_message` (its VAL-based back-prompting), in the
rendering's own vocabulary, e.g.

    The above plan is invalid. The following action at step 1 has an unmet precondition:
    unstack the red block from on top of the orange block
    The unmet precondition is:
    the red block is clear

PlanBench writes "invalid.The following" (no space) for a single precondition; we keep the space.
Levels: `binary` (valid or not), `first` (the first error, as VAL reports it), `all` (every error,
reading on past each failed step, then the unmet goals; see `validate.py`). The verdict is about the
flexible reading, the plan the model meant (`read.py`). Lines that could not be read as actions are
reported in the same style ("The following line at step 2 could not be read as an action: ..."), a
response offering several plans is asked for one, and a response with no readable plan is told so
(then, above `binary`, what the goal still needs: the feedback an empty plan gets).
"""

from __future__ import annotations

from polaris.errors import PolarisError
from polaris.planning.pddl import atom
from polaris.planning.render import join_facts
from polaris.planning.validate import Failure, Verdict
from polaris.planning.vocab import Rendering, get_rendering

LEVELS = ("binary", "first", "all")

_PARSE_MESSAGES = {
    "unparseable": "could not be read as an action",
    "unreadable-action": "could not be read as an action",
    "unknown-action": "is not one of the available actions",
    "unknown-object": "names an object that is not in the problem",
    "wrong-arity": "has the wrong number of objects for its action",
}


def _action_text(text: str | None, r: Rendering, names: dict[str, str]) -> str:
    if not text:
        return ""
    op, *args = text.strip("()").split()
    if r.pddl:
        return f"({r.vocab.actions.get(op, op)} {' '.join(args)})"
    try:
        return r.vocab.action_nl(op, tuple(args), names)
    except (KeyError, IndexError):
        return text


def _facts(facts, r: Rendering, names: dict[str, str]) -> str:
    if r.pddl:
        return ", ".join(atom(f, r.vocab) for f in facts)
    return join_facts(facts, r.vocab, names)


def _message(f: Failure, r: Rendering, names: dict[str, str]) -> str:
    if f.kind == "goal-unmet":
        head = "These are the unmet goal conditions:" if len(f.unmet) > 1 else "This is the unmet goal condition:"
        return f"{head}\n{_facts(f.unmet, r, names)}"
    if f.kind == "inexecutable":
        many = len(f.unmet) > 1
        return (
            f"The following action at step {f.step} has {'unmet preconditions' if many else 'an unmet precondition'}:\n"
            f"{_action_text(f.action, r, names)}\n"
            f"{'The unmet preconditions are:' if many else 'The unmet precondition is:'}\n"
            f"{_facts(f.unmet, r, names)}"
        )
    if f.kind == "ambiguous-plan":
        return "It offers several different plans as alternatives; give exactly one plan."
    if f.line is None and f.kind in ("unknown-object", "unknown-action", "wrong-arity"):
        return f"The following action at step {f.step} {_PARSE_MESSAGES[f.kind]}:\n{f.action}"
    return f"The following line at step {f.step} {_PARSE_MESSAGES.get(f.kind, 'is not valid')}:\n{f.action}"


def feedback(verdict: Verdict, level: str = "first", rendering: str | Rendering = "blocksworld",
             no_plan: bool = False) -> str:
    """The back-prompt for a verdict, at a feedback level, in the rendering's words. `no_plan`: the
    response had no readable plan (the verdict is then the empty plan's)."""
    if level not in LEVELS:
        raise PolarisError(f"unknown feedback level '{level}' (choose from {', '.join(LEVELS)})")
    r = get_rendering(rendering)
    if no_plan:
        head = "The above response has no plan that could be read: no line of it is an action."
        if level == "binary" or not verdict.failures:
            return head
        names = {} if r.pddl else r.vocab.object_nl(verdict.objects)
        return head + " " + _message(verdict.failures[-1], r, names)
    if verdict.valid:
        return "The above plan is valid."
    if level == "binary":
        return "The above plan is invalid."
    names = {} if r.pddl else r.vocab.object_nl(verdict.objects)
    shown = verdict.failures if level == "all" else verdict.failures[:1]
    return "The above plan is invalid. " + "\n".join(_message(f, r, names) for f in shown)

