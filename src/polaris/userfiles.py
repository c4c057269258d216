"""Reading a user's files (data files, plans, records to import, experiment files, price tables):
whatever goes wrong is one line naming the file, what it should have been and, for bad bytes, the line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError


def read_text(path: Path, what: str = "file", *, shown: str | Path | None = None) -> str:
    """The file as text (UTF-8). `shown` is the name the error gives (default: the path)."""
    name = path if shown is None else shown
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolarisError(f"{name}: no such {what}") from None
    except IsADirectoryError:
        raise PolarisError(f"{name}: a directory, not a {what}") from None
    except OSError as exc:
        raise PolarisError(f"cannot read {name}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise PolarisError(f"{name}:{line}: not valid UTF-8 (byte {exc.start}); a {what} is UTF-8 text") from None


def jsonl_objects(path: Path, what: str = "a JSON Lines file", *, shown: str | Path | None = None
                  ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of each non-blank line; a line that is not a JSON object is a one-line
    error naming the file and the line. `what` (with its article) is the kind of file expected."""
    name = path if shown is None else shown
    kind = what.split(" ", 1)[-1]  # without its article, for read_text's "no such ..."
    for n, line in enumerate(read_text(path, kind, shown=shown).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PolarisError(f"{name}:{n}: malformed JSON ({exc.msg}); expected {what}, one JSON object per line") from None
        if not isinstance(obj, dict):
            raise PolarisError(f"{name}:{n}: a JSON {type(obj).__name__}, not an object; expected {what}, "
                               "one JSON object per line")
        yield n, obj


def read_yaml(path: Path, what: str, *, nodes: bool = False) -> Any:
    """The file's data (with `nodes=True`: (data, node tree) for locating later errors by line).
    A missing file, an unreadable one and a syntax error are one line naming the file and `what`
    it should have been."""
    import yaml

    text = read_text(path, what)
    try:
        data = yaml.safe_load(text)
        return (data, yaml.compose(text, Loader=yaml.SafeLoader)) if nodes else data
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolarisError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
