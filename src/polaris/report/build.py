"""`polaris report`: one self-contained HTML page from a store, with its figures and data beside it.

Layout of the output directory:
  index.html       the page: inline CSS, no script, no external resource (a CSP forbids them)
  figures/*.png    every figure, also as figures/*.svg
  report.json      every number the page shows, each with the run id it came from
  manifests.json   run id -> label, spec and full manifest of every run shown

The page answers the study's question first: Findings (sentences computed from the numbers, beside
one figure: report/findings.py), then one leaderboard per suite or task (models x prompt formats x
strategies), then the details, each only when the store has its data: scaling and emergence,
test-time compute, paired contrasts with a forest plot, self-consistency curves, planning curves,
per-task tables (breakdowns, errors), run manifests.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from polaris import __version__
from polaris.errors import PolarisError
from polaris.report import figures as figs
from polaris.report import compute as report_compute
from polaris.report import findings, scaling, sections
from polaris.report.collect import Cell, collect
from polaris.report.markup import Markup, el, plural
from polaris.report.pairs import Pair, contrast, describe, experiment_pairs, natural_pairs
from polaris.store.store import Store

FIGURES = "figures"
# No script at all, nothing fetched from elsewhere: figures and links are files beside the page.
CSP = "default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
TITLES = {"summary": "Findings", "leaderboard": "Leaderboard", "scaling": "Scaling", "compute": "Compute",
          "contrasts": "Contrasts", "voting": "Self-consistency", "planning": "Planning", "tasks": "Per task",
          "manifests": "Manifests"}


@dataclass
class Report:
    index: Path
    sections: list[str]
    figures: list[str] = field(default_factory=list)  # paths relative to the output directory
    cells: int = 0
    contrasts: int = 0


def _clean(x: Any) -> Any:
    """JSON-able, NaN and infinities as null."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def _explicit(cells: Sequence[Cell], pairs: Sequence[tuple[str, str, str]], store: Path) -> list[Pair]:
    from polaris.cli.compare_cmd import resolve_run

    runs = [c.run for c in cells]
    out = []
    for name, a, b in pairs:
        ra, rb = resolve_run(runs, a, store), resolve_run(runs, b, store)
        if ra.id == rb.id:
            raise PolarisError(f"contrast '{name}': '{a}' and '{b}' name the same cell ({ra.label})")
        out.append(Pair(name, ra.id, rb.id))
    return out


def _stale(figdir: Path, keep: set[str]) -> None:
    """Remove figures an earlier report wrote into this directory that this one did not."""
    if not figdir.is_dir():
        return
    for f in figdir.iterdir():
        if f.suffix in (".png", ".svg") and f.name.split("-")[0].split(".")[0] in {"forest", "votes", "planning",
                                                                                  "scaling", "compute", "findings"} \
                and f"{FIGURES}/{f.name}" not in keep:
            f.unlink()


def build_report(store: str | Path, out: str | Path, *, experiments: Sequence[str | Path] = (),
                 pairs: Sequence[tuple[str, str, str]] = (), title: str | None = None,
                 summary: Sequence[str] = (), studies: Mapping[tuple[str, str], Any] | None = None,
                 prices: Any = None, compute: Any = None, compute_text: Sequence[str] = (),
                 omit: Sequence[str] = ()) -> Report:
    """Write the report of `store` into `out` (created if needed). `experiments`: experiment files whose
    contrasts replace the store's natural pairs; `pairs`: extra (name, cell A, cell B) contrasts, cells named
    as `polaris compare` names them; `summary`: paragraphs shown first, as "Findings" (what `polaris demo`
    found); `studies`: scaling studies already computed, by (task, family), for the scaling section to
    use instead of computing them again; `prices`: a price table (analysis/prices.py) for the compute
    section's cost column; `compute`: a compute study already computed (the demo's, pooled by size) and
    `compute_text` paragraphs explaining it; `omit`: sections to leave out (keys of TITLES)."""
    store = Path(store)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise PolarisError(f"--out {out} is a file; give a directory")
    db = Store(store, readonly=True)
    try:
        cells = collect(db)
        by_id = {c.id: c for c in cells}
        if experiments:
            rows = experiment_pairs([str(p) for p in experiments], db)
            source = "Contrasts declared in " + ", ".join(Path(p).name for p in experiments) + "."
        else:
            rows = contrast(by_id, natural_pairs(cells))
            source = ("Natural pairs in the store: the same model and task with CoT vs direct, few- vs zero-shot, "
                      "self-consistency vs greedy, a complexity vote vs the plain vote, complex vs default exemplars.")
        if pairs:
            rows += contrast(by_id, _explicit(cells, pairs, store))
        from polaris.analysis.stats import with_holm  # numpy, imported when a report is built

        rows = with_holm(rows)
        shared = describe(rows, by_id)  # each contrast named by what differs, not by two run labels
        out.mkdir(parents=True, exist_ok=True)
        figdir = out / FIGURES
        written: list[str] = []

        def keep(paths: dict[str, str]) -> dict[str, str]:
            written.extend(paths.values())
            return paths

        forest = keep(figs.save(figs.forest(rows), figdir, "forest")) \
            if any(r.get("n") for r in rows) and "contrasts" not in omit else None
        vote_figs = {}
        sampled = [c for c in cells if c.summary.get("maj_at")]
        for i, task in enumerate(sorted({c.task for c in sampled})):
            group = [c for c in sampled if c.task == task]
            vote_figs[task] = keep(figs.save(figs.vote_curves(group, f"Self-consistency on {task}"), figdir,
                                             f"votes-{i}"))
        plan_figs = {}
        planned = [c for c in cells if c.planning and c.planning.get("by_blocks")]
        if planned:
            plan_figs["blocks"] = keep(figs.save(figs.planning_blocks(planned), figdir, "planning-blocks"))
        modulo = [c for c in cells if c.planning and c.planning.get("modulo")]
        if modulo:
            plan_figs["rounds"] = keep(figs.save(figs.planning_rounds(modulo), figdir, "planning-rounds"))
        scaled = scaling.studies(db, cells, figdir, studies) if "scaling" not in omit else []
        for s in scaled:
            if s["figure"]:
                keep(s["figure"])
        compute_study, compute_figs = _compute(db, cells, figdir, prices, compute, keep)
        key = None
        if "summary" not in omit and cells:
            key = findings.key_figure(scaled, forest, compute_figs, cells, figdir)
            if key is not None:
                keep(key[0])
        _stale(figdir, set(written))
        said = list(summary) if summary else findings.sentences(cells, rows, scaled)
        # The order answers the study's question first: findings with their figure, the leaderboards,
        # then the details behind them.
        parts = {
            "summary": findings.section(said, key) if cells else None,
            "leaderboard": sections.leaderboard(cells),
            "scaling": scaling.section(scaled),
            "compute": report_compute.section(compute_study, compute_figs, compute_text),
            "contrasts": sections.contrasts(rows, forest, source, shared),
            "voting": sections.voting(cells, vote_figs),
            "planning": sections.planning(cells, plan_figs),
            "tasks": sections.task_tables(cells),
            "manifests": sections.manifests(cells),
        }
        present = [k for k, v in parts.items() if v is not None and k not in omit]
        page = _page(title or f"Polaris report: {store.name}", store, cells, [parts[k] for k in present], present)
        index = out / "index.html"
        index.write_text(page, encoding="utf-8")
        data = {"polaris_version": __version__, "store": str(store), "generated": time.time(), "sections": present,
                "cells": [c.as_dict() for c in cells], "contrasts": rows,
                "scaling": [{k: v for k, v in s.items() if k != "object"} for s in scaled], "figures": written,
                "compute": compute_study.to_dict() if compute_study is not None else None}
        (out / "report.json").write_text(json.dumps(_clean(data), indent=1, ensure_ascii=False), encoding="utf-8")
        manifests = {c.id: {"label": c.run.label, "spec": c.run.spec, "manifest": c.run.manifest,
                            "created": c.run.created, "updated": c.run.updated} for c in cells}
        (out / "manifests.json").write_text(json.dumps(_clean(manifests), indent=1, ensure_ascii=False),
                                            encoding="utf-8")
    finally:
        db.close()
    return Report(index, present, written, len(cells), len(rows))


def _compute(db: Store, cells: Sequence[Cell], figdir: Path, prices: Any, study: Any,
             keep: Any) -> tuple[Any, dict[str, dict[str, str]]]:
    """The compute study (given, or of the store's cells when they vary a compute factor) and its
    figures, one per task."""
    if study is None:
        from polaris.analysis.compute_store import has_compute_factors, store_study

        if not has_compute_factors(cells):
            return None, {}
        study = store_study(db, cells, prices=prices)
    paths = {}
    for i, task in enumerate(sorted({t for t, _ in study.curves})):
        paths[task] = keep(figs.save(report_compute.compute_figure(study, [task]), figdir, f"compute-{i}"))
    return study, paths


def _page(title: str, store: Path, cells: Sequence[Cell], body: Sequence[Markup], present: Sequence[str]) -> str:
    css = resources.files("polaris.report").joinpath("style.css").read_text(encoding="utf-8")
    models = len({c.model for c in cells})
    tasks = len({c.task for c in cells})
    items = sum(c.summary["n"] for c in cells)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    head = el("head", Markup('<meta charset="utf-8">'),
              el("meta", http_equiv="Content-Security-Policy", content=CSP),
              el("meta", name="viewport", content="width=device-width, initial-scale=1"),
              el("meta", name="referrer", content="no-referrer"),
              el("title", title), el("style", Markup(css)))
    header = el("header", el("h1", title),
                el("p", f"Store {store} · {plural(len(cells), 'run')} · {plural(models, 'model')} · "
                        f"{plural(tasks, 'task')} · {plural(items, 'item result')}"),
                el("p", f"Generated {when} by Polaris {__version__}. Accuracy in %, 95% confidence intervals in "
                        "brackets; items are the unit of analysis."))
    nav = el("nav", [el("a", TITLES[k], href=f"#{k}") for k in present])
    empty = el("p", "The store has no scored results yet: run `polaris run` first.", class_="note")
    main = el("main", *(body or [empty]))
    return "<!doctype html>\n" + el("html", head, el("body", header, nav if present else None, main), lang="en") + "\n"
