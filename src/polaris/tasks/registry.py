"""Task names -> tasks. Modules are imported only when their task is asked for.

A name is `<family>` or `<family>/<variant>` (`bbh/navigate`, `mmlu/anatomy`, `lab/add-3`);
the family's module parses the variant. Suites expand to several tasks.
"""

from __future__ import annotations

import importlib
from typing import Any

from polaris.errors import PolarisError
from polaris.tasks.base import Task

FAMILIES: dict[str, str] = {
    "gsm8k": "polaris.tasks.gsm8k",
    "math": "polaris.tasks.math",
    "math500": "polaris.tasks.math",
    "bbh": "polaris.tasks.bbh",
    "mmlu": "polaris.tasks.mmlu",
    "blocksworld": "polaris.tasks.blocksworld",  # blocksworld, blocksworld/mystery, blocksworld/random, .../pddl
    "lab": "polaris.tasks.lab",  # lab/add-3, lab/mul-2x1, lab/sum-4x2, lab/chain-4, ...-rev (the emergence lab)
}

SUITES: dict[str, tuple[str, ...]] = {"cot-hub": ("gsm8k", "math", "mmlu", "bbh")}


def register(family: str, module: str) -> None:
    """Add a task family (used by plug-ins and tests)."""
    FAMILIES[family] = module


def expand(names: list[str] | tuple[str, ...]) -> list[str]:
    """Suites replaced by their tasks, duplicates dropped, order kept."""
    out: list[str] = []
    for name in names:
        for n in SUITES.get(name, (name,)):
            if n not in out:
                out.append(n)
    return out


def _module(name: str):
    family = name.split("/", 1)[0]
    if family not in FAMILIES:
        known = ", ".join(sorted([*FAMILIES, *SUITES]))
        raise PolarisError(f"unknown task '{name}' (known: {known}; `polaris tasks` lists them all)")
    return importlib.import_module(FAMILIES[family])


def get_task(name: str, **options: Any) -> Task:
    return _module(name).make_task(name, **options)


def list_tasks() -> list[tuple[str, int | None, str]]:
    """(name, size, description) for every task, variants included where a family lists them."""
    rows = []
    seen: set[str] = set()
    for family, module in FAMILIES.items():
        if module in seen:
            continue  # one module serving several families lists its names once
        seen.add(module)
        mod = importlib.import_module(module)
        names = mod.task_names() if hasattr(mod, "task_names") else [family]
        for n in names:
            task = mod.make_task(n)
            rows.append((n, task.dataset.size, task.description))
    for suite, members in SUITES.items():
        rows.append((suite, None, "suite: " + ", ".join(members)))
    return rows
