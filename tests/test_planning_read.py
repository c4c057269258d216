"""The two readings of a planning response: synthetic responses in the styles real models answer in.

Each style renders a valid plan (tests/planstyles.py); the flexible reading must recover exactly that
plan and the strict reading (the prompt's format) must not. Then the rules one at a time: which
statement is the plan, what is explanation, and what is reported instead of guessed.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planstyles import STYLES, comment, phrase, pddl

from polaris.planning import Action, generate, get_rendering, validate
from polaris.planning.read import HOW, read_plan

INSTANCES = [i for i in generate([3, 4, 5, 6], 24, seed=11) if len(i.plan) >= 2]
RENDERINGS = ["blocksworld", "mystery", "pddl", "pddl-mystery", "random-words:3"]
# Styles in the format the prompt asks for (zero-shot-cot's [PLAN] block): the strict reading accepts them.
STRICT_FORMAT = {"marked-after-reasoning"}


def kinds(plan):
    return [(i.kind, i.line) for i in plan.items if not isinstance(i, Action)]


@pytest.mark.parametrize("rendering", RENDERINGS)
@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_style_is_read_exactly_and_the_strict_reading_rejects_it(style, rendering):
    for k, inst in enumerate(INSTANCES):
        text = STYLES[style](list(inst.plan), inst.problem, rendering, random.Random(k))
        reading = read_plan(text, rendering, inst.problem)
        assert reading.flexible.items == tuple(inst.plan), text
        assert validate(inst.problem, reading.flexible).valid
        if style not in STRICT_FORMAT:
            assert reading.strict.items != tuple(inst.plan), text


@settings(max_examples=150, deadline=None)
@given(k=st.integers(0, len(INSTANCES) - 1), seed=st.integers(0, 10**6), rendering=st.sampled_from(RENDERINGS),
       marker=st.sampled_from(["{i}. ", "- ", "* ", "Step {i}: ", "**{i}.** ", "", "{i}) "]),
       emphasis=st.sampled_from(["{}", "**{}**", "`{}`", "*{}*"]), commentary=st.booleans(),
       preamble=st.booleans(), restate=st.booleans())
def test_random_mixtures_of_styles_are_read_exactly(k, seed, rendering, marker, emphasis, commentary, preamble, restate):
    inst = INSTANCES[k]
    rng = random.Random(seed)
    lines = ["Here is a plan that reaches the goal:", ""] if preamble else []
    for i, a in enumerate(inst.plan, 1):
        text = emphasis.format(phrase(a, inst.problem, rendering, rng))
        lines.append(marker.format(i=i) + text + (comment(a, inst.problem, rendering, rng) if commentary else ""))
    if restate:
        lines += ["", "**Final plan:**", ""] + [pddl(a, rendering) for a in inst.plan]
    reading = read_plan("\n".join(lines), rendering, inst.problem)
    assert reading.flexible.items == tuple(inst.plan), "\n".join(lines)


PROBLEM = INSTANCES[0].problem
PLAN = list(INSTANCES[0].plan)


def bw(a: Action, k: int = 0) -> str:
    return phrase(a, PROBLEM, "blocksworld", k=k)


def test_the_last_statement_is_the_plan_and_earlier_ones_are_shown_as_such():
    draft = "\n".join(f"{i}. {bw(a)}" for i, a in enumerate(PLAN[:1], 1))
    final = "\n".join(f"{i}. {bw(a)}" for i, a in enumerate(PLAN, 1))
    reading = read_plan(f"{draft}\n\nHowever, a more efficient plan would be:\n\n{final}", "blocksworld", PROBLEM)
    assert list(reading.flexible.items) == PLAN and reading.statements == 2
    assert [line.how for line in reading.lines][:2] == ["other-statement", "heading"]


def test_plan_markers_win_over_unmarked_restatements():
    marked = "\n".join(bw(a) for a in PLAN)
    text = f"[PLAN]\n{marked}\n[PLAN END]\n\nExplanation:\n1. {bw(PLAN[0])}: this frees a block."
    assert list(read_plan(text, "blocksworld", PROBLEM).flexible.items) == PLAN


def test_a_one_shot_continuation_is_marked_by_its_end_marker():
    text = "\n".join(bw(a) for a in PLAN) + "\n[PLAN END]\n\nNow a second example:\n" + bw(PLAN[0])
    assert list(read_plan(text, "blocksworld", PROBLEM).flexible.items) == PLAN


def test_text_after_a_new_statement_is_another_problem():
    text = "\n".join(bw(a) for a in PLAN) + "\n[PLAN END]\n[STATEMENT]\nAs initial conditions I have that ...\n[PLAN]\n" + bw(PLAN[0])
    reading = read_plan(text, "blocksworld", PROBLEM)
    assert list(reading.flexible.items) == PLAN
    assert reading.lines[-1].how == "after-statement"


def test_a_restatement_cut_off_by_the_end_of_the_text_yields_to_the_full_plan():
    text = "\n".join(f"{i}. {bw(a)}" for i, a in enumerate(PLAN, 1)) + "\n\nTo summarise:\n1. " + bw(PLAN[0]) + "\n2. Stack the re"
    assert list(read_plan(text, "blocksworld", PROBLEM).flexible.items) == PLAN


def test_explanation_between_numbered_steps_and_sub_bullets_is_skipped():
    lines = []
    for i, a in enumerate(PLAN, 1):
        lines += [f"{i}. {bw(a, i)}", "This changes which blocks are clear.", "   - Sub-point: " + bw(PLAN[0])]
    reading = read_plan("\n".join(lines), "blocksworld", PROBLEM)
    assert list(reading.flexible.items) == PLAN
    assert {line.how for line in reading.lines} == {"action", "explanation"}


def test_alternatives_are_ambiguous_not_guessed():
    one = "\n".join(f"{i}. {bw(a)}" for i, a in enumerate(PLAN, 1))
    other = "\n".join(f"{i}. {bw(a)}" for i, a in enumerate(PLAN[:1], 1))
    for link in ("Alternatively, you could do:", "Option 2:", "Or even simpler:"):
        reading = read_plan(f"Option 1:\n{one}\n\n{link}\n{other}", "blocksworld", PROBLEM)
        assert kinds(reading.flexible) == [("ambiguous-plan", len(PLAN) + 4)], link  # the first line of the last plan
        assert validate(PROBLEM, reading.flexible).failure.kind == "ambiguous-plan"
    # The same plan twice is a restatement, not an alternative.
    assert list(read_plan(f"{one}\n\nAlternatively, in short:\n{one}", "blocksworld", PROBLEM).flexible.items) == PLAN


@pytest.mark.parametrize(("line", "kind"), [
    ("Move the red block onto the blue block", "unreadable-action"),
    ("Stack the red block under the blue block", "unreadable-action"),
    ("Take the red block", "unreadable-action"),  # from the table or from a block? not said
    ("Pick up the purple block", "unknown-object"),
    ("Unstack the red block", "wrong-arity"),
    ("Stack the red block", "wrong-arity"),
    ("Feast object a from object b", "unknown-action"),  # Mystery's verb in a Blocksworld answer
    ("(move a b)", "unknown-action"),
    ("(stack a)", "wrong-arity"),
    ("(stack a q)", "unknown-object"),
    ("Pick up the red block with the blue block on top", "unreadable-action"),
    ("Stack the red block on the blue block is a good idea", "unreadable-action"),
])  # fmt: skip
def test_lines_that_look_like_actions_are_reported_in_place(line, kind):
    text = f"1. {bw(PLAN[0])}\n2. {line}\n3. {bw(PLAN[1])}"
    reading = read_plan(text, "blocksworld", PROBLEM)
    assert [type(i).__name__ for i in reading.flexible.items] == ["Action", "ParseIssue", "Action"]
    assert kinds(reading.flexible) == [(kind, 2)]
    assert reading.lines[1].how == "issue"
    failure = validate(PROBLEM, reading.flexible).failure
    assert (failure.kind, failure.step, failure.line) == (kind, 2, 2)


def test_prose_with_action_words_is_not_an_action():
    text = "Put simply, the tower must be rebuilt.\nStack the red block on the blue block? No, it is not clear.\n" + \
           "\n".join(bw(a) for a in PLAN) + "\nNote: stack the red block last, whatever happens."
    reading = read_plan(text, "blocksworld", PROBLEM)
    assert list(reading.flexible.items) == PLAN
    assert [line.how for line in reading.lines[:2]] == ["prose", "prose"] and reading.lines[-1].how == "prose"
    # "Plan:", "Step 2:", "Final answer:" are labels before an action; "Note:" is not.
    assert list(read_plan("Final answer: " + bw(PLAN[0]), "blocksworld", PROBLEM).flexible.items) == PLAN[:1]


def test_an_action_ruled_out_in_its_own_line_is_not_a_step():
    text = "\n".join([f"1. {bw(PLAN[0])}", "2. Pick up the red block is not needed, as it is already clear.",
                      f"3. {bw(PLAN[1])}"])
    reading = read_plan(text, "blocksworld", PROBLEM)
    assert list(reading.flexible.items) == PLAN[:2]
    assert reading.lines[1].how == "retracted"
    fixed = read_plan(f"1. Stack the red block on the blue block is not possible, so {bw(PLAN[0]).lower()}",
                      "blocksworld", PROBLEM)
    assert list(fixed.flexible.items) == PLAN[:1]


def test_no_plan_is_an_empty_reading():
    for text in ("", "I cannot find a plan for this problem.", "[PLAN]\n[PLAN END]", "Attack the problem head-on."):
        reading = read_plan(text, "blocksworld", PROBLEM)
        assert reading.flexible.items == () and not reading.found and reading.chosen is None


def test_every_line_is_accounted_for():
    text = STYLES["numbered-subbullets-restated"](PLAN, PROBLEM, "blocksworld", random.Random(0))
    reading = read_plan(text, "blocksworld", PROBLEM)
    non_blank = [n for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    assert [line.line for line in reading.lines] == non_blank
    assert {line.how for line in reading.lines} <= set(HOW)
    assert reading.lines[-1].to_json()["read"] == [str(PLAN[-1])]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("abc ()[]*-#|:.,;\n`1234") + ["unstack ", "stack ", "the red block ", "pick up ",
                                                                     "[PLAN]", "[PLAN END]", "object a ", "from ",
                                                                     "is not ", "so ", "then ", "it "])).map("".join))
def test_hostile_text_never_raises(text):
    for rendering in ("blocksworld", "mystery", "pddl"):
        reading = read_plan(text, get_rendering(rendering), PROBLEM)
        validate(PROBLEM, reading.flexible)


def test_a_plan_running_into_a_cut_at_the_token_limit_is_truncated_not_wrong():
    from polaris.scoring.outcome import settle
    from polaris.scoring.plan import PlanScorer, problem_to_meta
    from polaris.tasks.base import Item

    item = Item("p", "", "\n".join(map(str, PLAN)), meta={"problem": problem_to_meta(PROBLEM), "optimal_length": len(PLAN)})
    scorer = PlanScorer("blocksworld")
    lines = "\n".join(f"{i}. {bw(a)}" for i, a in enumerate(PLAN, 1))
    cut = scorer.extract(lines, item)
    assert cut.fallback and settle(cut, "length").answer is None and settle(cut, "stop").answer == cut.answer
    for finished in (f"[PLAN]\n{lines}\n[PLAN END]", f"{lines}\n\nThis reaches the goal."):
        done = scorer.extract(finished, item)
        assert not done.fallback and settle(done, "length").answer == done.answer
        assert scorer.score(done.answer, item) == 1.0
