"""Log-likelihood scoring of multiple-choice items (`--scoring loglik`): solver "loglik".

The convention is lm-evaluation-harness's MMLU one ("...Answer:" + " A"), written in the answer
sentence Polaris's direct prompts already teach:

- context: the prompt in a direct format, rendered as completion text (fewshot-direct: the
  instruction and the exemplars, each answered "The answer is (B)."; zeroshot-direct: the question
  and the zero-shot hint), which ends with a newline, then the answer sentence up to its answer:
  "...\\nThe answer is".
- continuations: a space and each option's answer as the sentence writes it: " (A)", " (B)", ...
  for lettered options (MMLU, BBH's multiple-choice tasks); " True"/" False", " Yes"/" No",
  " valid"/" invalid" for BBH's two-label tasks. Letters, not option texts, are scored: every
  continuation has the same form and about the same length, so no length normalisation is needed.
- score: the continuation's summed token log-probs; the answer is the argmax (ties: first option).

The context is always completion text, whatever `--api` says (the cell resolves `api` to
"completions"), so base and instruction-tuned models are scored alike. Each item's result data
gets `loglik`: the options, their log-probs, token counts and greedy flags, the gold index, and
the continuous metrics of `analysis.metrics`: the target log-prob (total and per token), the
normalised probability of the right option and the Brier score over the options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from polaris.analysis.metrics import brier_score, option_probs
from polaris.errors import PolarisError
from polaris.models.base import RequestContext
from polaris.prompts.render import Format, Prompt
from polaris.prompts.template import LETTERS, Template
from polaris.runner.cell import CellSpec
from polaris.runner.context import SolveContext
from polaris.runner.solvers import Outputs, register
from polaris.scoring.ema import item_options
from polaris.store.store import SampleRow
from polaris.tasks.base import Item, Task

MC_HINT = "--scoring loglik needs multiple-choice items (mmlu, mmlu/<subject>, bbh/<multiple-choice task>)"


@dataclass(frozen=True)
class Options:
    answers: tuple[str, ...]  # as the answer sentence writes them: "(A)", "True"
    gold: int | None  # index of the right one (None: the target is none of them)


def options_for(item: Item) -> Options | None:
    """The answers an item can be scored over, or None if it is not multiple choice: "(A)", "(B)", ...
    for lettered options, the labels of BBH's two-label tasks (scoring.ema.item_options)."""
    if len(item.choices) > len(LETTERS):
        return None
    found = item_options(item)
    if found is None:
        return None
    options, gold = found
    return Options(tuple(f"({LETTERS[i]})" for i in range(len(options))) if item.choices else options, gold)


def context_and_continuations(template: Template, text: str, answers: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The scored context and continuations of a completion prompt (module docstring)."""
    head, slot, _ = template.answer.partition("{answer}")
    if not slot:
        raise PolarisError(f"the answer sentence {template.answer!r} has no {{answer}} slot to score")
    stem = head.rstrip()
    gap = head[len(stem):]
    return text + stem, tuple(gap + a for a in answers)


def check_cell(task: Task, spec: CellSpec, items: Sequence[Item]) -> None:
    """One-line errors, before anything runs, for cells log-likelihood scoring cannot serve."""
    if Format.parse(spec.prompt).cot:
        raise PolarisError(f"--scoring loglik scores the answer directly: use --prompt fewshot-direct or "
                           f"zeroshot-direct, not {spec.prompt}")
    if spec.samples > 1:
        raise PolarisError("--scoring loglik is deterministic: use --samples 1")
    if task.build_prompt is not None:
        raise PolarisError(f"task '{task.name}' is not multiple choice; {MC_HINT}")
    bad = sorted({it.group or task.name for it in items if options_for(it) is None})
    if not bad:
        return
    groups = {it.group or task.name for it in items}
    if len(bad) == len(groups):
        raise PolarisError(f"task '{task.name}' is not multiple choice; {MC_HINT}")
    shown = ", ".join(bad[:6]) + (f" and {len(bad) - 6} more" if len(bad) > 6 else "")
    raise PolarisError(f"task '{task.name}' has parts that are not multiple choice ({shown}); {MC_HINT}")


def best_option(lps: Sequence[float]) -> int:
    """The option with the highest log-prob; ties go to the first."""
    return max(range(len(lps)), key=lambda i: (lps[i], -i))


def metrics(answers: Sequence[str], data: dict[str, Any], gold: int | None) -> dict[str, Any]:
    """The per-item record of a scored item (module docstring)."""
    lps = [float(x) for x in data["logprobs"]]
    tokens = list(data.get("tokens") or [])
    out: dict[str, Any] = {"options": list(answers), "logprobs": lps, "tokens": tokens,
                           "greedy": list(data.get("greedy") or []), "choice": best_option(lps), "gold": gold}
    if "bos" in data:  # scored after a BOS token or not (hf backends record it)
        out["bos"] = bool(data["bos"])
    if gold is not None:
        probs = option_probs(lps)
        n = tokens[gold] if gold < len(tokens) and tokens[gold] else 1
        out.update(target_logprob=lps[gold], target_logprob_per_token=lps[gold] / n,
                   prob_correct=float(probs[gold]), brier=brier_score(probs, gold))
    return out


async def solve(task: Task, item: Item, prompt: Prompt, ctx: SolveContext, spec: CellSpec) -> Outputs:
    opts = options_for(item)
    if opts is None:
        raise PolarisError(f"item {item.id} is not multiple choice; {MC_HINT}")
    if prompt.is_chat:
        raise PolarisError("--scoring loglik needs completion prompts (the cell renders them with --api completions)")
    template = task.template_for(item.group)
    context, continuations = context_and_continuations(template, prompt.text or "", opts.answers)
    h, row = await ctx.loglik(context, continuations, RequestContext(task, item, spec.prompt))
    record = metrics(opts.answers, row.data or {}, opts.gold)
    answer = opts.answers[record["choice"]]
    sample = SampleRow(0, template.answer_sentence(answer), "loglik", None, row.tokens, None)
    return Outputs([sample], h, {"loglik": record})


register("loglik", solve)
