"""Liveness of requests to a server: which attempts are in flight, which have stalled, what it looks like.

A server that takes its time is not a server that has stopped. With streamed responses Polaris can
tell them apart without a short total timeout that would cut long reasoning answers:

- a response that has started streaming and then sends nothing for `stall` seconds has stalled;
- a request that has received nothing while a request sent *after* it started streaming more than
  `stall` seconds ago has been overtaken: the server is not queueing it behind others, it lost it;
- a request at the head of the queue (nothing sent before it is still waiting) has stalled too when
  the server has sent nothing to anybody for `stall` seconds and for four times as long as it
  usually takes to send first tokens (90th percentile of the last 200 requests): the last requests
  of a run have nobody to overtake them, and a server busy streaming other answers is not idle;
- a request still waiting its turn (nothing received, not overtaken) is fine as long as the server
  is sending something to somebody; it times out only after `timeout` seconds of total silence;
- a server that does not stream (it answers `stream: true` with a plain JSON body) leaves nothing to
  watch but the clock: each attempt gets `timeout` seconds, as without streaming.

`Live` is what a progress display reads: requests in flight and streaming, retries by reason, how
long the server has been silent.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass, field

TICK = 0.25  # seconds between watchdog passes
FIRST_DATA_FACTOR = 4.0  # times the usual wait for first tokens before a head-of-queue request has stalled


@dataclass(eq=False)
class Flight:
    """One attempt in flight (times are the event loop's clock)."""

    sent: float
    deadline: asyncio.Timeout | None = None
    first: float | None = None  # first body bytes
    last: float | None = None  # latest body bytes
    streamed: bool = False  # the body is server-sent events
    overtaken: float | None = None  # when a later request first received data while this one had none
    reason: str | None = None  # why the watchdog ended it (kind, detail)
    kind: str = "timeout"


@dataclass
class Live:
    """Counters a progress display reads (one per backend, shared by the cells that use it)."""

    in_flight: int = 0
    streaming: int = 0  # attempts receiving a streamed body right now
    responses: int = 0  # attempts that returned a complete response
    retries: Counter[str] = field(default_factory=Counter)  # by reason ("timeout", "stall", "HTTP 429", ...)
    chunks: int = 0  # streamed chunks received (about one per token on most servers)
    last_data: float | None = None  # loop time of the latest bytes from the server
    started: float | None = None  # loop time of the first request

    def silent_for(self, now: float) -> float:
        """Seconds since the server last sent anything, while requests are in flight (0 when idle)."""
        if not self.in_flight:
            return 0.0
        since = self.last_data if self.last_data is not None else self.started
        return max(0.0, now - since) if since is not None else 0.0


class Watchdog:
    """Ends stalled attempts (by rescheduling their `asyncio.timeout` to now) on a TICK-second beat."""

    def __init__(self, live: Live, timeout: float, stall: float) -> None:
        self.live = live
        self.timeout = timeout
        self.stall = min(stall, timeout)
        self.flights: set[Flight] = set()
        self.streams: bool | None = None  # does the server stream (None: not known yet)
        self.first_waits: deque[float] = deque(maxlen=200)  # seconds from sending to first data, recent streams
        self._usual: float | None = None  # 90th percentile of first_waits, refreshed each pass
        self._task: asyncio.Task[None] | None = None

    def add(self, flight: Flight) -> None:
        self.flights.add(flight)
        self.live.in_flight += 1
        if self.live.started is None:
            self.live.started = flight.sent
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def remove(self, flight: Flight) -> None:
        if flight in self.flights:
            self.flights.discard(flight)
            self.live.in_flight -= 1
            if flight.streamed and flight.first is not None:
                self.live.streaming -= 1

    def data(self, flight: Flight, now: float, streamed: bool) -> None:
        """Bytes arrived for `flight`."""
        self.live.last_data = now
        flight.last = now
        if flight.first is None:
            flight.first = now
            flight.streamed = streamed
            if streamed:
                self.live.streaming += 1
                self.first_waits.append(now - flight.sent)
                # Everything sent before this one that has had nothing yet has been overtaken.
                for other in self.flights:
                    if other.first is None and other.overtaken is None and other.sent < flight.sent:
                        other.overtaken = now

    def overdue(self, f: Flight, now: float) -> tuple[str, str] | None:
        """(kind, detail) if the attempt should end now."""
        if f.first is not None:
            if f.streamed:
                if now - (f.last or f.first) > self.stall:
                    return "stall", f"the response stopped streaming for {self.stall:g} s"
                return None
            if now - f.sent > self.timeout:
                return "timeout", f"no complete response within {self.timeout:g} s"
            return None
        if self.streams:
            if f.overtaken is not None and now - f.overtaken > self.stall:
                return "stall", (f"nothing received after {now - f.sent:.0f} s while requests sent later were"
                                 " answered")
            idle = now - max(f.sent, self.live.last_data or f.sent)  # the server has sent nothing to anybody
            if (self._usual is not None and idle > max(self.stall, FIRST_DATA_FACTOR * self._usual)
                    and not any(o.first is None and o.sent < f.sent for o in self.flights)):
                return "stall", (f"nothing received after {now - f.sent:.0f} s, the server idle for {idle:.0f} s;"
                                 f" its first tokens usually come within {self._usual:.1f} s")
            if idle > self.timeout:
                return "timeout", f"the server sent nothing for {self.timeout:g} s"
            return None
        if now - f.sent > self.timeout:
            return "timeout", f"no response within {self.timeout:g} s"
        return None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.flights:
            await asyncio.sleep(TICK)
            now = loop.time()
            if len(self.first_waits) >= 5:
                waits = sorted(self.first_waits)
                self._usual = waits[int(0.9 * (len(waits) - 1))]
            for f in list(self.flights):
                if f.reason is None and f.deadline is not None and (why := self.overdue(f, now)):
                    f.kind, f.reason = why
                    f.deadline.reschedule(now)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
