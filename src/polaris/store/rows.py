"""The rows the store hands out (frozen where callers must not change them), and the content hash
that names requests and runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(obj: Any) -> str:
    """Content hash of a JSON-able object (canonical: sorted keys, no whitespace)."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SampleRow:
    idx: int
    text: str | None
    finish: str | None
    reasoning: str | None
    tokens: int | None
    data: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    label: str
    spec: dict[str, Any]
    manifest: dict[str, Any]
    created: float
    updated: float


@dataclass(frozen=True, slots=True)
class InvocationRow:
    """One invocation that filled a run (runner/history.py): where its answers came from and how much."""

    id: int
    run: str
    source: str  # run | experiment | rescore | import | ...
    started: float
    finished: float | None  # None: still running, or killed
    endpoint: str | None  # the server URL, or the in-process model (hf:<path>, lab:<weights>)
    limit: int | None  # --limit (items per cell), None for the whole dataset
    items_asked: int | None
    items_scored: int | None
    errors: int | None
    polaris_version: str | None
    scorer_version: str | None
    data: dict[str, Any]  # backend identity, executor, host, requests, provenance of imports, ...


@dataclass(slots=True)
class ResultRow:
    item: str
    idx: int
    group: str
    correct: float | None
    strict: float | None
    extracted: bool
    error: str | None
    answer: str | None
    gold: str
    data: dict[str, Any]
