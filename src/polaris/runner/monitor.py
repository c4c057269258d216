"""What a user sees while a run is going: retries and errors by kind, stalls, and the server's quirks.

One `Monitor` per command (the executor keeps it across cells), so each notice is said once:
- the progress bar's status line, refreshed every second even when nothing finishes (a slow or
  stuck server shows as "32 in flight, 4 streaming, silent 40 s" rather than a frozen bar);
- a warning when no response has finished a minute after the first request (with the likely cure);
- quirks: a server that ignores `n`, or temperature (every item so far has identical samples).
Notices go to `emit` (the CLI prints them above the progress bar) and are kept for the summary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from polaris.models.base import RequestFailed, reason_of

SLOW_AFTER = 45.0  # seconds without a finished response before the slow-server warning (well within a minute)
TEMPERATURE_ITEMS = 5  # items with identical samples, and none without, before the temperature warning


def counts_text(counts: Counter[str], limit: int = 3) -> str:
    """"3 timeout, 1 HTTP 500" (most frequent first)."""
    top = counts.most_common()
    text = ", ".join(f"{n} {k}" for k, n in top[:limit])
    return text + (f", {sum(n for _, n in top[limit:])} other" if len(top) > limit else "")


def error_reasons(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Item errors grouped by reason, most frequent first: [{"reason", "items", "example"}], the example
    being the first such item's full error (the server's words)."""
    groups: dict[str, list[str]] = {}
    for r in rows:
        if r.error is not None:
            groups.setdefault(reason_of(r.error), []).append(r.error)
    return [{"reason": k, "items": len(v), "example": v[0].partition(": ")[2][:300] or v[0][:300]}
            for k, v in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def identical_samples(out: Any) -> bool:
    """Did an item get K >= 2 samples that are all the same text?"""
    samples = getattr(out, "samples", None) or []
    return len(samples) > 1 and len({(s.text, s.reasoning) for s in samples}) == 1


@dataclass
class Monitor:
    emit: Callable[[str], None] | None = None
    notices: dict[str, str] = field(default_factory=dict)  # key -> the notice, said once
    errors: Counter[str] = field(default_factory=Counter)  # item errors by reason, this command
    slow_after: float = SLOW_AFTER
    _same: dict[str, list[int]] = field(default_factory=dict)  # run id -> [sampled items, identical]
    _slow_warned: bool = False

    def notice(self, key: str, message: str) -> None:
        if key in self.notices:
            return
        self.notices[key] = message
        if self.emit is not None:
            self.emit(message)

    def item(self, spec: Any, out: Any) -> None:
        """An item finished (its outputs or its RequestFailed)."""
        if isinstance(out, RequestFailed):
            self.errors[out.reason] += 1
            return
        if spec.samples < 2 or spec.temperature <= 0 or not getattr(out, "samples", None):
            return
        seen = self._same.setdefault(spec.run_id, [0, 0])
        seen[0] += 1
        seen[1] += identical_samples(out)
        if seen[0] >= TEMPERATURE_ITEMS and seen[0] == seen[1]:
            self.notice("ignores-temperature",
                        f"{spec.model}: each of the first {seen[0]} items got {spec.samples} identical samples at"
                        f" temperature {spec.temperature:g}; the server seems to ignore temperature, so maj@k and"
                        " pass@k will be degenerate (marked so in the results)")

    def status(self, live: Any, now: float) -> str:
        """The progress bar's status: requests in flight, retries and errors by kind, silence."""
        parts = []
        if live is not None:
            if live.in_flight:
                parts.append(f"{live.in_flight} in flight" + (f", {live.streaming} streaming" if live.streaming else ""))
            silent = live.silent_for(now)
            if silent >= 10:
                parts.append(f"silent {silent:.0f} s")
            if live.retries:
                parts.append(f"retries: {counts_text(live.retries)}")
        if self.errors:
            parts.append(f"errors: {counts_text(self.errors)}")
        return " · ".join(parts)

    def check_slow(self, backend: Any, live: Any, now: float) -> None:
        """Warn once when a minute after the first request no response has finished."""
        if self._slow_warned or live is None or live.started is None or live.responses:
            return
        waited = now - live.started
        if waited < self.slow_after:
            return
        self._slow_warned = True
        where = getattr(backend, "url", None) or getattr(backend, "name", "the server")
        if live.streaming:
            what = (f"{live.streaming} of {live.in_flight} requests are streaming ({live.chunks} chunks so far):"
                    " the server is slow for this load")
        elif live.last_data is None:
            what = f"nothing has arrived for any of the {live.in_flight} requests in flight"
        else:
            what = f"{live.in_flight} requests are in flight"
        self.notice("slow", f"no response from {where} has finished {waited:.0f} s after the first request; {what}."
                            " A slow server answers sooner with fewer requests at once (--concurrency 4) and"
                            " shorter answers (--max-tokens); stored responses are kept if you stop (Ctrl-C)")


class Ticker:
    """Refreshes a cell's progress status every second while it runs (also when nothing finishes)."""

    def __init__(self, monitor: Monitor, backend: Any, refresh: Callable[[str], None]) -> None:
        self.monitor = monitor
        self.backend = backend
        self.live = getattr(backend, "live", None)
        self.refresh = refresh
        self.last = float("-inf")

    def tick(self, at_most_every: float = 0.0) -> None:
        """Show the current status (when an item finishes: at most every `at_most_every` seconds)."""
        import asyncio

        now = asyncio.get_running_loop().time()
        if now - self.last < at_most_every:
            return
        self.last = now
        self.monitor.check_slow(self.backend, self.live, now)
        self.refresh(self.monitor.status(self.live, now))

    async def run(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(1.0)
            self.tick()
