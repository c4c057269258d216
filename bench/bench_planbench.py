"""Agreement with PlanBench: Polaris's verdicts on PlanBench's published responses of real models.

    PYTHONPATH=src python bench/bench_planbench.py                  # the table (after) and the timing
    PYTHONPATH=src python bench/bench_planbench.py --before         # also today's `planning validate` default
    PYTHONPATH=src python bench/bench_planbench.py --markdown       # the table as Markdown (BENCHMARKS.md)
    PYTHONPATH=src python bench/bench_planbench.py --write-disagreements tests/planning_data/planbench_disagreements.json

Every file in `$POLARIS_DATA_DIR/planbench/responses/` (else ../shared/datasets/planbench) is scored
through `PlanScorer` (the scorer `polaris run` and `polaris import` use) against the instance file of
each response: n, agreement of the flexible verdict with PlanBench's `llm_correct`, Polaris valid
(flexible), Polaris strict valid, PlanBench valid, extraction (a plan was singled out) and the
disagreements: PlanBench wrong, Polaris wrong/unclear (adjudicated in the data file the test reads).
Back-prompting files count every round (see `polaris.planning.planbench`).

`--before` adds the verdict a user got before the flexible reading existed: `polaris planning validate`
with its defaults (the strict grammar, the problem file's vocabulary). Timing: reading and validating
every response, against the strict grammar alone on the same texts (the peer measured in this run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from polaris.planning import get_rendering, load_pddl, parse_plan, solve, validate
from polaris.planning.phrases import _memo
from polaris.planning.planbench import instance_file, load_results
from polaris.scoring.plan import PlanScorer, problem_to_meta
from polaris.tasks.base import Item


def data_root() -> Path:
    env = os.environ.get("POLARIS_DATA_DIR")
    for cand in ([Path(env) / "planbench"] if env else []) + [Path(__file__).resolve().parents[2] / "shared/datasets/planbench",
                                                              Path("/work/shared/datasets/planbench")]:
        if (cand / "responses").is_dir():
            return cand
    sys.exit("no PlanBench data: set POLARIS_DATA_DIR to a folder with planbench/responses/")


class Problems:
    """PlanBench instances as scorer items, each loaded and solved once."""

    def __init__(self, root: Path):
        self.root, self.cache = root, {}

    def item(self, domain: str, iid: int) -> Item:
        key = (domain, iid)
        if key not in self.cache:
            problem = load_pddl(instance_file(self.root, domain, iid))
            plan = solve(problem)
            self.cache[key] = Item(f"instance-{iid}", "", "\n".join(map(str, plan)),
                                   meta={"problem": problem_to_meta(problem), "optimal_length": len(plan)})
        return self.cache[key]


def verdicts(path: Path, problems: Problems, before: bool = False) -> dict:
    """Per response: (id, round, Polaris flexible, Polaris strict, PlanBench, plan found, before)."""
    f = load_results(path)
    scorer = PlanScorer(f.rendering)
    vocab_rendering = get_rendering(f.domain)
    rows = []
    for r in f.responses:
        item = problems.item(f.domain, r.instance_id)
        ex = scorer.extract(r.text, item)
        flex, strict = scorer.score(ex.answer, item) == 1.0, scorer.score(ex.strict, item) == 1.0
        old = None
        if before:  # `polaris planning validate PROBLEM PLAN` before issue 14: strict grammar, file vocabulary
            problem = scorer.problem(item)
            old = bool(validate(problem, parse_plan(r.text, vocab_rendering, problem, strict=True)).valid)
        rows.append({"id": r.instance_id, "round": r.round, "polaris": flex, "strict": strict,
                     "planbench": r.planbench_valid, "found": ex.answer is not None, "before": old})
    return {"file": f, "rows": rows}


def summary(name: str, rows: list[dict], known: dict) -> dict:
    n = len(rows)
    dis = [r for r in rows if r["polaris"] != r["planbench"]]
    listed = {(d["id"], d.get("round")): d for d in known.get(name, [])}
    pb_wrong = sum(1 for r in dis if listed.get((r["id"], r["round"]), {}).get("right") == "polaris")
    out = {"file": name, "n": n, "agree": (n - len(dis)) / n, "polaris": sum(r["polaris"] for r in rows),
           "strict": sum(r["strict"] for r in rows), "planbench": sum(r["planbench"] for r in rows),
           "found": sum(r["found"] for r in rows) / n, "disagree": len(dis), "planbench_wrong": pb_wrong,
           "adjudicated": (n - len(dis) + pb_wrong) / n}
    if rows and rows[0]["before"] is not None:
        out["before_agree"] = sum(r["before"] == r["planbench"] for r in rows) / n
        out["before_polaris"] = sum(r["before"] for r in rows)
    return out


def timing(root: Path, problems: Problems) -> None:
    """Read + validate every response (flexible and strict readings) against the strict grammar alone."""
    work = []
    for path in sorted((root / "responses").glob("*.json")):
        f = load_results(path)
        scorer = PlanScorer(f.rendering)
        work += [(scorer, problems.item(f.domain, r.instance_id), r.text) for r in f.responses]
    _memo.cache_clear()  # the scoring above read these lines already: time a cold start
    start = time.perf_counter()
    for scorer, item, text in work:
        ex = scorer.extract(text, item)
        scorer.score(ex.answer, item)
        scorer.score(ex.strict, item)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for scorer, item, text in work:
        parse_plan(text, scorer.rendering, scorer.problem(item), strict=True)
    peer = time.perf_counter() - start
    print(f"\nread + validate {len(work)} responses (both readings, both verdicts): {ours:.2f} s "
          f"({len(work) / ours:,.0f}/s); the strict grammar alone on the same texts: {peer:.2f} s "
          f"(the two readings and validation cost {ours / peer:.1f}x the strict grammar)")


def write_disagreements(path: Path, results: list[dict], old: dict) -> None:
    """The data file the agreement test reads: every disagreement, keeping earlier adjudications."""
    out: dict[str, list] = {}
    for res in results:
        name = res["file"].path.name
        prev = {(d["id"], d.get("round")): d for d in old.get(name, [])}
        rows = []
        for r in res["rows"]:
            if r["polaris"] == r["planbench"]:
                continue
            entry = {"id": r["id"], **({"round": r["round"]} if r["round"] is not None else {}),
                     "polaris": r["polaris"], "planbench": r["planbench"]}
            was = prev.get((r["id"], r["round"]))
            entry.update({k: was[k] for k in ("right", "why", "note") if was and k in was and was["polaris"] == r["polaris"]})
            entry.setdefault("right", "?")
            entry.setdefault("why", "?")
            rows.append(entry)
        if rows:
            out[name] = rows
    path.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {sum(map(len, out.values()))} disagreements to {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", action="store_true", help="also score with `planning validate`'s old default")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--write-disagreements", type=Path, help="write the disagreements data file")
    ap.add_argument("--known", type=Path, default=Path(__file__).resolve().parents[1] / "tests/planning_data/planbench_disagreements.json")
    args = ap.parse_args()
    root = data_root()
    problems = Problems(root)
    known = json.loads(args.known.read_text()) if args.known.is_file() else {}
    results = [verdicts(p, problems, args.before) for p in sorted((root / "responses").glob("*.json"))]
    rows = [summary(r["file"].path.name, r["rows"], known) for r in results]
    if args.markdown:
        head = "| responses | n | " + ("agreement before | Polaris valid before | " if args.before else "")
        print(head + "agreement | adjudicated | Polaris valid | strict valid | PlanBench valid | plan found |")
        print("|---" * (8 + 2 * args.before) + "|")
        for s in rows:
            before = f"{s['before_agree']:.1%} | {s['before_polaris']} | " if args.before else ""
            print(f"| {s['file'].removesuffix('.json')} | {s['n']} | {before}{s['agree']:.1%} | {s['adjudicated']:.1%} | "
                  f"{s['polaris']} | {s['strict']} | {s['planbench']} | {s['found']:.1%} |")
    else:
        print(f"{'file':76s} {'n':>5s} {'agree':>7s} {'adjud.':>7s} {'Polaris':>7s} {'strict':>6s} {'PlanBench':>9s} "
              f"{'found':>6s} {'disagree':>8s} {'PB wrong':>8s}" + ("  before: agree valid" if args.before else ""))
        for s in rows:
            print(f"{s['file']:76s} {s['n']:5d} {s['agree']:7.1%} {s['adjudicated']:7.1%} {s['polaris']:7d} {s['strict']:6d} "
                  f"{s['planbench']:9d} {s['found']:6.1%} {s['disagree']:8d} {s['planbench_wrong']:8d}"
                  + (f"  {s['before_agree']:12.1%} {s['before_polaris']:5d}" if args.before else ""))
    if args.write_disagreements:
        write_disagreements(args.write_disagreements, results, known)
    timing(root, problems)


if __name__ == "__main__":
    main()
