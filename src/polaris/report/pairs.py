"""Which cells the report contrasts, and the paired numbers for each.

By default the *natural pairs* of a store: two cells of the same model and task (same task options)
whose specs differ only along one of the axes the prompting literature asks about:

| contrast | A | B |
|---|---|---|
| CoT vs direct | `fewshot-cot` / `zeroshot-cot` | `fewshot-direct` / `zeroshot-direct` |
| few-shot vs zero-shot | `fewshot-*` | `zeroshot-*` (same cot-ness) |
| SC vs greedy | K > 1 samples, majority vote | one greedy sample (sampling settings may differ) |
| complex-top-N vs vote-all | `--vote complex-top-N` | majority vote over the same samples |
| complex vs default exemplars | `--exemplars complex` | `--exemplars default` |

A `max_tokens` left at its default (1024 for CoT formats, 256 for direct) does not count as a
difference. Experiment files (`--experiment`) replace the natural pairs by the file's contrasts, and
explicit pairs can be added. Every contrast is `analysis.compare.compare_rows` on the items both cells
scored; Holm's correction runs across all contrasts of the report (one family).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from polaris.report.collect import Cell
from polaris.report.markup import task_title

_SAMPLING = {"samples", "temperature", "top_p", "seed", "vote"}


@dataclass(frozen=True)
class Pair:
    name: str
    a: str  # run ids
    b: str


def _norm(spec: dict[str, Any]) -> dict[str, Any]:
    s = dict(spec)
    cot = str(s.get("prompt", "")).endswith("-cot")
    if s.get("max_tokens") == (1024 if cot else 256):
        s["max_tokens"] = None
    s["task_options"] = [list(kv) for kv in s.get("task_options") or []]
    return s


def _kind(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, bool] | None:
    """(contrast name, whether `a` is the A side) when the two specs form a natural pair."""
    diff = {k for k in set(a) | set(b) if a.get(k) != b.get(k)}
    if not diff:
        return None
    if diff == {"prompt"}:
        pa, pb = str(a["prompt"]).split("-", 1), str(b["prompt"]).split("-", 1)
        if len(pa) == len(pb) == 2:
            if pa[0] == pb[0] and {pa[1], pb[1]} == {"cot", "direct"}:
                return "CoT vs direct", pa[1] == "cot"
            if pa[1] == pb[1] and {pa[0], pb[0]} == {"fewshot", "zeroshot"}:
                return "few-shot vs zero-shot", pa[0] == "fewshot"
        return None
    if diff <= _SAMPLING:
        sa, sb = int(a.get("samples") or 1), int(b.get("samples") or 1)
        if diff == {"vote"} and sa > 1:
            top = a if a.get("vote") != "majority" else b
            if {a.get("vote"), b.get("vote")} == {"majority", top.get("vote")}:
                return f"{top['vote']} vs vote-all", top is a
        greedy = lambda s, k: k == 1 and not s.get("temperature")  # noqa: E731
        if sa > 1 and greedy(b, sb) and a.get("vote") == "majority":
            return "SC vs greedy", True
        if sb > 1 and greedy(a, sa) and b.get("vote") == "majority":
            return "SC vs greedy", False
        return None
    if diff <= {"exemplars", "exemplar_seed"} and {a.get("exemplars"), b.get("exemplars")} == {"complex", "default"}:
        return "complex vs default exemplars", a.get("exemplars") == "complex"
    return None


def natural_pairs(cells: Sequence[Cell]) -> list[Pair]:
    by: dict[tuple[Any, ...], list[Cell]] = {}
    for c in cells:
        by.setdefault((c.model, c.task), []).append(c)
    out = []
    for group in by.values():
        for x, y in combinations(group, 2):
            kind = _kind(_norm(x.spec), _norm(y.spec))
            if kind:
                name, x_first = kind
                a, b = (x, y) if x_first else (y, x)
                out.append(Pair(name, a.id, b.id))
    order = ["CoT vs direct", "few-shot vs zero-shot", "SC vs greedy", "complex vs default exemplars"]
    out.sort(key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
    return out


def experiment_pairs(paths: Iterable[str], store: Any) -> list[dict[str, Any]]:
    """The contrasts declared in experiment files, as `experiments.run.contrast_rows` computes them."""
    from polaris.experiments.run import contrast_rows
    from polaris.experiments.spec import load_experiment

    rows = []
    for path in paths:
        exp = load_experiment(path)
        for r in contrast_rows(exp, store):
            rows.append({**r, "name": f"{r['name']}" + (f" ({r['where']})" if r.get("where") else "")})
    return rows


def contrast(cells: dict[str, Cell], pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    from polaris.analysis.compare import compare_rows

    out = []
    for p in pairs:
        a, b = cells[p.a], cells[p.b]
        res = compare_rows(a.rows, b.rows).as_dict()
        out.append({"name": p.name, "where": f"{a.model} {task_title(a.task)}", "a": a.run.label, "b": b.run.label,
                    "a_run": a.id, "b_run": b.id, **res})
    return out


ATTRS = ("model", "task", "prompt", "strategy")  # what a run's label names, in its order


def _attrs(cell: Cell | None, label: str) -> dict[str, str]:
    if cell is not None:
        return {"model": cell.model, "task": task_title(cell.task), "prompt": cell.prompt, "strategy": cell.strategy}
    parts = label.rsplit("/", 3)  # a cell not stored (an experiment's): read its label
    return dict(zip(ATTRS, parts)) if len(parts) == 4 else {"model": label}


def _spec_diff(a: Cell | None, b: Cell | None) -> tuple[str, str]:
    """When the labels are the same (a system prompt, a max-tokens limit differs): the spec fields."""
    if a is None or b is None:
        return "-", "-"
    sa, sb = _norm(a.spec), _norm(b.spec)
    keys = sorted(k for k in set(sa) | set(sb) if sa.get(k) != sb.get(k))
    return (", ".join(f"{k}={sa.get(k)}" for k in keys) or "-", ", ".join(f"{k}={sb.get(k)}" for k in keys) or "-")


def describe(rows: Sequence[dict[str, Any]], cells: dict[str, Cell]) -> dict[str, str]:
    """Name each contrast by what differs and where, instead of two full run labels: adds `a_side` and
    `b_side` (A's and B's values of what differs, "zeroshot-cot" vs "zeroshot-direct") and `setting`
    (what the two runs share that tells this contrast from the others, e.g. the model) to every row.
    Returns what every contrast shares (said once, above the table)."""
    shared: list[dict[str, str]] = []
    for r in rows:
        a, b = _attrs(cells.get(r["a_run"]), r["a"]), _attrs(cells.get(r["b_run"]), r["b"])
        diff = [k for k in ATTRS if a.get(k) != b.get(k)]
        if diff:
            r["a_side"] = " ".join(a.get(k, "?") for k in diff)
            r["b_side"] = " ".join(b.get(k, "?") for k in diff)
        else:
            r["a_side"], r["b_side"] = _spec_diff(cells.get(r["a_run"]), cells.get(r["b_run"]))
        shared.append({k: a[k] for k in ATTRS if k not in diff and k in a})
    constant = {k: v for k, v in (shared[0] if shared else {}).items() if all(s.get(k) == v for s in shared)}
    for r, s in zip(rows, shared):
        r["setting"] = " ".join(v for k, v in s.items() if k not in constant) or (r.get("where") or "")
    return constant


def forest_labels(rows: Sequence[dict[str, Any]]) -> tuple[list[str], str]:
    """Each shown contrast's label in the forest plot (the parts that tell it from the others: its
    name, A vs B, its setting) and the title (the parts all share)."""
    parts = [lambda r: r["name"], lambda r: f"{r.get('a_side', r['a'])} vs {r.get('b_side', r['b'])}",
             lambda r: r.get("setting") or ""]
    varying = [p for p in parts if len({p(r) for r in rows}) > 1]
    fixed = [p for p in parts if p not in varying]
    labels = [" · ".join(t for t in (p(r) for p in varying) if t) or r["name"] for r in rows]
    title = " · ".join(t for t in (p(rows[0]) for p in fixed) if t) if rows else ""
    return labels, title
