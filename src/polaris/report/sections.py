"""The report's sections as HTML (escaped by construction, `markup.el`). Each returns None when the
store has nothing for it, so the page shows only what the data supports. Every number sits beside the
run id it came from, which links to that run's manifest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

from polaris.report.collect import Cell
from polaris.report.markup import Markup, ci, el, join, num, pct, pts, pval, run_link, table
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
        agree = (f"; Polaris and the source agree on {pct(a['rate'])}% of {a['n']} items "
                 f"(source {pct(a['source_accuracy'])}%, Polaris {pct(a['polaris_accuracy'])}%)") if a["n"] else ""
        scored = [f for f in per_file(c.rows, prov)
                  if f["source_accuracy"] is not None and f["polaris_accuracy"] is not None]
        if not a["n"] and scored:  # no per-item verdicts: the source's own score per file (BBH's paper)
            theirs, ours = (sum(f[k] for f in scored) / len(scored) for k in ("source_accuracy", "polaris_accuracy"))
            agree = (f"; the source's published accuracy, mean over {len(scored)} files: {pct(theirs)}% "
                     f"(Polaris on the same items: {pct(ours)}%)")
        lines.append(el("li", f"† {c.run.label}: {label(prov)}; Polaris did not send these prompts, it scored the "
                              f"responses{agree} (run ", run_link(c.id), ")"))
    return el("ul", lines, class_="note") if lines else None


# -- leaderboard -----------------------------------------------------------------------------------


def _board_generic(cells: Sequence[Cell]) -> list[Markup]:
    """Models x tasks, one row per (model, prompt format, strategy): only cells in one row are made alike.
    When several runs fill one place (other max tokens, system prompt, limit) the most complete is shown."""
    tasks = sorted({c.task for c in cells})
    best: dict[tuple[str, str, str, str], Cell] = {}
    others: list[str] = []
    for c in cells:
        key = (c.model, c.prompt, c.strategy, c.task)
        if key in best:
            keep, drop = (c, best[key]) if c.summary["scored"] > best[key].summary["scored"] else (best[key], c)
            best[key] = keep
            others.append(f"{c.model} {c.task} {c.prompt} {c.strategy}: showing run {keep.id}, not {drop.id}")
        else:
            best[key] = c
    rows_keys = sorted({k[:3] for k in best})

    def mean(row: tuple[str, str, str]) -> float:
        accs = [best[(*row, t)].accuracy or 0.0 for t in tasks if (*row, t) in best]
        return sum(accs) / len(accs) if accs else 0.0

    rows_keys.sort(key=lambda r: (r[1], r[2], -mean(r), r[0]))
    rows = []
    for row in rows_keys:
        line: list[Any] = list(row)
        for t in tasks:
            c = best.get((*row, t))
            mark = IMPORTED_MARK if c and _imported(c.run) else ""
            line.append(join(_acc(c), mark, el("br"), run_link(c.id)) if c else "-")
        rows.append(({"data_model": row[0]}, line))
    out = [el("p", "Accuracy % [95% CI] per task; compare rows of the same prompt format and strategy. The run id "
                   "under each number links to its manifest.", class_="note"),
           table(["model", "prompt", "strategy", *tasks], rows, class_="board", numeric_from=3)]
    if others:
        out.append(el("ul", [el("li", o) for o in others], class_="note"))
    notes = _imported_notes(list(best.values()))
    if notes is not None:
        out.append(notes)
    return out


def _board_suites(cells: Sequence[Cell]) -> tuple[list[Markup], set[str]]:
    """The Chain-of-Thought Hub board (analysis.leaderboard) for suite tasks."""
    from polaris.analysis import leaderboard as lb

    suite_cells = [c for c in cells if lb.suite_of(str(c.spec.get("task", ""))) and not c.spec.get("task_options")]
    if not suite_cells:
        return [], set()
    by_id = {c.id: c for c in cells}
    combos = Counter((c.prompt, c.strategy) for c in suite_cells)
    out = []
    for (prompt, strategy), _ in combos.most_common():
        board = lb.build([c.run for c in suite_cells], lambda rid: by_id[rid].rows, prompt=prompt, strategy=strategy)
        present = [s for s in board.suites if any(cs[s].status != lb.MISSING for _, cs in board.rows)]
        if present:
            lb.sort_rows(board, present[0])
        rows = []
        for model, cs in board.rows:
            if all(cs[s].status == lb.MISSING for s in present):
                continue
            line: list[Any] = [model]
            for s in present:
                c = cs[s]
                if c.status == lb.MISSING:
                    line.append(el("span", "-", title=c.reason))
                    continue
                mark = ("" if c.status == lb.FULL else " *") + (IMPORTED_MARK if c.imported else "")
                line.append(join(ci(c.accuracy, c.ci95), mark, el("br"), run_link(c.run_id)))
            rows.append(({"data_model": model}, line))
        out.append(el("h3", f"Chain-of-Thought Hub: {prompt}, {strategy}"))
        out.append(el("p", "Accuracy % [95% CI] on each whole suite; * marks a partial cell (a subset task, items "
                           "not scored or failed), with the reason below; the run id under each number links to its "
                           "manifest.", class_="note"))
        out.append(table(["model", *[lb.TITLES.get(s, s) for s in present]], rows, class_="board"))
        partial = [f"{m} {lb.TITLES.get(s, s)}: {cs[s].reason}" for m, cs in board.rows for s in present
                   if cs[s].status == lb.PARTIAL]
        notes = [*(f"* {p}" for p in partial), *board.notes]
        if notes:
            out.append(el("ul", [el("li", n) for n in notes], class_="note"))
        shown = {cs[s].run_id for _, cs in board.rows for s in present if cs[s].imported}
        imported = _imported_notes([by_id[rid] for rid in shown if rid in by_id])
        if imported is not None:
            out.append(imported)
    return out, {c.id for c in suite_cells}


def leaderboard(cells: Sequence[Cell]) -> Markup | None:
    if not cells:
        return None
    suites, covered = _board_suites(cells)
    rest = [c for c in cells if c.id not in covered]
    body = suites + (_board_generic(rest) if rest else [])
    return section("leaderboard", "Leaderboard", *body)


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
    return el("details", el("summary", f"Errors of {c.run.label} ({sum(counts.values())} items, asked again on the"
                                       " next run)"), table(["error", "items"], rows))


def _n(s: dict[str, Any]) -> Any:
    """Items scored; a partial run (`--limit`, a budget stop) and one filled from several endpoints say so."""
    cov = s.get("coverage") or {}
    text = f"{s['scored']} of {cov['of']} (partial)" if s.get("partial") and cov.get("of") else s["scored"]
    ends = s.get("endpoints") or []
    return f"{text}; {len(ends)} endpoints" if len(ends) > 1 else text


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
        body.append(el("h3", task))
        body.append(table(["model", "prompt", "strategy", "n", "accuracy % [95% CI]", "truncated %", "no answer %",
                           "strict %", "extracted %", "strict/flexible disagree", "errors", "maj@K / pass@K %",
                           "outcomes", "run"], rows, numeric_from=3))
        imported = _imported_notes(group)
        if imported is not None:
            body.append(imported)
        body += extra
    return section("tasks", "Results per task", *body)


# -- contrasts ---------------------------------------------------------------------------------------


def contrasts(rows: Sequence[dict[str, Any]], fig: dict[str, str] | None, source: str) -> Markup | None:
    if not rows:
        return None
    body: list[Any] = [el("p", source, " A contrast is A - B on the items both cells scored: Δ with its paired "
                           "standard error and 95% CI (Miller 2024), McNemar's exact p where item scores are 0/1 (the "
                           "paired z-test's otherwise) and Holm's correction across every contrast below.",
                           class_="note")]
    if fig:
        body.append(figure(fig, "Forest plot of paired contrasts"))
    table_rows = []
    for r in rows:
        if not r.get("n"):
            table_rows.append([r["name"], r.get("where", ""), r["a"], r["b"], 0, "-", "-", "-", "-", "-", "-", "-",
                               join(run_link(r["a_run"]), " ", run_link(r["b_run"]))])
            continue
        table_rows.append(({"data_a": r["a_run"], "data_b": r["b_run"]}, [
            r["name"], r.get("where", ""), r["a"], r["b"], r["n"], pct(r["mean_a"]), pct(r["mean_b"]),
            f"{pts(r['delta'])} [{pts(r['low'])}, {pts(r['high'])}]", num(100 * r["se"], 1),
            "-" if r["a_only"] is None else f"{r['a_only']} / {r['b_only']}", pval(r.get("p_value")),
            pval(r.get("p_holm")), join(run_link(r["a_run"]), " ", run_link(r["b_run"]))]))
    body.append(table(["contrast", "where", "A", "B", "n", "A %", "B %", "Δ pts [95% CI]", "SE pts",
                       "A only / B only", "p", "p (Holm)", "runs A, B"], table_rows, numeric_from=4))
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
        body.append(el("h3", task))
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
                f"{c.model} {c.task} {c.prompt} {c.strategy}{marked[c.id]}", b, m["success"]["n"], _stat(m["success"]),
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
            fails.append(({"data_run": c.id, "data_table": "failures", "data_kind": kind}, [f"{c.model} {c.task} {c.prompt} {c.strategy}{marked[c.id]}", kind, f.get("count"),
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
            rows.append(({"data_run": c.id, "data_table": "modulo"}, [f"{c.model} {c.task} {c.prompt}{marked[c.id]}", c.planning["modulo"].get("feedback"),
                                             *[_stat(at.get(r)) for r in range(R + 1)], run_link(c.id)]))
        body.append(table(["cell", "feedback", *[f"r={r}" for r in range(R + 1)], "run"], rows, numeric_from=2))
    return section("planning", "Planning", *body)


def _num_ci(s: dict[str, Any] | None) -> str:
    if not s or s.get("mean") is None:
        return "-"
    b = s.get("ci95")
    return f"{s['mean']:.2f}" + (f" [{b[0]:.2f}, {b[1]:.2f}]" if b else "")


# -- manifests ---------------------------------------------------------------------------------------


def manifests(cells: Sequence[Cell]) -> Markup | None:
    from polaris.importers.provenance import label

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
            el("code", c.id), c.run.label, time.strftime("%Y-%m-%d %H:%M", time.gmtime(c.run.updated)),
            m.get("polaris_version", "-"), m.get("scorer_version", "-"),
            (ds.get("sha256") or "-")[:12], f"{ds.get('items_run', '-')} / {ds.get('size', '-')}",
            ", ".join(f"{k}={v}" for k, v in sorted(dec.items()) if v is not None) if prov is None else
            f"not decoded by Polaris ({label(prov)})",
            ex.get("prompt") or f"{ex.get('strategy', '-')} (seed {ex.get('seed', '-')})",
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
                          "decoding", "exemplars", "endpoints (items)", "invocations"], rows, numeric_from=99))
