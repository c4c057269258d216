"""`polaris export`: stored results as rows for pandas, Hugging Face datasets, spreadsheets.

One row per item (or per sample) with the run's spec and manifest keys beside it; the columns are
`schema.py`'s (docs/export.md). Parquet goes through pyarrow (extra `export`) with explicit column
types, so an all-null column keeps its type; CSV and JSONL need nothing. The file is written beside its
destination and moved into place when complete, so a failed export never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

from polaris.errors import PolarisError
from polaris.export.rows import Filters, rows
from polaris.export.schema import SCHEMA_VERSION, columns
from polaris.store.store import Store

FORMATS = ("parquet", "csv", "jsonl")
_ARROW = {"str": "string", "int": "int64", "float": "float64", "bool": "bool_"}


@dataclass(frozen=True)
class Exported:
    path: Path
    format: str
    rows: int
    runs: int
    schema_version: int = SCHEMA_VERSION


def format_for(out: Path, given: str | None) -> str:
    if given is not None:
        if given not in FORMATS:
            raise PolarisError(f"unknown --format '{given}' (choose {', '.join(FORMATS)})")
        return given
    ext = out.suffix.lower().lstrip(".")
    return {"parquet": "parquet", "pq": "parquet", "csv": "csv", "jsonl": "jsonl", "json": "jsonl"}.get(ext, "parquet")


def export(store: Store, out: Path, fmt: str, filters: Filters, per_sample: bool = False) -> Exported:
    cols = columns(per_sample)
    names = [c[0] for c in cols]
    if out.parent and not out.parent.exists():
        raise PolarisError(f"cannot write {out}: directory {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.part")
    n = runs = 0
    try:
        if fmt == "parquet":
            n, runs = _parquet(store, tmp, cols, filters, per_sample)
        else:
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh) if fmt == "csv" else None
                if writer is not None:
                    writer.writerow(names)
                for batch in rows(store, filters, per_sample):
                    runs += 1
                    for row in batch:
                        n += 1
                        if writer is not None:
                            writer.writerow(["" if row.get(k) is None else row.get(k) for k in names])
                        else:
                            fh.write(json.dumps({k: row.get(k) for k in names}, ensure_ascii=False) + "\n")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return Exported(out, fmt, n, runs)


def _parquet(store: Store, tmp: Path, cols: list[tuple[str, str, str]], filters: Filters,
             per_sample: bool) -> tuple[int, int]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise PolarisError("Parquet needs pyarrow: pip install 'polaris-lab[export]' "
                           "(or --format csv or jsonl)") from None
    schema = pa.schema([pa.field(name, getattr(pa, _ARROW[kind])()) for name, kind, _ in cols],
                       metadata={"polaris.export.schema": str(SCHEMA_VERSION),
                                 "polaris.export.unit": "sample" if per_sample else "item"})
    n = runs = 0
    with pq.ParquetWriter(tmp, schema) as writer:
        for batch in rows(store, filters, per_sample):
            runs += 1
            n += len(batch)
            writer.write_table(pa.Table.from_pylist([{k: r.get(k) for k, _, _ in cols} for r in batch], schema=schema))
    return n, runs
