"""Finding an in-process model's files and naming them exactly (hf and vllm backends).

A model is a local directory (`./ckpt`, `/abs/path`, `~/m`) or a hub id (`org/name`, optionally
`@revision`) read from the Hugging Face cache, downloaded into it unless `HF_HUB_OFFLINE=1`. Its
identity, hashed into every cache key, is the resolved path plus the hub commit, or for a directory
a fingerprint: the content of its small files (config, tokenizer) and, for weight files, their
names, sizes and 16 sampled 64 KiB blocks, which any retraining changes; hashing whole multi-GB
checkpoints on every run would cost more than the run.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polaris.models.base import BackendUnavailable

DTYPES = ("auto", "float32", "float16", "bfloat16")  # --dtype of the in-process backends
_HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
_SMALL = 4 << 20  # files up to this size are hashed whole
_BLOCK, _BLOCKS = 64 << 10, 16


def model_and_dtype(model: str, dtype: str | None) -> tuple[str, str | None, str]:
    """(spec, revision or None, dtype) of an in-process backend's `model[@revision]` and --dtype."""
    spec, _, revision = model.partition("@")
    dtype = dtype or "auto"
    if dtype not in DTYPES:
        raise BackendUnavailable(f"unknown --dtype '{dtype}' (choose from {', '.join(DTYPES)})")
    return spec, revision or None, dtype


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().split("\n")[0] or type(exc).__name__
    return " ".join(text.split())[:300]


def fingerprint(directory: Path) -> str:
    """A hash of a model directory's files (module docstring): cheap even for large checkpoints."""
    h = hashlib.sha256()
    files = sorted(p for p in directory.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(directory).parts))
    for path in files:
        size = path.stat().st_size
        h.update(f"{path.relative_to(directory).as_posix()}\0{size}\0".encode())
        with path.open("rb") as fh:
            if size <= _SMALL:
                h.update(fh.read())
                continue
            for k in range(_BLOCKS):
                fh.seek((size - _BLOCK) * k // (_BLOCKS - 1))
                h.update(fh.read(_BLOCK))
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class ModelFiles:
    load: str  # what from_pretrained / vLLM reads: a directory or a hub id
    config: Path  # its config.json on disk
    ident: dict[str, Any]  # model (absolute path or hub id) + files fingerprint or hub revision


def resolve(name: str, spec: str, revision: str | None = None) -> ModelFiles:
    """Locate the model `spec` (as written after the provider) without loading any weights."""
    local = Path(spec).expanduser()
    if local.exists() or spec.startswith((".", "/", "~")) or not _HUB_ID.match(spec):
        if not local.is_dir():
            raise BackendUnavailable(f"{name}: no model directory at {local}")
        if not (local / "config.json").is_file():
            raise BackendUnavailable(f"{name}: {local} is not a transformers model (no config.json)")
        path = str(local.resolve())
        return ModelFiles(path, local / "config.json", {"model": path, "files": fingerprint(local)})
    from transformers.utils.hub import cached_file

    offline = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    try:
        config = cached_file(spec, "config.json", revision=revision)
    except Exception as exc:  # hub errors come in many classes; the message says what happened
        where = "in the Hugging Face cache (HF_HUB_OFFLINE is set)" if offline else "on the Hugging Face hub"
        raise BackendUnavailable(f"{name}: not a local directory and not found {where}: {one_line(exc)}") from None
    if config is None:
        raise BackendUnavailable(f"{name}: the hub repository has no config.json")
    snapshot = Path(config).parent
    commit = snapshot.name if snapshot.parent.name == "snapshots" else fingerprint(snapshot)
    return ModelFiles(spec, Path(config), {"model": spec, "revision": commit})
