"""Help that reads naturally: metavars such as MODEL, N, FLOAT, PATH instead of typer's `<list[str]>` and
`<int range>`, arguments as FILE rather than `file <path>`, and no `[x>=1]` (the bound is checked, and its error message states it). Applied to every
command at start-up (cli/__init__.py); an option that names its own metavar keeps it."""

from __future__ import annotations

from typing import Any

STORE_HELP = "SQLite store (default: $POLARIS_STORE, else ./polaris.db)"  # the --store option of every command that reads or writes one

NAMES = {  # an option's value by its name, where the type says too little
    "model": "MODEL", "judge": "MODEL", "task": "TASK", "prompt": "FORMAT", "strategy": "STRATEGY",
    "base_url": "URL", "mirror": "URL", "store": "PATH", "out": "DIR", "dest": "DIR", "run": "RUN", "fmt": "FORMAT", "host": "HOST",
    "instances_dir": "DIR", "maps": "FIELD=PATH", "timeout": "SECONDS", "score_with": "rules|judge",
}


def metavar(param: Any) -> str | None:
    """The natural metavar of an option that has none (None: a flag, or one already named)."""
    if getattr(param, "metavar", None) is not None or getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    try:  # typer >= 0.2x: "int", "Path", "list[int]", ... from the annotation
        kind = str(param.bare_type()).removeprefix("list[").removesuffix("]")
    except AttributeError:  # older typer: click's parameter type
        kind = type(getattr(param, "type", None)).__name__
    name = param.name or ""
    if name in NAMES:
        return NAMES[name]
    if kind.lower().startswith("int"):
        return "N"
    if kind.lower().startswith("float"):
        return "FLOAT"
    if kind.endswith("Path"):  # click's Path, typer's TyperPath
        return "PATH"
    return name.upper().replace("_", "-") or None


# `polaris --help` lists the commands in the order a new user meets them, each in a phrase that fits an
# 80-column terminal (click would cut the docstrings' first sentences mid-phrase: "outcomes,...").
SHORT = {
    "demo": "Offline: the tiny-model ladder, scaling and emergence",
    "run": "Evaluate models on tasks (cached, resumable)",
    "tasks": "The tasks: one line per suite, or one task's options",
    "leaderboard": "GSM8K, MATH, MMLU and BBH per model",
    "samples": "Stored items: response, answers, gold, verdict",
    "compare": "Two cells on their shared items (paired test)",
    "audit": "How answers were read; rules against a judge",
    "report": "Write the HTML report of a store",
    "view": "Browse stored samples in a local web app",
    "rescore": "Re-score stored responses without a model",
    "import": "Other harnesses' generations as Polaris runs",
    "export": "Results as Parquet, CSV or JSONL rows",
    "analyze": "Scaling and emergence; accuracy against compute",
    "experiment": "Grids declared in YAML: dry run, run, status",
    "data": "Download and check benchmark data",
    "lab": "Train and inspect the ladder of tiny models",
    "planning": "Blocksworld: generate, solve, validate plans",
}

SUB_SHORT = {
    "analyze": {"scaling": "Fits, held-out extrapolation, emergence verdicts",
                "compute": "Accuracy against tokens per item; the frontier"},
    "data": {"fetch": "Download official files (pinned, SHA-256 checked)"},
    "experiment": {"run": "Run every cell (resumable, budget-capped)",
                   "status": "Each cell's state (done, running, partial, failed)"},
    "lab": {"train": "Train a ladder: every size x seed", "models": "A ladder's models: size, seed, accuracy",
            "eval": "Exact match and per-digit accuracy of one model"},
    "planning": {"generate": "Seeded random Blocksworld problems (PDDL)",
                 "validate": "Check a plan: executable? reaches the goal? why not"},
}


def _usage(param: Any) -> str:
    """An argument in the usage line as click writes it: NAME, [NAME] when optional, NAME... when repeated."""
    name = str(param.metavar or (param.name or "").upper()).removesuffix("...")
    name += "..." if param.nargs != 1 else ""
    return name if param.required else f"[{name}]"


def natural(command: Any) -> Any:
    """Set the metavars and drop the range notes of `command` and its sub-commands; returns it."""
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            param.display_type_rich = lambda ctx: None  # "FILE", not "file <path>"
            param.get_usage_pieces = lambda ctx, p=param: [_usage(p)]  # "FILE...", not "{FILE...}..."
            continue
        if getattr(param, "param_type_name", "") != "option":
            continue
        value = metavar(param)
        if value is not None:
            param.metavar = value
        if hasattr(param, "min"):
            param.min = param.max = None  # display only: typer checks the bounds from its own parameter info
    for sub in getattr(command, "commands", {}).values():
        natural(sub)
    return command


def ordered(root: Any) -> Any:
    """The root command with its commands in SHORT's order (others after), each with its short help."""
    commands = getattr(root, "commands", None)
    if isinstance(commands, dict):
        order = {name: i for i, name in enumerate(SHORT)}
        root.commands = dict(sorted(commands.items(), key=lambda kv: order.get(kv[0], len(order))))
        for name, cmd in root.commands.items():
            if name in SHORT:
                cmd.short_help = SHORT[name]
            for sub, text in SUB_SHORT.get(name, {}).items():
                if sub in getattr(cmd, "commands", {}):
                    cmd.commands[sub].short_help = text
    return root
