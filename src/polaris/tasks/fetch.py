"""`polaris data fetch`: download the official benchmark files into the data directory.

Every file comes from a pinned commit of its source repository (tasks/sources.json) and is checked
against its SHA-256 before it is moved into place, so a data directory is either right or absent,
never half-written. A dataset also fetches the files of other sources its default prompts read
(`needs`: GSM8K's Wei et al. prompt and MMLU's CoT prompts are Chain-of-Thought Hub files). `--mirror URL` replaces `https://raw.githubusercontent.com/` (for mirrors and
tests).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from polaris.errors import PolarisError

GITHUB_RAW = "https://raw.githubusercontent.com/"


@dataclass(frozen=True)
class SourceFile:
    local: str  # path under <data dir>/<dataset>/
    url: str
    sha256: str


def _raw() -> dict[str, Any]:
    return json.loads(resources.files("polaris.tasks").joinpath("sources.json").read_text())


def sources() -> dict[str, list[SourceFile]]:
    return {name: [SourceFile(loc, d["base"] + rem, sha) for loc, rem, sha in d["files"]] for name, d in _raw().items()}


def wanted(name: str, table: dict[str, list[SourceFile]] | None = None) -> list[tuple[str, SourceFile]]:
    """(dataset folder, file) for everything a dataset needs: its own files, then the files of other
    sources its default prompts read."""
    table = table if table is not None else sources()
    out = [(name, f) for f in table[name]]
    for other, paths in _raw()[name].get("needs", {}).items():
        out += [(other, f) for f in table[other] if f.local in paths]
    return out


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _present(path: Path, f: SourceFile) -> bool:
    """Whether `f` is already at `path` with the right checksum."""
    return path.is_file() and _sha(path) == f.sha256


def status(dest: Path) -> dict[str, tuple[int, int]]:
    """dataset -> (files present with the right checksum, files expected)."""
    out = {}
    table = sources()
    for name in table:
        files = wanted(name, table)
        ok = sum(1 for folder, f in files if _present(dest / folder / f.local, f))
        out[name] = (ok, len(files))
    return out


async def _download(files: list[tuple[str, SourceFile]], dest: Path, mirror: str | None, concurrency: int,
                    on_file: Callable[[], None]) -> None:
    import aiohttp

    sem = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=300, sock_connect=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(name: str, f: SourceFile) -> None:
            url = f.url.replace(GITHUB_RAW, mirror.rstrip("/") + "/", 1) if mirror else f.url
            target = dest / name / f.local
            async with sem:
                for attempt in range(4):
                    try:
                        async with session.get(url) as resp:
                            if resp.status == 404:
                                raise PolarisError(f"{url}: HTTP 404 (file not found at the source)")
                            if resp.status != 200:
                                raise aiohttp.ClientResponseError(resp.request_info, (), status=resp.status)
                            body = await resp.read()
                        break
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        if attempt == 3:
                            raise PolarisError(f"cannot download {url}: {type(exc).__name__} {exc}") from None
                        await asyncio.sleep(0.5 * 2**attempt)
            if hashlib.sha256(body).hexdigest() != f.sha256:
                raise PolarisError(f"{url}: checksum mismatch for {name}/{f.local} (expected sha256 {f.sha256[:12]}...)")
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(body)
            os.replace(tmp, target)
            on_file()

        await asyncio.gather(*(one(n, f) for n, f in files))


def fetch(names: list[str], dest: Path, *, mirror: str | None = None, force: bool = False, concurrency: int = 16,
          on_total: Callable[[int], None] | None = None, on_file: Callable[[], None] | None = None) -> int:
    """Download the named datasets (files already present and correct are kept); returns files fetched."""
    table = sources()
    unknown = [n for n in names if n not in table]
    if unknown:
        raise PolarisError(f"unknown dataset '{unknown[0]}' (choose from {', '.join(table)})")
    files = list(dict.fromkeys((folder, f) for n in names for folder, f in wanted(n, table)))
    todo = [(folder, f) for folder, f in files if force or not _present(dest / folder / f.local, f)]
    if on_total:
        on_total(len(todo))
    if todo:
        asyncio.run(_download(todo, dest, mirror, concurrency, on_file or (lambda: None)))
    return len(todo)
