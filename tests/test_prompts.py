"""The four prompt formats, for chat (multi-turn or single message) and completions."""

from __future__ import annotations

from pathlib import Path

import pytest

from polaris.errors import PolarisError
from polaris.prompts.exemplars import parse_hub_file, select, steps
from polaris.prompts.render import render
from polaris.tasks.base import Exemplar
from polaris.tasks.gsm8k import TEMPLATE
from polaris.tasks.registry import get_task

SHOTS = [Exemplar("e1", "What is 1+1?", "1 plus 1 is 2.", "2"), Exemplar("e2", "What is 2+3?", "2 plus 3 is 5.", "5")]
Q = TEMPLATE.question_text("What is 4+4?")


def test_fewshot_cot_chat_is_alternating_turns():
    p = render(TEMPLATE, "fewshot-cot", Q, SHOTS, api="chat")
    roles = [m.role for m in p.messages]
    assert roles == ["user", "assistant", "user", "assistant", "user"]
    assert p.messages[0].content == "Question: What is 1+1?\nLet's think step by step."
    assert p.messages[1].content == "1 plus 1 is 2.\nThe answer is 2."
    assert p.messages[-1].content == "Question: What is 4+4?\nLet's think step by step."
    assert p.text is None and p.stop == ()


def test_fewshot_direct_reuses_exemplars_without_reasoning():
    p = render(TEMPLATE, "fewshot-direct", Q, SHOTS, api="chat")
    assert p.messages[1].content == "The answer is 2."
    assert "step" not in p.messages[-1].content


def test_single_message_and_system():
    p = render(TEMPLATE, "fewshot-cot", Q, SHOTS, api="chat", fewshot_as="single", system="Be brief.")
    assert [m.role for m in p.messages] == ["system", "user"]
    body = p.messages[1].content
    assert body.count("Question:") == 3 and body.endswith("Question: What is 4+4?\nLet's think step by step.")


def test_completions_text_ends_where_the_model_continues():
    p = render(TEMPLATE, "fewshot-cot", Q, SHOTS, api="completions")
    assert p.text.startswith("Question: What is 1+1?\nLet's think step by step.\n1 plus 1 is 2.\nThe answer is 2.\n\n")
    assert p.text.endswith("Question: What is 4+4?\nLet's think step by step.\n")
    assert "\n\nQuestion:" in p.stop


@pytest.mark.parametrize("fmt,hint", [("zeroshot-cot", "step by step"), ("zeroshot-direct", "Reply with only")])
def test_zeroshot_formats_name_the_answer_format(fmt, hint):
    p = render(TEMPLATE, fmt, Q, SHOTS, api="chat")
    assert len(p.messages) == 1 and hint in p.messages[0].content and '"The answer is N."' in p.messages[0].content


def test_bad_format_and_api():
    with pytest.raises(PolarisError, match="unknown prompt format"):
        render(TEMPLATE, "fewshot-tot", Q, SHOTS)
    with pytest.raises(PolarisError, match="unknown --api"):
        render(TEMPLATE, "fewshot-cot", Q, SHOTS, api="responses")


def test_followup_continues_the_conversation():
    p = render(TEMPLATE, "zeroshot-cot", Q, api="chat").followup("The answer is 9.", "That is wrong; try again.")
    assert [m.role for m in p.messages] == ["user", "assistant", "user"]
    t = render(TEMPLATE, "zeroshot-cot", Q, api="completions").followup("9", "Try again.")
    assert t.text.endswith("9\n\nTry again.\n")


def test_gsm8k_exemplars_strip_calculator_notes(tiny_data):
    task = get_task("gsm8k")
    ex = task.dataset.pool("")  # training solutions, the pool complex/random exemplars come from
    assert ex[0].rationale == "Tom has 3 + 4 = 7 apples." and ex[0].answer == "7"
    assert all("<<" not in e.rationale for e in ex)
    default = select(task, "", "default")  # the hub prompt file in the data dir (Wei et al.'s 8 exemplars)
    assert len(default) == 8 and default[0].id == "prompt_original.txt#0"


def test_complex_and_random_selection(shared_data):
    task = get_task("gsm8k")
    complex_ = select(task, "", "complex")
    pool = task.dataset.pool("")
    assert len(complex_) == 8
    assert min(steps(e.rationale) for e in complex_) >= max(steps(e.rationale) for e in pool if e not in complex_)
    r1, r2, r3 = (select(task, "", "random", seed=s) for s in (1, 1, 2))
    assert [e.id for e in r1] == [e.id for e in r2] != [e.id for e in r3]


def test_every_hub_gsm8k_prompt_file_parses(shared_data):
    files = sorted((shared_data / "cot_hub_prompts" / "gsm8k" / "lib_prompt").glob("*.txt"))
    assert len(files) == 27
    for f in files:
        ex = parse_hub_file(f)
        assert ex and all(e.answer and e.question for e in ex)
    original = parse_hub_file(shared_data / "cot_hub_prompts/gsm8k/lib_prompt/prompt_original.txt")
    assert [e.answer for e in original] == ["6", "5", "39", "8", "9", "29", "33", "8"]
    assert original[0].rationale.splitlines()[0] == "There are 15 trees originally."


def test_malformed_prompt_file_is_a_located_error(tmp_path: Path):
    f = tmp_path / "p.txt"
    f.write_text("Question: a?\nLet's think step by step\nno answer line\n")
    with pytest.raises(PolarisError, match=r"p.txt:1: exemplar has no 'The answer is"):
        parse_hub_file(f)
