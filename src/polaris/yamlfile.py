"""Reading a user's YAML file (experiment files, price tables) with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polaris.errors import PolarisError


def read_yaml(path: Path, what: str, *, nodes: bool = False) -> Any:
    """The file's data (with `nodes=True`: (data, node tree) for locating later errors by line).
    A missing file, an unreadable one and a syntax error are one line naming the file and `what`
    it should have been."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolarisError(f"{path}: no such {what}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PolarisError(f"{path}: cannot read {what}: {exc}") from None
    try:
        data = yaml.safe_load(text)
        return (data, yaml.compose(text, Loader=yaml.SafeLoader)) if nodes else data
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PolarisError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
