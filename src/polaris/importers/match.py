"""Find the Polaris item each imported record answers, and never guess.

1. By id, when the source's id is a Polaris item id (PlanBench's `instance-N`, a generic file's `id`).
2. Else by the question text, whitespace normalised: the record's bare question must equal an item's
   question (alone, or as the task renders it, with or without its "Q:" prefix and options).
3. Else by the last question in the prompt as sent: a prompt may show exemplars before the question,
   so the item whose text occurs last in it wins (an occurrence inside a longer one does not count).

Several items with the same text are told apart by the record's group (a BBH task named by the file),
its options and its gold answer; if that leaves more than one, the record is *ambiguous*. A record
that names no item is *unmatched*; a second record for an item already matched is a *duplicate*.
Items that are the same in every respect (text, options, gold: the dataset holds them twice) are
interchangeable: records take them in order, and are counted as `twins`.
Neither is imported, and all are counted and listed (`--show-unmatched`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from polaris.importers.records import Record
from polaris.tasks.base import Item, Task

ANCHOR = 32  # characters of a question's start used to find it in a prompt


def norm(text: str) -> str:
    return " ".join(text.split())


def norm_answer(text: str) -> str:
    """Gold answers compared loosely: case, spaces, thousands separators, dollar signs, a final stop."""
    return re.sub(r"[\s,$]", "", text).rstrip(".").lower()


@dataclass
class Match:
    record: Record
    item: Item | None
    status: str  # matched | unmatched | ambiguous | duplicate
    how: str = ""  # id | question | prompt
    reason: str = ""
    gold_differs: bool = False  # the source's gold is not Polaris's for the matched item
    candidates: tuple[Item, ...] = ()  # an ambiguous record's items
    twin: bool = False  # matched to the first free one of several identical items (same text and gold)


class ItemIndex:
    """An item lookup by id and by question text, and a finder of questions inside prompts."""

    def __init__(self, task: Task, items: Sequence[Item]) -> None:
        self.task = task
        self.items = list(items)
        self.by_id = {it.id: it for it in self.items}
        self.by_text: dict[str, list[Item]] = {}
        for it in self.items:
            for key in self._keys(it):
                bucket = self.by_text.setdefault(key, [])
                if not bucket or bucket[-1] is not it:
                    bucket.append(it)
        self.anchors: dict[str, list[str]] = {}
        for key in self.by_text:
            self.anchors.setdefault(key[:ANCHOR], []).append(key)
        self.lengths = sorted({len(a) for a in self.anchors}, reverse=True)
        self.longest = max((len(k) for k in self.by_text), default=0)

    def _keys(self, it: Item) -> list[str]:
        keys = [norm(it.question)]
        if self.task.build_prompt is None:  # question/answer tasks: the text as the prompt renders it
            t = self.task.template_for(it.group)
            shown = t.item_text(it)
            head = t.question.split("{question}", 1)[0]
            keys += [norm(shown), norm(shown[len(head):]) if head and shown.startswith(head) else ""]
        return list(dict.fromkeys(k for k in keys if k))

    @cached_property
    def groups(self) -> dict[str, ItemIndex]:
        out: dict[str, list[Item]] = {}
        for it in self.items:
            out.setdefault(it.group, []).append(it)
        return {g: ItemIndex(self.task, its) for g, its in out.items()} if len(out) > 1 else {}

    def last_question(self, prompt: str) -> str | None:
        """The key of the item text that occurs last in the prompt (not inside a longer occurrence)."""
        text = norm(prompt)
        found: list[tuple[int, int, str]] = []
        floor = -1
        i = len(text) - 1
        while i > floor:
            if i == 0 or text[i - 1] == " ":
                for n in self.lengths:
                    for key in self.anchors.get(text[i : i + n], ()):
                        if text.startswith(key, i):
                            found.append((i, i + len(key), key))
                            if floor < 0:  # an occurrence containing this one starts at most `longest` earlier
                                floor = max(-1, i + len(key) - self.longest - 1)
            i -= 1
        if not found:
            return None
        maximal = [f for f in found if not any(g[0] <= f[0] and f[1] <= g[1] and g != f for g in found)]
        return max(maximal)[2]


def _narrow(candidates: list[Item], record: Record, gold: dict[str, str]) -> list[Item]:
    if len(candidates) > 1 and record.group:
        same = [it for it in candidates if it.group == record.group]
        candidates = same or candidates
    if len(candidates) > 1 and record.choices:
        want = [norm(c) for c in record.choices]
        same = [it for it in candidates if [norm(c) for c in it.choices] == want]
        candidates = same or candidates
    if len(candidates) > 1 and record.target is not None:
        t = norm_answer(record.target)
        same = [it for it in candidates if t in (norm_answer(gold[it.id]), norm_answer(it.target))]
        candidates = same or candidates
    return candidates


def _find(index: ItemIndex, record: Record, gold: dict[str, str]) -> Match:
    if record.item_id is not None and record.item_id in index.by_id:
        return Match(record, index.by_id[record.item_id], "matched", "id")
    where = index.groups.get(record.group or "", index)
    how, key = "", None
    if record.question is not None:
        key = norm(record.question)
        if key in where.by_text:
            how = "question"
        else:
            key, how = where.last_question(record.question), "question"
    if key is None and record.prompt is not None:
        key, how = where.last_question(record.prompt), "prompt"
    if key is None:
        named = f"id '{record.item_id}' is not an item of {index.task.name} and " if record.item_id else ""
        what = "no question or prompt" if record.question is None and record.prompt is None else \
            f"no question of {index.task.name} found in its {'question' if record.question else 'prompt'}"
        return Match(record, None, "unmatched", reason=named + what)
    candidates = _narrow(list(where.by_text[key]), record, gold)
    if len(candidates) > 1:
        ids = ", ".join(it.id for it in candidates[:5])
        return Match(record, None, "ambiguous", how, f"{len(candidates)} items have this question ({ids})",
                     candidates=tuple(candidates))
    return Match(record, candidates[0], "matched", how)


def _twins(items: Sequence[Item], gold: dict[str, str]) -> bool:
    first = items[0]
    return all(norm(it.question) == norm(first.question) and it.choices == first.choices
               and gold[it.id] == gold[first.id] for it in items)


def match(task: Task, items: Sequence[Item], records: Iterable[Record]) -> list[Match]:
    """One Match per record, in record order; the first record of an item wins, later ones are duplicates."""
    index = ItemIndex(task, items)
    gold = {it.id: task.scorer.gold(it) for it in items}
    out: list[Match] = []
    taken: dict[str, Record] = {}
    for record in records:
        m = _find(index, record, gold)
        if m.status == "ambiguous" and _twins(m.candidates, gold):
            # The dataset holds the same item twice (BBH has such pairs): the items are interchangeable,
            # so records take them in order; counted apart as `twins`.
            free = [it for it in m.candidates if it.id not in taken]
            if free:
                m = Match(record, free[0], "matched", m.how, twin=True)
        if m.item is not None:
            first = taken.setdefault(m.item.id, record)
            if first is not record:
                m = Match(record, None, "duplicate", m.how, f"{m.item.id} is already answered by {first.where}")
            elif record.target is not None:
                t = norm_answer(record.target)
                m.gold_differs = t not in (norm_answer(gold[m.item.id]), norm_answer(m.item.target))
        out.append(m)
    return out
