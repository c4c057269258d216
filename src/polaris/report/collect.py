"""Read a store into what the report shows: one `Cell` per stored run, its summary recomputed from the
stored item results (the same `runner.summary.summarize` that `polaris run` prints), planning metrics
where the results carry plan verdicts, and the run's manifest.

Numbers come from the results table, never from the summary cached in a manifest, so a cell whose
items were scored over several invocations (resumed, budget-stopped, rescored) shows every item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from polaris.store.store import ResultRow, RunRow, Store


@dataclass
class Cell:
    run: RunRow
    rows: list[ResultRow] = field(repr=False)
    summary: dict[str, Any]
    planning: dict[str, Any] | None = None
    breakdown: Any = None  # analysis.breakdown.Breakdown when that module is present

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def spec(self) -> dict[str, Any]:
        return self.run.spec

    @property
    def model(self) -> str:
        return str(self.spec.get("model", "?"))

    @property
    def task(self) -> str:
        """The task with its options, as the label names it (`blocksworld[blocks=3-5]`)."""
        opts = self.spec.get("task_options") or []
        name = str(self.spec.get("task", "?"))
        return f"{name}[{','.join(f'{k}={v}' for k, v in opts)}]" if opts else name

    @property
    def prompt(self) -> str:
        return str(self.spec.get("prompt", "?"))

    @property
    def strategy(self) -> str:
        return str(self.run.manifest.get("strategy") or self.run.label.rsplit("/", 1)[-1])

    @property
    def accuracy(self) -> float | None:
        return self.summary.get("accuracy")

    def as_dict(self) -> dict[str, Any]:
        s = {k: v for k, v in self.summary.items() if k != "groups"}
        out = {"run_id": self.id, "label": self.run.label, "model": self.model, "task": self.task,
               "prompt": self.prompt, "strategy": self.strategy, "summary": s, "groups": self.summary.get("groups")}
        if self.planning:
            out["planning"] = self.planning
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown.as_dict()
        return out


def _headline(run: RunRow) -> str:
    # The task's headline as the run recorded it; "macro" only matters for multi-group tasks (BBH).
    return str((run.manifest.get("summary") or {}).get("headline") or "micro")


def _planning(run: RunRow, rows: list[ResultRow]) -> dict[str, Any] | None:
    if not any(isinstance(r.data.get("detail"), dict) and "valid" in r.data["detail"] for r in rows):
        return None
    from polaris.analysis.planning import summarize as plan_summary  # planning tasks (Blocksworld)

    return plan_summary(rows).get("planning")


def _breakdown(cell: Cell) -> Any:
    from polaris.analysis.breakdown import breakdown

    b = breakdown(cell.rows, headline=_headline(cell.run), task=str(cell.spec.get("task", "")))
    return b if b is not None and b.by else None


def collect(store: Store) -> list[Cell]:
    """Every run with at least one stored result, ordered by task, model, prompt, strategy."""
    from polaris.runner.history import coverage
    from polaris.runner.summary import summarize

    cells = []
    for run in store.runs():
        rows = store.results(run.id)
        if not rows:
            continue
        cell = Cell(run, rows, summarize(rows, headline=_headline(run)))
        cell.summary["coverage"] = coverage(rows, (run.manifest.get("coverage") or {}).get("of")
                                            or (run.manifest.get("dataset") or {}).get("size"))
        cell.summary["partial"] = cell.summary["coverage"]["partial"]
        cell.summary["endpoints"] = run.manifest.get("endpoints") or []
        cell.planning = _planning(run, rows)
        cell.breakdown = _breakdown(cell)
        cells.append(cell)
    cells.sort(key=lambda c: (c.task, c.model, c.prompt, c.strategy, c.id))
    return cells
