"""PlanBench's published result files: the responses of real models with PlanBench's verdicts.

A result file (`llm_planning_analysis/results/<domain>/<model>/task_1_plan_generation*.json` in
karthikv792/LLMs-Planning) is `{"task", "engine", "prompt_type", "domain", "instances": [...]}`, each
instance with `instance_id`, `query` (the prompt), `llm_raw_response`, `extracted_llm_plan` (PlanBench's
parse) and its verdict, `llm_correct` (older files: `correct`).

Back-prompting files (`..._backprompting.json`, LLM-Modulo with VAL's feedback) hold one conversation
per instance in `messages` (system, the prompt, then the model's answers and VAL's feedback in turn)
and the final verdict in `correct`. Every round is judged: an answer followed by feedback was found
invalid (the loop stops at the first valid plan), and the last answer has the record's verdict. So a
back-prompting file yields one response per round, numbered from 0.

Which rendering a file uses is read from its prompts: Mystery names (`attack`, `craves`) or
Blocksworld's, and PDDL (`(define (domain ...`) or natural language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from polaris.errors import PolarisError


@dataclass(frozen=True, slots=True)
class PlanBenchResponse:
    instance_id: int
    text: str  # the model's response, verbatim
    planbench_valid: bool  # PlanBench's verdict on this response
    planbench_plan: str  # PlanBench's own reading (the final plan, for back-prompting rounds)
    round: int | None = None  # back-prompting: 0 is the first answer


@dataclass(frozen=True)
class PlanBenchFile:
    path: Path
    model: str
    domain: str  # "blocksworld" | "mystery": which instance directory the ids refer to
    rendering: str  # blocksworld | mystery | pddl | pddl-mystery
    prompt: str  # "one-shot" | "zero-shot"
    backprompting: bool
    responses: tuple[PlanBenchResponse, ...]


def _rendering(queries: list[str]) -> tuple[str, str]:
    text = " ".join(queries[:3]).lower()
    domain = "mystery" if ("craves" in text or "feast" in text) else "blocksworld"
    pddl = "(define" in text
    return domain, (("pddl-mystery" if domain == "mystery" else "pddl") if pddl else domain)


def _plan_text(plan) -> str:
    return "\n".join(plan) if isinstance(plan, list) else str(plan or "")


def load_results(path: str | Path) -> PlanBenchFile:
    """Read one PlanBench result file (plain or back-prompting). Errors name the file and field."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolarisError(f"{path} does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PolarisError(f"{path}: not a PlanBench result file ({exc})") from None
    records = data.get("instances") if isinstance(data, dict) else None
    if not isinstance(records, list) or not records:
        raise PolarisError(f"{path}: no 'instances' list (not a PlanBench result file)")
    back = "messages" in records[0]
    out: list[PlanBenchResponse] = []
    queries: list[str] = []
    for k, rec in enumerate(records):
        where = f"{path}: instances[{k}]"
        try:
            iid = int(rec["instance_id"])
            if back:
                msgs = rec["messages"]
                queries.append(next(m["content"] for m in msgs if m["role"] == "user"))
                answers = [i for i, m in enumerate(msgs) if m["role"] == "assistant"]
                for r, i in enumerate(answers):
                    followed = any(m["role"] == "user" for m in msgs[i + 1:])
                    out.append(PlanBenchResponse(iid, msgs[i]["content"] or "", not followed and bool(rec["correct"]),
                                                 _plan_text(rec.get("extracted_llm_plan")), r))
            else:
                queries.append(rec["query"])
                verdict = rec["llm_correct"] if "llm_correct" in rec else rec["correct"]
                out.append(PlanBenchResponse(iid, rec["llm_raw_response"] or "", bool(verdict),
                                             _plan_text(rec.get("extracted_llm_plan"))))
        except KeyError as exc:
            raise PolarisError(f"{where}: missing field {exc}") from None
        except (TypeError, ValueError, StopIteration):
            raise PolarisError(f"{where}: malformed record") from None
    domain, rendering = _rendering(queries)
    prompt = str(data.get("prompt_type", "")).replace("shot", "-shot")
    return PlanBenchFile(path, str(data.get("engine", "")), domain, rendering, prompt or "one-shot", back, tuple(out))


def instance_file(root: str | Path, domain: str, instance_id: int) -> Path:
    """`instance-N.pddl` of a PlanBench instance directory laid out as `instances/<domain>/` under `root`
    (../shared/datasets/planbench) or as `root` itself."""
    root = Path(root)
    for cand in (root / "instances" / domain / f"instance-{instance_id}.pddl", root / domain / f"instance-{instance_id}.pddl",
                 root / f"instance-{instance_id}.pddl"):
        if cand.is_file():
            return cand
    raise PolarisError(f"{root}: no instance-{instance_id}.pddl for {domain}")
