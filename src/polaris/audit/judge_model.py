"""A judge model reads a response and states the final answer it gives: a check on the extraction
rules, and, with `--score-with judge`, another way to score a run.

The judge is any backend (`openai/<m>` with a base URL, `hf/<path>`, ...). It is asked, at
temperature 0, to report the answer the response settles on, not to solve the question or correct
it; NONE when there is none, HEDGED when the response offers several (`PROMPT`, versioned by
`PROMPT_VERSION`, both recorded with every judge-scored run). Its reading is put in the task's answer
sentence ("The answer is X.") and read back by the task's own scorer, so "B", "(B)" and "option B" are
the same letter and "$1,200" is 1200. Rule and judge agree when both found no answer or their answers
are the same answer for the scorer (equal vote keys, or the judge's answer scores right against the
rule's as gold: MATH equivalence included).

Judge calls go through `SolveContext`: cached in the store under (judge identity, prompt, decoding),
recorded in `calls` under the judge-scored cell's run id. The backend is started only when a reading
is missing from the store, so auditing again sends nothing.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from polaris.models.base import Backend, Decoding, RequestContext, RequestFailed
from polaris.prompts.render import Message, Prompt
from polaris.runner.context import SolveContext
from polaris.scoring.base import Extraction, score_many
from polaris.store.store import Store
from polaris.tasks.base import Item, Task

PROMPT_VERSION = "judge-1"
PROMPT = """You are checking which final answer a model's response gives. Below are a question and the response.
Report the final answer that the response itself gives. Do not solve the question yourself and do not
correct the response: if its answer is wrong, report it as it is.

- The final answer is the one the response settles on, usually at its end; if it changes its mind, the
  last one it settles on.
- If the response gives no final answer (it stops before reaching one, or only reasons), write NONE.
- If it offers more than one final answer without choosing between them, write HEDGED.
- {form}

Question:
<<<
{question}
>>>

Response:
<<<
{response}
>>>

End your reply with one line: FINAL ANSWER: <the answer, NONE or HEDGED>"""
FORM_CHOICE = "Write a chosen option as its letter in parentheses, e.g. (B)."
FORM_FREE = "Write the answer as briefly as the response allows (a number, a word, an expression), without units."
HEAD, TAIL = 2000, 6000  # characters of a long response shown to the judge: its start and its end
MAX_TOKENS = 256
_FINAL = re.compile(r"final\s+answer\s*[:：]\s*(.+)", re.IGNORECASE)
_NONE = {"none", "no answer", "n/a", "no final answer"}
_EDGES = " \t*_`\"'.,;"


def judge_prompt(question: str, response: str, multiple_choice: bool) -> Prompt:
    """The chat prompt asking the judge for the final answer of `response`."""
    if len(response) > HEAD + TAIL + 100:
        cut = len(response) - HEAD - TAIL
        response = f"{response[:HEAD]}\n[... {cut} characters omitted ...]\n{response[-TAIL:]}"
    text = PROMPT.format(form=FORM_CHOICE if multiple_choice else FORM_FREE, question=question.strip(),
                         response=response.strip())
    return Prompt(messages=(Message("user", text),))


def parse_reading(text: str | None) -> tuple[str, str | None]:
    """(status, answer) from the judge's reply: ("answer", X), ("none", None), ("hedged", None), or
    ("unreadable", None) when it gave no FINAL ANSWER line and is not a short answer itself."""
    text = (text or "").strip()
    found = _FINAL.findall(text)
    said = found[-1] if found else (text if text and "\n" not in text and len(text) <= 40 else None)
    if said is None:
        return "unreadable", None
    said = said.strip().strip(_EDGES).strip()
    if said.casefold() in _NONE or not said:
        return "none", None
    if said.casefold().startswith("hedged"):
        return "hedged", None
    return "answer", said


def as_extraction(task: Task, item: Item, status: str, said: str | None) -> Extraction:
    """The judge's reading as the task's scorer reads it (its answer sentence, read back)."""
    if status == "hedged":
        return Extraction(None, None, "hedged")
    if status != "answer" or said is None:
        return Extraction(None, None)
    e = task.scorer.extract(f"The answer is {said}.", item)
    return Extraction(e.answer, e.answer, e.flag)


def unscorable(status: str, extraction: Extraction) -> bool:
    """The judge stated an answer that the task's scorer cannot read as one ("Paris" for a number)."""
    return status == "answer" and extraction.answer is None and extraction.flag is None


@dataclass
class Job:
    """One response to read: item, sample index, the question as sent, the response after thinking."""

    item: Item
    idx: int
    question: str
    response: str
    rule: str | None  # the rules' flexible answer for this sample


@dataclass
class Reading:
    item: str
    idx: int
    request: str | None  # hash of the judge request (None: it failed)
    raw: str | None  # the judge's reply
    status: str  # answer | none | hedged | unreadable (no FINAL ANSWER line) | unscorable | error
    extraction: Extraction
    rule: str | None
    agree: bool = False

    @property
    def answer(self) -> str | None:
        return self.extraction.answer

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "sample": self.idx, "rule": self.rule, "judge": self.answer,
                "status": self.status, "agree": self.agree, "said": self.raw, "request": self.request}


def same_answer(task: Task, pairs: Sequence[tuple[Item, str | None, str | None]]) -> list[bool]:
    """Whether each (item, rule answer, judge answer) is the same answer for the task's scorer."""
    out = [a is None and b is None for _, a, b in pairs]
    todo = []
    for i, (item, a, b) in enumerate(pairs):
        if a is None or b is None:
            continue
        if task.scorer.vote_key(a, item) == task.scorer.vote_key(b, item):
            out[i] = True
        else:
            todo.append(i)
    if todo:
        checks = [(pairs[i][2], replace(pairs[i][0], target=pairs[i][1])) for i in todo]
        for i, score in zip(todo, score_many(task.scorer, checks)):  # type: ignore[arg-type]
            out[i] = score >= 1.0
    return out


@dataclass
class JudgeSetup:
    """Where judge calls go: the store, the judge backend (made, not started: it is started only when
    a reading is missing from the store), the run id its calls are recorded under."""

    store: Store
    backend: Backend
    run_id: str
    max_tokens: int = MAX_TOKENS
    concurrency: int = 16

    @property
    def identity(self) -> dict[str, Any]:
        return self.backend.identity()

    @property
    def decoding(self) -> Decoding:
        return Decoding(max_tokens=self.max_tokens, temperature=0.0)


async def read_responses(task: Task, jobs: Sequence[Job], setup: JudgeSetup,
                         on_done: Callable[[int, int, int], None] | None = None) -> tuple[list[Reading], int]:
    """The judge's reading of every job, in order, and the number of calls sent (0 when all were cached)."""
    prompts = [judge_prompt(j.question, j.response, bool(j.item.choices)) for j in jobs]
    identity = setup.identity
    probe = SolveContext(setup.store, None, identity, setup.run_id)
    missing = any(0 not in setup.store.samples(probe.request_key(p, setup.decoding, j.item.id)[2])
                  for j, p in zip(jobs, prompts))
    backend = setup.backend if missing else None
    if backend is not None:
        await backend.start()
    ctx = SolveContext(setup.store, backend, identity, setup.run_id)
    results: list[Reading | None] = [None] * len(jobs)
    limit = asyncio.Semaphore(max(1, setup.concurrency))
    done = errors = 0

    async def one(i: int) -> None:
        nonlocal done, errors
        job = jobs[i]
        async with limit:
            try:
                h, rows = await ctx.generate(prompts[i], setup.decoding, 1, RequestContext(task, job.item, "judge"))
                status, said = parse_reading(rows[0].text)
                reading = as_extraction(task, job.item, status, said)
                results[i] = Reading(job.item.id, job.idx, h, rows[0].text,
                                     "unscorable" if unscorable(status, reading) else status, reading, job.rule)
            except RequestFailed as exc:
                errors += 1
                results[i] = Reading(job.item.id, job.idx, None, str(exc), "error", Extraction(None, None), job.rule)
        done += 1
        if on_done is not None:
            on_done(done, len(jobs), errors)

    try:
        await asyncio.gather(*(one(i) for i in range(len(jobs))))
    finally:
        if backend is not None:
            await backend.close()
    readings: list[Reading] = [r for r in results if r is not None]
    # Rule and judge agree on the same answer, or on no answer for the same reason class; a reply the
    # judge did not format, or an answer the task's scorer cannot read, agrees with nothing.
    compared = [i for i, r in enumerate(readings) if r.status in ("answer", "none", "hedged")]
    same = same_answer(task, [(jobs[i].item, readings[i].rule, readings[i].answer) for i in compared])
    for i, ok in zip(compared, same):
        readings[i].agree = ok
    return readings, ctx.stats.calls
