"""Synthetic planning responses: one valid plan written in the styles real models answer in.

Each style renders the same actions as a chat model, a reasoning model or a PDDL-minded model would:
Markdown numbered and bold steps, sub-bullets of explanation under each step, a preamble and the
plan restated at the end, paraphrased actions, PDDL in code fences, Mystery's verbs, tables, a draft
corrected by a final plan. The flexible reading must recover the plan exactly from every one; the
strict reading (the prompt's format) must not.
"""

from __future__ import annotations

import random

from polaris.planning import Action, Problem, get_rendering

# Blocksworld paraphrases: {0}, {1} are "the red block"-style names, {c0}, {c1} bare colours.
PHRASES = {
    "pick-up": ["Pick up {0}", "Pick up {0} from the table", "Pick {0} up", "Lift {0} off the table",
                "Take {0} from the table", "pick up {0}"],
    "put-down": ["Put down {0}", "Put down {0} on the table", "Put {0} down", "Place {0} on the table",
                 "Put down {0} onto the table", "Set {0} down on the table", "Put {0} down on the table"],
    "stack": ["Stack {0} on top of {1}", "Stack {0} onto {1}", "Place {0} on {1}", "Put {0} on top of {1}",
              "Put down {0} on {1}", "Stack {c0} on {c1}", "Stack {0} atop {1}"],
    "unstack": ["Unstack {0} from on top of {1}", "Unstack {0} from {1}", "Unstack {0} off {1}", "Take {0} off {1}",
                "Pick up {0} from {1}", "Remove {0} from the top of {1}", "Lift {0} off of {1}", "Unstack {c0} from {c1}"],
}
COMMENTS = [" (now holding {0})", " - this frees {1}", ": the hand is now empty", ", which leaves {1} clear",
            " to make room", " — hand empty again", "  ✓"]


def names(problem: Problem, rendering: str) -> dict[str, str]:
    r = get_rendering(rendering)
    if r.pddl:  # the prompt showed PDDL names only
        return {o: f"{'block' if r.vocab.colours else 'object'} {o}" for o in problem.objects}
    nl = r.vocab.object_nl(problem.objects)
    return {o: (f"the {v}" if r.vocab.colours else v) for o, v in nl.items()}


def phrase(a: Action, problem: Problem, rendering: str, rng: random.Random | None = None, k: int = 0) -> str:
    """One action in words: a Blocksworld paraphrase (chosen by rng, else the k-th), or the rendering's own."""
    r = get_rendering(rendering)
    n = names(problem, rendering)
    args = [n[x] for x in a.args]
    if not r.vocab.colours:
        verb = r.vocab.actions[a.op].capitalize()
        return f"{verb} {args[0]}" + (f" from {args[1]}" if len(args) == 2 else "")
    options = PHRASES[a.op]
    template = rng.choice(options) if rng else options[k % len(options)]
    bare = [x.removeprefix("the ").removesuffix(" block").removeprefix("block ") for x in args]
    return template.format(*args, c0=bare[0], c1=bare[-1])


def comment(a: Action, problem: Problem, rendering: str, rng: random.Random) -> str:
    n = names(problem, rendering)
    args = [n[x] for x in a.args]
    return rng.choice(COMMENTS).format(args[0], args[-1])


def pddl(a: Action, rendering: str, upper: bool = False) -> str:
    r = get_rendering(rendering)
    text = f"({r.vocab.actions[a.op]} {' '.join(a.args)})"
    return text.upper() if upper else text


def style_markdown_bold(plan, problem, rendering, rng):
    lines = ["Here is a plan to achieve the goal:", ""]
    lines += [f"{i}. **{phrase(a, problem, rendering, rng)}**" for i, a in enumerate(plan, 1)]
    return "\n".join(lines + ["", "This sequence reaches the goal state."])


def style_bold_steps_subbullets(plan, problem, rendering, rng):
    lines = ["To reach the goal we need to clear the blocks first and then build the tower.", "", "### Plan", ""]
    for i, a in enumerate(plan, 1):
        lines += [f"**Step {i}: {phrase(a, problem, rendering, rng)}**",
                  f"   - *Preconditions:* the hand is empty and the block is clear.",
                  f"   - *Effect:* {phrase(a, problem, rendering, rng).lower()} changes the state.", ""]
    return "\n".join(lines)


def style_numbered_subbullets_restated(plan, problem, rendering, rng):
    """o1-style: explained steps, then the plan restated under a bold heading."""
    lines = [f"Here is a plan to achieve the goal in {len(plan)} steps.", ""]
    for i, a in enumerate(plan, 1):
        lines += [f"{i}. **{phrase(a, problem, rendering, rng)}.**",
                  "   - This is possible because the block is clear.",
                  "     - Nested detail about the state.", ""]
    lines += ["**Actions in the plan:**", ""]
    lines += [f"- {phrase(a, problem, rendering, rng)}" for a in plan]
    return "\n".join(lines)


def style_paraphrased_commentary(plan, problem, rendering, rng):
    return "\n".join(f"{i}. {phrase(a, problem, rendering, rng)}{comment(a, problem, rendering, rng)}"
                     for i, a in enumerate(plan, 1))


def style_step_labels(plan, problem, rendering, rng):
    labels = ["Step {i}: ", "Action {i}: ", "**Step {i}:** ", "Step {i}. "]
    lines = ["Sure! Let's work through it."]
    for i, a in enumerate(plan, 1):
        lines.append(rng.choice(labels).format(i=i) + phrase(a, problem, rendering, rng) + ".")
        lines.append("The state changes accordingly.")
    return "\n".join(lines)


def style_pddl_fence(plan, problem, rendering, rng):
    upper = rng.random() < 0.5
    body = "\n".join("  " + pddl(a, rendering, upper) for a in plan)
    return f"The plan in PDDL:\n\n```pddl\n(plan\n{body}\n)\n```\n\nEach action respects the preconditions."


def style_pddl_words(plan, problem, rendering, rng):
    """PDDL with block/object words around the names, numbered, in a fence without a language."""
    r = get_rendering(rendering)
    word = "block" if r.vocab.colours else "object"
    lines = ["```"] + [f"{i}. ({r.vocab.actions[a.op]} {' '.join(f'{word}_{x}' for x in a.args)})"
                       for i, a in enumerate(plan, 1)] + ["```"]
    return "My answer:\n" + "\n".join(lines)


def style_draft_then_corrected(plan, problem, rendering, rng):
    """A wrong draft, noticed, then the plan: the last statement is the answer."""
    draft = list(reversed(plan))
    lines = ["Let me try:", ""] + [f"{i}. {phrase(a, problem, rendering, rng)}" for i, a in enumerate(draft, 1)]
    lines += ["", "Wait, that does not work: the first action is not possible. Corrected plan:", ""]
    lines += [f"{i}. {phrase(a, problem, rendering, rng)}" for i, a in enumerate(plan, 1)]
    return "\n".join(lines)


def style_marked_after_reasoning(plan, problem, rendering, rng):
    reasoning = ["First I look at which blocks are clear.", f"{phrase(plan[0], problem, rendering, rng)} seems right.",
                 "Then I continue until the goal holds.", ""]
    body = [phrase(a, problem, rendering, rng) for a in plan]
    return "\n".join(reasoning + ["[PLAN]"] + body + ["[PLAN END]"])


def style_table(plan, problem, rendering, rng):
    lines = ["| Step | Action | Resulting state |", "|---:|---|---|"]
    lines += [f"| {i} | {phrase(a, problem, rendering, rng)} | ok |" for i, a in enumerate(plan, 1)]
    return "Plan:\n\n" + "\n".join(lines)


def style_then_chain(plan, problem, rendering, rng):
    """Several actions per line, joined by "then" / arrows / semicolons."""
    parts = [phrase(a, problem, rendering, rng) for a in plan]
    joins = [", then ", " → ", "; then ", ", and then "]
    lines, i = [], 0
    while i < len(parts):
        chunk = parts[i:i + 2]
        lines.append(rng.choice(joins).join([chunk[0]] + [c[0].lower() + c[1:] for c in chunk[1:]]) + ".")
        i += 2
    return "The solution:\n" + "\n".join(lines)


STYLES = {
    "markdown-bold": style_markdown_bold,
    "bold-steps-subbullets": style_bold_steps_subbullets,
    "numbered-subbullets-restated": style_numbered_subbullets_restated,
    "paraphrased-commentary": style_paraphrased_commentary,
    "step-labels": style_step_labels,
    "pddl-fence": style_pddl_fence,
    "pddl-words": style_pddl_words,
    "draft-then-corrected": style_draft_then_corrected,
    "marked-after-reasoning": style_marked_after_reasoning,
    "table": style_table,
    "then-chain": style_then_chain,
}
