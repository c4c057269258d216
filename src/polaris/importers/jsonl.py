"""A generic JSONL file of generations, one object per line, for anything without its own reader.

Fields (all optional but a response and a way to find the item):

| field | meaning |
|---|---|
| `id` | a Polaris item id (`gsm8k/test/17`, `bbh/navigate/3`); else matched by `question` |
| `question` | the question alone |
| `prompt` | the prompt as sent, exemplars first: the last question in it names the item |
| `response` / `responses` | the model's text / a list of texts (K samples) |
| `model`, `task`, `prompt_format` | else `--model`, `--task` (required), `--prompt` |
| `correct`, `answer` | the source's own verdict (true/false or 0..1) and reading of the answer |
| `target` | the source's gold answer (checked against Polaris's; disambiguates equal questions) |
| `error` | the request failed at the source: imported as a failed item, not a wrong answer |
| `finish`, `tokens`, `usage`, `latency` | stop reason, completion tokens, usage object, seconds |

`--map FIELD=PATH` reads a field from elsewhere in the object: PATH is dot-separated keys, list
indexes, and `*` for every element of a list (`responses=response.body.choices.*.message.content`);
`A|B` tries A, then B. An OpenAI Batch API output file (`/v1/chat/completions` requests whose
`custom_id` is the Polaris item id) imports with

    --map id=custom_id --map responses=response.body.choices.*.message.content
    --map model=response.body.model --map usage=response.body.usage
    --map finish=response.body.choices.0.finish_reason
    --map "error=error.message|response.body.error.message"
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.importers.records import ReadOptions, Record, Response, jsonl_lines, verdict_of

WHAT = "a generations JSONL"
FIELDS = ("id", "question", "prompt", "response", "responses", "model", "task", "prompt_format", "correct",
          "answer", "target", "error", "finish", "tokens", "usage", "latency", "group")


def parse_maps(values: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """["responses=a.b.*.c"] -> (("responses", "a.b.*.c"),); a bad one is a one-line error."""
    out = []
    for v in values:
        key, sep, path = v.partition("=")
        key, path = key.strip(), path.strip()
        if not sep or not path:
            raise PolarisError(f"--map '{v}': expected FIELD=PATH, e.g. "
                               "responses=response.body.choices.*.message.content")
        if key not in FIELDS:
            raise PolarisError(f"--map '{v}': unknown field '{key}' (fields: {', '.join(FIELDS)})")
        out.append((key, path))
    return tuple(out)


def lookup(obj: Any, path: str) -> Any:
    """The value at a dotted path (`a.b.0.c`, `a.*.c` for every element); None when absent."""
    for alternative in path.split("|"):
        value = _walk(obj, [p for p in alternative.strip().split(".") if p])
        if value is not None and value != []:
            return value
    return None


def _walk(obj: Any, parts: list[str]) -> Any:
    for i, part in enumerate(parts):
        if part == "*":
            if not isinstance(obj, list):
                return None
            got = [_walk(x, parts[i + 1 :]) for x in obj]
            return [g for g in got if g is not None]
        if isinstance(obj, Mapping):
            obj = obj.get(part)
        elif isinstance(obj, list) and part.lstrip("-").isdigit() and -len(obj) <= int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
        if obj is None:
            return None
    return obj


def _text(value: Any, where: str, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise PolarisError(f"{where}: field '{key}' is a {type(value).__name__}, not text (use --map to pick the text)")


def read(path: Path, name: str, opts: ReadOptions) -> Iterator[Record]:
    maps = dict(opts.maps)
    for line, row in jsonl_lines(path, name, WHAT):
        where = f"{name}:{line}"

        def get(key: str) -> Any:
            return lookup(row, maps[key]) if key in maps else row.get(key)

        many = get("responses")
        one = get("response")
        if many is not None:
            if not isinstance(many, list) or not all(isinstance(t, str) for t in many):
                raise PolarisError(f"{where}: field 'responses' is not a list of texts")
            texts = list(many)
        elif one is not None:
            texts = [_text(one, where, "response") or ""]
        else:
            texts = []
        error = _text(get("error"), where, "error")
        if not texts and not error:
            raise PolarisError(f"{where}: record without a response (no 'response' or 'responses' field"
                               + (", after --map" if maps else "") + ")")
        usage = get("usage") if isinstance(get("usage"), Mapping) else None
        tokens = get("tokens")
        latency = get("latency")
        verdict = verdict_of(get("correct"))
        answer = _text(get("answer"), where, "answer")
        finish = get("finish")
        one_sample = len(texts) == 1
        responses = tuple(
            Response(t, finish=finish if isinstance(finish, str) else None,
                     tokens=tokens if isinstance(tokens, int) and one_sample else None,
                     usage=usage, latency=float(latency) if isinstance(latency, int | float) else None,
                     verdict=verdict if one_sample else None, answer=answer if one_sample else None)
            for t in texts
        )
        ident = get("id")
        yield Record(
            file=name, line=line, model=_text(get("model"), where, "model"), task=_text(get("task"), where, "task"),
            prompt_format=_text(get("prompt_format"), where, "prompt_format"), responses=responses,
            item_id=str(ident) if ident is not None else None, question=_text(get("question"), where, "question"),
            prompt=_text(get("prompt"), where, "prompt"), group=_text(get("group"), where, "group"),
            target=_text(get("target"), where, "target"), verdict=verdict, answer=answer,
            error=f"source error: {error}" if error and not texts else None,
        )
