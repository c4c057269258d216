"""A scripted planner behind the fake OpenAI server: for each item a script of wrong plans for its first
turns, then the optimal plan, in the task's own rendering. Tests know exactly which rounds succeed and
what feedback came.

Wrong plans: "inexecutable" starts by putting down a block the hand does not hold; "short" is the
optimal plan without its last action (executable, goal not reached); "prose" has no plan at all;
"markdown-inexecutable" is the inexecutable plan as a chat model writes it (a preamble, numbered bold
steps with commentary), which only the flexible reading reads.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from polaris.planning import Action, plan_text
from polaris.scoring.plan import actions_from, problem_from_meta
from polaris.tasks.blocksworld import make_task


class Planner:
    def __init__(self, task: str, wrong: Callable[[int], tuple[str, ...]], **options: Any) -> None:
        self.task = make_task(task, **options)
        self.items = list(self.task.dataset.load())
        self.wrong = {it.id: wrong(i) for i, it in enumerate(self.items)}
        self.rendering = self.task.scorer.rendering  # type: ignore[attr-defined]
        self.calls: Counter[str] = Counter()  # item id -> requests answered
        self.feedback: list[tuple[str, int, str]] = []  # (item id, turn, the user's back-prompt)
        self.lock = threading.Lock()

    def item_in(self, text: str):
        """The item whose problem statement comes last in the text (one-shot prompts show an example first)."""
        best = max(self.items, key=lambda it: text.rfind(it.question))
        assert text.rfind(best.question) >= 0, "the prompt holds no known problem"
        return best

    def written(self, item, actions: tuple[Action, ...]) -> str:
        end = "[PLAN_END]" if self.rendering.pddl else "[PLAN END]"
        return f"[PLAN]\n{plan_text(actions, self.rendering, problem_from_meta(item.meta['problem']))}{end}"

    def plan(self, item, turn: int) -> str:
        gold = actions_from(item.target.splitlines())
        script = self.wrong[item.id]
        if turn >= len(script):
            return self.written(item, gold)
        if script[turn] == "prose":
            return "I am not sure this can be solved; the blocks seem stuck."
        if script[turn] in ("inexecutable", "markdown-inexecutable"):
            held = next(a.args[0] for a in gold if a.op in ("pick-up", "unstack"))
            plan = (Action("put-down", (held,)), *gold)
            if script[turn] == "inexecutable":
                return self.written(item, plan)
            lines = plan_text(plan, self.rendering, problem_from_meta(item.meta["problem"])).splitlines()
            return "Here is my plan:\n\n" + "\n".join(f"{i}. **{line}** (as required)" for i, line in enumerate(lines, 1))
        return self.written(item, gold[:-1])

    def __call__(self, body: dict[str, Any]) -> str:
        if "messages" in body:
            msgs = body["messages"]
            first = next(m["content"] for m in msgs if m["role"] == "user")
            turn = sum(1 for m in msgs if m["role"] == "assistant")
            last = msgs[-1]["content"] if turn else None
        else:
            first = body["prompt"]
            turn = first.count("The above plan is invalid")
            last = first[first.rfind("The above plan is invalid"):] if turn else None
        item = self.item_in(first)
        with self.lock:
            self.calls[item.id] += 1
            if last is not None:
                self.feedback.append((item.id, turn, last))
        return self.plan(item, turn)

    def expected_requests(self, rounds: int) -> int:
        return sum(min(len(k), rounds) + 1 for k in self.wrong.values())


def alternating(k: int) -> tuple[str, ...]:
    """k wrong plans: inexecutable, short, inexecutable, ..."""
    return tuple(("inexecutable", "short")[t % 2] for t in range(k))
