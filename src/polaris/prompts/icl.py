"""Lu et al.'s (2024) prompt templates for multiple-choice tasks: `-T template=open|closed|closed-adv`.

The strings are those of UKPLab/on-emergence (`utils.py: prompt_types`, `prompts/<task>/*.txt`):

    open        {input} The correct answer is
    closed      {input} The possible answers are "c1", "c2", ..., but the correct answer is
    closed-adv  QUESTION: {input}\\nOPTIONS: (a) "c1", (b) "c2", ...\\nANSWER:

`{input}` is the item's question (stem, without its lettered options). Closed and open prompts
quote options with trailing full stops dropped, closed-adv quotes them as they are. A few-shot
prompt puts each exemplar, rendered the same way and followed by a space and its answer
(`"paris".` closed, `"paris"` open, `(b)` closed-adv), before the question, blank lines between:

    Q1 The possible answers are "a", "b", but the correct answer is "b".\\n\\nQ2 The possible ...

which is what Lu et al.'s `closed_5.txt` files hold. The completions API sends that text as it is
(the model continues after "is" / "ANSWER:", stopping at a blank line); the chat API sends it as one
user message (`--fewshot-as single`) or the exemplars as user/assistant turns (default). Only
direct formats apply (`zeroshot-direct`, `fewshot-direct`: Lu et al.'s 0 and k shots); the
exemplars are the task's own (`--exemplars shuffle|random` work as for any task). Outputs are
scored by Lu et al.'s exact-match rules (`scoring/ema.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from polaris.errors import PolarisError
from polaris.prompts.render import Format, Message, Prompt
from polaris.prompts.template import Template
from polaris.scoring.ema import TEMPLATES, EMAScorer, item_options, letter, quoted
from polaris.tasks.base import Exemplar, Item, Task

FORMATS = ("zeroshot-direct", "fewshot-direct")
MC_HINT = "--template needs multiple-choice items (mmlu, mmlu/<subject>, bbh/<multiple-choice task>)"


def check_template(template: str) -> None:
    if template not in TEMPLATES:
        raise PolarisError(f"unknown --template '{template}' (choose from {', '.join(TEMPLATES)})")


def query(template: str, question: str, options: Sequence[str]) -> str:
    """The prompt for one question under a template (module docstring)."""
    check_template(template)
    q = question.strip()
    if template == "open":
        return f"{q} The correct answer is"
    if template == "closed":
        return f"{q} The possible answers are {', '.join(quoted(o) for o in options)}, but the correct answer is"
    listed = ", ".join(f'{letter(i)} "{o}"' for i, o in enumerate(options))
    return f"QUESTION: {q}\nOPTIONS: {listed}\nANSWER:"


def answer(template: str, options: Sequence[str], index: int) -> str:
    """The answer an exemplar shows after its prompt (and a space): the scorer's form of the option
    in the template's answer sentence."""
    return make_template(template).answer_sentence(EMAScorer(template).form(tuple(options), index))


@dataclass(frozen=True)
class IclTemplate(Template):
    """A task's template replaced by one of Lu et al.'s: what `baseline/gold` answers and what the
    fake test server reads questions from (`item_text`)."""

    kind: str = "closed"

    def item_text(self, item: Item) -> str:
        found = item_options(item)
        return query(self.kind, item.question, found[0] if found else item.choices)

    def question_text(self, question: str, choices: tuple[str, ...] = ()) -> str:
        return query(self.kind, question, choices)


def make_template(kind: str) -> IclTemplate:
    check_template(kind)
    return IclTemplate(instruction="", answer="{answer}." if kind == "closed" else "{answer}",
                       zeroshot_cot="", zeroshot_direct="", stop=("\n\n",), kind=kind)


def apply(task: Task, kind: str) -> Task:
    """The task asked through template `kind`: its prompts, scorer and formats replaced."""
    return replace(task, template=make_template(kind), templates={}, scorer=EMAScorer(kind), formats=FORMATS,
                   description=f"{task.description} [Lu et al. {kind} template]")


def check_spec(template: str | None, prompt: str, scoring: str) -> None:
    """One-line errors for cells a template cannot serve (called by `CellSpec`)."""
    if template is None:
        return
    check_template(template)
    if Format.parse(prompt).cot:
        raise PolarisError(f"--template {template} asks for the answer directly: use --prompt zeroshot-direct or "
                           f"fewshot-direct, not {prompt}")
    if scoring != "generate":
        raise PolarisError(f"--template {template} is scored on generated text (--scoring generate), not {scoring}")


def _exemplar(kind: str, ex: Exemplar, fallback: Sequence[str]) -> tuple[str, str]:
    from polaris.scoring.choice import LETTERS, letter_of

    options = tuple(ex.choices) or tuple(fallback)
    got = letter_of(ex.answer) if ex.choices else None
    if got is not None and LETTERS.index(got) < len(options):
        index = LETTERS.index(got)
    else:
        index = next((i for i, o in enumerate(options) if o.casefold() == ex.answer.strip().casefold()), None)
    if index is None:
        raise PolarisError(f"exemplar {ex.id}: its answer {ex.answer!r} is none of its options")
    return query(kind, ex.question, options), answer(kind, options, index)


def render_icl(kind: str, question: str, shots: Sequence[tuple[str, str]], *, api: str = "completions",
               fewshot_as: str = "multi", system: str | None = None) -> Prompt:
    """The prompt for `question` (already a template query) after the exemplar (query, answer) pairs."""
    text = "".join(f"{q} {a}\n\n" for q, a in shots) + question
    stop = ("\n\n",)
    if api == "completions":
        return Prompt(text=text, stop=stop)
    if api != "chat":
        raise PolarisError(f"unknown --api '{api}' (choose chat or completions)")
    head = (Message("system", system),) if system else ()
    if fewshot_as == "single" or not shots:
        return Prompt(messages=head + (Message("user", text),), stop=stop)
    turns: list[Message] = []
    for q, a in shots:
        turns += [Message("user", q), Message("assistant", a)]
    return Prompt(messages=head + tuple(turns) + (Message("user", question),), stop=stop)


def build_prompts(task: Task, spec, items: Sequence[Item]) -> tuple[list[Prompt], dict[str, list[str]]]:
    """Prompts of a template cell and the exemplar ids per group (the runner's `build_prompts`)."""
    from polaris.prompts.exemplars import select

    kind = spec.template
    fewshot = Format.parse(spec.prompt).fewshot
    shots: dict[str, list[tuple[str, str]]] = {}
    ids: dict[str, list[str]] = {}
    prompts = []
    for it in items:
        found = item_options(it)
        if found is None:
            raise PolarisError(f"task '{task.name}' item {it.id} is not multiple choice; {MC_HINT}")
        options = found[0]
        if fewshot and it.group not in shots:
            chosen = select(task, it.group, spec.exemplars, spec.exemplar_seed, cot=False)
            shots[it.group] = [_exemplar(kind, ex, options) for ex in chosen]
            ids[it.group] = [ex.id for ex in chosen]
        prompts.append(render_icl(kind, query(kind, it.question, options), shots.get(it.group, []) if fewshot else [],
                                  api=spec.api, fewshot_as=spec.fewshot_as, system=spec.system))
    return prompts, ids
