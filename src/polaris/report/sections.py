"""The report's sections as HTML (escaped by construction, `markup.el`). Each returns None when the
store has nothing for it, so the page shows only what the data supports. Every number sits beside the
run id it came from, which links to that run's manifest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from polaris.report.collect import Cell
from polaris.report.markup import Markup, ci, el, join, label, num, pct, plural, pts, pval, run_link, table, task_title
from polaris.scoring.outcome import describe


def section(key: str, title: str, *body: Any) -> Markup:
    return el("section", el("h2", title), *body, id=key)


def figure(paths: dict[str, str], alt: str, caption: str | None = None) -> Markup:
    return el("figure",
              el("a", el("img", src=paths["png"], alt=alt), href=paths["svg"]),
              el("figcaption", caption or alt, " ", el("a", "(SVG)", href=paths["svg"]), " ",
                 el("a", "(PNG)", href=paths["png"])))


def _acc(c: Cell) -> Markup:
    return join(ci(c.accuracy, c.summary.get("ci95")))


IMPORTED_MARK = " †"  # beside a number from someone else's generations (`polaris import`), scored by Polaris


def _imported(run: Any) -> dict[str, Any] | None:
    from polaris.importers.provenance import imported_from

    return imported_from(run.manifest)


def _imported_notes(cells: Sequence[Cell]) -> Markup | None:
    """One line per imported cell: where its responses came from and how the source judged them."""
    from polaris.importers.provenance import agreement, label, per_file

    lines = []
    for c in cells:
        prov = _imported(c.run)
        if prov is None:
            continue
        a = agreement(c.rows, prov)
        agree = (f"; Polaris and the source agree on {pct(a['rate'])}% of {a['n']:,} items "
                 f"(source {pct(a['source_accuracy'])}%, Polaris {pct(a['polaris_accuracy'])}%)") if a["n"] else ""
        scored = [f for f in per_file(c.rows, prov)
                  if f["source_accuracy"] is not None and f["polaris_accuracy"] is not None]
        if not a["n"] and scored:  # no per-item verdicts: the source's own score per file (BBH's paper)
            theirs, ours = (sum(f[k] for f in scored) / len(scored) for k in ("source_accuracy", "polaris_accuracy"))
            agree = (f"; the source's published accuracy, mean over {plural(len(scored), 'file')}: {pct(theirs)}% "
                     f"(Polaris on the same items: {pct(ours)}%)")
        lines.append(el("li", f"† {task_title(c.run.label)}: {label(prov)}; Polaris did not send these prompts, it scored the "
                              f"responses{agree} (run ", run_link(c.id), ")"))
    return el("ul", lines, class_="note") if lines else None


# -- leaderboard -----------------------------------------------------------------------------------


def leaderboard(cells: Sequence[Cell]) -> Markup | None:
    """One board per suite and per other task: models x prompt formats x strategies (report/boards.py)."""
    if not cells:
        return None
    from polaris.report.boards import leaderboard as boards

    return section("leaderboard", "Leaderboard", *boards(cells))


# -- per-task tables -------------------------------------------------------------------------------


def _breakdown(c: Cell) -> Markup | None:
    b = c.breakdown
    if b is not None:
        parts = []
        for dim, lines in b.by.items():
            macro = b.macro.get(dim)
            rows = [[ln.key, ln.n, ci(ln.accuracy, (ln.low, ln.high))] for ln in lines]
            if macro:
                rows.append([el("em", f"macro mean over {dim}s"), macro.n, ci(macro.accuracy, (macro.low, macro.high))])
            parts.append(el("h4", f"by {dim}"))
            parts.append(table([dim, "n", "accuracy % [95% CI]"], rows))
        return el("details", el("summary", f"Breakdown of {c.run.label}"), *parts)
    groups = c.summary.get("groups") or {}
    if not groups:
        return None
    rows = [[g, v["n"], pct(v["accuracy"])] for g, v in groups.items()]
    return el("details", el("summary", f"Groups of {c.run.label}"), table(["group", "n", "accuracy %"], rows))


def _errors(c: Cell) -> Markup | None:
    counts = Counter(r.error for r in c.rows if r.error is not None)
    if not counts:
        return None
    rows = [[e, n] for e, n in counts.most_common(10)]
    return el("details", el("summary", f"Errors of {c.run.label} ({plural(sum(counts.values()), 'item')}, asked again on the"
                                       " next run)"), table(["error", "items"], rows))


def _n(s: dict[str, Any]) -> Any:
    """Items scored; a partial run (`--limit`, a budget stop) and one filled from several endpoints say so."""
    cov = s.get("coverage") or {}
    text = f"{s['scored']:,} of {cov['of']:,} (partial)" if s.get("partial") and cov.get("of") else f"{s['scored']:,}"
    ends = s.get("endpoints") or []
    return f"{text}; {len(ends)} endpoints" if len(ends) > 1 else text


# Per-task columns left out when no row of the table has one (said in a line instead).
OPTIONAL = {"truncated %": "truncated items", "no answer %": "items without an answer",
            "strict/flexible disagree": "strict/flexible disagreements", "maj@K / pass@K %": "sampled cells"}


def _drop_empty(header: list[str], rows: list[Any], optional: dict[str, str]) -> tuple[list[str], list[Any], list[str]]:
    """Leave out the optional columns that are zero or empty in every row; name what was left out."""
    def cells(row: Any) -> list[Any]:
        return row[1] if isinstance(row, tuple) else row

    empty = [i for i, h in enumerate(header) if h in optional
             and all(cells(r)[i] in (None, "", "-", "0.0", 0) for r in rows)]
    keep = [i for i in range(len(header)) if i not in empty]
    out = [(r[0], [cells(r)[i] for i in keep]) if isinstance(r, tuple) else [r[i] for i in keep] for r in rows]
    return [header[i] for i in keep], out, [optional[header[i]] for i in empty]


def _hoist(header: list[str], rows: list[Any], names: Sequence[str]) -> tuple[list[str], list[Any], list[str]]:
    """Leave out the `names` columns that hold one value in every row (of two or more); say it once."""
    def cells(row: Any) -> list[Any]:
        return row[1] if isinstance(row, tuple) else row

    same = [i for i, h in enumerate(header) if h in names and len(rows) > 1
            and len({str(cells(r)[i]) for r in rows}) == 1]
    keep = [i for i in range(len(header)) if i not in same]
    out = [(r[0], [cells(r)[i] for i in keep]) if isinstance(r, tuple) else [r[i] for i in keep] for r in rows]
    return [header[i] for i in keep], out, [f"{header[i]} {cells(rows[0])[i]}" for i in same]


def task_tables(cells: Sequence[Cell]) -> Markup | None:
    if not cells:
        return None
    tasks: dict[str, list[Cell]] = {}
    for c in cells:
        tasks.setdefault(c.task, []).append(c)
    body: list[Any] = [el("p", "Accuracy is over scored items (errors are not wrong answers and are asked again). "
                           "With K samples per item the item score is the vote's (maj@K) and the CI is over item "
                           "means; strict % reads answers only in the prompt's answer format. Truncated: cut at the "
                           "token limit before an answer; no answer: finished without a usable answer (none, a hedge "
                           "between answers, or a letter that is not an option).", class_="note")]
    for task, group in tasks.items():
        rows = []
        extra = []
        for c in group:
            s = c.summary
            K = s.get("samples_per_item")
            kk = "" if not K or K < 2 else f"{pct(s['maj_at'].get(str(K)))} / {pct(s['pass_at'].get(str(K)))}"
            rows.append(({"data_run": c.id, "data_table": "tasks"}, [c.model, c.prompt, c.strategy, _n(s),
                                              join(_acc(c), IMPORTED_MARK if _imported(c.run) else ""),
                                              pct(s.get("truncated_rate")), pct(s.get("no_answer_rate")),
                                              pct(s["strict_accuracy"]), pct(s["extracted"]), s["disagree"],
                                              s["errors"], kk, describe(s.get("outcomes")), run_link(c.id)]))
            extra += [x for x in (_breakdown(c), _errors(c)) if x is not None]
        body.append(el("h3", task_title(task), title=task if task_title(task) != task else None))
        header = ["model", "prompt", "strategy", "n", "accuracy % [95% CI]", "truncated %", "no answer %", "strict %",
                  "extracted %", "strict/flexible disagree", "errors", "maj@K / pass@K %", "outcomes", "run"]
        header, rows, dropped = _drop_empty(header, rows, OPTIONAL)
        header, rows, shared = _hoist(header, rows, ("prompt", "strategy"))
        said = ["Every row: " + "; ".join(shared) + "."] if shared else []
        said += ["None in this table: " + ", ".join(dropped) + "."] if dropped else []
        if said:
            body.append(el("p", " ".join(said), class_="note"))
        body.append(table(header, rows, numeric_from=header.index("n"), class_="cells"))
        imported = _imported_notes(group)
        if imported is not None:
            body.append(imported)
        body += extra
    return section("tasks", "Results per task", *body)


# -- contrasts ---------------------------------------------------------------------------------------


def contrasts(rows: Sequence[dict[str, Any]], fig: dict[str, str] | None, source: str,
              shared: dict[str, str] | None = None) -> Markup | None:
    """The contrasts table: each named by what differs (A, B) and where (`setting`, report/pairs.py:
    describe); what every contrast shares is said once above it."""
    if not rows:
        return None
    body: list[Any] = [el("p", source, " A contrast is A - B on the items both cells scored: Δ with its paired "
                           "standard error and 95% CI (Miller 2024), McNemar's exact p where item scores are 0/1 (the "
                           "paired z-test's otherwise) and Holm's correction across every contrast below.",
                           class_="note")]
    # One kind of contrast between the same two sides (the demo's 18 "CoT vs direct" rows): said once
    # above the table, not repeated in three columns of every row.
    sides = {(r["name"], r.get("a_side") or r["a"], r.get("b_side") or r["b"]) for r in rows}
    one_kind = len(rows) > 1 and len(sides) == 1
    said = dict(shared or {})
    if one_kind:
        name, a, b = next(iter(sides))
        said = {"contrast": f"{name} (A {a}, B {b})", **said}
    if said:
        body.append(el("p", "Every contrast below: ", "; ".join(f"{k} {v}" for k, v in said.items()), ".",
                       class_="note"))
    if fig:
        body.append(figure(fig, "Forest plot of paired contrasts"))
    table_rows = []
    for r in rows:
        side_a = el("span", r.get("a_side") or r["a"], title=r["a"])
        side_b = el("span", r.get("b_side") or r["b"], title=r["b"])
        runs = join(run_link(r["a_run"]), el("br"), run_link(r["b_run"]))
        if not r.get("n"):
            table_rows.append([r["name"], r.get("setting") or r.get("where", ""), side_a, side_b, 0,
                               "-", "-", "-", "-", "-", "-", "-", runs])
            continue
        table_rows.append(({"data_a": r["a_run"], "data_b": r["b_run"]}, [
            r["name"], r.get("setting") or r.get("where", ""), side_a, side_b, r["n"], pct(r["mean_a"]),
            pct(r["mean_b"]), f"{pts(r['delta'])} [{pts(r['low'])}, {pts(r['high'])}]", num(100 * r["se"], 1),
            "-" if r["a_only"] is None else f"{r['a_only']} / {r['b_only']}", pval(r.get("p_value")),
            pval(r.get("p_holm")), runs]))
    header = ["contrast", "where", "A", "B", "n", "A %", "B %", "Δ pts [95% CI]", "SE pts", "A only / B only",
              "p", "p (Holm)", "runs A, B"]
    drop = ({0, 2, 3} if one_kind else set()) | ({1} if not any(r.get("setting") or r.get("where") for r in rows)
                                                   else set())
    if drop:
        header = [h for i, h in enumerate(header) if i not in drop]
        table_rows = [(row[0], [c for i, c in enumerate(row[1]) if i not in drop]) if isinstance(row, tuple)
                      else [c for i, c in enumerate(row) if i not in drop] for row in table_rows]
    body.append(table(header, table_rows, numeric_from=4 - len(drop), class_="contrasts"))
    return section("contrasts", "Paired contrasts", *body)


# -- self-consistency --------------------------------------------------------------------------------


def voting(cells: Sequence[Cell], figs: dict[str, dict[str, str]]) -> Markup | None:
    sampled = [c for c in cells if c.summary.get("maj_at")]
    if not sampled:
        return None
    body: list[Any] = [el("p", "maj@k: the expected accuracy of a majority vote over k of the K stored samples (ties "
                           "get fractional credit); pass@k: Chen et al.'s unbiased estimate that at least one of k "
                           "samples is right. Both from the same pool of K samples per item, with 95% CIs over "
                           "items.", class_="note")]
    for task in sorted({c.task for c in sampled}):
        group = [c for c in sampled if c.task == task]
        body.append(el("h3", task_title(task), title=task if task_title(task) != task else None))
        if task in figs:
            body.append(figure(figs[task], f"Self-consistency curves on {task}"))
        ks = sorted({int(k) for c in group for k in c.summary["maj_at"]})
        rows = []
        for c in group:
            s = c.summary
            for metric in ("maj_at", "pass_at"):
                label = f"{c.model} {c.prompt} {c.strategy}" + (" (degenerate)" if s.get("sampling_degenerate") else "")
                rows.append(({"data_run": c.id, "data_table": "voting", "data_metric": metric}, [
                    label if metric == "maj_at" else "", metric.replace("_at", "@k"),
                    *[ci(s[metric].get(str(k)), s[metric + "_ci"].get(str(k))) if str(k) in s[metric] else ""
                      for k in ks], run_link(c.id)]))
        body.append(table(["cell", "metric", *[f"k={k}" for k in ks], "run"], rows, numeric_from=2))
    if any(c.summary.get("sampling_degenerate") for c in sampled):
        body.append(el("p", "degenerate: every item's K samples are the same text (a server that ignores "
                            "temperature), so these curves are flat by construction and say nothing about voting.",
                       class_="note"))
    return section("voting", "Self-consistency: accuracy against samples voted", *body)


# -- planning ----------------------------------------------------------------------------------------


def _stat(s: dict[str, Any] | None) -> str:
    return "-" if not s or s.get("mean") is None else ci(s["mean"], s.get("ci95"))


def planning(cells: Sequence[Cell], figs: dict[str, dict[str, str]]) -> Markup | None:
    planned = [c for c in cells if c.planning]
    if not planned:
        return None
    body: list[Any] = []
    if "blocks" in figs:
        body.append(figure(figs["blocks"], "Plan success against the number of blocks"))
    rows = []
    marked = {c.id: IMPORTED_MARK if _imported(c.run) else "" for c in planned}  # polaris import
    for c in planned:
        p = c.planning
        for b, m in sorted(p.get("by_blocks", {}).items(), key=lambda kv: int(kv[0])):
            rows.append(({"data_run": c.id, "data_table": "planning", "data_blocks": b}, [
                f"{c.model} {task_title(c.task)} {c.prompt} {c.strategy}{marked[c.id]}", b, m["success"]["n"], _stat(m["success"]),
                _stat(m.get("optimal")), _num_ci(m.get("optimality")), _stat(m.get("executable_prefix")),
                run_link(c.id)]))
    body.append(table(["cell", "blocks", "n", "success %", "optimal %", "length / optimal", "executable prefix %",
                       "run"], rows, numeric_from=1))
    if any(marked.values()):
        body.append(el("p", "† imported: someone else's responses, scored by Polaris (their sources under "
                            "Results per task)", class_="note"))
    fails = []
    for c in planned:
        for kind, f in (c.planning.get("failures") or {}).items():
            fails.append(({"data_run": c.id, "data_table": "failures", "data_kind": kind}, [f"{c.model} {task_title(c.task)} {c.prompt} {c.strategy}{marked[c.id]}", kind, f.get("count"),
                                               _stat(f), run_link(c.id)]))
    if fails:
        body.append(el("h3", "First failure of each plan"))
        body.append(table(["cell", "failure", "items", "share % [95% CI]", "run"], fails, numeric_from=2))
    modulo = [c for c in planned if c.planning.get("modulo")]
    if modulo:
        body.append(el("h3", "LLM-Modulo: success within r verifier rounds"))
        if "rounds" in figs:
            body.append(figure(figs["rounds"], "Plan success against verifier rounds"))
        R = max(c.planning["modulo"]["max_rounds"] for c in modulo)
        rows = []
        for c in modulo:
            at = {s["round"]: s for s in c.planning["modulo"]["success_at"]}
            rows.append(({"data_run": c.id, "data_table": "modulo"}, [f"{c.model} {task_title(c.task)} {c.prompt}{marked[c.id]}", c.planning["modulo"].get("feedback"),
                                             *[_stat(at.get(r)) for r in range(R + 1)], run_link(c.id)]))
        body.append(table(["cell", "feedback", *[f"r={r}" for r in range(R + 1)], "run"], rows, numeric_from=2))
    return section("planning", "Planning", *body)


def _num_ci(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    b = s.get("ci95")
    return f"{s['mean']:.2f}" + (f" [{b[0]:.2f}, {b[1]:.2f}]" if b else "")


# -- manifests ---------------------------------------------------------------------------------------


def _exemplars(c: Cell) -> str:
    """The exemplars as the manifest names them (the published prompt's name); for runs stored before
    manifests named them: none for zero-shot formats, the seed only where one chose them (random)."""
    ex = c.run.manifest.get("exemplars") or {}
    if ex.get("prompt"):
        return str(ex["prompt"])
    if c.prompt.startswith("zeroshot"):
        return "none (zero-shot)"
    strategy = str(ex.get("strategy") or c.spec.get("exemplars") or "-")
    return f"{strategy} (seed {ex.get('seed', '-')})" if strategy in ("random", "shuffle") else strategy


def manifests(cells: Sequence[Cell]) -> Markup | None:
    from polaris.importers.provenance import label as source_label

    if not cells:
        return None
    rows = []
    for c in cells:
        m = c.run.manifest
        ds = m.get("dataset") or {}
        ex = m.get("exemplars") or {}
        dec = m.get("decoding") or {}
        prov = _imported(c.run)
        rows.append(({"id": f"run-{c.id}"}, [
            el("code", c.id), label(c.run.label), time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.run.updated)),
            m.get("polaris_version", "-"), m.get("scorer_version", "-"),
            (ds.get("sha256") or "-")[:12], f"{ds.get('items_run', '-')} / {ds.get('size', '-')}",
            ", ".join(f"{k}={v}" for k, v in sorted(dec.items()) if v is not None) if prov is None else
            f"not decoded by Polaris ({source_label(prov)})",
            _exemplars(c),
            # Shown without the scheme: the page links nowhere, not even in its text.
            "; ".join(f"{str(e['endpoint']).split('://', 1)[-1]} ({e['items']})" for e in m.get("endpoints") or [])
            or "-",
            len(m.get("invocations") or []) or "-"]))
    return section("manifests", "Run manifests",
                   el("p", "Every number above names the run it came from. A run's manifest is the history of the "
                      "invocations that filled it (endpoint, limit, items asked and scored, versions); the full "
                      "manifests (spec, backend, decoding, exemplar ids, dataset hash, invocations) are in ",
                      el("a", "manifests.json", href="manifests.json"), "; every figure's numbers are in ",
                      el("a", "report.json", href="report.json"), ".", class_="note"),
                   table(["run id", "label", "updated (UTC)", "polaris", "scorer", "dataset sha256", "items stored / size",
                          "decoding", "exemplars", "endpoints (items)", "invocations"], rows, numeric_from=99,
                         class_="manifests"))
