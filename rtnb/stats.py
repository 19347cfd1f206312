"""Counters and rates for a connection: O(1) to update, summarised on demand.

>>> meter = RateMeter(window=5)
>>> for t in (100.0, 100.5, 101.2, 103.9):
...     meter.tick(t)
>>> meter.rate(now=104.0)
1.0
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Backoff", "Counters", "RateMeter", "Stats"]


class RateMeter:
    """Events per second over a sliding window of whole-second buckets.

    ``tick`` costs one comparison and one addition in the common case.
    """

    __slots__ = ("_buckets", "_current", "_current_sec", "window")

    def __init__(self, window: int = 5) -> None:
        self.window = window
        self._buckets: dict[int, int] = {}
        self._current_sec = -1
        self._current = 0

    def tick(self, now: float, n: int = 1) -> None:
        """Count ``n`` events at time ``now`` (seconds)."""
        sec = int(now)
        if sec != self._current_sec:
            self._roll(sec)
        self._current += n

    def _roll(self, sec: int) -> None:
        if self._current_sec >= 0 and self._current:
            self._buckets[self._current_sec] = self._current
        cutoff = sec - self.window
        for old in [s for s in self._buckets if s < cutoff]:
            del self._buckets[old]
        self._current_sec = sec
        self._current = 0

    def rate(self, now: float | None = None) -> float:
        """Mean events per second over the last ``window`` complete seconds before ``now``.

        While less than a window has passed since the first event, the mean is
        over the seconds seen so far; within the first second it is the count.
        """
        now = time.time() if now is None else now
        sec_now = math.floor(now)
        lo = sec_now - self.window
        total = 0
        first = None
        buckets = dict(self._buckets)
        if self._current_sec >= 0:
            buckets[self._current_sec] = self._current
        for sec, count in buckets.items():
            first = sec if first is None else min(first, sec)
            if lo <= sec < sec_now:
                total += count
        if first is None:
            return 0.0
        span = min(self.window, sec_now - max(first, lo))
        if span <= 0:
            return float(buckets.get(sec_now, 0))
        return total / span


class Counters:
    """The live, mutable counters a connection updates on its loop."""

    __slots__ = (
        "bytes_in",
        "bytes_out",
        "errors",
        "gaps",
        "last_error",
        "last_message_at",
        "received",
        "reconnects",
        "rx_rate",
        "sent",
    )

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.reconnects = 0
        self.errors = 0
        self.gaps = 0
        self.last_error: str | None = None
        self.last_message_at: float | None = None
        self.rx_rate = RateMeter()


@dataclass(frozen=True)
class Stats(Mapping[str, Any]):
    """A snapshot of a connection's counters; read as attributes or as a mapping.

    ``rate`` is messages received per second over the last 5 seconds. ``extra``
    holds kind-specific figures (WebSocket ``ping_rtt``, WebRTC ICE/DTLS state).
    """

    received: int = 0
    sent: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rate: float = 0.0
    reconnects: int = 0
    errors: int = 0
    last_error: str | None = None
    last_message_at: float | None = None
    gaps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict with ``extra`` merged in at the top level."""
        d = asdict(self)
        extra = d.pop("extra")
        d.update(extra)
        return d

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["extra"][name]
        except KeyError:
            raise AttributeError(name) from None


class Backoff:
    """Exponential backoff with full jitter, as used for reconnects.

    The delay for attempt ``n`` (from 0) is ``min(cap, initial * factor**n)``,
    scaled by a random factor in ``[1 - jitter, 1]`` so a crowd of clients does
    not reconnect in step. It never returns less than ``floor`` seconds, so a
    server that accepts and closes at once cannot cause a hot loop.

        >>> b = Backoff(initial=1, factor=2, cap=10, jitter=0)
        >>> [b.delay(n) for n in range(6)]
        [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    """

    def __init__(
        self,
        initial: float = 0.5,
        factor: float = 2.0,
        cap: float = 30.0,
        jitter: float = 0.5,
        floor: float = 0.05,
    ) -> None:
        if initial < 0 or factor < 1 or cap < 0 or not 0 <= jitter <= 1:
            raise ValueError(
                "backoff needs initial >= 0, factor >= 1, cap >= 0 and 0 <= jitter <= 1"
            )
        self.initial = float(initial)
        self.factor = float(factor)
        self.cap = float(cap)
        self.jitter = float(jitter)
        self.floor = float(floor)

    def delay(self, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0 = first retry)."""
        import random

        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        r = random.random() if rand is None else rand
        return max(self.floor, base * (1 - self.jitter * r))

    #: The most jitter may add to a delay the server asked for (10 %).
    HINT_JITTER = 0.1

    def delay_at_least(self, minimum: float, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` when the server asked for ``minimum``.

        For an SSE ``retry:``: WHATWG 9.2.3 says to "wait a delay equal to the
        reconnection time", so jitter may only add to it (at most ``HINT_JITTER``
        of it, none when ``jitter`` is 0), never take away. After failed attempts
        the delay grows by ``factor``, capped at ``max(cap, minimum)``.

            >>> b = Backoff(factor=2, cap=1, jitter=0.5)
            >>> [b.delay_at_least(0.6, n, rand=1.0) for n in range(3)]
            [0.66, 1.1, 1.1]
        """
        import random

        base = min(max(self.cap, minimum), minimum * self.factor ** min(attempt, 64))
        r = random.random() if rand is None else rand
        return max(self.floor, base * (1 + min(self.jitter, self.HINT_JITTER) * r))
