"""Help that reads naturally: metavars such as MODEL, N, FLOAT, PATH instead of typer's `<list[str]>` and
`<int range>`, arguments as FILE rather than `file <path>`, and no `[x>=1]` (the bound is checked, and its error message states it). Applied to every
command at start-up (cli/__init__.py); an option that names its own metavar keeps it."""

from __future__ import annotations

from typing import Any

NAMES = {  # an option's value by its name, where the type says too little
    "model": "MODEL", "judge": "MODEL", "task": "TASK", "prompt": "FORMAT", "strategy": "STRATEGY",
    "base_url": "URL", "mirror": "URL", "store": "PATH", "out": "DIR", "dest": "DIR", "run": "RUN", "fmt": "FORMAT", "host": "HOST",
}


def metavar(param: Any) -> str | None:
    """The natural metavar of an option that has none (None: a flag, or one already named)."""
    if getattr(param, "metavar", None) is not None or getattr(param, "is_flag", False) or getattr(param, "count", False):
        return None
    kind = type(getattr(param, "type", None)).__name__
    name = param.name or ""
    if name in NAMES:
        return NAMES[name]
    if kind.startswith("Int"):
        return "N"
    if kind.startswith("Float"):
        return "FLOAT"
    if kind == "Path":
        return "PATH"
    return name.upper().replace("_", "-") or None


def natural(command: Any) -> Any:
    """Set the metavars and drop the range notes of `command` and its sub-commands; returns it."""
    for param in getattr(command, "params", ()):
        if getattr(param, "param_type_name", "") == "argument":
            if param.metavar is None:
                param.metavar = (param.name or "").upper()
            param.display_type_rich = lambda ctx: None  # "FILE", not "file <path>"
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
