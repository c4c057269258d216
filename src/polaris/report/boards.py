"""The report's leaderboards: one table per suite (the Chain-of-Thought Hub's GSM8K, MATH, MMLU, BBH,
through `analysis.leaderboard` and its rules for full and partial cells) and one per other task, each
with the models as rows and the prompt formats x strategies as columns. Only numbers in one column
were made alike (same format, same strategy), so a column ranks models; a row shows what a model
gains from a format or strategy. Rows are ordered by the model's best column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from polaris.report.collect import Cell
from polaris.report.markup import Markup, ci, el, join, run_link, table, task_title
from polaris.report.sections import IMPORTED_MARK, _imported, _imported_notes


def _combo_order(combos: Sequence[tuple[str, str]], counts: Counter[tuple[str, str]]) -> list[tuple[str, str]]:
    """Columns: the most filled first (the board's main comparison), then by name."""
    return sorted(set(combos), key=lambda c: (-counts[c], c))


def _header(combos: Sequence[tuple[str, str]]) -> tuple[list[Any], str | None]:
    """Column titles for (prompt, strategy) columns, and the strategy they share when they share one
    (then said once above the table instead of in every column)."""
    strategies = {s for _, s in combos}
    prompts = {p for p, _ in combos}
    if len(strategies) == 1:
        return [p for p, _ in combos], next(iter(strategies))
    if len(prompts) == 1:
        return [s for _, s in combos], None
    return [join(p, el("br"), el("span", s, class_="sub")) for p, s in combos], None


def _value(accuracy: float | None, bounds: Any, run_id: str, mark: str = "") -> Markup:
    return join(el("span", ci(accuracy, bounds), mark, class_="acc"), el("br"), run_link(run_id))


def _generic(cells: Sequence[Cell]) -> list[Markup]:
    """One table per task: models x (prompt, strategy). Several runs for one place (other max tokens,
    a system prompt, a limit): the one with the most scored items is shown, the others named."""
    out: list[Markup] = []
    tasks: dict[str, list[Cell]] = {}
    for c in cells:
        tasks.setdefault(c.task, []).append(c)
    for task, group in tasks.items():
        best: dict[tuple[str, str, str], Cell] = {}
        others: list[str] = []
        for c in group:
            key = (c.model, c.prompt, c.strategy)
            if key in best:
                keep, drop = (c, best[key]) if c.summary["scored"] > best[key].summary["scored"] else (best[key], c)
                best[key] = keep
                others.append(f"{c.model} {c.prompt} {c.strategy}: showing run {keep.id}, not {drop.id}")
            else:
                best[key] = c
        counts = Counter((p, s) for _, p, s in best)
        combos = _combo_order(list(counts), counts)
        models = sorted({m for m, _, _ in best},
                        key=lambda m: (-max((best[(m, *k)].accuracy or 0.0) for k in combos if (m, *k) in best), m))
        rows = []
        for m in models:
            line: list[Any] = [m]
            for k in combos:
                c = best.get((m, *k))
                mark = ((" *" if c and c.summary.get("partial") else "")
                        + (IMPORTED_MARK if c and _imported(c.run) else ""))
                line.append(_value(c.accuracy, c.summary.get("ci95"), c.id, mark) if c else "-")
            rows.append(({"data_model": m}, line))
        titles, shared = _header(combos)
        out.append(el("h3", task_title(task), title=task if task_title(task) != task else None))
        note = "Accuracy % [95% CI]; columns are prompt formats" + (f" (strategy {shared})" if shared else
                                                                     " and strategies")
        partial = [c for c in best.values() if c.summary.get("partial")]
        if partial:
            note += "; * a partial run (not every item of the task)"
        out.append(el("p", note + ".", class_="note"))
        out.append(table(["model", *titles], rows, class_="board"))
        if others:
            out.append(el("ul", [el("li", o) for o in others], class_="note"))
        imported = _imported_notes(list(best.values()))
        if imported is not None:
            out.append(imported)
    return out


def _suites(cells: Sequence[Cell]) -> tuple[list[Markup], set[str]]:
    """The Chain-of-Thought Hub boards (analysis.leaderboard): per suite, models x (prompt, strategy)."""
    from polaris.analysis import leaderboard as lb

    suite_cells = [c for c in cells if lb.suite_of(str(c.spec.get("task", ""))) and not c.spec.get("task_options")]
    if not suite_cells:
        return [], set()
    by_id = {c.id: c for c in cells}
    counts = Counter((c.prompt, c.strategy) for c in suite_cells)
    combos = _combo_order(list(counts), counts)
    boards = {k: lb.build([c.run for c in suite_cells], lambda rid: by_id[rid].rows, prompt=k[0], strategy=k[1])
              for k in combos}
    out: list[Markup] = []
    for suite in lb.SUITES:
        used = [k for k in combos if any(cs[suite].status != lb.MISSING for _, cs in boards[k].rows)]
        if not used:
            continue
        grid: dict[str, dict[tuple[str, str], Any]] = {}
        for k in used:
            for model, cs in boards[k].rows:
                if cs[suite].status != lb.MISSING:
                    grid.setdefault(model, {})[k] = cs[suite]
        order = {lb.FULL: 0, lb.PARTIAL: 1}
        models = sorted(grid, key=lambda m: (min(order[c.status] for c in grid[m].values()),
                                             -max(c.accuracy or 0.0 for c in grid[m].values()), m))
        rows = []
        for m in models:
            line: list[Any] = [m]
            for k in used:
                c = grid[m].get(k)
                line.append("-" if c is None else
                            _value(c.accuracy, c.ci95, c.run_id, ("" if c.status == lb.FULL else " *")
                                   + (IMPORTED_MARK if c.imported else "")))
            rows.append(({"data_model": m}, line))
        titles, shared = _header(used)
        title = lb.TITLES.get(suite, suite)
        out.append(el("h3", f"Chain-of-Thought Hub: {title}"))
        out.append(el("p", f"Accuracy % [95% CI] on the whole of {title}; columns are prompt formats"
                           + (f" (strategy {shared})" if shared else " and strategies")
                           + "; * a partial cell (a subset task, items not scored or failed), with the reason below.",
                      class_="note"))
        out.append(table(["model", *titles], rows, class_="board"))
        notes = [f"* {m} {k[0]} {k[1]}: {c.reason}" for m in models for k, c in grid[m].items()
                 if c.status == lb.PARTIAL]
        notes += [n for k in used for n in boards[k].notes if f" {title}: " in n]
        if notes:
            out.append(el("ul", [el("li", n) for n in dict.fromkeys(notes)], class_="note"))
        shown = {c.run_id for m in models for c in grid[m].values() if c.imported}
        imported = _imported_notes([by_id[rid] for rid in sorted(shown) if rid in by_id])
        if imported is not None:
            out.append(imported)
    return out, {c.id for c in suite_cells}


def leaderboard(cells: Sequence[Cell]) -> list[Markup]:
    """Suite boards, then a board per other task; a † marks a number scored from someone else's
    generations (`polaris import`), with a line below its board saying where they came from."""
    suites, covered = _suites(cells)
    rest = [c for c in cells if c.id not in covered]
    return suites + (_generic(rest) if rest else [])
