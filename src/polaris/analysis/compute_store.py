"""The compute study of a store: every generation cell's summary with its compute accounting, turned
into points (`analysis/compute.py`). Shared by `polaris analyze compute`, the report and the demo."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from polaris.analysis.compute import ComputeStudy, cell_points, compute_study, modulo_rounds
from polaris.runner.compute import cell_compute, round_records, spec_budget


# Task options that are compute, not the task: LLM-Modulo rounds put their cells on the curve of the
# same instances answered without back-prompting.
COMPUTE_OPTIONS = ("verifier_rounds", "feedback")


def _task_name(spec: dict[str, Any]) -> str:
    opts = [kv for kv in spec.get("task_options") or [] if kv[0] not in COMPUTE_OPTIONS]
    name = str(spec.get("task", "?"))
    return f"{name}[{','.join(f'{k}={v}' for k, v in opts)}]" if opts else name


def cell_summaries(store: Any, cells: Sequence[Any] | None = None, *, tasks: Sequence[str] = (),
                   models: Sequence[str] = (), prices: Any = None,
                   axis: str = "completion") -> list[tuple[dict[str, Any], list[Any]]]:
    """(summary with `compute`, `cost` and the cell's coordinates, its points) per generation cell.
    `cells`: the report's collected cells (run, rows, summary, planning), else every run in the store."""
    from polaris.runner.summary import summarize

    if cells is None:
        cells = []
        for run in store.runs():
            rows = store.results(run.id)
            if rows:
                headline = str((run.manifest.get("summary") or {}).get("headline") or "micro")
                cells.append(_Cell(run, rows, summarize(rows, headline=headline)))
    out = []
    for c in cells:
        spec = c.run.spec
        task = _task_name(spec)
        if spec.get("scoring") == "loglik" or (tasks and spec.get("task") not in tasks and task not in tasks):
            continue
        if models and spec.get("model") not in models:
            continue
        extra = round_records(store, c.rows)
        summary = dict(c.summary, model=spec.get("model"), task=task, prompt=spec.get("prompt"),
                       strategy=c.run.manifest.get("strategy") or c.run.label.rsplit("/", 1)[-1], run_id=c.run.id)
        summary["compute"] = cell_compute(c.rows, spec_budget(spec), extra)
        price = prices.find(summary["model"]) if prices is not None else None
        if price is not None and summary["compute"]:
            summary["cost"] = prices.cost(summary["model"], summary["compute"])
        planning = getattr(c, "planning", None)
        if planning is None and any(isinstance(r.data.get("modulo"), dict) for r in c.rows):
            from polaris.analysis.planning import summarize as plan_summary

            planning = plan_summary(c.rows).get("planning")
        rounds = modulo_rounds(c.rows, planning, extra)
        points = cell_points(summary["model"], task, spec, summary, c.run.id, rounds,
                             price[1] if price is not None else None, axis)
        out.append((summary, points))
    return out


class _Cell:
    def __init__(self, run: Any, rows: list[Any], summary: dict[str, Any]) -> None:
        self.run, self.rows, self.summary, self.planning = run, rows, summary, None


def store_study(store: Any, cells: Sequence[Any] | None = None, *, tasks: Sequence[str] = (),
                models: Sequence[str] = (), prices: Any = None, group_of: Callable[[str], str] | None = None,
                min_points: int = 2, axis: str = "completion") -> ComputeStudy:
    found = cell_summaries(store, cells, tasks=tasks, models=models, prices=prices, axis=axis)
    return compute_study([p for _, ps in found for p in ps], [s for s, _ in found], group_of, min_points, axis)


def has_compute_factors(cells: Sequence[Any]) -> bool:
    """Does the store hold a compute study (the report's section shows then): a cell with a reasoning
    effort or a thinking budget, or cells of one model, task and prompt format with different response
    limits (a format's default limit counts as no limit set)."""
    from polaris.runner.cell import default_max_tokens

    limits: dict[tuple[Any, ...], set[Any]] = {}
    for c in cells:
        spec = c.run.spec
        if spec.get("scoring") == "loglik":
            continue
        if spec.get("reasoning_effort") or spec.get("thinking_budget") is not None:
            return True
        prompt = str(spec.get("prompt"))
        limit = spec.get("max_tokens")
        limits.setdefault((spec.get("model"), spec.get("task"), prompt), set()).add(
            None if limit == default_max_tokens(prompt) else limit)
    return any(len(v) > 1 for v in limits.values())


def size_group() -> Callable[[str], str]:
    """Models of one family and size (a lab size's seeds) as one curve: `polaris-lab/add3 s3 (63k)`;
    models without metadata stay curves of their own."""
    from polaris.analysis.modelmeta import ModelCatalog
    from polaris.lab.demotext import params_text

    catalog = ModelCatalog()
    memo: dict[str, str] = {}

    def group(model: str) -> str:
        if model not in memo:
            info = catalog.find(model)
            size = _lab_size(model) if info is not None else None
            memo[model] = model if info is None else " ".join(
                x for x in (info.family, size, f"({params_text(info.params)})" if size else params_text(info.params))
                if x)
        return memo[model]

    return group


def _lab_size(model: str) -> str | None:
    """The ladder's size name of a shipped lab model (s1 ... s6), if it is one."""
    if not model.startswith("lab/"):
        return None
    from polaris import lab

    entry = lab.models_metadata().get(model) or {}  # type: ignore[attr-defined]
    return entry.get("size")
