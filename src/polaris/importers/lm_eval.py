"""lm-evaluation-harness `--log_samples` files (`samples_<task>_<timestamp>.jsonl`).

Each line is one document under one filter: `doc_id`, `doc` (the dataset row), `target`, `arguments`
(the requests: for generation `{"gen_args_0": {"arg_0": context, "arg_1": generation kwargs}}`), `resps`
(the raw responses, one list per request; several with `repeats`), `filtered_resps`, `filter`,
`metrics` (the metric names) and each metric's value. A document scored under several filters
(gsm8k's `strict-match` and `flexible-extract`) has a line per filter with the same responses: they
become one record whose source verdict is the `flexible-extract` filter's when there is one, else the
first filter's. Log-likelihood requests (multiple choice scored by log-probs) have no text to read
and are refused.

The task comes from the file name (`polaris.importers.foreign` knows lm-eval's names) or `--task`;
the model from the `results_<timestamp>.json` beside the file (`model_args` `pretrained=`, else
`model_name`) or `--model`. Items are matched by the document's question text (`question`, `input`,
`problem`, `query`), else by the last question in the context sent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.importers.foreign import polaris_task
from polaris.importers.records import ReadOptions, Record, Response, jsonl_lines, verdict_of

WHAT = "an lm-eval log_samples"
NAME = re.compile(r"samples_(?P<task>.+)_(?P<ts>\d{4}-\d{2}-\d{2}T[0-9.\-:]+)$")
QUESTION_FIELDS = ("question", "input", "problem", "query", "Question")
PREFERRED_FILTER = "flexible-extract"


def _results(path: Path) -> dict[str, Any]:
    m = NAME.match(path.stem)
    side = path.with_name(f"results_{m.group('ts')}.json") if m else None
    if side is None or not side.is_file():
        return {}
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def model_name(results: dict[str, Any]) -> str | None:
    args = (results.get("config") or {}).get("model_args")
    if isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() in ("pretrained", "model") and value.strip():
                return value.strip()
    if isinstance(args, dict):
        for key in ("pretrained", "model"):
            if isinstance(args.get(key), str):
                return args[key]
    name = results.get("model_name")
    return name if isinstance(name, str) and name else None


def _request(row: dict[str, Any], where: str) -> tuple[str | None, dict[str, Any] | None]:
    """(context sent, generation kwargs); kwargs None: not a generation request (log-likelihood)."""
    args = row.get("arguments")
    first: Any = None
    if isinstance(args, dict) and args:
        req = next(iter(args.values()))
        first = [req.get("arg_0"), req.get("arg_1")] if isinstance(req, dict) else None
    elif isinstance(args, list) and args:
        first = args[0]
    if not isinstance(first, list | tuple) or not first:
        raise PolarisError(f"{where}: not {WHAT} record (no 'arguments' request)")
    context = first[0] if isinstance(first[0], str) else None
    if len(first) < 2:
        return context, {}
    return context, first[1] if isinstance(first[1], dict) else None


def _texts(resps: Any) -> list[str] | None:
    """The raw responses of the record's (single) generation request."""
    if not isinstance(resps, list) or not resps:
        return None
    first = resps[0]
    if isinstance(first, str):
        return [r for r in resps if isinstance(r, str)]
    if isinstance(first, list) and all(isinstance(r, str) for r in first) and first:
        return list(first)
    return None


def _verdict(row: dict[str, Any]) -> float | None:
    for name in row.get("metrics") or ():
        v = verdict_of(row.get(name))
        if v is not None:
            return v
    return None


def read(path: Path, name: str, opts: ReadOptions) -> Iterator[Record]:
    m = NAME.match(path.stem)
    foreign = polaris_task(m.group("task")) if m else None
    task, group, fmt = foreign or (None, None, None)
    model = model_name(_results(path))
    docs: dict[Any, list[tuple[int, dict[str, Any]]]] = {}
    for line, row in jsonl_lines(path, name, WHAT):
        if "doc_id" not in row or "resps" not in row:
            raise PolarisError(f"{name}:{line}: not {WHAT} record (no 'doc_id' and 'resps')")
        docs.setdefault(json.dumps(row["doc_id"]), []).append((line, row))
    for lines in docs.values():
        line, row = lines[0]
        where = f"{name}:{line}"
        context, kwargs = _request(row, where)
        if kwargs is None:
            raise PolarisError(f"{where}: a log-likelihood request (multiple choice scored by log-probs): "
                               "only generation requests (generate_until) have a response to import")
        texts = _texts(row.get("resps"))
        if not texts:
            raise PolarisError(f"{where}: record without a response (field 'resps' holds no text)")
        chosen = next((r for _, r in lines if r.get("filter") == PREFERRED_FILTER), row)
        filtered = chosen.get("filtered_resps")
        answer = filtered[0] if isinstance(filtered, list) and filtered and isinstance(filtered[0], str) else None
        doc = row.get("doc") if isinstance(row.get("doc"), dict) else {}
        question = next((doc[k] for k in QUESTION_FIELDS if isinstance(doc.get(k), str)), None)
        choices = doc.get("choices")
        target = row.get("target")
        verdict = _verdict(chosen)
        responses = tuple(Response(t, verdict=verdict if len(texts) == 1 else None,
                                   answer=answer if len(texts) == 1 else None) for t in texts)
        yield Record(
            file=name, line=line, model=model, task=task, prompt_format=fmt, responses=responses,
            question=question, prompt=context,
            choices=tuple(choices) if isinstance(choices, list) and all(isinstance(c, str) for c in choices) else (),
            group=group, target=str(target) if isinstance(target, str | int | float) else None,
            verdict=verdict, answer=answer,
            temperature=float(kwargs["temperature"]) if isinstance(kwargs.get("temperature"), int | float) else None,
        )
