"""Stores for the report and viewer tests.

`build_store` runs the real `polaris run` against fake OpenAI servers on 127.0.0.1: two models, CoT vs
direct, few- vs zero-shot, self-consistency vs greedy, a model whose responses try to run script, and
a scripted planner through LLM-Modulo on Blocksworld.
It then adds, through the store's own API, a run whose model name, groups and error messages are
hostile markup, and a Blocksworld-style run with plan verdicts and LLM-Modulo transcripts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from unittest import mock

from conftest import answers_for, cli_env, polaris, write_gsm8k
from fakeserver import FakeOpenAI, Policy

# Everything a page could mistake for markup or script.
HOSTILE = ('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
           '</textarea></pre><b onmouseover="window.__pwned=3">bold?</b>'
           '<a href="javascript:window.__pwned=4">click me</a><iframe src="javascript:window.__pwned=5"></iframe>'
           '<svg onload="window.__pwned=6"></svg>&amp; {{7*7}} ${alert(1)}')
HOSTILE_MODEL = 'openai/<img src=x onerror="window.__pwned=7">'
HOSTILE_GROUP = '<script>window.__pwned=8</script>'
HOSTILE_ERROR = 'http 500: <html><script>window.__pwned=9</script><img src=x onerror="window.__pwned=10"></html>'
N_ITEMS = 40


def build_store(root: Path) -> dict[str, Any]:
    data = write_gsm8k(root / "data", N_ITEMS)
    with mock.patch.dict(os.environ, {"POLARIS_DATA_DIR": str(data)}):
        answers = answers_for("gsm8k")
    env = cli_env(POLARIS_DATA_DIR=str(data))
    store = root / "store.db"
    runs = [
        # (policy, model, extra args)
        (Policy(answers=answers, wrong_every=4), "openai/alpha", ("-p", "fewshot-cot", "-p", "zeroshot-cot")),
        (Policy(answers=answers, wrong_every=2), "openai/alpha", ("-p", "fewshot-direct",)),
        (Policy(answers=answers, wrong_every=3), "openai/beta", ("-p", "fewshot-cot", "-p", "fewshot-direct")),
        (Policy(answers=answers, p_correct=0.6), "openai/alpha", ("--samples", "5", "--temperature", "0.7")),
        (Policy(answers=answers, template=HOSTILE.replace("{", "{{").replace("}", "}}") + "\nThe answer is {answer}."), "openai/evil", ("--limit", "10")),
    ]
    for policy, model, extra in runs:
        with FakeOpenAI(policy) as server:
            proc = polaris("run", "-m", model, "--base-url", server.base_url, "--store", str(store), "--no-progress",
                           *extra, env=env)
            assert proc.returncode == 0, proc.stderr
    # A real LLM-Modulo run on Blocksworld: item i makes i % 4 wrong plans before the optimal one.
    from planfake import Planner, alternating

    planner = Planner("blocksworld", lambda i: alternating(i % 4), instances=4)
    with FakeOpenAI(Policy(respond=planner)) as server:
        proc = polaris("run", "-m", "openai/fake-planner", "--base-url", server.base_url, "--store", str(store),
                       "--no-progress", "--task", "blocksworld", "-T", "instances=4", "-T", "verifier-rounds=2", env=env)
        assert proc.returncode == 0, proc.stderr
    add_hostile_run(store)
    add_planning_run(store)
    add_scaling_runs(store)
    return {"store": store, "data": data, "env": env}


def add_hostile_run(store: Path) -> str:
    """A run whose model name, groups and error messages are markup (a shared store can hold anything)."""
    from polaris.store.store import ResultRow, Store

    spec = {"model": HOSTILE_MODEL, "task": "gsm8k", "prompt": "fewshot-cot", "samples": 1, "temperature": 0.0}
    run_id = "feedfacefeedface"
    db = Store(store)
    try:
        db.put_run(run_id, f"{HOSTILE_MODEL}/gsm8k/fewshot-cot/greedy", spec,
                   {"run_id": run_id, "model": HOSTILE_MODEL, "task": "gsm8k", "prompt": "fewshot-cot",
                    "strategy": "greedy", "polaris_version": HOSTILE, "scorer_version": HOSTILE})
        rows = [ResultRow(f"item-{i}", i, HOSTILE_GROUP if i % 2 else "plain", float(i % 3 == 0), float(i % 3 == 0),
                          True, None, HOSTILE, "7", {"strict_answer": HOSTILE, "samples": []}) for i in range(6)]
        rows.append(ResultRow("item-err", 6, "plain", None, None, False, HOSTILE_ERROR, None, "7", {}))
        db.put_results(run_id, rows)
    finally:
        db.close()
    return run_id


def planning_rows() -> list[Any]:
    """12 Blocksworld-like items (3 and 4 blocks), LLM-Modulo with 2 rounds: valid_at 0, 1, 2 or never."""
    from polaris.store.store import ResultRow

    rows = []
    for i in range(12):
        blocks = 3 if i < 6 else 4
        valid_at = [0, 1, 2, None][i % 4] if blocks == 3 else [0, None, None, 2][i % 4]
        valid = valid_at is not None
        kind = None if valid else ("inexecutable" if i % 2 else "goal-unmet")
        detail = {"valid": valid, "kind": kind, "step": None if valid else 2, "length": 4, "optimal_length": 4,
                  "optimality": 1.0 if valid else None, "executable_prefix": 1.0 if valid else 0.5}
        rounds = []
        for r in range(3 if valid_at is None else valid_at + 1):
            ok = valid_at == r
            rounds.append({"round": r, "request": None, "valid": ok, "length": 4,
                           "kind": None if ok else "inexecutable",
                           **({} if ok or r == 2 else {"feedback": f"The plan is invalid. {HOSTILE}"})})
        modulo = {"max_rounds": 2, "feedback": "first", "valid_at": valid_at, "rounds": rounds}
        rows.append(ResultRow(f"{blocks}blocks/{i}", i, f"{blocks} blocks", float(valid), float(valid), True, None,
                              "(unstack a b)", "(unstack a b)\n(put-down a)",
                              {"samples": [], "strict_answer": "(unstack a b)", "detail": detail, "modulo": modulo}))
    return rows


def _share(values: list[float]) -> dict[str, Any]:
    from polaris.analysis.stats import mean_ci

    est = mean_ci(values)
    return {"n": len(values), "mean": est.mean, "ci95": [est.low, est.high]}


def planning_summary(rows: list[Any]) -> dict[str, Any]:
    """What `polaris run` records for these rows (by block count, LLM-Modulo success within r rounds); the
    report shows it as stored when the planning metrics module is not installed."""
    by: dict[str, list[Any]] = {}
    for r in rows:
        by.setdefault(r.group.split()[0], []).append(r)
    at = [r.data["modulo"]["valid_at"] for r in rows]
    return {
        "by_blocks": {b: {"success": _share([float(r.data["detail"]["valid"]) for r in rs])} for b, rs in by.items()},
        "modulo": {"max_rounds": 2, "feedback": "first",
                   "success_at": [_share([1.0 if a is not None and a <= k else 0.0 for a in at]) | {"round": k}
                                  for k in range(3)]},
    }


def add_planning_run(store: Path) -> str:
    from polaris.store.store import Store

    spec = {"model": "openai/planner", "task": "blocksworld", "prompt": "one-shot", "samples": 1, "temperature": 0.0,
            "task_options": [["verifier_rounds", 2]]}
    run_id = "b10c5b10c5b10c50"
    db = Store(store)
    try:
        db.put_run(run_id, "openai/planner/blocksworld[verifier_rounds=2]/one-shot/greedy", spec,
                   {"run_id": run_id, "model": "openai/planner", "task": "blocksworld", "prompt": "one-shot",
                    "strategy": "greedy", "summary": {"planning": planning_summary(planning_rows())}})
        db.put_results(run_id, planning_rows())
    finally:
        db.close()
    return run_id


# A family with known sizes (the shipped models.yaml): exact match flat near zero, then a jump.
SCALING = {"EleutherAI/pythia-70m": 0.0, "EleutherAI/pythia-160m": 0.01, "EleutherAI/pythia-410m": 0.02,
           "EleutherAI/pythia-1b": 0.03, "EleutherAI/pythia-1.4b": 0.6}
SCALING_ITEMS = 100


def add_scaling_runs(store: Path) -> dict[str, str]:
    """One gsm8k cell per pythia size; item i is right when i < accuracy x n. Wrong answers get 4, 3, 2, 1
    and 1 of their 4 digits wrong from the smallest model up, so per-digit accuracy rises smoothly where
    exact match jumps."""
    from polaris.store.store import ResultRow, Store

    db = Store(store)
    ids = {}
    try:
        for k, (name, acc) in enumerate(SCALING.items()):
            model = f"openai/{name}"
            run_id = f"5ca1e{k:011d}"
            spec = {"model": model, "task": "gsm8k", "prompt": "fewshot-cot", "samples": 1, "temperature": 0.0}
            db.put_run(run_id, f"{model}/gsm8k/fewshot-cot/greedy", spec,
                       {"run_id": run_id, "model": model, "task": "gsm8k", "prompt": "fewshot-cot",
                        "strategy": "greedy"})
            rows = []
            for i in range(SCALING_ITEMS):
                gold = str(1000 + 37 * i)
                right = i < acc * SCALING_ITEMS
                wrong = max(1, 4 - k)  # digits a wrong answer gets wrong: fewer as the model grows
                answer = gold if right else "".join(str((int(d) + 1) % 10) for d in gold[:wrong]) + gold[wrong:]
                rows.append(ResultRow(f"gsm8k/test/{i}", i, "", float(right), float(right), True, None, answer, gold,
                                      {"strict_answer": answer, "samples": [{"idx": 0, "answer": answer,
                                                                             "correct": float(right)}]}))
            db.put_results(run_id, rows)
            ids[model] = run_id
    finally:
        db.close()
    return ids
