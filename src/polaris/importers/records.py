"""What every format reader yields: typed records of someone else's generations, and the helpers the
readers share (reading JSON and JSONL with located errors, hashing the source files).

A reader knows its file layout and nothing about stores or scoring: it turns each generation into a
`Record` (who answered, which task and prompt format, the question or the id that names the item, the
response(s), and the source's own verdict and reading of the answer where the file has them). The
matcher (`match.py`) finds the Polaris item; the writer (`writer.py`) stores and scores.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError
from polaris.userfiles import jsonl_objects, read_text


@dataclass(frozen=True, slots=True)
class Response:
    """One response as the source recorded it."""

    text: str
    finish: str | None = None  # the source's finish/stop reason ("stop", "length", "max_tokens")
    tokens: int | None = None  # completion tokens, when the source counted them
    reasoning: str | None = None
    usage: Mapping[str, Any] | None = None  # the call's token usage as the source recorded it
    latency: float | None = None  # seconds
    verdict: float | None = None  # the source's verdict on this response (1 right, 0 wrong, or a score)
    answer: str | None = None  # the source's reading of this response's answer


@dataclass(frozen=True, slots=True)
class Record:
    """One item's generation(s) in a source file."""

    file: str  # the file as named on the command line
    line: int | None  # 1-based line the record starts on; None where lines mean nothing (a zip)
    model: str | None  # as the source names it; None: the user must say (--model)
    task: str | None  # Polaris task name; None: the user must say (--task)
    prompt_format: str | None  # Polaris prompt format; None: the user must say (--prompt)
    responses: tuple[Response, ...]
    turns: bool = False  # responses are successive turns of one conversation (LLM-Modulo), not samples
    item_id: str | None = None  # a Polaris item id, when the source's id names one
    question: str | None = None  # the question alone
    prompt: str | None = None  # the whole prompt as sent (exemplars first): the last question in it wins
    messages: tuple[tuple[str, str], ...] = ()  # the source's chat messages as sent (role, content)
    choices: tuple[str, ...] = ()  # option texts, when the source lists them (disambiguates)
    group: str | None = None  # narrows matching to one group (a BBH task named by the file)
    target: str | None = None  # the source's gold answer (disambiguates; checked against Polaris's)
    verdict: float | None = None  # the source's verdict on the item
    answer: str | None = None  # the source's reading of the item's answer
    error: str | None = None  # the source's request failed: the item is an error, not a wrong answer
    task_options: tuple[tuple[str, Any], ...] = ()  # e.g. planning instances dir, LLM-Modulo rounds
    temperature: float | None = None  # decoding, when the source says (names the strategy of K samples)
    at: str | None = None  # where in the file, when a line number says little ("record 27", "sample 3")

    @property
    def where(self) -> str:
        line = f":{self.line}" if self.line is not None else ""
        return f"{self.file}{line}" + (f" ({self.at})" if self.at else "")


@dataclass(frozen=True)
class SourceFile:
    """A file read by an import, with what it says about itself (model, published score)."""

    path: Path
    name: str  # as given on the command line
    sha256: str
    records: int = 0
    score: Mapping[str, Any] | None = None  # the source's own aggregate (e.g. the paper's accuracy)
    companions: tuple[tuple[str, str], ...] = ()  # (name, sha256) of files read beside it (metrics)


@dataclass(frozen=True)
class ReadOptions:
    """What the command line says about the source: overrides and layout hints."""

    model: str | None = None
    task: str | None = None
    prompt: str | None = None
    instances_dir: str | None = None
    maps: tuple[tuple[str, str], ...] = ()  # generic jsonl: field -> path in the record
    extra: Mapping[str, Any] = field(default_factory=dict)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    except OSError as exc:
        raise PolarisError(f"cannot read {path}: {exc.strerror}") from None
    return h.hexdigest()


def _text(path: Path, name: str, what: str) -> str:
    return read_text(path, f"{what} file", shown=name)


def load_json(path: Path, name: str, what: str) -> Any:
    """A whole JSON file; a file that is not JSON is a one-line error saying what was expected."""
    text = _text(path, name, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolarisError(f"{name}:{exc.lineno}: not {what} file (invalid JSON: {exc.msg})") from None


def json_with_lines(path: Path, name: str, what: str, key: str) -> tuple[dict[str, Any], list[tuple[int, Any]]]:
    """A JSON object file whose `key` holds a list: (the other fields, [(line, element)]).

    Parsed once, element by element, so every record keeps the line it starts on (error messages and
    provenance name it) at the cost of a plain `json.loads`."""
    text = _text(path, name, what)
    dec = json.JSONDecoder()
    lines = _LineCounter(text)

    def fail(pos: int, why: str) -> PolarisError:
        return PolarisError(f"{name}:{lines.at(pos)}: not {what} file ({why})")

    def skip(pos: int) -> int:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        return pos

    def value(pos: int) -> tuple[Any, int]:
        try:
            return dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, f"invalid JSON: {exc.msg}") from None

    pos = skip(0)
    if not text.startswith("{", pos):
        raise fail(pos, "expected a JSON object")
    header: dict[str, Any] = {}
    elements: list[tuple[int, Any]] | None = None
    pos = skip(pos + 1)
    while pos < len(text) and text[pos] != "}":
        k, pos = value(pos)
        pos = skip(pos)
        if not isinstance(k, str) or not text.startswith(":", pos):
            raise fail(pos, "invalid JSON: expected a key and ':'")
        pos = skip(pos + 1)
        if k == key and text.startswith("[", pos):
            elements = []
            pos = skip(pos + 1)
            while pos < len(text) and text[pos] != "]":
                start = pos
                element, pos = value(pos)
                elements.append((lines.at(start), element))
                pos = skip(pos)
                if text.startswith(",", pos):
                    pos = skip(pos + 1)
            pos += 1
        else:
            header[k], pos = value(pos)
        pos = skip(pos)
        if text.startswith(",", pos):
            pos = skip(pos + 1)
    if elements is None:
        raise fail(0, f"no '{key}' list")
    return header, elements


class _LineCounter:
    """Line numbers of increasing offsets in one pass over the text."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos < self.pos:  # only errors look back; count afresh
            return self.text.count("\n", 0, pos) + 1
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def jsonl_lines(path: Path, name: str, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; anything else is a one-line error with its line."""
    return jsonl_objects(path, f"{what} file", shown=name)


def text_field(obj: Mapping[str, Any], key: str, where: str, what: str, *, required: bool = True) -> str | None:
    """A string field; missing or not a string is a one-line error naming the field."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        got = "missing" if value is None else f"a {type(value).__name__}, not text"
        raise PolarisError(f"{where}: not {what} record: field '{key}' is {got}")
    return value


def verdict_of(value: Any) -> float | None:
    """A source verdict as a score: true/false, 1/0, 'C'/'I' (inspect), a number in [0, 1]."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value) if 0 <= value <= 1 else None
    if isinstance(value, str):
        v = value.strip().upper()
        return {"C": 1.0, "I": 0.0, "P": 0.5, "TRUE": 1.0, "FALSE": 0.0, "CORRECT": 1.0, "INCORRECT": 0.0}.get(v)
    return None
