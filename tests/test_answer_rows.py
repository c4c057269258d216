"""Issue 15's ten rows: responses real models wrote that Polaris used to read wrong, each fixed by a
general rule (not by recognising the sentence). Each test is built from its row and checks the rule on
a second phrasing too, so the fix is the rule and not the example."""

from __future__ import annotations

import pytest

from polaris.runner.cell import CellSpec
from polaris.runner.judge import judge
from polaris.runner.solvers import Outputs
from polaris.runner.summary import summarize
from polaris.scoring.bbh import BBHScorer
from polaris.scoring.choice import extract_choice
from polaris.scoring.mathnorm import decide
from polaris.scoring.numeric import NumericScorer, read_numeric, same_number
from polaris.scoring.text import answer_segment
from polaris.store.store import ResultRow, SampleRow
from polaris.tasks.base import Item
from polaris.tasks.registry import get_task

NUM = Item("g", "q", "50")


def bbh(kind: str, target: str, choices: tuple[str, ...] = ()) -> Item:
    return Item("b", "q", target, choices=choices, group="t", meta={"kind": kind})


def test_row1_a_marker_counts_only_where_it_announces_the_answer():
    row = ("Let's check our final answer. 30 + 20 = 50, so Rosie can run 50 miles in a week.\n"
           "Therefore, the answer (arabic numerals) is: 50")
    assert read_numeric(row).answer == "50"  # was 30: "final answer." took the first number on its line
    # A mention of "final answer" in prose announces nothing; "final answer is" / "answer:" do.
    assert read_numeric("Our final answer. We had 3 apples and 4 pears, 7 fruit").answer == "7"
    assert read_numeric("Our final answer is 12 apples, and 3 were left.").answer == "12"
    assert read_numeric("**Answer:** 42").answer == "42"


def test_row2_a_malformed_number_is_no_answer():
    e = read_numeric("She pays 125 + 96 dollars.\n#### 125,96")
    assert e.answer is None and e.strict is None  # was 125
    assert read_numeric("The answer is 1.2.3.").answer is None
    assert read_numeric("#### 1,250,960").answer == "1250960"  # thousands separators are fine


def test_row3_the_answer_segment_ends_where_the_model_starts_over():
    row = ("The first book is 31 mm thick ... so together they are 188 mm. The answer is 188.\n\n\n"
           "Let's think step by step.\n\nThe first book is 31 mm thick ... 50 mm thick")
    assert read_numeric(row).answer == "188"  # was 50, from the second attempt
    # Before any answer the trigger is where the reasoning starts, not a restart.
    assert read_numeric("Sure!\n\nLet's think step by step.\n3 + 4 = 7. The answer is 7.").answer == "7"
    assert read_numeric("To answer this:\nLet's think step by step.\n3 + 4 = 7. The answer is 7.").answer == "7"
    restarted = "So the answer is (B).\n\nA: Let's think step by step.\nSo the answer is (C)."
    assert extract_choice(restarted, Item("m", "q", "(B)", choices=("a", "b", "c"))).answer == "(B)"
    assert answer_segment("x\\boxed{3}\nLet's think step by step. y") == "x\\boxed{3}\n"


def test_row4_a_hedge_is_no_answer():
    item = bbh("choice", "(A)", ("left", "right", "up"))
    e = extract_choice("Both could be read as sarcastic. So the answer is (A) or (B).", item)
    assert (e.answer, e.strict, e.flag) == (None, None, "hedged")  # was (A), strict too
    assert extract_choice("The answer is A/C.", item).flag == "hedged"
    assert BBHScorer().extract("So the answer is True or False.", bbh("bool", "True")).flag == "hedged"
    assert read_numeric("The answer is 5 or 6.").flag == "hedged"
    assert read_numeric("The answer is 18 dollars, or $18.").answer == "18"  # one value, two ways
    assert read_numeric("The answer is 3 hours or 180 minutes.").answer == "3"  # a conversion, not a hedge
    assert BBHScorer().extract("So the answer is 7 or 8.", bbh("number", "7")).flag == "hedged"


def test_row5_an_option_outside_the_item_is_invalid_not_replaced():
    snarks = bbh("choice", "(B)", ("Yeah, I love waiting", "Yeah, I hate waiting"))
    row = ("(A) says ... (B) says ... neither option is sarcastic. So the answer is (C).")
    e = extract_choice(row, snarks)
    assert (e.answer, e.flag) == (None, "invalid-option")  # was (B), from the reasoning
    four = Item("m", "q", "(A)", choices=("a", "b", "c", "d"))
    assert extract_choice("Option (A) is tempting. The answer is E.", four).flag == "invalid-option"
    # A capital that is a word, not a letter, is not an invalid option: reading goes on.
    assert extract_choice("The answer is I think (B)", four).answer == "(B)"


def test_row6_a_truncated_repetition_loop_has_no_answer(tmp_path):
    loop = "We first simplify: Z = " + " = ".join(["not False and True and False"] * 40) + " = not False and"
    item = bbh("bool", "True")
    assert BBHScorer().extract(loop, item).answer is None  # was True, from the last label word
    assert BBHScorer().extract("Z = not True = false", bbh("bool", "False")).answer == "False"  # it ends so
    # Through the judge: with the server's finish reason the item is "truncated", without it "no-answer".
    task = get_task("bbh/boolean_expressions")
    spec = CellSpec("openai/x", "bbh/boolean_expressions")
    for finish, outcome in (("length", "truncated"), ("stop", "no-answer")):
        (row,) = judge(task, spec, [item], [Outputs([SampleRow(0, loop, finish, None, None, None)], "h")])
        assert row.answer is None and row.correct == 0.0 and row.data["outcome"] == outcome


def test_row6_a_cut_response_keeps_only_an_announced_answer():
    task = get_task("gsm8k")
    spec = CellSpec("openai/x", "gsm8k")
    item = Item("g", "q", "36")
    cut = "3 boxes of 12 pens: 12 + 12 = 24, and 24 + 12 = 36"  # its last number, where the limit fell
    announced = "3 * 12 = 36. The answer is 36.\n\nLet me double-check: 12 + 12 + 12 = 3"
    rows = judge(task, spec, [item, item], [Outputs([SampleRow(0, cut, "length", None, None, None)], "a"),
                                            Outputs([SampleRow(0, announced, "length", None, None, None)], "b")])
    assert [r.data["outcome"] for r in rows] == ["truncated", "correct"]
    assert rows[0].answer is None and rows[1].answer == "36"


def test_row7_a_trailing_row_separator_ends_no_row():
    gold = "\\begin{pmatrix} 0 \\\\ 0 \\\\ 0 \\end{pmatrix}"
    for answer in ("\\begin{pmatrix}0 \\\\ 0 \\\\ 0 \\\\ \\end{pmatrix}",
                   "\\begin{pmatrix}0 \\\\\n0 \\\\\n0 \\\\\n\\end{pmatrix}"):
        assert decide(gold, answer) is True  # settled by normal forms, no math-verify needed
    assert decide(gold, "\\begin{pmatrix}0 \\\\ 1 \\\\ 0 \\end{pmatrix}") is not True


def test_row8_decimals_by_one_rule_their_exact_value():
    assert decide("\\frac{1}{2}", "0.5") is True and decide("\\frac{9}{4}", "2.25") is True
    assert decide("\\frac{1}{3}", "0.333333") is False
    from polaris.scoring.mathnorm import verify_form

    # math-verify is given a decimal as the fraction it writes: an approximation of a radical is not it.
    assert verify_form("4.472136") == "\\frac{559017}{125000}"
    assert verify_form("3.1623") == "\\frac{31623}{10000}"
    assert verify_form("2\\sqrt{5}") == "2\\sqrt{5}" and verify_form("25\\%") == "25\\%"


def test_row9_integers_compare_exactly():
    assert not same_number("1450001", "1450000")  # was equal under a 1e-6 relative tolerance
    sc = NumericScorer()
    assert sc.score(read_numeric("The answer is 1450001.").answer, Item("g", "q", "1450000")) == 0.0
    assert same_number("18.00", "18") and same_number("$1,200", "1200")


def test_row10_strict_and_flexible_are_aggregated_alike():
    # Group a: 1 item, right both ways. Group b: 4 items right flexibly, none strictly.
    rows = [ResultRow("a0", 0, "a", 1.0, 1.0, True, None, "1", "1", {})]
    rows += [ResultRow(f"b{i}", i + 1, "b", 1.0, 0.0, True, None, "1", "1", {}) for i in range(4)]
    macro = summarize(rows, headline="macro")
    assert macro["accuracy"] == pytest.approx(1.0)
    assert macro["strict_accuracy"] == pytest.approx(0.5)  # (1 + 0) / 2, was the micro 1/5
    assert summarize(rows, headline="micro")["strict_accuracy"] == pytest.approx(0.2)
