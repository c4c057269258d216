"""Where an imported run's responses came from, and how Polaris's verdicts compare with the source's.

The provenance of an imported run is one JSON object, kept as the run's backend identity
(`manifest["backend"]["imported"]`): `polaris rescore` re-runs a cell with its stored identity, so the
provenance survives every rescore unchanged. It holds:

    format, source         the reader, and the digest of the files' contents (names the run)
    sent_by_polaris        false: Polaris did not send these prompts
    files                  [{name, path, sha256, records, score (the source's own aggregate), companions}]
    matching               records, matched (by id / question / prompt), unmatched, ambiguous, duplicate,
                           gold_differs (the source's gold is not Polaris's)
    items                  {item id: [file index, line, the source's verdict or null]}
    decoding               what the source says of its decoding (temperature), else null

This module only reads and compares it; it imports nothing heavy, so the leaderboard, the report and
`polaris samples` can mark imported runs cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

NOTE = "responses imported from the files named here; Polaris did not send these prompts"


def imported_from(manifest: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The provenance of an imported run (from its manifest), or None for a run Polaris made."""
    backend = (manifest or {}).get("backend")
    prov = backend.get("imported") if isinstance(backend, Mapping) else None
    return prov if isinstance(prov, dict) else None


def summary(prov: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance without its per-item map: what the manifest lists with the import's invocation
    (the items stay in the backend identity, once)."""
    return {k: v for k, v in prov.items() if k != "items"}


def label(prov: Mapping[str, Any]) -> str:
    """"imported: planbench (blocksworld_gpt-4_chat_...json)": what a mark next to a number says."""
    names = [f.get("name", "?") for f in prov.get("files") or ()]
    shown = ", ".join(names[:2]) + (f" and {len(names) - 2} more" if len(names) > 2 else "")
    return f"imported: {prov.get('format', '?')} ({shown})"


def _right(score: float | None) -> bool | None:
    return None if score is None else score >= 1.0


def agreement(rows: Iterable[Any], prov: Mapping[str, Any], files: Sequence[int] | None = None) -> dict[str, Any]:
    """Polaris's item verdicts against the source's, over items scored by both.

    `rows` are the run's result rows (`store.ResultRow`); `files` limits the count to items from those
    source files (by index in `prov["files"]`). Both verdicts are read as right (score 1) or not."""
    items = prov.get("items") or {}
    counts = {"both_right": 0, "both_wrong": 0, "polaris_only": 0, "source_only": 0}
    for r in rows:
        info = items.get(r.item)
        if not info or (files is not None and info[0] not in files) or r.error is not None:
            continue
        theirs, ours = _right(info[2]), _right(r.correct)
        if theirs is None or ours is None:
            continue
        key = ("both_right" if theirs else "polaris_only") if ours else ("source_only" if theirs else "both_wrong")
        counts[key] += 1
    n = sum(counts.values())
    agree = counts["both_right"] + counts["both_wrong"]
    return {"n": n, "agree": agree, "rate": agree / n if n else None,
            "source_accuracy": (counts["both_right"] + counts["source_only"]) / n if n else None,
            "polaris_accuracy": (counts["both_right"] + counts["polaris_only"]) / n if n else None,
            **counts}


def differs(row: Any, prov: Mapping[str, Any]) -> bool:
    """Polaris's verdict on a scored item is not the source's (both read as right or not)."""
    info = (prov.get("items") or {}).get(row.item)
    if not info or info[2] is None or row.error is not None:
        return False
    return _right(info[2]) != _right(row.correct)


def source_view(row: Any, prov: Mapping[str, Any], samples: Sequence[Any]) -> dict[str, Any]:
    """The source's side of an item: its verdict, its reading of the answer, where it came from."""
    info = (prov.get("items") or {}).get(row.item) or [None, None, None]
    files = prov.get("files") or []
    first = next((s.data.get("source") for s in samples if isinstance(getattr(s, "data", None), dict)
                  and isinstance(s.data.get("source"), dict)), {}) or {}
    return {"verdict": info[2], "correct": _right(info[2]), "answer": first.get("answer"),
            "file": files[info[0]].get("name") if info[0] is not None and info[0] < len(files) else None,
            "line": info[1]}


def per_file(rows: Sequence[Any], prov: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One line per source file: items scored, Polaris's accuracy on them, the source's per-item
    agreement where it gave verdicts, and its own published score where the file came with one."""
    items = prov.get("items") or {}
    out = []
    for k, f in enumerate(prov.get("files") or ()):
        mine = [r for r in rows if (items.get(r.item) or [None])[0] == k]
        scored = [r for r in mine if r.error is None]
        acc = sum(r.correct or 0.0 for r in scored) / len(scored) if scored else None
        agree = agreement(mine, prov, [k])
        score = f.get("score") or {}
        out.append({"file": f.get("name"), "items": len(mine), "scored": len(scored), "errors": len(mine) - len(scored),
                    "polaris_accuracy": acc,
                    "source_accuracy": agree["source_accuracy"] if agree["n"] else score.get("accuracy"),
                    "source_score": dict(score) or None, "agreement": agree if agree["n"] else None})
    return out
