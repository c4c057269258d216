"""inspect_ai evaluation logs (`.eval` and `.json`).

Read with inspect_ai's own reader (`inspect_ai.log.read_eval_log`) when it is installed (extra
`inspect`), else with a reader of its documented layout: the `.json` log, or the `.eval` zip
(`header.json` and one `samples/<id>_epoch_<n>.json` per sample) when its compression is one Python
reads (recent inspect_ai writes zstd, which needs inspect_ai or `inspect log convert --to json`).

Each sample id is one record; its epochs are the record's samples, in epoch order. The sample's
`input` (or its last user message) is the question; `output.completion` the response, with its stop
reason (`max_tokens` and `model_length` read as "length", a cut response) and token usage; the
first scorer's `value` and `answer` are the source's verdict and reading. A
sample that ended in an error without output is imported as a failed item (not a wrong answer). The
task comes from `eval.task` when `polaris.importers.foreign` knows it, else `--task`; the model from
`eval.model`.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.importers.foreign import polaris_task
from polaris.importers.records import ReadOptions, Record, Response, load_json, verdict_of

WHAT = "an inspect_ai eval log"
# inspect's stop reasons for a response cut at its limit; Polaris (and OpenAI) call that "length".
CUT = ("max_tokens", "model_length")


def _with_inspect(path: Path, name: str) -> dict[str, Any] | None:
    try:
        from inspect_ai.log import read_eval_log  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # inspect_ai's own errors: the file is not one of its logs
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise PolarisError(f"{name}: not {WHAT} ({type(exc).__name__}: {first})") from None
    return log.model_dump(mode="json")


def _from_zip(path: Path, name: str) -> dict[str, Any]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PolarisError(f"{name}: not {WHAT} (neither JSON nor an .eval zip)") from None
    with zf:
        names = zf.namelist()
        if "header.json" not in names and "_journal/start.json" not in names:
            raise PolarisError(f"{name}: not {WHAT} (the zip has no header.json)")
        try:
            header = json.loads(zf.read("header.json" if "header.json" in names else "_journal/start.json"))
            samples = [json.loads(zf.read(n)) for n in sorted(names)
                       if n.startswith("samples/") and n.endswith(".json")]
        except NotImplementedError:
            raise PolarisError(f"{name}: this .eval log is zstd-compressed; install inspect_ai "
                               "(pip install 'polaris-lab[inspect]') or convert it with "
                               "`inspect log convert --to json`") from None
    return {**header, "samples": samples}


def load(path: Path, name: str) -> dict[str, Any]:
    doc = _with_inspect(path, name)
    if doc is None:
        doc = _from_zip(path, name) if zipfile.is_zipfile(path) else load_json(path, name, WHAT)
    if not isinstance(doc, dict) or not isinstance(doc.get("eval"), dict):
        raise PolarisError(f"{name}: not {WHAT} (no 'eval' header)")
    if not isinstance(doc.get("samples"), list):
        raise PolarisError(f"{name}: the log has no samples (was it written with --no-log-samples?)")
    return doc


def _content(value: Any) -> str:
    """Message content: a string, or the text parts of a list of content items."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(p.get("text", "") for p in value if isinstance(p, dict) and p.get("type") in ("text", None))
    return ""


def _question(sample: dict[str, Any]) -> str | None:
    inp = sample.get("input")
    if isinstance(inp, str):
        return inp
    if isinstance(inp, list):
        users = [_content(m.get("content")) for m in inp if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else None
    return None


def _response(sample: dict[str, Any]) -> Response | None:
    out = sample.get("output") or {}
    choices = out.get("choices") or []
    text = out.get("completion")
    if not isinstance(text, str) or (not text and not choices):
        return None
    first = choices[0] if choices and isinstance(choices[0], dict) else {}
    usage = out.get("usage") if isinstance(out.get("usage"), dict) else {}
    calls = {"prompt_tokens": usage.get("input_tokens"), "completion_tokens": usage.get("output_tokens"),
             "total_tokens": usage.get("total_tokens"), "reasoning_tokens": usage.get("reasoning_tokens")}
    calls = {k: v for k, v in calls.items() if isinstance(v, int)}
    scores = sample.get("scores") if isinstance(sample.get("scores"), dict) else {}
    score = next(iter(scores.values()), None) if scores else None
    score = score if isinstance(score, dict) else {}
    reasoning = "".join(p.get("reasoning", "") for p in (first.get("message") or {}).get("content") or ()
                        if isinstance(p, dict) and p.get("type") == "reasoning") or None
    return Response(
        text, finish="length" if first.get("stop_reason") in CUT else first.get("stop_reason"),
        tokens=calls.get("completion_tokens"), reasoning=reasoning,
        usage=calls or None, latency=out.get("time") if isinstance(out.get("time"), int | float) else None,
        verdict=verdict_of(score.get("value")),
        answer=score.get("answer") if isinstance(score.get("answer"), str) else None,
    )


def read(path: Path, name: str, opts: ReadOptions) -> Iterator[Record]:
    doc = load(path, name)
    ev = doc["eval"]
    foreign = polaris_task(str(ev.get("task", "")))
    task, group, fmt = foreign or (None, None, None)
    model = ev.get("model") if isinstance(ev.get("model"), str) else None
    config = ev.get("model_generate_config") or (doc.get("plan") or {}).get("config") or {}
    temperature = config.get("temperature") if isinstance(config, dict) else None
    by_id: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for k, s in enumerate(doc["samples"], 1):
        if not isinstance(s, dict) or "id" not in s:
            raise PolarisError(f"{name} (sample {k}): not {WHAT} sample (no 'id')")
        by_id.setdefault(json.dumps(s["id"]), []).append((k, s))
    for samples in by_id.values():
        samples.sort(key=lambda ks: ks[1].get("epoch") or 0)
        k, first = samples[0]
        at = f"sample {first['id']}"
        responses = [_response(s) for _, s in samples]
        errors = [s.get("error") for _, s in samples if s.get("error")]
        if any(r is None for r in responses):
            if not errors:
                raise PolarisError(f"{name} ({at} epoch {samples[responses.index(None)][1].get('epoch')}): "
                                   "record without a response (no output and no error)")
            message = errors[0].get("message") if isinstance(errors[0], dict) else str(errors[0])
            got: tuple[Response, ...] = ()
            error: str | None = f"source error: {str(message).splitlines()[0] if message else 'no output'}"
        else:
            got, error = tuple(r for r in responses if r is not None), None
        verdicts = [r.verdict for r in got]
        target = first.get("target")
        messages = [m for m in first.get("messages") or () if isinstance(m, dict)]
        if messages and messages[-1].get("role") == "assistant":
            messages = messages[:-1]  # what was sent, without the reply
        choices = first.get("choices")
        yield Record(
            file=name, line=None, at=at, model=model, task=task, prompt_format=fmt, responses=got,
            item_id=str(first["id"]), question=_question(first),
            messages=tuple((str(m.get("role")), _content(m.get("content"))) for m in messages),
            choices=tuple(choices) if isinstance(choices, list) and all(isinstance(c, str) for c in choices) else (),
            group=group, target=target if isinstance(target, str) else None,
            verdict=sum(verdicts) / len(verdicts) if verdicts and None not in verdicts else None,
            answer=got[0].answer if len(got) == 1 else None, error=error,
            temperature=temperature if isinstance(temperature, int | float) else None,
        )
