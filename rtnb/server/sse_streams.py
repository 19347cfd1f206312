"""Shared, resumable tick streams behind ``/sse/ticker`` (pure logic, no I/O).

Design: every distinct query (symbols, rate, seed, count) names one *stream*,
shared by all its clients, like a market feed. A stream numbers its ticks 1, 2,
3, ... and keeps the last ``history`` of them, already encoded as SSE text, in a
ring. Ticks are generated lazily, when a client asks and the pacer says they are
due, so an idle stream costs nothing and a stream at ``rate=0`` runs as fast as
its fastest reader. Each client holds only its position (the last id it was
sent): a reconnect with ``Last-Event-ID: N`` continues at N+1 with no gap and no
duplicate; an id older than the ring resumes at the oldest kept tick after a
``gap`` event; a reader slower than the stream gets the same treatment instead
of an ever-growing buffer. With ``count`` the stream is finite (ids 1..count):
a new client starts at 1, and a client that has everything is told to stop
(HTTP 204, the spec's "do not reconnect").

    >>> s = TickStream(["AAPL"], rate=0, seed=1, history=3)
    >>> s.advance(0.0, want=5)
    5
    >>> s.oldest, s.newest
    (3, 5)
    >>> chunk, last, missed = s.read(after=0)
    >>> last, missed, chunk.count("id: ")
    (5, 2, 3)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from .. import jsonfast
from ..sse_format import encode_event, parse_event_id
from ..ticker import Schedule, TickGenerator

__all__ = ["ResumePlan", "StreamKey", "StreamRegistry", "TickStream", "plan_resume"]

StreamKey = tuple[tuple[str, ...], float, int, int]
"""(symbols, rate per symbol, seed, count) naming one shared stream."""

#: Ticks generated per request at ``rate=0`` (as fast as possible).
BATCH = 256


class TickStream:
    """One shared tick stream with a bounded ring of encoded events.

    Args:
        symbols: the symbols, round robin (see :class:`rtnb.ticker.TickGenerator`).
        rate: ticks per second per symbol; 0 means as fast as readers pull.
        seed: the random-walk seed (same seed, same prices for the same ids).
        count: total ticks (ids 1..count); 0 for an endless stream.
        history: how many recent ticks are kept for resuming.
    """

    def __init__(
        self,
        symbols: Sequence[str],
        rate: float,
        seed: int,
        count: int = 0,
        history: int = 1000,
        now: float | None = None,
    ) -> None:
        if history < 1:
            raise ValueError("history must be at least 1")
        self.symbols = tuple(symbols)
        self.rate = rate
        self.count = count
        self.history = history
        self._gen = TickGenerator(self.symbols, seed=seed)
        start = time.time() if now is None else now
        self._schedule = Schedule(rate * len(self.symbols), start, count, batch=BATCH)
        self._ring: list[str] = [""] * history
        self.newest = 0
        self.last_used = 0.0

    @property
    def oldest(self) -> int:
        """The id of the oldest tick still kept (``newest + 1`` when none is)."""
        return max(1, self.newest - self.history + 1)

    @property
    def finished(self) -> bool:
        """True when a finite stream has produced all its ticks."""
        return bool(self.count) and self.newest >= self.count

    def advance(self, now: float, want: int = 0) -> int:
        """Generate the ticks due at ``now``; return how many were made.

        Args:
            now: the current time (seconds since the epoch); it stamps the ticks.
            want: at ``rate=0``, how many ticks a waiting reader asks for.

        At most ``BATCH`` ticks are made per call (paced ticks due beyond that
        are made by the next call), and never more than ``count`` in all.
        """
        if not self.symbols:
            return 0
        n = self._schedule.take(now, want if self.rate == 0 else None)
        if n <= 0:
            return 0
        gen, ring, size, dumps = self._gen, self._ring, self.history, jsonfast.dumps
        newest = self.newest
        # Paced ticks made in a batch (after an idle spell) carry the times they
        # were due, not all the same ``now``, so a plot of them stays a line.
        pacer = self._schedule.pacer
        step = 1.0 / pacer.rate if pacer.rate else 0.0
        first_due = pacer.start + (pacer.emitted - n) * step
        for i in range(n):
            tick = gen.next(min(now, first_due + i * step) if step else now)
            newest += 1
            ring[newest % size] = encode_event(dumps(tick), id=newest)
        self.newest = newest
        return n

    def wait(self, now: float) -> float:
        """Seconds until the next tick is due (0 at ``rate=0``)."""
        return self._schedule.wait(now)

    def read(self, after: int, limit: int = BATCH) -> tuple[str, int, int]:
        """Encoded ticks with ids above ``after``, at most ``limit`` of them.

        Returns:
            ``(text, last_id, missed)``: the SSE text to write, the id of the last
            tick in it (``after`` when there is none), and how many ids between
            ``after`` and the text are no longer kept (0 normally).
        """
        oldest, newest = self.oldest, self.newest
        start = after + 1
        missed = 0
        if start < oldest:
            missed = oldest - start
            start = oldest
        end = min(newest, start + limit - 1)
        if end < start:
            return "", start - 1 if missed else after, missed
        ring, size = self._ring, self.history
        if end == start:
            text = ring[start % size]
        else:
            text = "".join([ring[i % size] for i in range(start, end + 1)])
        return text, end, missed


@dataclass(frozen=True)
class ResumePlan:
    """Where a new request on a stream starts.

    Attributes:
        after: send ticks with ids above this one.
        done: the client already has every tick of a finite stream (answer 204).
        note: why the request does not resume where it asked, for a ``gap`` event.
    """

    after: int
    done: bool = False
    note: str | None = None


def plan_resume(stream: TickStream, last_event_id: str | None) -> ResumePlan:
    """Decide where a request starts, from its ``Last-Event-ID`` (or none).

    A new client joins an endless stream live and a finite one at its start.
    An id older than the kept history resumes at the oldest kept tick (the
    ``gap`` is reported when the ticks are read); an id that is not one of this
    stream's (not a number, or newer than anything sent, as after a server
    restart) starts like a new client and says so.

    >>> s = TickStream(["AAPL"], rate=0, seed=1, count=10)
    >>> _ = s.advance(0.0, want=6)
    >>> plan_resume(s, "4"), plan_resume(s, "10").done
    (ResumePlan(after=4, done=False, note=None), True)
    """
    fresh = 0 if stream.count else stream.newest
    if last_event_id is None or last_event_id.strip() == "":
        return ResumePlan(fresh)
    n = parse_event_id(last_event_id)
    if n is None:
        return ResumePlan(
            fresh, note=f"Last-Event-ID {last_event_id[:40]!r} is not an id of this stream"
        )
    if stream.count and n >= stream.count:
        return ResumePlan(n, done=True)
    if n > stream.newest:
        return ResumePlan(
            fresh,
            note=f"Last-Event-ID {n} is newer than this stream's last id {stream.newest} "
            "(the server may have restarted)",
        )
    return ResumePlan(n)


class StreamRegistry:
    """The streams of one server, at most ``max_streams`` of them (least recently used go).

    Dropping a stream only means a later reconnect to it cannot resume.
    """

    def __init__(self, history: int, max_streams: int = 64) -> None:
        self.history = history
        self.max_streams = max_streams
        self._streams: OrderedDict[StreamKey, TickStream] = OrderedDict()

    def get(self, key: StreamKey, now: float) -> TickStream:
        """The stream for ``key``, made on first use."""
        stream = self._streams.get(key)
        if stream is None:
            symbols, rate, seed, count = key
            stream = TickStream(symbols, rate, seed, count, self.history, now)
            self._streams[key] = stream
            while len(self._streams) > self.max_streams:
                self._streams.popitem(last=False)
        else:
            self._streams.move_to_end(key)
        stream.last_used = now
        return stream

    def __len__(self) -> int:
        return len(self._streams)
