"""Auditing stored runs: the rule audit of each, the judge's readings, and the judge-scored run.

`audit_run` reads one run from the store (results, responses, the questions as sent), audits its
rules, and with a judge reads its responses (all scored items, or `sample` of them drawn with `seed`)
and compares. `store_judge_scored` writes the run scored by the judge's readings: the same cell with
`judge=<model>` (its own run id; strategy "...+judge:<model>"), results from the one judging code
(`runner.judge.judge` with the readings as its reader), and a manifest naming the judge, its identity,
prompt, prompt version, decoding and the source run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from polaris.analysis.answers import question_of
from polaris.audit import judge_model as jm
from polaris.audit.rules import RuleAudit, audit_rules
from polaris.runner.cell import CellSpec
from polaris.runner.summary import summarize, wilson
from polaris.scoring.text import THINK_TAGS, split_thinking
from polaris.store.store import ResultRow, RunRow, SampleRow, Store
from polaris.tasks.base import Item, Task


@dataclass
class JudgeAudit:
    model: str
    readings: list[jm.Reading]
    items: int  # items whose responses were read
    sent: int  # judge calls sent by this audit (0: all cached)
    rules_accuracy: float | None  # over the judged items, by the rules' answers (the run's scores)
    judge_accuracy: float | None  # the same items scored by the judge's readings
    scored_run: str | None = None  # id of the judge-scored run, when stored
    scored_label: str | None = None

    @property
    def agreement(self) -> float | None:
        done = [r for r in self.readings if r.status != "error"]
        return sum(r.agree for r in done) / len(done) if done else None

    def as_dict(self, show: int | None = None) -> dict[str, Any]:
        done = [r for r in self.readings if r.status != "error"]
        agree = sum(r.agree for r in done)
        low, high = wilson(agree, len(done)) if done else (None, None)
        statuses: dict[str, int] = {}
        for r in self.readings:
            statuses[r.status] = statuses.get(r.status, 0) + 1
        differ = [r.as_dict() for r in done if not r.agree]
        return {"model": self.model, "prompt_version": jm.PROMPT_VERSION, "items": self.items,
                "responses": len(self.readings), "read": len(done), "agree": agree,
                "agreement": self.agreement, "agreement_ci95": [low, high] if done else None,
                "statuses": statuses, "calls_sent": self.sent, "rules_accuracy": self.rules_accuracy,
                "judge_accuracy": self.judge_accuracy, "scored_run": self.scored_run,
                "scored_label": self.scored_label, "disagreements": differ if show is None else differ[:show],
                "disagreements_total": len(differ)}


@dataclass
class RunAudit:
    run: RunRow
    rules: RuleAudit
    judge: JudgeAudit | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self, show: int | None = None) -> dict[str, Any]:
        rules = self.rules.as_dict()
        if show is not None:
            rules["disagreements"] = rules["disagreements"][:show]
        return {"run_id": self.run.id, "label": self.run.label, "model": self.run.spec.get("model"),
                "task": self.run.spec.get("task"), "prompt": self.run.spec.get("prompt"),
                "strategy": self.run.manifest.get("strategy"), "rules": rules,
                "judge": self.judge.as_dict(show) if self.judge else None, "notes": self.notes}


def responses(store: Store, rows: list[ResultRow]) -> dict[tuple[str, int], SampleRow]:
    """(request hash, sample index) -> stored sample, for every sample the results name."""
    out: dict[tuple[str, int], SampleRow] = {}
    for r in rows:
        h = r.data.get("request")
        if h:
            for idx, s in store.samples(h).items():
                out[(h, idx)] = s
    return out


def audit_rules_of(store: Store, run: RunRow, top: int = 10) -> tuple[list[ResultRow], dict[tuple[str, int], SampleRow], RuleAudit]:
    rows = store.results(run.id)
    got = responses(store, rows)
    return rows, got, audit_rules(rows, {k: s.text for k, s in got.items()}, top=top)


def pick(rows: list[ResultRow], sample: int | None, seed: int) -> list[ResultRow]:
    """The scored items to judge: all, or `sample` of them drawn with `seed` (in dataset order)."""
    scored = [r for r in rows if r.error is None and r.data.get("request")]
    if sample is None or sample >= len(scored):
        return scored
    chosen = set(random.Random(seed).sample(range(len(scored)), sample))
    return [r for i, r in enumerate(scored) if i in chosen]


def jobs_for(store: Store, spec: CellSpec, rows: list[ResultRow], items: dict[str, Item],
             got: dict[tuple[str, int], SampleRow]) -> list[jm.Job]:
    tags = tuple(spec.think_tags) + THINK_TAGS
    jobs = []
    for r in rows:
        item = items.get(r.item)
        if item is None:
            continue
        h = r.data["request"]
        question = question_of(store.request(h), spec.prompt) or item.question
        for s in r.data.get("samples") or ():
            sample = got.get((h, s.get("idx", 0)))
            if sample is None:
                continue
            # The judge reads what the rules read: the response after its thinking.
            text = split_thinking(sample.text or "", tags).answer
            jobs.append(jm.Job(item, sample.idx, question, text, s.get("answer")))
    return jobs


def _accuracy(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def judge_scored_rows(task: Task, jspec: CellSpec, picked: list[ResultRow], items: dict[str, Item],
                      got: dict[tuple[str, int], SampleRow], readings: list[jm.Reading],
                      store: Store | None = None) -> list[ResultRow]:
    """The judged items scored by the judge's readings, through the one judging code (votes, outcomes,
    token counts when `store` is given), each marked with the judge and its replies."""
    from polaris.runner.judge import judge
    from polaris.runner.solvers import Outputs

    by_key = {(r.item, r.idx): r for r in readings}

    def idxs(r: ResultRow) -> list[int]:
        return [s.get("idx", 0) for s in r.data.get("samples") or ()]

    kept = [r for r in picked if r.item in items and all((r.item, i) in by_key for i in idxs(r))]
    outputs = [Outputs([got[(r.data["request"], i)] for i in idxs(r) if (r.data["request"], i) in got],
                       r.data["request"]) for r in kept]
    calls = store.sample_calls([o.request for o in outputs]) if store is not None else None
    rows = judge(task, jspec, [items[r.item] for r in kept], outputs, calls,
                 reader=lambda item, sample, text: by_key[(item.id, sample.idx)].extraction)
    for row, src in zip(rows, kept):
        row.idx = src.idx
        if "meta" in src.data:
            row.data["meta"] = src.data["meta"]
        row.data["judge"] = {"model": jspec.judge, "prompt_version": jm.PROMPT_VERSION, "readings": [
            {"idx": i, "request": by_key[(src.item, i)].request, "said": by_key[(src.item, i)].raw} for i in idxs(src)]}
    return rows


def store_judge_scored(store: Store, run: RunRow, task: Task, jspec: CellSpec, rows: list[ResultRow],
                       setup: jm.JudgeSetup) -> None:
    """Write the run scored by the judge's readings: its results and a manifest naming the judge."""
    store.put_results(jspec.run_id, rows)
    summary = summarize(rows, headline=task.headline)
    summary.update(model=jspec.model, task=task.name, prompt=jspec.prompt, strategy=jspec.strategy,
                   run_id=jspec.run_id, label=jspec.label, scored_with=f"judge:{jspec.judge}")
    scored_with = {"method": "judge", "model": jspec.judge, "backend": setup.identity,
                   "prompt_version": jm.PROMPT_VERSION, "prompt": jm.PROMPT,
                   "forms": {"choice": jm.FORM_CHOICE, "free": jm.FORM_FREE}, "decoding": setup.decoding.params(),
                   "source_run": run.id, "items_judged": len(rows)}
    manifest = {**run.manifest, "run_id": jspec.run_id, "label": jspec.label, "strategy": jspec.strategy,
                "scored_with": scored_with, "summary": {k: v for k, v in summary.items() if k != "groups"}}
    store.put_run(jspec.run_id, jspec.label, jspec.as_dict(), manifest)


async def judge_run(store: Store, run: RunRow, rows: list[ResultRow], got: dict[tuple[str, int], SampleRow],
                    make_setup: Any, model: str, *, sample: int | None, seed: int, score_with_judge: bool,
                    progress: Any = None) -> JudgeAudit:
    """Read a run's responses with the judge and compare (and, with `score_with_judge`, store the
    judge-scored run). `make_setup(run_id)` gives the JudgeSetup whose calls go under `run_id`."""
    from polaris.runner.runner import load_task

    spec = CellSpec.from_dict(run.spec)
    task = load_task(spec)
    items = {it.id: it for it in task.dataset.load()}
    picked = pick(rows, sample, seed)
    jspec = replace(spec, judge=model)
    setup = make_setup(jspec.run_id)
    jobs = jobs_for(store, spec, picked, items, got)
    bar = progress(f"judge {run.label}", len(jobs)) if progress else None
    readings, sent = await jm.read_responses(task, jobs, setup, bar)
    audit = JudgeAudit(model, readings, len({j.item.id for j in jobs}), sent, None, None)
    if any(r.status != "error" for r in readings):
        srows = judge_scored_rows(task, jspec, picked, items, got,
                                  [r for r in readings if r.status != "error"], store)
        if score_with_judge:
            store_judge_scored(store, run, task, jspec, srows, setup)
            audit.scored_run, audit.scored_label = jspec.run_id, jspec.label
        audit.judge_accuracy = _accuracy([r.correct or 0.0 for r in srows if r.error is None])
        both = {r.item for r in srows}  # the same items by the rules (errored readings leave items out)
        audit.rules_accuracy = _accuracy([r.correct or 0.0 for r in picked if r.item in both])
    return audit
