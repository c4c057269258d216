"""Group imported records into cells (one per model x task x prompt format x task options) and match
each cell's records to its task's items.

The model, task and prompt format come from the records where the source says them, else from
`--model` / `--task` / `--prompt`; `--model` with `{model}` renames each source model
(`--model "gpt3-{model}"`). A cell's spec is an ordinary `CellSpec` plus `source`, the digest of the
contents of the files it came from, so the same files always make the same run id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from polaris.errors import PolarisError
from polaris.importers.match import Match, match
from polaris.importers.provenance import NOTE
from polaris.importers.records import ReadOptions, Record, SourceFile
from polaris.runner.cell import CellSpec
from polaris.store.store import digest
from polaris.tasks.base import Item, Task


@dataclass
class ImportCell:
    spec: CellSpec
    task: Task
    matches: list[Match]  # every record of the cell, matched or not, in file order
    files: list[SourceFile]  # the files its records came from
    provenance: dict[str, Any] = field(default_factory=dict)
    done: bool = False  # imported before (same files, same cell): not matched again, left as stored

    @property
    def matched(self) -> list[Match]:
        """Matched records in dataset order (the order items are stored and shown)."""
        order = {it.id: k for k, it in enumerate(self.task.dataset.load())}
        matched = [m for m in self.matches if m.item is not None]
        return sorted(matched, key=lambda m: order[m.item.id])  # type: ignore[union-attr]

    @property
    def items(self) -> list[Item]:
        return [m.item for m in self.matched]  # type: ignore[misc]


def _model(record: Record, opts: ReadOptions, sources: set[str], in_file: set[str]) -> str:
    given = opts.model
    if not record.model and len(in_file) == 1:  # a failed request's record, in a file of one model
        record = replace(record, model=next(iter(in_file)))
    if given is None:
        if not record.model:
            raise PolarisError(f"{record.where}: the record does not name its model: pass --model NAME")
        return record.model
    if "{model}" in given:
        if not record.model:
            raise PolarisError(f"{record.file}: the file does not name its model, so --model cannot use {{model}}")
        return given.replace("{model}", record.model)
    if len(sources) > 1:
        raise PolarisError(f"the files name {len(sources)} models ({', '.join(sorted(sources)[:4])}): "
                           "--model NAME would merge them; use --model 'PREFIX-{model}' to rename each")
    return given


def _task(name: str, options: tuple[tuple[str, Any], ...]) -> tuple[Task, tuple[tuple[str, Any], ...]]:
    """The task, and its options that differ from the defaults (as `polaris run` names cells)."""
    from polaris.tasks.registry import get_task

    base = get_task(name)
    given = dict(options)
    unknown = sorted(set(given) - set(base.options))
    if unknown:
        raise PolarisError(f"task '{name}' has no option '{unknown[0]}' (does --task fit the files?)")
    task = get_task(name, **given) if given else base
    changed = tuple((k, v) for k, v in task.options.items() if v != base.options[k])
    return task, changed


def plan(fmt: str, files: Sequence[SourceFile], records: Sequence[Record], opts: ReadOptions,
         done: Mapping[str, dict[str, Any]] | None = None) -> list[ImportCell]:
    """The cells of an import. `done` maps run ids already stored (with results) to their provenance:
    those cells are not matched again (the same files make the same run id)."""
    sources = {r.model for r in records if r.model}
    per_file: dict[str, set[str]] = {}
    for r in records:
        if r.model:
            per_file.setdefault(r.file, set()).add(r.model)
    groups: dict[tuple[Any, ...], list[Record]] = {}
    for r in records:
        model = _model(r, opts, sources, per_file.get(r.file, set()))
        task = opts.task or r.task
        if task is None:
            raise PolarisError(f"{r.file}: the file does not name a Polaris task: pass --task (e.g. gsm8k, bbh)")
        # Records with K responses make a K-sample cell; a failed record (no response) joins the others.
        k = 1 if r.turns else len(r.responses) or None
        key = (model, task, opts.prompt or r.prompt_format, r.task_options, r.turns, r.temperature, k)
        groups.setdefault(key, []).append(r)
    for key in [k for k in groups if k[-1] is None]:  # failed records go to the cell of their kind
        others = [k for k in groups if k[:-1] == key[:-1] and k[-1] is not None]
        target = key[:-1] + (1,) if not others else max(others, key=lambda k: len(groups[k]))
        groups.setdefault(target, []).extend(groups.pop(key))
    by_name = {f.name: f for f in files}
    tasks: dict[tuple[str, Any], tuple[Task, tuple[tuple[str, Any], ...]]] = {}
    cells = []
    for (model, name, prompt, options, turns, temperature, k), recs in groups.items():
        if (name, options) not in tasks:
            tasks[(name, options)] = _task(name, options)
        task, changed = tasks[(name, options)]
        prompt = prompt or ("fewshot-cot" if "fewshot-cot" in task.formats else task.formats[0])
        if prompt not in task.formats:
            raise PolarisError(f"task '{task.name}' has no prompt format '{prompt}' "
                               f"(choose from {', '.join(task.formats)})")
        used = [by_name[n] for n in dict.fromkeys(r.file for r in recs)]
        temp = temperature if temperature is not None else (1.0 if k > 1 else 0.0)
        if k > 1 and temp == 0:
            temp = 1.0  # K greedy samples cannot differ; the source sampled at a temperature it did not record
        source = digest({"format": fmt, "files": sorted(f.sha256 for f in used),
                         "maps": [list(m) for m in opts.maps]})[:16]
        spec = CellSpec(model=model, task=task.name, prompt=prompt, samples=k, temperature=temp, task_options=changed,
                        source=source).resolved()
        if done and spec.run_id in done:
            cells.append(ImportCell(spec, task, [], used, done[spec.run_id], done=True))
            continue
        matches = match(task, task.dataset.load(), recs)
        cells.append(ImportCell(spec, task, matches, used, _provenance(fmt, source, used, matches, temperature)))
    return cells


def _provenance(fmt: str, source: str, files: list[SourceFile], matches: list[Match],
                temperature: float | None) -> dict[str, Any]:
    index = {f.name: k for k, f in enumerate(files)}
    counts = {"records": len(matches), "matched": 0, "unmatched": 0, "ambiguous": 0, "duplicate": 0,
              "by_id": 0, "by_question": 0, "by_prompt": 0, "twins": 0, "gold_differs": 0}
    items: dict[str, list[Any]] = {}
    for m in matches:
        counts[m.status] += 1
        if m.item is not None:
            counts[f"by_{m.how}"] += 1
            counts["gold_differs"] += m.gold_differs
            counts["twins"] += m.twin
            items[m.item.id] = [index[m.record.file], m.record.line, m.record.verdict]
    return {
        "format": fmt, "source": source, "sent_by_polaris": False, "note": NOTE,
        "files": [{"name": f.path.name, "path": f.name, "sha256": f.sha256,
                   "records": sum(1 for m in matches if m.record.file == f.name),
                   "score": dict(f.score) if f.score else None,
                   "companions": [{"name": n, "sha256": h} for n, h in f.companions]} for f in files],
        "matching": counts, "items": items,
        "decoding": {"temperature": temperature},
    }
