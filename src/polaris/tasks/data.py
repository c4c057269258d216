"""Reading benchmark files with errors that name the file, the line and the field.

Data lives in `polaris.config.data_dir()`, laid out like ../shared/datasets (`gsm8k/test.jsonl`,
`mmlu/test/<subject>_test.csv`, ...). A missing file says how to get it; a malformed row says where.
"""

from __future__ import annotations

import csv
import io
import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from polaris.config import data_dir
from polaris.errors import PolarisError
from polaris.userfiles import jsonl_objects
from polaris.userfiles import read_text as user_text


def data_file(dataset: str, relpath: str) -> Path:
    """Path of a data file, or a one-line error saying how to get it."""
    root = data_dir()
    path = root / dataset / relpath
    if not path.is_file():
        raise PolarisError(
            f"missing data file {path}: run `polaris data fetch {dataset}` "
            f"or set POLARIS_DATA_DIR to a directory that has {dataset}/{relpath}"
        )
    return path


def read_jsonl(path: Path, required: Sequence[str] = (), limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a JSON Lines file (the first `limit` rows only, if given)."""
    return [row for _, row in numbered_jsonl(path, required, limit)]


def numbered_jsonl(path: Path, required: Sequence[str] = (),
                   limit: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Like `read_jsonl`, each row with its line number (for errors about a row's fields)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for n, row in jsonl_objects(path, "a JSON Lines data file"):
        if limit is not None and len(rows) >= limit:
            break
        for key in required:
            if key not in row:
                raise PolarisError(f"{path}:{n}: missing field '{key}'")
        rows.append((n, row))
    return rows


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise PolarisError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None


def read_csv(path: Path, columns: int) -> list[list[str]]:
    """Headerless CSV rows with exactly `columns` fields (quoted newlines allowed)."""
    text = read_text(path)
    rows = []
    # Not str.splitlines: it also breaks at U+0085 and U+2028, which occur inside MMLU questions.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            if not row:
                continue
            if len(row) != columns:
                raise PolarisError(
                    f"{path}:{reader.line_num}: expected {columns} fields, found {len(row)}"
                )
            rows.append(row)
    except csv.Error as exc:
        raise PolarisError(f"{path}:{reader.line_num}: malformed CSV ({exc})") from None
    return rows


def read_text(path: Path) -> str:
    return user_text(path, "data file")


def files_hash(paths: Iterable[Path]) -> str:
    """SHA-256 over the files' names and bytes: the dataset identity in run manifests."""
    h = hashlib.sha256()
    for p in sorted(paths, key=str):
        h.update(p.name.encode())
        h.update(hashlib.sha256(p.read_bytes()).digest())
    return h.hexdigest()
