"""Scaling curves and emergence verdicts, through the scaling-study API (`polaris.analysis.study`,
`polaris.analysis.figures`).

A study runs per task and model family, for every family with at least two models of different sizes
on the task (sizes from the model metadata: the lab's ladder, models.yaml). Models without metadata
are left out and named. The section shows the study's figure (PNG and SVG), its verdict table in Lu
et al.'s terms and, folded, every curve's points (each model with its run id) and fits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from polaris.analysis.figures import size_label
from polaris.report.collect import Cell
from polaris.report.markup import Markup, el, join, num, p_is, pct, plural, pval, run_link, table


def _families(cells: Sequence[Cell], catalog: Any) -> list[tuple[str, str]]:
    """(task, family) pairs with at least two model sizes."""
    sizes: dict[tuple[str, str], set[float]] = {}
    for c in cells:
        info = catalog.find(c.model)
        if info is not None and info.params:
            sizes.setdefault((str(c.spec.get("task", "")), info.family), set()).add(float(info.params))
    return sorted(k for k, v in sizes.items() if len(v) >= 2)


def studies(store: Any, cells: Sequence[Cell], figdir: Path,
            given: Mapping[tuple[str, str], Any] | None = None) -> list[dict[str, Any]]:
    """[{task, family, study (its to_dict()), figure paths, error}] for every (task, family) with sizes.
    `given`: studies already computed, by (task, family), each what `scaling_study(store, task,
    family=family)` returns (`polaris demo` passes its own); the others are computed here."""
    from polaris.analysis.figures import scaling_figure
    from polaris.analysis.modelmeta import ModelCatalog
    from polaris.analysis.study import scaling_study
    from polaris.errors import PolarisError
    from polaris.report.figures import STYLE, _plt, save

    try:
        catalog = ModelCatalog()
    except Exception:  # a broken user models.yaml must not take the whole report down
        return []
    out = []
    for i, (task, family) in enumerate(_families(cells, catalog)):
        item: dict[str, Any] = {"task": task, "family": family, "study": None, "figure": None, "error": None}
        try:
            study = (given or {}).get((task, family))
            if study is None:
                study = scaling_study(store, task, family=family, models=catalog.table)
            item["study"] = study.to_dict()
            item["object"] = study  # for the findings (their figure, the curves' shape); not in report.json
            with _plt().rc_context({"text.parse_math": STYLE["text.parse_math"]}):  # model names are text
                item["figure"] = save(scaling_figure(study), figdir, f"scaling-{i}")
        except PolarisError as exc:
            item["error"] = str(exc)
        out.append(item)
    return out


def _value(v: float | None, bounded: bool) -> str:
    return pct(v) if bounded else num(v, 3)


def _verdicts(study: dict[str, Any]) -> Markup:
    """The verdict table; the family and strategy columns are left out when every row shares them (the
    heading and a note say them once)."""
    info = study.get("metric_info") or {}
    verdicts = study.get("verdicts") or []
    families = {v["family"] + (" instruct" if v.get("instruct") else "") for v in verdicts}
    strategies = {v["strategy"] for v in verdicts}
    # Sizes and models per curve are one pair of numbers for a whole ladder: said once, not in two columns.
    counts = {(v.get("sizes"), v.get("models")) for v in verdicts}
    one_count = len(counts) == 1 and len(verdicts) > 1
    rows = []
    for v in verdicts:
        bounded = (info.get(v["metric"]) or {}).get("bounded", True)
        big = v.get("largest") or {}
        largest = "-" if big.get("observed") is None else (
            f"{_value(big['observed'], bounded)} vs {_value(big.get('predicted'), bounded)}"
            + (f" ({p_is(big.get('p'))})" if big.get("p") is not None else ""))
        above = "-" if v.get("above_baseline") is None else (
            f"{'yes' if v['above_baseline'] else 'no'} ({p_is(v.get('above_p'))})")
        predictable = "-" if v.get("predictable") is None else ("yes" if v["predictable"] else "no")
        smooth = ", ".join(v.get("smooth_under") or [])
        line = ([v["family"] + (" instruct" if v.get("instruct") else "")] if len(families) > 1 else []) + \
            [v["prompt"]] + ([v["strategy"]] if len(strategies) > 1 else []) + [
            v["metric"], el("strong", v["verdict"]), above, predictable, v.get("best_fit") or "-", smooth or "-",
            *([] if one_count else [v.get("sizes"), v.get("models")]), num(v.get("breakthroughness"), 1),
            num(v.get("line_r2"), 2), largest]
        rows.append(({"data_metric": v["metric"], "data_family": v["family"]}, line))
    header = (["family"] if len(families) > 1 else []) + ["prompt"] + (["strategy"] if len(strategies) > 1 else []) \
        + ["metric", "verdict", "above baseline", "predictable", "best fit", "smooth under",
           *([] if one_count else ["sizes", "models"]), "B", "line R²", "largest: observed vs predicted"]
    shared = [f"family {next(iter(families))}"] * (len(families) == 1) + \
        [f"strategy {next(iter(strategies))}"] * (len(strategies) == 1)
    if one_count:
        sizes, models = next(iter(counts))
        shared.append(f"{plural(sizes or 0, 'size')} and {plural(models or 0, 'model')} per curve")
    note = el("p", "Every curve below: " + ", ".join(shared) + ".", class_="note") if shared and rows else None
    return join(note, table(header, rows, numeric_from=header.index("B") - 2 * (not one_count), class_="verdicts"))


def _curves(study: dict[str, Any]) -> Markup:
    info = study.get("metric_info") or {}
    parts: list[Any] = []
    for c in study.get("curves") or []:
        bounded = (info.get(c["metric"]) or {}).get("bounded", True)
        parts.append(el("h4", f"{c['name']}: {c.get('title') or c['metric']}"))
        points = [[m["model"], size_label(m["params"]), m["n"],
                   f"{_value(m['mean'], bounded)} [{_value(m['low'], bounded)}, {_value(m['high'], bounded)}]",
                   "-" if m.get("baseline") is None else _value(m["baseline"], bounded), pval(m.get("above_p")),
                   run_link(m["run_id"])] for m in c.get("models") or []]
        parts.append(table(["model", "params", "n", "score [95% CI]", "baseline", "p above baseline", "run"],
                           points, numeric_from=1))
        fits = [[name, "yes" if f["fitted"] else f"no: {f.get('reason') or ''}", num(f.get("aicc"), 2),
                 num(f.get("bic"), 2), ", ".join(f"{k}={num(v, 3)}" for k, v in (f.get("params") or {}).items())]
                for name, f in (c.get("fits") or {}).items()]
        if fits:
            parts.append(table(["fit", "fitted", "AICc", "BIC", "parameters"], fits, numeric_from=2))
    return el("details", el("summary", "Points (each model with its run) and fits of every curve"), *parts)


def section(items: Sequence[dict[str, Any]]) -> Markup | None:
    from polaris.report.sections import figure, section as wrap

    if not items:
        return None
    body: list[Any] = [el("p", "Score against model size per family, with 95% CIs, the random baseline and fits of "
                           "a line, a logistic floored at the baseline and a broken power law in log10(parameters). "
                           "The verdict follows Lu et al.: is the largest model above the baseline (one-sided test), "
                           "and is its score predictable from the smaller models (leave the largest out, "
                           "extrapolate)? B is BIG-bench breakthroughness; 'smooth under' lists continuous metrics "
                           "under which an emergent-looking curve is predictable (Schaeffer et al.). The fits weight "
                           "each size by 1/SE² (a marker's area): sizes near 0% or 100% have small SEs and pull "
                           "hardest, so a fitted line can pass far from a small marker.", class_="note")]
    for it in items:
        body.append(el("h3", f"{it['task']}: {it['family']}"))
        if it["error"]:
            body.append(el("p", it["error"], class_="note"))
            continue
        if it["figure"]:
            body.append(figure(it["figure"], f"Scaling of {it['task']}, {it['family']}"))
        study = it["study"]
        body.append(_verdicts(study))
        notes = list(dict.fromkeys(study.get("notes") or []))  # one line per model left out, not per cell
        if notes:
            body.append(el("ul", [el("li", n) for n in notes], class_="note"))
        body.append(_curves(study))
    return wrap("scaling", "Scaling and emergence", join(*body))
