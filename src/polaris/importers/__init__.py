"""Importing other harnesses' generations as ordinary Polaris runs.

One small module per source format reads its files into typed `Record`s (`records.py`); one matcher
finds each record's item (`match.py`); one planner groups records into cells, one per model x task x
prompt format (`plan.py`); one writer stores the responses and scores them with Polaris's own solvers
and scorers in a single transaction (`writer.py`). The provenance of each run is one object
(`provenance.py`). See docs/import.md.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from polaris.errors import PolarisError
from polaris.importers.records import ReadOptions, Record, SourceFile, sha256_file

FORMATS = {
    "planbench": "polaris.importers.planbench",
    "bbh-outputs": "polaris.importers.bbh_outputs",
    "gsm8k-solutions": "polaris.importers.gsm8k_solutions",
    "lm-eval": "polaris.importers.lm_eval",
    "inspect": "polaris.importers.inspect_log",
    "jsonl": "polaris.importers.jsonl",
}


def reader(fmt: str):
    if fmt not in FORMATS:
        raise PolarisError(f"unknown import format '{fmt}' (choose {', '.join(FORMATS)})")
    return importlib.import_module(FORMATS[fmt])


def read_all(fmt: str, paths: list[Path], opts: ReadOptions) -> tuple[list[SourceFile], list[Record]]:
    """Every file read completely (any bad record is an error before anything is stored)."""
    mod = reader(fmt)
    files: list[SourceFile] = []
    records: list[Record] = []
    seen: set[str] = set()
    companion = getattr(mod, "is_companion", lambda p: False)
    for path in paths:
        name = str(path)
        if not path.is_file():
            raise PolarisError(f"{name}: no such file")
        if companion(path):
            continue  # read beside its main file (BBH metrics)
        digest = sha256_file(path)
        if digest in seen:
            continue  # the same file named twice
        seen.add(digest)
        got = list(mod.read(path, name, opts))
        score, companions = mod.metrics(path, name) if hasattr(mod, "metrics") else ({}, ())
        files.append(SourceFile(path, name, digest, len(got), score or None, companions))
        records += got
    if not records:
        raise PolarisError("no records to import in " + ", ".join(str(p) for p in paths))
    return files, records
