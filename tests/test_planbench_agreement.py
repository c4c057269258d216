"""Polaris's verdicts against PlanBench's on its published responses of real models (GPT-4, LLaMA-3.1).

Every file in ../shared/datasets/planbench/responses/ is scored through `PlanScorer` (what `polaris run`
and `polaris import` use) against its instance files. Each response where Polaris's flexible verdict
differs from PlanBench's `llm_correct` must be listed in planning_data/planbench_disagreements.json
with which side is right and why (the categories are explained in docs/planning.md): a change of
reading that flips any verdict fails here until it is looked at. On every file Polaris must agree with
PlanBench, or be shown right where it does not, on at least 97% of the responses.
"""

from __future__ import annotations

import json
from pathlib import Path

from polaris.planning import load_pddl, solve
from polaris.planning.planbench import instance_file, load_results
from polaris.scoring.plan import PlanScorer, problem_to_meta
from polaris.tasks.base import Item

KNOWN = Path(__file__).parent / "planning_data" / "planbench_disagreements.json"
SIDES = {"polaris", "planbench", "unclear"}
WHY = {"planbench-first-statement", "planbench-joins-statements", "planbench-drops-line", "planbench-no-plan",
       "planbench-reads-retracted", "polaris-unreadable", "polaris-statement-choice"}
DOCS = Path(__file__).resolve().parents[1] / "docs" / "planning.md"


def test_verdicts_agree_with_planbench_or_the_difference_is_explained(shared_data):
    root = shared_data / "planbench"
    known = json.loads(KNOWN.read_text())
    items: dict = {}
    report, problems = [], []
    files = sorted((root / "responses").glob("*.json"))
    assert len(files) >= 14
    for path in files:
        f = load_results(path)
        scorer = PlanScorer(f.rendering)
        found = {}
        for r in f.responses:
            key = (f.domain, r.instance_id)
            if key not in items:
                problem = load_pddl(instance_file(root, f.domain, r.instance_id))
                items[key] = Item(f"instance-{r.instance_id}", "", "\n".join(map(str, solve(problem))),
                                  meta={"problem": problem_to_meta(problem)})
            ok = scorer.score(scorer.extract(r.text, items[key]).answer, items[key]) == 1.0
            if ok != r.planbench_valid:
                found[(r.instance_id, r.round)] = ok
        listed = {(d["id"], d.get("round")): d for d in known.get(path.name, [])}
        if {k: d["polaris"] for k, d in listed.items()} != found:
            new = sorted(set(found) - set(listed), key=str)
            gone = sorted(set(listed) - set(found), key=str)
            problems.append(f"{path.name}: disagreements not listed {new}, listed but gone {gone}")
        for k, d in listed.items():
            if d.get("right") not in SIDES or d.get("why") not in WHY or not d.get("note"):
                problems.append(f"{path.name} {k}: needs 'right' ({'/'.join(SIDES)}), a known 'why' and a 'note'")
        n = len(f.responses)
        polaris_wrong = sum(1 for d in listed.values() if d.get("right") != "polaris")
        raw = 1 - len(found) / n
        report.append(f"{path.name}: n={n} agreement {raw:.1%}, Polaris wrong or unclear on {polaris_wrong}")
        if (n - polaris_wrong) / n < 0.97:
            problems.append(f"{path.name}: Polaris wrong or unclear on {polaris_wrong} of {n} (> 3%)")
    assert not problems, "\n".join(problems + [""] + report)


def test_every_reason_given_is_explained_in_the_docs():
    text = DOCS.read_text()
    used = {d["why"] for entries in json.loads(KNOWN.read_text()).values() for d in entries}
    assert used <= WHY
    for why in WHY:
        assert f"`{why}`" in text, why
