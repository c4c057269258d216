"""`polaris tasks`: one line per suite, `--all` for every task, `polaris tasks TASK` for one task's
details and its `-T` options (cli/options.py)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any, Optional

import typer

from polaris.cli import app

STANDARD = ("fewshot-cot", "fewshot-direct", "zeroshot-cot", "zeroshot-direct")
EXAMPLES = {"blocks": "4", "template": "closed"}  # `polaris tasks TASK`'s example -T value
ABOUT = {  # one line per suite; `polaris tasks NAME` and `--all` give the full descriptions
    "gsm8k": "grade-school math word problems",
    "math": "competition mathematics, 7 subjects",
    "math500": "MATH-500, a subset of MATH",
    "bbh": "BIG-Bench Hard, mean over tasks",
    "mmlu": "57 subjects, multiple choice",
    "blocksworld": "PlanBench plan generation",
    "lab": "the emergence lab's arithmetic",
}


@dataclass(frozen=True)
class Entry:
    name: str
    family: str
    task: Any  # polaris.tasks.base.Task


def entries() -> list[Entry]:
    """Every listed task with its family, in the registry's order."""
    import importlib

    from polaris.tasks.registry import FAMILIES

    out, seen = [], set()
    for family, module in FAMILIES.items():
        if module in seen:
            continue  # one module serving several families lists its names once
        seen.add(module)
        mod = importlib.import_module(module)
        for n in (mod.task_names() if hasattr(mod, "task_names") else [family]):
            out.append(Entry(n, n.split("/", 1)[0], mod.make_task(n)))
    return out


def formats_text(formats: tuple[str, ...]) -> str:
    return "few/zero-shot × cot/direct" if tuple(sorted(formats)) == STANDARD else ", ".join(formats)


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def families(rows: list[Entry]) -> list[dict[str, Any]]:
    """One record per family: the family's own task (gsm8k, bbh) or, for a family of variants only (lab),
    a summary of them; its subtasks."""
    out: dict[str, dict[str, Any]] = {}
    for e in rows:
        f = out.setdefault(e.family, {"name": e.family, "size": None, "subtasks": [], "formats": e.task.formats,
                                      "about": None})
        if e.name == e.family:
            f.update(size=e.task.dataset.size, about=ABOUT.get(e.family, e.task.description), formats=e.task.formats)
        else:
            f["subtasks"].append(e.name)
    for f in out.values():
        if f["about"] is None:  # variants only: lab/add-3, lab/mul-2, ... (any name of the family's grammar)
            f["name"] = f"{f['name']}/<task>"
            first = next(e for e in rows if e.name == f["subtasks"][0])
            f["about"] = ABOUT.get(first.family, first.task.description)
            f["size"] = first.task.dataset.size
    return list(out.values())


def _overview(rows: list[Entry]) -> None:
    from polaris.cli.tables import Col, Grid, table_console
    from polaris.tasks.registry import SUITES

    table = Grid("Tasks by suite (`polaris tasks --all`: every task; `polaris tasks TASK`: its details and options)",
                 [Col("task", wrap=False), Col("items", "right"), Col("subtasks", "right"), Col("prompt formats"),
                  Col("about", drop=1)], one_line=True)
    for f in families(rows):
        table.add_row(f["name"], _size(f["size"]), str(len(f["subtasks"])) if f["subtasks"] else "-",
                      formats_text(f["formats"]), f["about"])
    for suite, members in SUITES.items():
        table.add_row(suite, "-", str(len(members)), "-", "suite: " + ", ".join(members))
    out = table.print(table_console())
    out.print("few/zero-shot × cot/direct: -p fewshot-cot (the default), fewshot-direct, zeroshot-cot,"
              " zeroshot-direct", style="dim")


def _about(e: Entry) -> str:
    """A subtask's description without its own name, which the first column says ("BIG-Bench Hard:
    navigate (3-shot ...)" -> "BIG-Bench Hard (3-shot ...)")."""
    text = e.task.description
    variant = e.name.split("/", 1)[1] if "/" in e.name else ""
    for v in (variant, variant.replace("_", " ")) if len(variant) > 3 else ():
        text = re.sub(rf"(?<![\w/-]){re.escape(v)}(?![\w/-])", "", text)
    text = re.sub(r"\s*:\s*(\(|$)", r" \1", text)
    return " ".join(text.split())


def _every(rows: list[Entry]) -> None:
    from polaris.cli.tables import Col, Grid, table_console

    table = Grid("Every task (`polaris tasks TASK`: its details and options)",
                 [Col("task", wrap=False), Col("items", "right"), Col("about")])
    last = said = None
    for e in rows:
        if last is not None and e.family != last:
            table.add_section()
        about = _about(e)
        table.add_row(e.name, _size(e.task.dataset.size), "" if about == said and e.family == last else about)
        last, said = e.family, about
    table.print(table_console())


def details(name: str) -> dict[str, Any]:
    """What `polaris tasks TASK` shows, as a document."""
    from polaris.cli.options import task_opts
    from polaris.tasks.registry import SUITES, get_task

    if name in SUITES:
        return {"task": name, "suite": list(SUITES[name])}
    task = get_task(name)
    default = "fewshot-cot" if "fewshot-cot" in task.formats else task.formats[0]
    prompts = {k: v for k, v in task.dataset.prompt_names.items()}
    subtasks = [e.name for e in entries() if e.family == name and e.name != name] if "/" not in name else []
    return {"task": task.name, "description": task.description, "size": task.dataset.size,
            "formats": list(task.formats), "default_format": default, "headline": task.headline,
            "default_prompts": prompts, "subtasks": subtasks,
            "options": [{"name": o.name, "default": o.default, "help": o.help} for o in task_opts(name, task)]}


def _show(doc: dict[str, Any]) -> None:
    from polaris.cli.tables import Col, Grid, table_console

    out = table_console()
    if "suite" in doc:
        out.print(f"{doc['task']}: a suite of {', '.join(doc['suite'])} (`polaris tasks NAME` for each)")
        return
    out.print(f"{doc['task']}: {doc['description']}")
    out.print(f"items: {_size(doc['size'])}" + ("; headline: mean over groups (macro)" if doc["headline"] == "macro"
                                                else ""))
    out.print("prompt formats (-p): " + ", ".join(f + (" (default)" if f == doc["default_format"] else "")
                                                  for f in doc["formats"]))
    for kind, text in doc["default_prompts"].items():
        out.print(f"default {kind} prompt: {text}")
    if doc["subtasks"]:
        out.print(f"subtasks ({len(doc['subtasks'])}): " + ", ".join(doc["subtasks"]))
    if not doc["options"]:
        out.print("task options (-T): none")
        return
    table = Grid("task options: -T NAME=VALUE", [Col("name", wrap=False), Col("default"), Col("what")])
    for o in doc["options"]:
        table.add_row(o["name"], o["default"], o["help"])
    table.print(out)
    first = doc["options"][0]
    value = EXAMPLES.get(first["name"], first["default"])
    out.print(f"e.g. polaris run -m MODEL -t {doc['task']} -T {first['name']}={value}")


@app.command()
def tasks(
    name: Optional[str] = typer.Argument(None, metavar="TASK", help="One task, family or suite: its details and -T options"),
    show_all: bool = typer.Option(False, "--all", help="Every task, not one line per suite"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """List the tasks: one line per suite (items, subtasks, prompt formats); `--all` lists every task."""
    if name is not None:
        doc = details(name)
        if as_json:
            json.dump(doc, sys.stdout, indent=2)
            sys.stdout.write("\n")
        else:
            _show(doc)
        return
    rows = entries()
    if as_json:
        from polaris.cli.options import task_opts
        from polaris.tasks.registry import SUITES

        doc = [{"task": e.name, "family": e.family, "size": e.task.dataset.size, "description": e.task.description,
                "formats": list(e.task.formats), "options": [o.name for o in task_opts(e.name, e.task)]} for e in rows]
        doc += [{"task": s, "suite": list(m)} for s, m in SUITES.items()]
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif show_all:
        _every(rows)
    else:
        _overview(rows)
