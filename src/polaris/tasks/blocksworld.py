"""Blocksworld plan generation (PlanBench t1) and its obfuscations, with LLM-Modulo back-prompting.

Tasks: `blocksworld` (PlanBench's natural language), `blocksworld/mystery` (its fixed obfuscation),
`blocksworld/random` (seeded random obfuscation, tokens by default as PlanBench's randomized set, or
words), and the same problems as PDDL: `blocksworld/pddl`, `blocksworld/mystery-pddl`,
`blocksworld/random-pddl`. Prompt formats: one-shot (default), zero-shot, zero-shot-cot.

Problems are generated (seeded, uniform as PlanBench's `bwstates`, `-T instances=N` per block count) or
read from `-T instances-dir=DIR` (PlanBench's `instance-N.pddl` files). The one-shot example of an instance
is the instance before it, with its optimal plan, as in PlanBench: generated sets draw one extra
problem per block count to be the first one's example; an instance directory takes the previous file
(the first file takes the last).

`-T verifier-rounds=R` switches the solver to `modulo`: the validator's feedback (`-T feedback=binary |
first | all`, in the rendering's words) goes back to the model until the plan is valid or R rounds
pass. Every round is a cached request, so an interrupted run resumes with only the missing rounds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from polaris.analysis.planning import summarize
from polaris.errors import PolarisError
from polaris.planning import (
    LEVELS,
    Problem,
    feedback,
    get_rendering,
    render_prompt,
    solve,
    to_pddl,
    validate,
)
from polaris.planning.generate import generate, parse_blocks
from polaris.planning.pddl import load_domain, load_pddl
from polaris.planning.render import PROMPT_FORMATS, statement
from polaris.prompts.render import Message, Prompt
from polaris.prompts.template import Template
from polaris.scoring.plan import (
    PlanScorer,
    actions_from,
    problem_from_meta,
    problem_to_meta,
)
from polaris.tasks.base import Dataset, Item, Task

PLANBENCH_BLOCKS = (3, 4, 5)
DEFAULT_INSTANCES = 100  # per block count: PlanBench has 100 x 3, 446 x 4 and 55 x 5 blocks
DEFAULTS: dict[str, Any] = {"blocks": None, "instances": None, "instance_seed": 0, "instances_dir": None,
                            "verifier_rounds": 0, "feedback": "first"}
VARIANTS = {  # task name -> rendering ({obf}: the obfuscation option)
    "blocksworld": "blocksworld",
    "blocksworld/pddl": "pddl",
    "blocksworld/mystery": "mystery",
    "blocksworld/mystery-pddl": "pddl-mystery",
    "blocksworld/random": "random-{obf}",
    "blocksworld/random-pddl": "pddl-random-{obf}",
}
DESCRIPTIONS = {
    "blocksworld": "Blocksworld plan generation, PlanBench's natural-language prompts",
    "blocksworld/pddl": "Blocksworld plan generation, PDDL prompts",
    "blocksworld/mystery": "Mystery Blocksworld (PlanBench's fixed obfuscation of names)",
    "blocksworld/mystery-pddl": "Mystery Blocksworld, PDDL prompts",
    "blocksworld/random": "Blocksworld with seeded random names (random tokens, or words)",
    "blocksworld/random-pddl": "Blocksworld with seeded random names, PDDL prompts",
}
# PlanBench's back-prompt requests (back_prompting_parallel.py), after the verifier's message.
ASK_NL = " Please provide the plan between [PLAN] and [PLAN END] tags."
ASK_PDDL = ("\nProvide your revised plan as a sequence of actions in PDDL format. An action ACTION which acts on "
            "two objects OBJ1 and OBJ2 would be written (ACTION OBJ1 OBJ2). Do not provide anything else in "
            "your answer.\n\n[PLAN]")
TEMPLATE = Template(question="{question}", answer="{answer}")  # baselines answer with the scorer's plan text


def task_names() -> list[str]:
    return list(VARIANTS)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _int(options: Mapping[str, Any], key: str, low: int) -> int:
    value = options[key]
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise PolarisError(f"{_flag(key)} '{value}': expected a whole number") from None
    if n < low:
        raise PolarisError(f"{_flag(key)} must be at least {low} (got {n})")
    return n


def _blocks_text(sizes: list[int]) -> str:
    if sizes == list(range(sizes[0], sizes[-1] + 1)) and len(sizes) > 1:
        return f"{sizes[0]}-{sizes[-1]}"
    return ",".join(map(str, sizes))


def _obfuscation(value: Any) -> str:
    kind, _, seed = str(value).partition(":")
    if kind not in ("tokens", "words") or (seed and not seed.lstrip("-").isdigit()):
        raise PolarisError(f"--obfuscation '{value}': choose tokens or words, optionally with a seed (words:3)")
    return kind if seed in ("", "0") else f"{kind}:{int(seed)}"


def options_for(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """All of a task's options, normalised; explicit defaults become None so they name the same cell."""
    defaults = dict(DEFAULTS) | ({"obfuscation": "tokens"} if name.startswith("blocksworld/random") else {})
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise PolarisError(f"task '{name}' has no option {_flag(unknown[0])}")
    opts = defaults | {k: v for k, v in given.items() if v is not None}
    if opts["instances_dir"] is not None:
        path = Path(opts["instances_dir"]).expanduser()
        if not path.is_dir():
            raise PolarisError(f"--instances-dir {path}: no such directory")
        opts["instances_dir"] = str(path.resolve())
        if opts["instance_seed"] != 0:
            raise PolarisError("--instance-seed has no effect with --instances-dir (the files are the instances)")
    if opts["blocks"] is not None:
        sizes = parse_blocks(str(opts["blocks"]))
        planbench = opts["instances_dir"] is None and tuple(sizes) == PLANBENCH_BLOCKS
        opts["blocks"] = None if planbench else _blocks_text(sizes)
    if opts["instances"] is not None:
        n = _int(opts, "instances", 1)
        opts["instances"] = None if n == DEFAULT_INSTANCES and opts["instances_dir"] is None else n
    opts["instance_seed"] = _int(opts, "instance_seed", 0)
    opts["verifier_rounds"] = _int(opts, "verifier_rounds", 0)
    if opts["feedback"] not in LEVELS:
        raise PolarisError(f"--feedback '{opts['feedback']}': choose from {', '.join(LEVELS)}")
    if opts["feedback"] != "first" and opts["verifier_rounds"] == 0:
        raise PolarisError("--feedback needs --verifier-rounds (the number of back-prompting rounds)")
    if "obfuscation" in opts:
        opts["obfuscation"] = _obfuscation(opts["obfuscation"])
    return opts


def _question(problem: Problem, rendering) -> str:
    """The query problem as the prompt shows it: the [STATEMENT] sentences, or the PDDL problem."""
    if rendering.pddl:
        return to_pddl(problem, rendering.vocab).strip()
    init, goal = statement(problem, rendering.vocab)
    return f"As initial conditions I have that, {init.strip()}.\nMy goal is to have that {goal}."


def _item(item_id: str, problem: Problem, plan, example: Problem | None, example_plan, rendering, source: str) -> Item:
    shown = None if example is None else {"problem": problem_to_meta(example), "plan": [str(a) for a in example_plan]}
    meta = {"problem": problem_to_meta(problem), "blocks": problem.blocks, "optimal_length": len(plan),
            "source": source, "example": shown}
    return Item(item_id, _question(problem, rendering), "\n".join(map(str, plan)), group=f"{problem.blocks} blocks",
                meta=meta)


def _generated(opts: Mapping[str, Any], rendering) -> list[Item]:
    sizes = parse_blocks(opts["blocks"]) if opts["blocks"] else list(PLANBENCH_BLOCKS)
    per = opts["instances"] or DEFAULT_INSTANCES
    items = []
    for n in sizes:
        try:  # one more than asked: instance 0 is only the first instance's one-shot example
            insts = generate([n], per + 1, opts["instance_seed"], stratify=False)
        except PolarisError as exc:
            raise PolarisError(f"--instances {per} is too many for {n} blocks ({exc}; one more is drawn as an example)") from None
        for k in range(1, per + 1):
            ex = insts[k - 1]
            items.append(_item(f"{n}blocks/{k}", insts[k].problem, insts[k].plan, ex.problem, ex.plan, rendering,
                               f"generated seed {opts['instance_seed']}"))
    return items


def _instance_files(root: Path) -> list[Path]:
    def number(p: Path) -> tuple[int, str]:
        m = re.search(r"(\d+)", p.stem)
        return (int(m.group(1)) if m else -1, p.name)

    files = sorted(root.glob("instance-*.pddl"), key=number)
    if not files:
        raise PolarisError(f"--instances-dir {root}: no instance-N.pddl files")
    return files


def _domain_file(root: Path) -> Path | None:
    # PlanBench keeps generated_domain.pddl beside the instances or one level up (generated_basic/).
    return next((d / "generated_domain.pddl" for d in (root, root.parent) if (d / "generated_domain.pddl").is_file()), None)


def _files(root: Path) -> list[Path]:
    """What a run read from an instance directory (hashed into its manifest)."""
    domain = _domain_file(root)
    return [*_instance_files(root), *([domain] if domain else [])]


Stamp = tuple[str, int, int]  # a file's path, modification time and size


def _solved(root: Path) -> tuple[tuple[Path, Problem, tuple[Any, ...]], ...]:
    """Every instance of a directory with its optimal plan. Read once per process and content (the
    files' paths, times and sizes): a directory's renderings and LLM-Modulo variants are separate
    tasks over the same problems (importing PlanBench's files builds six of them)."""
    def stamp(f: Path) -> Stamp:
        st = f.stat()
        return str(f), st.st_mtime_ns, st.st_size

    domain_file = _domain_file(root)
    return _solve_files(tuple(stamp(f) for f in _instance_files(root)), stamp(domain_file) if domain_file else None)


@lru_cache(maxsize=8)
def _solve_files(files: tuple[Stamp, ...],
                 domain_file: Stamp | None) -> tuple[tuple[Path, Problem, tuple[Any, ...]], ...]:
    domain = load_domain(Path(domain_file[0])) if domain_file else None
    solved = []
    for name, _, _ in files:
        problem = load_pddl(Path(name), domain)
        plan = solve(problem)
        if plan is None:
            raise PolarisError(f"{name}: the goal cannot be reached; plan generation needs solvable problems")
        solved.append((Path(name), problem, tuple(plan)))
    return tuple(solved)


def _from_dir(opts: Mapping[str, Any], rendering) -> list[Item]:
    root = Path(opts["instances_dir"])
    solved = _solved(root)
    wanted = set(parse_blocks(opts["blocks"])) if opts["blocks"] else None
    taken: dict[int, int] = {}
    items = []
    for i, (f, problem, plan) in enumerate(solved):
        n = problem.blocks
        if (wanted is not None and n not in wanted) or taken.get(n, 0) >= (opts["instances"] or len(solved)):
            continue
        taken[n] = taken.get(n, 0) + 1
        _, ex, ex_plan = solved[i - 1] if len(solved) > 1 else (None, None, None)  # the first takes the last
        items.append(_item(f.stem, problem, plan, ex, ex_plan, rendering, f.name))
    if not items:
        raise PolarisError(f"--instances-dir {root}: no instances with {opts['blocks']} blocks")
    return items


def build_prompt(rendering, item: Item, prompt_format: str, api: str) -> Prompt:
    ex = item.meta["example"]
    if ex is None and prompt_format == "one-shot":
        raise PolarisError("the one-shot format needs a second instance as its example: --instances-dir has one file")
    ex = ex or {"problem": item.meta["problem"], "plan": []}  # zero-shot formats show no example
    pp = render_prompt(problem_from_meta(item.meta["problem"]), rendering, prompt_format,
                       example=problem_from_meta(ex["problem"]), example_plan=actions_from(ex["plan"]))
    if api == "completions":
        return Prompt(text=pp.text, stop=pp.stop)
    if api != "chat":
        raise PolarisError(f"unknown --api '{api}' (choose chat or completions)")
    # Chat models end their turn themselves; stop sequences would also cut reasoning models short.
    return Prompt(messages=(Message("system", pp.system), Message("user", pp.text)))


def make_task(name: str = "blocksworld", **options: Any) -> Task:
    if name not in VARIANTS:
        raise PolarisError(f"unknown task '{name}' (blocksworld tasks: {', '.join(VARIANTS)})")
    opts = options_for(name, options)
    rendering = _rendering(name, opts)
    load = cache(lambda: tuple(_from_dir(opts, rendering) if opts["instances_dir"] else _generated(opts, rendering)))
    files = (lambda: _files(Path(opts["instances_dir"]))) if opts["instances_dir"] else (lambda: ())
    sizes = parse_blocks(opts["blocks"]) if opts["blocks"] else PLANBENCH_BLOCKS
    size = None if opts["instances_dir"] else len(sizes) * (opts["instances"] or DEFAULT_INSTANCES)
    return Task(
        name=name,
        description=DESCRIPTIONS[name],
        dataset=Dataset(load=load, exemplars=lambda group="": (), files=files, size=size),
        template=TEMPLATE,
        scorer=PlanScorer(rendering.name),
        formats=PROMPT_FORMATS,
        solver="modulo" if opts["verifier_rounds"] else "generate",
        options=opts,
        build_prompt=lambda item, fmt, api: build_prompt(rendering, item, fmt, api),
        summarize=summarize,
    )


def _rendering(name: str, opts: Mapping[str, Any]):
    kind, _, seed = opts.get("obfuscation", "tokens").partition(":")
    return get_rendering(VARIANTS[name].format(obf=f"{kind}:{seed or 0}"))


def back_prompt(verdict, level: str, rendering, api: str, no_plan: bool = False) -> str:
    """The verifier's message and PlanBench's request for a new plan, in the rendering's words."""
    text = feedback(verdict, level, rendering, no_plan=no_plan)
    if rendering.pddl:
        return text + ASK_PDDL
    return text + ASK_NL + ("\n\n[PLAN]" if api == "completions" else "")


async def modulo(task: Task, item: Item, prompt: Prompt, ctx, spec):
    """LLM-Modulo: generate, validate, back-prompt with the verifier's feedback, up to R more rounds."""
    from polaris.models.base import RequestContext
    from polaris.runner.context import CacheMiss
    from polaris.runner.solvers import Outputs, decoding

    rounds = int(task.options["verifier_rounds"])  # nonzero: make_task picks this solver only then
    if spec.samples != 1:
        raise PolarisError("--verifier-rounds works with one sample per item (drop --samples)")
    scorer: PlanScorer = task.scorer  # type: ignore[assignment]
    problem = scorer.problem(item)
    level, api = task.options["feedback"], spec.api
    request = RequestContext(task, item, spec.prompt)
    transcript: list[dict[str, Any]] = []
    current, dec = prompt, decoding(spec)
    for r in range(rounds + 1):
        try:
            h, rows = await ctx.generate(current, dec, 1, request)
        except CacheMiss:
            if r == 0 or "imported" not in ctx.identity:
                raise
            break  # an imported conversation ends where its source stopped asking (polaris import)
        text = rows[0].text or ""
        parsed = scorer.reading(text, item).flexible  # feedback is about the plan the model meant
        verdict = validate(problem, parsed)
        valid = bool(parsed.items) and verdict.valid
        entry: dict[str, Any] = {"round": r, "request": h, "valid": valid, "length": len(parsed.items),
                                 "kind": None if valid else ("no-plan" if not parsed.items else verdict.failure.kind)}
        transcript.append(entry)
        if valid or r == rounds:
            break
        entry["feedback"] = back_prompt(verdict, level, scorer.rendering, api, no_plan=not parsed.items)
        current = current.followup(text, entry["feedback"])
    valid_at = transcript[-1]["round"] if transcript[-1]["valid"] else None
    return Outputs(rows, h, {"modulo": {"max_rounds": rounds, "feedback": level, "valid_at": valid_at,
                                        "rounds": transcript}})


def _register() -> None:
    from polaris.runner import solvers

    solvers.register("modulo", modulo)


_register()
