"""A run's record is the history of the invocations that filled it.

A run (one cell, one run id) is filled by invocations: `polaris run`, an experiment grid, the Ray
driver, `polaris rescore`, an import from another harness. Each is a row of the store's
`invocations` table (`Store.begin_invocation` / `end_invocation` / `invocations`): its source,
when it started and finished, the endpoint that answered, `--limit`, the items it asked and scored,
the Polaris and scorer versions, and in `data` the backend identity, executor and host (an import
puts its provenance there). Every item result names the invocation that last judged it
(`Store.result_sources`), so the items of a run can be told apart by where they came from.

After each invocation the run's manifest (`runs.manifest`) is rebuilt from the store
(`refresh`): the cell's definition, the summary over *every* stored item, the coverage (partial or
whole, and why), the endpoints the results came from with their item counts, and the list of
invocations. A later `--limit 5` against another server adds one line to that list and five items
to that endpoint's count; it never replaces what a full run recorded.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from typing import Any

from polaris import __version__
from polaris.store.store import InvocationRow, ResultRow, Store

BEFORE_HISTORY = "(stored before run histories)"
CALL_FIGURES = ("requests_sent", "retries", "failed_requests", "cached")  # per invocation; summed per run


def endpoint_of(identity: dict[str, Any]) -> str:
    """The server URL of a backend identity, or what names an in-process model (hf:<path>, lab:<weights>)."""
    if identity.get("endpoint"):
        return str(identity["endpoint"])
    kind = identity.get("provider") or identity.get("backend") or "backend"
    name = identity.get("model") or str(identity.get("weights_sha256", ""))[:12]
    return f"{kind}:{name}"


def begin(store: Store, run_id: str, identity: dict[str, Any], *, source: str, limit: int | None,
          items_asked: int, scorer_version: str | None, executor: str = "local",
          data: dict[str, Any] | None = None) -> int:
    """Record an invocation of this process starting to fill `run_id`; `data` adds to what it keeps
    (an import's `provenance`, listed with the invocation in the manifest)."""
    return store.begin_invocation(
        run_id, source=source, endpoint=endpoint_of(identity), limit=limit, items_asked=items_asked,
        polaris_version=__version__, scorer_version=scorer_version,
        data={"backend": identity, "executor": executor, "host": socket.gethostname(), "pid": os.getpid(),
              **(data or {})})


def coverage(rows: Sequence[ResultRow], total: int | None, limit: int | None = None) -> dict[str, Any]:
    """How much of the task a set of item results covers: `partial` unless every item is scored."""
    return counted(len(rows), sum(1 for r in rows if r.error is None), total, limit)


def counted(items: int, scored: int, total: int | None, limit: int | None = None) -> dict[str, Any]:
    """`coverage` from counts: items with a result, items scored, items in the task."""
    errors = items - scored
    out: dict[str, Any] = {"items": items, "scored": scored, "errors": errors, "of": total,
                           "partial": total is None or scored < total}
    if limit is not None:
        out["limit"] = limit
    reasons = []
    if total is not None and items < total:
        reasons.append(f"{items} of {total} items" + (f" (--limit {limit})" if limit is not None else ""))
    if errors:
        reasons.append(f"{errors} item(s) failed")
    if total is None:
        reasons.append("dataset size unknown")
    if reasons:
        out["reason"] = "; ".join(reasons)
    return out


def _inv_dict(inv: InvocationRow) -> dict[str, Any]:
    return {"id": inv.id, "source": inv.source, "started": inv.started, "finished": inv.finished,
            "endpoint": inv.endpoint, "limit": inv.limit, "items_asked": inv.items_asked,
            "items_scored": inv.items_scored, "errors": inv.errors, "polaris_version": inv.polaris_version,
            "scorer_version": inv.scorer_version,
            **{k: inv.data[k] for k in ("executor", "stopped", *CALL_FIGURES, "provenance") if k in inv.data}}


def endpoints(per_invocation: dict[int | None, int], invocations: Sequence[InvocationRow]) -> list[dict[str, Any]]:
    """Where the stored results came from: per endpoint, the items whose last judging invocation used
    it (`per_invocation`: invocation -> items, `Store.result_counts`; results stored before run
    histories existed are counted apart)."""
    by_id = {inv.id: inv for inv in invocations}
    counts: dict[str, int] = {}
    for invocation, n in per_invocation.items():
        inv = by_id.get(invocation)  # type: ignore[arg-type]
        key = (inv.endpoint or "?") if inv is not None else BEFORE_HISTORY
        counts[key] = counts.get(key, 0) + n
    return [{"endpoint": e, "items": n} for e, n in sorted(counts.items(), key=lambda kv: -kv[1])]


def identities(store: Store, run_id: str) -> list[tuple[dict[str, Any] | None, set[str]]]:
    """(backend identity, item ids) per invocation that judged a run's stored items (None: stored before
    run histories): what `polaris rescore` needs to find each item's samples under the right cache key."""
    by_id = {inv.id: inv for inv in store.invocations(run_id)}
    sources = store.result_sources(run_id)
    groups: dict[str, tuple[dict[str, Any] | None, set[str]]] = {}
    for r in store.results(run_id):
        inv = by_id.get(sources.get(r.item))  # type: ignore[arg-type]
        ident = inv.data.get("backend") if inv is not None else None
        key = repr(sorted(ident.items())) if isinstance(ident, dict) else "-"
        groups.setdefault(key, (ident if isinstance(ident, dict) else None, set()))[1].add(r.item)
    return list(groups.values())


def refresh(store: Store, run_id: str, label: str, spec: dict[str, Any], base: dict[str, Any], *,
            total: int | None, headline: str = "micro", summarize_task: Any = None,
            with_summary: bool = True, judged: tuple[int, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Rebuild and store a run's manifest from the store: `base` (the cell's definition) plus the
    summary over every stored item, coverage, endpoints and invocations. With `with_summary=False`
    (an invocation starting) the summary stored before is kept rather than recomputed; `judged`
    (items, their summary) is an invocation's own summary, reused when it judged every stored item."""
    items, scored, per_invocation = store.result_counts(run_id)
    invs = store.invocations(run_id)
    info = dict(base)
    info["dataset"] = {**(info.get("dataset") or {}), "items_run": items}
    info["coverage"] = counted(items, scored, total)
    info["endpoints"] = endpoints(per_invocation, invs)
    info["invocations"] = [_inv_dict(inv) for inv in invs]
    if with_summary and items:
        if judged is not None and judged[0] == items:
            # This invocation judged every stored item: the same numbers, without its own figures.
            summary = {k: v for k, v in judged[1].items() if k not in ("seconds", "stopped", "remaining", "run")}
        else:
            from polaris.runner.summary import summarize

            rows = store.results(run_id)
            summary = summarize(rows, headline=headline)
            if summarize_task is not None:
                summary.update(summarize_task(rows))
        summary.update(model=base.get("model"), task=base.get("task"), prompt=base.get("prompt"),
                       strategy=base.get("strategy"), run_id=run_id, label=label,
                       tokens_spent=store.usage(run_id), partial=info["coverage"]["partial"],
                       coverage=info["coverage"])
        # The calls of every invocation that filled the run (each invocation lists its own).
        totals = {k: sum(int(inv.data.get(k) or 0) for inv in invs) for k in CALL_FIGURES}
        sent = totals["requests_sent"]
        summary.update(totals, retry_rate=round(totals["retries"] / sent, 4) if sent else 0.0)
        info["summary"] = {k: v for k, v in summary.items() if k != "groups"}
    elif not with_summary:
        old = store.run(run_id)
        if old is not None and "summary" in old.manifest:
            info["summary"] = old.manifest["summary"]
    store.put_run(run_id, label, spec, info)
    return info
