"""`polaris audit`: how well stored runs' answers were read (audit/), optionally checked by a judge model."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer

from polaris.cli import app
from polaris.cli.display import plain
from polaris.cli.helptext import STORE_HELP

SHOWN = 20  # disagreements listed per run in the text output (--show)


def _out(text: str = "") -> None:
    sys.stdout.write(plain(text) + "\n")


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _short(x: Any, width: int = 40) -> str:
    s = "none" if x is None else " ".join(str(x).split())
    return s if len(s) <= width else s[: width - 1] + "…"


def _text(doc: dict[str, Any], show: int) -> None:
    from polaris.scoring.outcome import describe

    for a in doc["runs"]:
        r = a["rules"]
        _out(f"=== {a['label']} · run {a['run_id']} · {r['scored']} scored items ===")
        for note in a["notes"]:
            _out(f"note: {note}")
        _out(f"outcomes: {describe(r['outcomes'])}")
        _out(f"truncated {_pct(r['truncated_rate'])}, no answer {_pct(r['no_answer_rate'])} of scored items")
        _out(f"strict/flexible: {r['disagree']} items disagree (right only by the flexible answer: "
             f"{r['flexible_only_right']}, only by the strict one: {r['strict_only_right']})")
        for d in r["disagreements"][:show]:
            _out(f"  {d['item']}: flexible {_short(d['flexible'])}, strict {_short(d['strict'])}, gold {_short(d['gold'])}")
        if r["disagree"] > show:
            _out(f"  ... {r['disagree'] - show} more (--show 0 or --json lists them all)")
        if r["endings"]:
            _out(f"commonest endings of the {r['unanswered_samples']} responses without an answer (digits as #):")
            for e in r["endings"]:
                outs = ", ".join(f"{k} {v}" for k, v in e["outcomes"].items())
                _out(f"  {e['count']:>5}  [{outs}]  {e['text']!r}  e.g. {e['example']['item']}")
        j = a["judge"]
        if j:
            ci = j["agreement_ci95"]
            ci_text = f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else ""
            _out(f"judge {j['model']} ({j['prompt_version']}): {j['read']} of {j['responses']} responses of "
                 f"{j['items']} items read, {j['calls_sent']} calls sent")
            _out(f"  rule-vs-judge agreement {_pct(j['agreement'])}{ci_text} ({j['agree']} of {j['read']}); "
                 f"accuracy on these items: rules {_pct(j['rules_accuracy'])}, judge {_pct(j['judge_accuracy'])}")
            odd = {k: v for k, v in j["statuses"].items() if k not in ("answer", "none", "hedged")}
            if odd:
                _out("  judge replies not compared: " + ", ".join(f"{k} {v}" for k, v in odd.items()))
            for d in j["disagreements"]:
                _out(f"  {d['item']}#{d['sample']}: rules {_short(d['rule'])}, judge {_short(d['judge'])}"
                     f" ({d['status']}; said {_short(d['said'], 60)!r})")
            if j["disagreements_total"] > len(j["disagreements"]):
                _out(f"  ... {j['disagreements_total'] - len(j['disagreements'])} more (--show 0 or --json)")
            if j["scored_run"]:
                _out(f"  stored the run scored by the judge: {j['scored_label']} (run {j['scored_run']})")
        _out()


@app.command()
def audit(
    task: Optional[str] = typer.Option(None, "--task", "-t", help="Only runs of this task"),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Only runs of this model"),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", help="Only runs with this prompt format"),
    strategy: Optional[str] = typer.Option(None, help="Only runs with this strategy"),
    run: Optional[str] = typer.Option(None, "--run", help="Only this run (id or id prefix)"),
    judge: Optional[str] = typer.Option(None, "--judge", help="A judge model that reads each response and states its final answer (openai/NAME, hf/PATH, ...)"),
    score_with: str = typer.Option("rules", "--score-with", help="rules | judge: also store each audited run scored by the judge's readings (needs --judge)"),
    sample: Optional[int] = typer.Option(None, "--sample", min=1, help="Judge N items per run (drawn with --seed), not all"),
    seed: int = typer.Option(0, help="Seed of the --sample draw"),
    base_url: Optional[str] = typer.Option(None, help="The judge's OpenAI-compatible base URL (default: $OPENAI_BASE_URL)"),
    concurrency: int = typer.Option(16, min=1, help="Judge requests in flight"),
    judge_max_tokens: int = typer.Option(256, min=1, help="Token limit of the judge's reply"),
    timeout: float = typer.Option(600.0, min=0.1, help="Seconds before a judge request attempt times out"),
    max_attempts: int = typer.Option(8, min=1, help="Attempts per judge request"),
    top: int = typer.Option(10, min=1, help="Commonest endings of unanswered responses to list"),
    show: int = typer.Option(SHOWN, min=0, help="Disagreements listed per run (0: all)"),
    store: Optional[Path] = typer.Option(None, help=STORE_HELP),
    no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar"),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document"),
) -> None:
    """Audit how stored answers were read: outcomes, strict/flexible disagreements, unread endings, and (--judge) rule-vs-judge agreement."""
    import asyncio

    from polaris.audit.run import RunAudit, audit_rules_of, judge_run
    from polaris.config import store_path
    from polaris.errors import PolarisError
    from polaris.store.store import Store

    if score_with not in ("rules", "judge"):
        raise PolarisError(f"--score-with must be rules or judge (got '{score_with}')")
    if score_with == "judge" and judge is None:
        raise PolarisError("--score-with judge needs --judge MODEL")
    backend = None
    if judge is not None:
        from polaris.models.registry import BackendOptions, make_backend

        backend = make_backend(judge, BackendOptions(base_url=base_url, concurrency=concurrency, timeout=timeout,
                                                     max_attempts=max_attempts))
    path = store_path(store)
    db = Store(path) if judge is not None else Store(path, readonly=True)
    try:
        runs = [r for r in db.runs()
                if (task is None or r.spec.get("task") == task) and (model is None or r.spec.get("model") == model)
                and (prompt is None or r.spec.get("prompt") == prompt)
                and (strategy is None or r.manifest.get("strategy") == strategy)
                and (run is None or r.id.startswith(run))
                and (run is not None or not r.spec.get("judge"))]  # judge-scored runs only when named
        if not runs:
            raise PolarisError(f"no stored run matches in {path}" + (" (see `polaris samples` or the viewer for "
                                                                      "what is stored)" if db.runs() else ""))
        audits = []
        for r in runs:
            rows, got, rules = audit_rules_of(db, r, top=top)
            if not rows:
                continue
            a = RunAudit(r, rules)
            if backend is not None and r.spec.get("judge"):
                a.notes.append("this run was scored by a judge; its answers are not read again")
            elif backend is not None:
                from polaris.audit.judge_model import JudgeSetup
                from polaris.cli.display import progress

                def setup(run_id: str) -> JudgeSetup:
                    return JudgeSetup(db, backend, run_id, max_tokens=judge_max_tokens, concurrency=concurrency)

                with progress(not no_progress and (not as_json or sys.stderr.isatty())) as bar:
                    a.judge = asyncio.run(judge_run(db, r, rows, got, setup, judge, sample=sample, seed=seed,
                                                    score_with_judge=score_with == "judge", progress=bar))
            audits.append(a)
    finally:
        db.close()
    doc = {"store": str(path), "judge": judge, "score_with": score_with,
           "runs": [a.as_dict(None if as_json or show == 0 else show) for a in audits]}
    if judge is not None:
        from polaris.audit import judge_model as jm

        doc["judge_manifest"] = {"model": judge, "backend": backend.identity() if backend else None,
                                 "prompt_version": jm.PROMPT_VERSION, "prompt": jm.PROMPT,
                                 "forms": {"choice": jm.FORM_CHOICE, "free": jm.FORM_FREE},
                                 "decoding": {"max_tokens": judge_max_tokens, "temperature": 0.0},
                                 "sample": sample, "seed": seed}
    if as_json:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    _text(doc, show or 10**9)
