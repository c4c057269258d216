"""`polaris samples`: stored items with their responses, extracted answers, gold and verdict.

Model output is hostile: it is printed as plain text, never through rich markup, and every character
that could act on a terminal (escape sequences, carriage returns, bidi overrides) is shown escaped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import plain
from polaris.cli.helptext import STORE_HELP

SHOWN_SAMPLES = 3  # per item in the text output; --json has them all


def _out(text: str = "") -> None:
    sys.stdout.write(plain(text) + "\n")


def _text(run: Any, which: str, matched: int, total: int, views: list[dict[str, Any]],
          agree: dict[str, Any] | None = None) -> None:
    what = {"all": "items", "wrong": "wrong items", "unextracted": "items with no answer extracted",
            "disagree": "items where the strict and flexible answers differ",
            "against-source": "items where Polaris's verdict and the source's differ"}.get(which)
    what = what or f"items with outcome {which.split(':', 1)[1]}"
    _out(f"=== {run.label} · run {run.id} · {matched} {what} of {total} · showing {len(views)} ===")
    if which == "against-source":
        _out(_agreement_line(agree))
    for v in views:
        _out()
        _out(f"--- {v['item']}" + (f" [{v['group']}]" if v["group"] else "") + f" · {v['verdict'].upper()}"
             + (f" · {v['outcome']}" if v["outcome"] not in ("correct", "wrong", "error") else "") + " ---")
        if v["error"]:
            _out(f"error: {v['error']} (not scored; asked again on the next run)")
        _out(f"gold: {v['gold']}")
        strict = "none" if v["strict_answer"] is None else v["strict_answer"]
        flexible = "none" if v["answer"] is None else v["answer"]
        _out(f"flexible: {flexible} ({_mark(v['correct'])})   strict: {strict} ({_mark(v['strict_correct'])})")
        if "source" in v:
            src = v["source"]
            read = "not given" if src["answer"] is None else src["answer"]
            _out(f"source: {_mark(src['verdict'])}, its reading: {read}   ({src['file']}:{src['line']})")
        if len(v["samples"]) > 1:
            _out(f"samples: {len(v['samples'])}, flexible answers {_votes(v)}")
        if v["question"] is not None:
            _out("question:")
            _out(v["question"])
        for s in v["samples"][:SHOWN_SAMPLES]:
            head = "response" if len(v["samples"]) == 1 else f"response {s['idx']} ({s['answer']} / {s['strict']})"
            _out(f"{head}{' [finish: ' + s['finish'] + ']' if s['finish'] not in (None, 'stop') else ''}:")
            _out(s["text"] if s["text"] is not None else "(no text)")
        if len(v["samples"]) > SHOWN_SAMPLES:
            _out(f"... {len(v['samples']) - SHOWN_SAMPLES} more samples (--json shows them all)")
    _out()


def _agreement_line(a: dict[str, Any] | None) -> str:
    if not a or not a["n"]:
        return "the source gives no per-item verdicts for this run (its manifest has the source's own score)"
    return (f"Polaris and the source agree on {a['agree']} of {a['n']} items ({100 * a['rate']:.1f}%): both right "
            f"{a['both_right']}, both wrong {a['both_wrong']}, right for Polaris only {a['polaris_only']}, right for "
            f"the source only {a['source_only']}")


def _mark(score: float | None) -> str:
    return "-" if score is None else ("right" if score >= 1.0 else "wrong")


def _votes(view: dict[str, Any]) -> str:
    from polaris.analysis.answers import vote_counts

    return vote_counts(view)


@app.command()
def samples(
    task: str = typer.Option(..., "--task", "-t", help="Task of the stored run (mmlu, bbh/navigate, gsm8k, ...)"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Only runs of this model"),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="Only runs with this prompt format"),
    strategy: Optional[str] = typer.Option(None, help="Only runs with this strategy (greedy, sc5@t0.7, ...)"),
    wrong: bool = typer.Option(False, "--wrong", help="Only items scored wrong (unextracted ones included)"),
    unextracted: bool = typer.Option(False, "--unextracted", help="Only items where no answer was extracted"),
    disagree: bool = typer.Option(False, "--disagree", help="Only items where the strict and flexible answers differ"),
    outcome: Optional[str] = typer.Option(None, "--outcome", help="Only items with this outcome: correct, wrong, truncated, hedged, invalid-option, no-answer, error"),
    against_source: bool = typer.Option(False, "--against-source", help="Imported runs: only items where Polaris's verdict and the source's differ, with both readings"),
    limit: int = typer.Option(20, min=0, help="Items shown per run (0: all)"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document"),
) -> None:
    """List stored items with the response, the extracted answers (flexible and strict), the gold and the verdict."""
    from polaris.analysis.answers import item_view, select_runs, selects
    from polaris.importers.provenance import agreement, differs, imported_from, source_view
    from polaris.config import store_path
    from polaris.errors import PolarisError
    from polaris.store.store import Store

    chosen = [name for name, on in (("wrong", wrong), ("unextracted", unextracted), ("disagree", disagree),
                                    ("outcome", outcome is not None), ("against-source", against_source)) if on]
    if len(chosen) > 1:
        raise PolarisError(f"choose one of --wrong, --unextracted, --disagree, --outcome, --against-source "
                           f"(got --{' and --'.join(chosen)})")
    which = chosen[0] if chosen else "all"
    if outcome is not None:
        from polaris.scoring.outcome import check

        which = f"outcome:{check(outcome)}"
    path = store_path(store)
    db = Store(path, readonly=True)
    try:
        runs = db.runs()
        picked = select_runs(runs, task, model, prompt, strategy)
        if not picked:
            stored = sorted({f"{r.spec.get('model')} {r.spec.get('task')}" for r in runs
                             if model is None or r.spec.get("model") == model})
            raise PolarisError(f"no stored run of task '{task}'" + (f" for model '{model}'" if model else "")
                               + (" with those options" if prompt or strategy else "") + f" in {path}"
                               + (f" (stored: {'; '.join(stored[:8])}{' ...' if len(stored) > 8 else ''})"
                                  if stored else ""))
        if which == "against-source":
            picked = [r for r in picked if imported_from(r.manifest)]
            if not picked:
                raise PolarisError(f"no imported run of task '{task}' in {path}: --against-source compares an "
                                   "imported run's verdicts with its source's (`polaris import`)")
        report = []
        agreements: dict[str, dict[str, Any]] = {}
        for run in picked:
            rows = db.results(run.id)
            prov = imported_from(run.manifest)
            if which == "against-source":
                hits = [r for r in rows if differs(r, prov)]
                agreements[run.id] = agreement(rows, prov)
            else:
                hits = [r for r in rows if selects(r, which)]
            views = []
            for r in hits[: limit or None]:
                h = r.data.get("request")
                keep = {s.get("idx") for s in r.data.get("samples", ()) if isinstance(s, dict)}
                got = db.samples(h) if h else {}
                chosen_samples = [got[i] for i in sorted(got) if i in keep]
                view = item_view(r, chosen_samples, db.request(h) if h else None, run.spec.get("prompt"))
                if prov is not None:
                    view["source"] = source_view(r, prov, chosen_samples)
                views.append(view)
            report.append((run, len(hits), len(rows), views))
    finally:
        db.close()
    if as_json:
        doc = {"filter": which, "runs": [
            {"run_id": run.id, "label": run.label, "model": run.spec.get("model"), "task": run.spec.get("task"),
             "prompt": run.manifest.get("prompt"), "strategy": run.manifest.get("strategy"), "matched": matched,
             "total": total, "items": views}
            | ({"imported": imported_from(run.manifest)["format"]} if imported_from(run.manifest) else {})
            | ({"agreement": agreements[run.id]} if which == "against-source" else {})
            for run, matched, total, views in report]}
        json.dump(doc, sys.stdout, indent=2)  # ensure_ascii: no raw control or bidi characters reach a terminal
        sys.stdout.write("\n")
        return
    for run, matched, total, views in report:
        _text(run, which, matched, total, views, agreements.get(run.id))
