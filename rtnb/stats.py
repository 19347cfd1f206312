"""Counters and rates for a connection: O(1) to update, summarised on demand.

>>> meter = RateMeter(window=5)
>>> for t in (100.0, 100.5, 101.2, 103.9):
...     meter.tick(t)
>>> meter.rate(now=104.0)
1.0
"""

from __future__ import annotations

import html
import math
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .breaks import BreakBook
from .lifecycle import Backoff  # its home since the lifecycle module; kept here for old imports

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


def _size(n: int) -> str:
    """Bytes for people: ``812 B``, ``2.0 KB``, ``3.4 MB``."""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


#: How many recent interruptions ``Stats.gap_windows`` keeps.
GAP_WINDOWS = 10


class Counters:
    """The live, mutable counters a connection updates on its loop.

    Interruptions are counted as the stream goes down and comes back: ``gaps``
    counts those it came back from, ``gap_windows`` keeps the (start, end) wall
    times of the last few and ``down_seconds`` their total; ``breaks`` places
    each cut and resume among the messages, for the views.
    """

    __slots__ = (
        "breaks",
        "bytes_in",
        "bytes_out",
        "down_seconds",
        "down_since",
        "errors",
        "gap_windows",
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
        self.down_since: float | None = None
        self.gap_windows: deque[tuple[float, float]] = deque(maxlen=GAP_WINDOWS)
        self.down_seconds = 0.0
        self.breaks = BreakBook()

    def count_in(self, now: float, size: int, n: int = 1) -> None:
        """Count ``n`` messages of ``size`` bytes in all, received at wall time ``now``.

        The ingest path calls this once per message (or per read's batch), so
        the rate meter's current bucket is bumped here directly.

        >>> c = Counters()
        >>> c.count_in(10.2, 5); c.count_in(10.7, 3, n=2)
        >>> c.received, c.bytes_in, c.last_message_at, c.rx_rate.rate(now=10.9)
        (3, 8, 10.7, 3.0)
        """
        self.received += n
        self.bytes_in += size
        self.last_message_at = now
        meter = self.rx_rate
        if int(now) == meter._current_sec:
            meter._current += n
        else:
            meter.tick(now, n)

    def went_down(self, now: float) -> None:
        """The stream stopped at wall time ``now`` (it may come back)."""
        self.down_since = now

    def moved(
        self,
        before: str,
        after: str,
        now: float,
        seq: int,
        info: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """The connection went from state ``before`` to ``after`` at ``now``.

        ``seq`` is the next message's. Open again: the interruption is counted
        and its resume marked in ``breaks`` (a return from ``"reconnecting"`` is
        a reconnect). Open to reconnecting: the cut is marked, with
        ``last_error`` as its reason. An end (closed, failed) is no cut: a
        view's badge says it.

        >>> c = Counters()
        >>> c.moved("connecting", "open", 10.0, seq=0)
        >>> c.last_error = "server ended the stream"
        >>> c.went_down(12.0); c.moved("open", "reconnecting", 12.0, seq=7)
        >>> c.moved("reconnecting", "open", 12.5, seq=7)
        >>> c.reconnects, [(b.kind, b.seq) for b in c.breaks]
        (1, [('cut', 7), ('resume', 7)])
        >>> c.went_down(13.0); c.moved("open", "closed", 13.0, seq=9)
        >>> len(c.breaks)
        2
        """
        if after == "open":
            self.came_back(now, seq, info)
            if before == "reconnecting":
                self.reconnects += 1
        elif before == "open" and after == "reconnecting":
            self.breaks.cut(seq, now, self.last_error)

    def came_back(
        self,
        now: float,
        seq: int | None = None,
        info: Callable[[], Mapping[str, Any]] | None = None,
    ) -> None:
        """The stream is up again at ``now``: count the interruption, if there was one.

        With ``seq``, the resume is marked in ``breaks`` (``info()``, the
        transport's, may say how it resumed: ``last_event_id``).

        >>> c = Counters()
        >>> c.came_back(10.0)  # the first open: no interruption
        >>> c.went_down(12.0); c.came_back(12.5)
        >>> c.gaps, list(c.gap_windows), c.down_seconds
        (1, [(12.0, 12.5)], 0.5)
        """
        start, self.down_since = self.down_since, None
        if start is None:
            return
        self.gaps += 1
        self.gap_windows.append((start, now))
        self.down_seconds += now - start
        if seq is not None:
            self.breaks.resume(seq, now, info() if info is not None else None)

    def snapshot(self, extra: dict[str, Any]) -> Stats:
        """A :class:`Stats` of the counters now, with ``extra`` (plus the gap figures)."""
        extra["gap_windows"] = list(self.gap_windows)
        extra["down_seconds"] = self.down_seconds
        return Stats(
            received=self.received,
            sent=self.sent,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            rate=self.rx_rate.rate(),
            reconnects=self.reconnects,
            errors=self.errors,
            last_error=self.last_error,
            last_message_at=self.last_message_at,
            gaps=self.gaps,
            extra=extra,
        )


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

    def __str__(self) -> str:
        """One short line with rounded figures (``repr`` too; ``as_dict()`` has them all).

        >>> print(Stats(received=84, rate=8.666666, bytes_in=2048))
        Stats(received 84, sent 0, 8.7 msg/s over the last 5 s, in 2.0 KB, out 0 B)
        """
        parts = [
            f"received {self.received:,}",
            f"sent {self.sent:,}",
            f"{self.rate:.1f} msg/s over the last 5 s",
            f"in {_size(self.bytes_in)}",
            f"out {_size(self.bytes_out)}",
        ]
        parts += [f"{k} {v:,}" for k, v in self._trouble().items()]
        if self.last_error:
            parts.append(f"last error: {self.last_error}")
        return f"Stats({', '.join(parts)})"

    __repr__ = __str__

    def _trouble(self) -> dict[str, int]:
        """The non-zero interruption counters."""
        counts = {"reconnects": self.reconnects, "errors": self.errors, "gaps": self.gaps}
        return {k: v for k, v in counts.items() if v}

    def _repr_html_(self) -> str:
        """A small card for notebooks: the counters, the rate and the kind's extras."""
        rows = [
            ("received", f"{self.received:,}"),
            ("sent", f"{self.sent:,}"),
            ("rate", f"{self.rate:.1f} msg/s <small>(over the last 5 s)</small>"),
            ("bytes in / out", f"{_size(self.bytes_in)} / {_size(self.bytes_out)}"),
        ]
        rows += [(k, f"{v:,}") for k, v in self._trouble().items()]
        if self.last_error:
            rows.append(("last error", html.escape(self.last_error)))
        for key, value in self.extra.items():
            if isinstance(value, (list, dict, tuple)) or value in (None, 0, 0.0, ""):
                continue
            shown = f"{value:.4g}" if isinstance(value, float) else str(value)
            rows.append((html.escape(key), html.escape(shown)))
        body = "".join(
            f"<tr><th style='text-align:left;padding:1px 12px 1px 0;font-weight:500'>{k}</th>"
            f"<td style='text-align:left;padding:1px 0;font-variant-numeric:tabular-nums'>{v}</td>"
            "</tr>"
            for k, v in rows
        )
        return (
            "<div class='rtnb-stats' style='display:inline-block;border:1px solid #d0d7de;"
            "border-radius:6px;padding:6px 10px;font-size:13px'>"
            f"<b>Stats</b><table style='margin:2px 0 0'>{body}</table></div>"
        )

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
