"""PlanBench's result files (karthikv792/LLMs-Planning, `results/<domain>/<engine>/*.json`).

Layout: `{"task", "engine", "prompt_type": "oneshot"|"zeroshot", "domain", "instances": [...]}`; each
instance has `instance_id` (the problem file `instance-<id>.pddl`), `query` (the prompt sent),
`llm_raw_response`, `extracted_llm_plan` (PlanBench's reading) and `correct` or `llm_correct`
(PlanBench's VAL-checked verdict). Back-prompting files (LLM-Modulo) keep the whole conversation in
`messages` instead: the assistant turns are the successive plans, and `correct` says whether a valid
plan came within the rounds.

The problem is read from the instance file the record names, in `--instances-dir` (a folder with the
`instance-N.pddl` files, or one with a `blocksworld/` or `mystery/` folder of them), by default the
data directory's `planbench/instances/<domain>`. Prompts written in PDDL (`[QUERY PROBLEM]`) go to the
PDDL variants of the task. A back-prompting file becomes an LLM-Modulo cell whose rounds are the most
any of its records used, with first-failure feedback (PlanBench's); a conversation that ends sooner
without a plan Polaris accepts ends there (the source stopped asking), and is scored on its last plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.importers.records import ReadOptions, Record, Response, json_with_lines, verdict_of

WHAT = "a PlanBench result"
PROMPTS = {"oneshot": "one-shot", "zeroshot": "zero-shot"}
DOMAINS = {"blocksworld": ("blocksworld", "blocksworld/pddl", "blocksworld"),
           "mystery": ("blocksworld/mystery", "blocksworld/mystery-pddl", "mystery")}


def _domain(header: dict[str, Any], name: str) -> str:
    domain = str(header.get("domain", "")).split("/", 1)[0]
    for key in ("mystery", "blocksworld"):  # "mystery_blocksworld" is the mystery domain
        if domain.startswith(key):
            return key
    raise PolarisError(f"{name}: PlanBench domain '{header.get('domain')}' has no Polaris task "
                       "(Blocksworld and Mystery Blocksworld are supported)")


def _instances_dir(opts: ReadOptions, folder: str) -> str:
    from polaris.config import data_dir

    if opts.instances_dir is None:
        root = data_dir() / "planbench" / "instances" / folder
        if not root.is_dir():
            raise PolarisError(f"no PlanBench instances at {root}: "
                               "pass --instances-dir (the folder of instance-N.pddl)")
        return str(root)
    root = Path(opts.instances_dir).expanduser()
    return str(root / folder if (root / folder).is_dir() else root)


def _plan_text(value: Any) -> str | None:
    if isinstance(value, list):
        return "\n".join(str(a) for a in value)
    return value if isinstance(value, str) else None


def _replies(messages: Any) -> list[str]:
    """The assistant turns of a back-prompting conversation, empty replies included (no plan: a round)."""
    if not isinstance(messages, list):
        return []
    return [str(m.get("content") or "") for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]


def read(path: Path, name: str, opts: ReadOptions) -> Iterator[Record]:
    header, rows = json_with_lines(path, name, WHAT, "instances")
    domain = _domain(header, name)
    prompt_type = str(header.get("prompt_type", ""))
    if prompt_type not in PROMPTS and opts.prompt is None:
        raise PolarisError(f"{name}: PlanBench prompt type '{prompt_type}' has no Polaris prompt format "
                           "(oneshot, zeroshot); pass --prompt to name one")
    engine = header.get("engine")
    task_nl, task_pddl, folder = DOMAINS[domain]
    instances = _instances_dir(opts, folder)
    modulo = any(isinstance(r, dict) and "messages" in r for _, r in rows)
    # The cell's rounds are the most any record used: the source's limit, as far as the file shows it.
    rounds = max((len(_replies(r.get("messages"))) for _, r in rows if isinstance(r, dict)), default=1) - 1
    for k, (line, r) in enumerate(rows, 1):
        where = f"{name}:{line} (record {k})"
        if not isinstance(r, dict) or "instance_id" not in r:
            raise PolarisError(f"{where}: not {WHAT} record (no 'instance_id')")
        verdict = verdict_of(r.get("llm_correct", r.get("correct")))
        answer = _plan_text(r.get("extracted_llm_plan"))
        if modulo:
            messages = r.get("messages")
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise PolarisError(f"{where}: not {WHAT} record: field 'messages' is not a list of messages")
            said = _replies(messages)
            if not said:
                raise PolarisError(f"{where}: record without a response (no assistant message)")
            first = [m for m in messages[:2] if m.get("role") in ("system", "user")]
            query = next((str(m.get("content")) for m in first if m.get("role") == "user"), "")
            responses = tuple(Response(t) for t in said)
            shown = tuple((str(m.get("role")), str(m.get("content") or "")) for m in first)
            options = (("instances_dir", instances), ("verifier_rounds", max(rounds, 1)), ("feedback", "first"))
        else:
            raw = r.get("llm_raw_response")
            if not isinstance(raw, str):
                raise PolarisError(f"{where}: record without a response (field 'llm_raw_response' is "
                                   f"{'missing' if raw is None else 'not text'})")
            query = r.get("query") if isinstance(r.get("query"), str) else ""
            responses = (Response(raw, verdict=verdict, answer=answer),)
            shown = ()
            options = (("instances_dir", instances),)
        pddl = "[QUERY PROBLEM]" in query
        yield Record(
            file=name, line=line, at=f"record {k}", model=str(engine) if engine else None,
            task=task_pddl if pddl else task_nl,
            prompt_format=PROMPTS.get(prompt_type), responses=responses, turns=modulo,
            item_id=f"instance-{r['instance_id']}", prompt=query or None, messages=shown,
            verdict=verdict, answer=answer, task_options=options,
        )
