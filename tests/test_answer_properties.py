"""Property tests: wrapping a correct answer in the surface forms real models write (issue 15's rows:
prose before it, markers, markdown, a restart or a recited next question after it, thinking tags, a
cut at the token limit after it was announced) never changes its verdict; hedging it always does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from polaris.runner.cell import CellSpec
from polaris.runner.judge import judge
from polaris.runner.solvers import Outputs
from polaris.scoring.bbh import BBHScorer
from polaris.scoring.choice import ChoiceScorer
from polaris.scoring.numeric import NumericScorer
from polaris.store.store import SampleRow
from polaris.tasks.base import Item
from polaris.tasks.registry import get_task

# Reasoning prose: words, numbers and arithmetic, but no answer marker, no "Question:" and no trigger.
WORDS = ["she", "has", "apples", "then", "buys", "more", "so", "total", "each", "box", "we", "check", "our",
         "final", "result", "first", "step", "is", "and", "(A)", "(C)", "option", "wrong", "True", "False", "=", "+"]
prose = st.lists(st.one_of(st.sampled_from(WORDS), st.integers(0, 9999).map(str)), max_size=40).map(" ".join)
tail = st.lists(st.sampled_from(WORDS[:18]) | st.integers(0, 99).map(str), max_size=20).map(" ".join)

NUMBER_FORMS = [
    "{p}\nThe answer is {x}.",
    "{p}\n#### {x}",
    "{p}\n**Answer:** {x}",
    "{p}\nTherefore, the answer (arabic numerals) is: {x}",
    "{p} so the total is \\boxed{{{x}}}.",
    "{p}\nThe final answer is {x}.",
    "Let's check our final answer. {p}\nThe answer is {x}.",
    "{p}\nThe answer is {x}.\n\nLet's think step by step.\n{t}",
    "{p}\nThe answer is {x}.\n\nQuestion: {t}",
    "<think>{p} {t}</think>The answer is {x}.",
    "{p}\nThe answer is 3 + 4 = {x}.",
    "{p}\nThe answer is: **{x}**",
]


def _money(n: int) -> str:
    return f"${n:,}"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**7), st.sampled_from(NUMBER_FORMS), prose, tail, st.booleans())
def test_numeric_verdict_survives_every_surface_form(gold, form, p, t, money):
    item = Item("g", "q", str(gold))
    x = _money(gold) if money else str(gold)
    sc = NumericScorer()
    e = sc.extract(form.format(p=p, t=t, x=x), item)
    assert sc.score(e.answer, item) == 1.0, (form, e)
    assert e.flag is None


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 50), prose)
def test_a_numeric_hedge_is_never_right(gold, delta, p):
    item = Item("g", "q", str(gold))
    sc = NumericScorer()
    for text in (f"{p}\nThe answer is {gold} or {gold + delta}.", f"{p}\nThe answer is {gold + delta} or {gold}."):
        e = sc.extract(text, item)
        assert e.answer is None and e.strict is None and e.flag == "hedged"


CHOICES = ("Paris", "London", "Berlin", "Madrid")
CHOICE_FORMS = [
    "{p}\nThe answer is ({L}).",
    "{p}\nSo the answer is ({L}).",
    "{p}\nAnswer: {L}",
    "{p}\nThe correct option is ({L}).",
    "{p}\nSo the answer is $\\boxed{{{L}}}$.",
    "{p}\nThe answer is: **{L}**",
    "{p}\nThe answer is ({L}).\n\nA: Let's think step by step.\n{t} So the answer is (D).",
    "{p}\nThe answer is ({L}).\n\nQ: {t}\nA: The answer is (A).",
    "<think>{p} the answer is (A)</think>The answer is ({L}).",
    "({L})",
    "**{L}**",
]


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3), st.sampled_from(CHOICE_FORMS), prose, tail)
def test_choice_verdict_survives_every_surface_form(gold, form, p, t):
    letter = "ABCD"[gold]
    item = Item("m", "q", f"({letter})", choices=CHOICES)
    sc = ChoiceScorer()
    e = sc.extract(form.format(p=p, t=t, L=letter), item)
    assert sc.score(e.answer, item) == 1.0, (form, e)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3), st.integers(1, 3), prose)
def test_a_choice_hedge_or_an_outside_option_is_never_right(gold, step, p):
    letter, other = "ABCD"[gold], "ABCD"[(gold + step) % 4]
    item = Item("m", "q", f"({letter})", choices=CHOICES)
    e = ChoiceScorer().extract(f"{p} ({letter}) looks right.\nSo the answer is ({letter}) or ({other}).", item)
    assert e.answer is None and e.flag == "hedged"
    e = ChoiceScorer().extract(f"{p} ({letter}) looks right.\nSo the answer is (E).", item)
    assert e.answer is None and e.flag == "invalid-option"


LABEL_FORMS = ["{p}\nSo the answer is {x}.", "{p}\nThe answer is: **{x}**", "{x}", "{p} = {x}",
               "{p}\nSo the answer is {x}.\n\nQ: {t}", "{p}\nSo the answer is {x}.\n\nLet's think step by step. {t} = {y}"]


@settings(max_examples=300, deadline=None)
@given(st.booleans(), st.sampled_from(LABEL_FORMS), prose, tail)
def test_bbh_label_verdict_survives_every_surface_form(truth, form, p, t):
    x, y = ("True", "False") if truth else ("False", "True")
    item = Item("b", "q", x, group="boolean_expressions", meta={"kind": "bool"})
    sc = BBHScorer()
    e = sc.extract(form.format(p=p, t=t, x=x, y=y), item)
    assert sc.score(e.answer, item) == 1.0, (form, e)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**6), prose, tail)
def test_a_cut_response_keeps_the_answer_it_announced(gold, p, t):
    """Cut at the token limit after "The answer is N.": still correct. Cut with only a last number: truncated."""
    task = get_task("gsm8k")
    spec = CellSpec("openai/x", "gsm8k")
    item = Item("g", "q", str(gold))
    announced = f"{p}\nThe answer is {gold}.\n\nTo double-check, {t}"
    guessed = f"{p} and so {gold}"
    rows = judge(task, spec, [item, item], [Outputs([SampleRow(0, announced, "length", None, None, None)], "a"),
                                            Outputs([SampleRow(0, guessed, "length", None, None, None)], "b")])
    assert rows[0].data["outcome"] == "correct" and rows[0].correct == 1.0
    assert rows[1].data["outcome"] == "truncated" and rows[1].correct == 0.0
