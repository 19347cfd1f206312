"""Windowed plot series from messages: one line per (group, field), bounded in time or points.

Pure: numbers in, numbers out (numpy arrays for plotting); no widgets, no I/O.
Both live plots (:mod:`rtnb.widgets.plot`) feed pulled messages into a
:class:`Series`.

    >>> from rtnb.message import Message
    >>> s = Series(["price"], by="symbol", window=parse_window(points=2))
    >>> msgs = [Message(f'{{"symbol": "A", "price": {p}}}', ts=float(p)) for p in (1, 2, 3)]
    >>> s.add(msgs)
    3
    >>> s.labels(), s.arrays(0)[1].tolist()
    (['A'], [2.0, 3.0])
"""

from __future__ import annotations

import itertools
import math
import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .fields import MISSING, get_path, parse_path
from .message import Message

__all__ = [
    "PALETTE",
    "Series",
    "Window",
    "autoscale",
    "decimate",
    "follow_limits",
    "numeric",
    "parse_window",
    "sticky_limits",
    "time_value",
]

#: Line colours, in order (colour-blind friendly, readable on light and dark).
PALETTE = (
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
)

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_POINT_UNITS = {"p", "pt", "pts", "point", "points"}
_WINDOW_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*$")


@dataclass(frozen=True)
class Window:
    """How much history a plot keeps: the last ``seconds`` of x, the last ``points``, or both.

    A point stays while it is inside every limit that is set.
    """

    seconds: float | None = 60.0
    points: int | None = None

    def describe(self) -> str:
        """``'last 60 s'``, ``'last 500 points'``, ..."""
        parts = []
        if self.seconds is not None:
            parts.append(f"{self.seconds:g} s")
        if self.points is not None:
            parts.append(f"{self.points} points")
        return "last " + " / ".join(parts) if parts else "everything kept"


def parse_window(window: Any = 60, points: int | None = None) -> Window:
    """Read a plot window: seconds as a number or ``"90s"``/``"2 min"``, or ``"500 points"``.

    ``points=N`` adds a point limit to a time window; with ``window=None`` it is
    the only limit.

    >>> parse_window(60), parse_window("500 points")
    (Window(seconds=60.0, points=None), Window(seconds=None, points=500))
    >>> parse_window("2 min", points=100)
    Window(seconds=120.0, points=100)

    Raises:
        ValueError: for a window that is not positive or not understood.
    """
    seconds: float | None = None
    npoints: int | None = None
    if isinstance(window, bool):
        raise ValueError(f"window must be seconds or 'N points', not {window!r}")
    if isinstance(window, int | float):
        seconds = float(window)
    elif isinstance(window, str):
        m = _WINDOW_RE.match(window.lower())
        if not m:
            raise ValueError(
                f"window {window!r} not understood: use seconds (60, '90s', '2 min') "
                "or a point count ('500 points')"
            )
        number, unit = float(m.group(1)), m.group(2) or "s"
        if unit in _POINT_UNITS:
            npoints = int(number)
        elif unit in _UNITS:
            seconds = number * _UNITS[unit]
        else:
            raise ValueError(f"window unit {unit!r} not understood: use s, min, h or points")
    elif window is not None:
        raise ValueError(f"window must be seconds or 'N points', not {type(window).__name__}")
    if points is not None:
        if isinstance(points, bool) or not isinstance(points, int):
            raise ValueError(f"points must be a positive integer, not {points!r}")
        npoints = points if npoints is None else min(npoints, points)
    if seconds is not None and (not math.isfinite(seconds) or seconds <= 0):
        raise ValueError(f"window must be a positive number of seconds, not {window!r}")
    if npoints is not None and npoints < 1:
        raise ValueError(f"a window of {npoints} points is empty: use at least 1")
    return Window(seconds, npoints)


def numeric(value: Any) -> float | None:
    """A plottable float from a JSON value (numbers and numeric strings), else ``None``.

    >>> numeric(3), numeric("1.5e3"), numeric(True), numeric("n/a")
    (3.0, 1500.0, None, None)
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, str) and value and len(value) < 64:
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def time_value(value: Any) -> float | None:
    """Epoch seconds from an x value that is a time: epoch s/ms/us numbers or ISO-8601 text.

    >>> time_value(1_700_000_000_000), time_value("1970-01-01T00:01:00Z")
    (1700000000.0, 60.0)
    """
    f = numeric(value)
    if f is not None:
        mag = abs(f)
        if mag >= 1e14:
            return f / 1e6
        if mag >= 1e11:
            return f / 1e3
        return f
    if isinstance(value, str) and 8 <= len(value) <= 40:
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return dt.timestamp()
    return None


def sticky_limits(
    lo: float, hi: float, current: tuple[float, float] | None, margin: float = 0.1
) -> tuple[float, float]:
    """Axis limits that cover ``[lo, hi]`` and change rarely.

    The current limits are kept while the data fits and fills at least half of
    them; otherwise new limits with ``margin`` room on both sides are returned.
    Stable limits let a plot redraw only its lines (blitting).

    >>> sticky_limits(0, 10, None)
    (-1.0, 11.0)
    >>> sticky_limits(1, 9, (-1.0, 11.0))
    (-1.0, 11.0)
    """
    if hi < lo:
        lo, hi = hi, lo
    span = hi - lo
    if span <= 0:
        span = abs(hi) * 0.01 or 1.0
    if current is not None:
        c_lo, c_hi = current
        if c_lo <= lo and hi <= c_hi and (hi - lo) >= 0.5 * (c_hi - c_lo) * (1 - 2 * margin):
            return current
        if c_lo <= lo and hi <= c_hi and hi - lo == 0:
            return current
    return (lo - margin * span, hi + margin * span)


#: Room above and below the data on an autoscaled axis, as a share of the data's span.
HEADROOM = 0.06
#: An autoscaled axis is recomputed once the data fills less than this share of it.
MIN_FILL = 0.6


def autoscale(
    lo: float,
    hi: float,
    current: tuple[float, float] | None = None,
    headroom: float = HEADROOM,
    min_fill: float = MIN_FILL,
) -> tuple[float, float]:
    """Axis limits that fit ``[lo, hi]`` closely, with a little headroom, and change rarely.

    The current limits stay while they hold the data and the data fills at least
    ``min_fill`` of them (so a quiet line does not sit in a wide empty band, and a
    moving one does not rescale every frame); otherwise the data's span plus
    ``headroom`` on each side. A flat line gets a band of 0.1% of its value.
    The canvas plot's front-end applies the same rule.

    >>> autoscale(100.0, 101.0)
    (99.94, 101.06)
    >>> autoscale(100.2, 100.9, (99.94, 101.06))
    (99.94, 101.06)
    >>> [round(v, 4) for v in autoscale(100.50, 100.52, (99.94, 101.06))]
    [100.4988, 100.5212]
    """
    if hi < lo:
        lo, hi = hi, lo
    span = hi - lo
    if current is not None:
        c_lo, c_hi = current
        if c_lo <= lo and hi <= c_hi and c_hi > c_lo and span >= min_fill * (c_hi - c_lo):
            return current
    if span <= 0:
        pad = abs(lo) * 0.001 or 1.0
        return (lo - pad, hi + pad)
    pad = headroom * span
    return (lo - pad, hi + pad)


def follow_limits(
    lo: float,
    hi: float,
    current: tuple[float, float] | None = None,
    window: float | None = None,
    margin: float = 0.03,
) -> tuple[float, float]:
    """x limits that follow the data and change rarely, for a plot that grows to the right.

    With a time ``window`` (seconds) that has not filled yet, the axis spans the
    data plus room for half as much again (never past the window's end), so the
    first points are not squeezed against the right edge and the limits change a
    few times while it fills; once full it slides by 5% of the window at a time.
    Without one: the data plus ``margin``. The current limits stay while they
    hold the data and it fills at least half of them (the plot can blit).

    >>> follow_limits(0.0, 2.0, None, window=60.0)
    (-0.06, 3.0)
    >>> follow_limits(0.0, 2.5, (-0.06, 3.0), window=60.0)
    (-0.06, 3.0)
    >>> [round(v, 6) for v in follow_limits(100.0, 160.0, None, window=60.0)]
    [98.2, 163.0]
    """
    if hi < lo:
        lo, hi = hi, lo
    span = hi - lo
    if span <= 0:
        span = abs(hi) * 0.01 or 1.0
    if current is not None:
        c_lo, c_hi = current
        if c_lo <= lo and hi <= c_hi and span >= 0.5 * (c_hi - c_lo):
            return current
    room = min(0.5 * span, max(lo + window - hi, 0.05 * window)) if window else margin * span
    return (lo - margin * span, hi + room)


def decimate(xs: np.ndarray, ys: np.ndarray, max_points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points that draw like all of them (min/max per bucket).

    The points are cut into ``max_points // 4`` runs; each run keeps its first,
    lowest, highest and last point, in order, so spikes survive and the line's
    shape at pixel scale is unchanged (the M4 idea).

    >>> x = np.arange(1000.0); y = np.sin(x / 50)
    >>> dx, dy = decimate(x, y, 40)
    >>> bool(len(dx) <= 40 and dy.max() == y.max() and dy.min() == y.min())
    True
    >>> float(dx[0]), float(dx[-1])
    (0.0, 999.0)
    """
    n = len(xs)
    if n <= max_points or max_points < 4:
        return xs, ys
    buckets = max_points // 4
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    keep: list[int] = []
    for lo, hi in itertools.pairwise(edges.tolist()):
        if hi <= lo:
            continue
        seg = ys[lo:hi]
        picks = sorted({lo, lo + int(seg.argmin()), lo + int(seg.argmax()), hi - 1})
        keep.extend(picks)
    idx = np.asarray(keep, dtype=np.int64)
    return xs[idx], ys[idx]


class _Line:
    __slots__ = ("field", "group", "new_x", "new_y", "xs", "ys")

    def __init__(self, group: str | None, field: str, maxlen: int) -> None:
        self.group = group
        self.field = field
        self.xs: deque[float] = deque(maxlen=maxlen)
        self.ys: deque[float] = deque(maxlen=maxlen)
        self.new_x: deque[float] = deque(maxlen=maxlen)
        self.new_y: deque[float] = deque(maxlen=maxlen)


class Series:
    """Plot lines built from messages: y ``fields``, grouped ``by`` a field, against ``x``.

    Args:
        fields: one or more field paths to plot (numbers or numeric strings).
        by: a field path whose value splits the points into one line per group.
        x: a field path for x (numbers or times); ``None`` plots against receive time.
        window: what to keep (:func:`parse_window`).
        max_points: a hard bound per line, whatever the window says.
        max_lines: a bound on the number of lines (more groups are ignored).

    Only received messages count; one without the field simply adds no point.
    """

    def __init__(
        self,
        fields: Iterable[str],
        by: str | None = None,
        x: str | None = None,
        window: Window | None = None,
        max_points: int = 100_000,
        max_lines: int = 24,
    ) -> None:
        self.fields = [str(f) for f in fields]
        if not self.fields:
            raise ValueError("plot needs at least one field to plot, like plot('price')")
        self._paths = [parse_path(f) for f in self.fields]
        self.by = by
        self._by_path = parse_path(by) if by is not None else None
        self.x = x
        self._x_path = parse_path(x) if x is not None else None
        self.window = window if window is not None else Window()
        cap = max_points if self.window.points is None else min(self.window.points, max_points)
        self.maxlen = max(1, cap)
        self.max_lines = max_lines
        self.lines: list[_Line] = []
        self._index: dict[tuple[str | None, str], int] = {}
        self.x_is_time = x is None
        self._x_kind_known = x is None
        self.latest_x: float | None = None
        self.skipped = 0
        self.new_lines = False
        #: Keep the points added since :meth:`take_new` (the canvas plot ships deltas).
        self.track_new = True

    def _x_of(self, msg: Message, doc: Any) -> float | None:
        if self._x_path is None:
            return msg.ts
        raw = get_path(doc, self._x_path)
        if raw is MISSING:
            return None
        if not self._x_kind_known:
            t = time_value(raw)
            self.x_is_time = isinstance(raw, str) or (t is not None and 1e8 < t < 1e10)
            self._x_kind_known = True
        return time_value(raw) if self.x_is_time else numeric(raw)

    def _line(self, group: str | None, field: str) -> _Line | None:
        key = (group, field)
        idx = self._index.get(key)
        if idx is None:
            if len(self.lines) >= self.max_lines:
                return None
            idx = self._index[key] = len(self.lines)
            self.lines.append(_Line(group, field, self.maxlen))
            self.new_lines = True
        return self.lines[idx]

    def add(self, msgs: Iterable[Message]) -> int:
        """Add the points in ``msgs`` (oldest first); return how many points were added."""
        # The hot loop of every plot (it sees every message): plain dict lookups for
        # one-part paths, a cache of lines by (group, field), floats taken as they are.
        added = 0
        track_new = self.track_new
        by_path = self._by_path
        by_key = by_path[0] if by_path is not None and len(by_path) == 1 else None
        fields = [
            (f, p, p[0] if len(p) == 1 else None)
            for f, p in zip(self.fields, self._paths, strict=True)
        ]
        index, lines = self._index, self.lines
        latest = self.latest_x
        for msg in msgs:
            if msg.direction != "in":
                continue
            doc = msg.json
            if doc is None:
                self.skipped += 1
                continue
            xv = msg.ts if self._x_path is None else self._x_of(msg, doc)
            if xv is None:
                self.skipped += 1
                continue
            is_dict = type(doc) is dict
            group: str | None = None
            if by_path is not None:
                g = doc.get(by_key, MISSING) if is_dict and by_key is not None else None
                if g is None or g is MISSING:
                    g = get_path(doc, by_path)
                group = "(none)" if g is MISSING or g is None else str(g)
            for field, path, key in fields:
                raw = doc.get(key, MISSING) if is_dict and key is not None else get_path(doc, path)
                kind = type(raw)
                if kind is float or kind is int:
                    yv: float | None = float(raw)
                    if not math.isfinite(yv):  # type: ignore[arg-type]
                        continue
                else:
                    yv = numeric(raw)
                    if yv is None:
                        continue
                i = index.get((group, field))
                if i is None:
                    line = self._line(group, field)
                    if line is None:
                        continue
                else:
                    line = lines[i]
                line.xs.append(xv)
                line.ys.append(yv)  # type: ignore[arg-type]
                if track_new:
                    line.new_x.append(xv)
                    line.new_y.append(yv)  # type: ignore[arg-type]
                added += 1
                if latest is None or xv > latest:
                    latest = xv
        self.latest_x = latest
        if added:
            self.trim()
        return added

    def trim(self) -> None:
        """Drop points that left the time window (the point bound is kept by the deques)."""
        secs = self.window.seconds
        if secs is None or self.latest_x is None:
            return
        cutoff = self.latest_x - secs
        for line in self.lines:
            xs, ys = line.xs, line.ys
            while xs and xs[0] < cutoff:
                xs.popleft()
                ys.popleft()

    def labels(self) -> list[str]:
        """One legend label per line: the group, the field, or both."""
        out = []
        for line in self.lines:
            if line.group is None:
                out.append(line.field)
            elif len(self.fields) == 1:
                out.append(line.group)
            else:
                out.append(f"{line.group} {line.field}")
        return out

    def y_label(self) -> str:
        """The y axis label: the plotted fields.

        >>> Series(["price", "bid.size"]).y_label()
        'price, bid.size'
        """
        return ", ".join(self.fields)

    def colours(self) -> list[str]:
        """One colour per line, from :data:`PALETTE`."""
        return [PALETTE[i % len(PALETTE)] for i in range(len(self.lines))]

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """x and y of line ``index`` inside the window, as float64 arrays."""
        line = self.lines[index]
        xs = np.array(line.xs, dtype=np.float64)
        ys = np.array(line.ys, dtype=np.float64)
        if len(xs) != len(ys):  # read while the loop thread appended: keep the common part
            n = min(len(xs), len(ys))
            xs, ys = xs[:n], ys[:n]
        return xs, ys

    def take_new(self) -> list[tuple[int, np.ndarray, np.ndarray]]:
        """Points added since the last call, per line: ``[(index, xs, ys), ...]``."""
        out = []
        for i, line in enumerate(self.lines):
            n = len(line.new_x)
            if n:
                out.append(
                    (
                        i,
                        np.fromiter(line.new_x, dtype=np.float64, count=n),
                        np.fromiter(line.new_y, dtype=np.float64, count=n),
                    )
                )
                line.new_x.clear()
                line.new_y.clear()
        return out

    def first_x(self, index: int) -> float | None:
        """The oldest x of line ``index`` still inside the window (``None`` when empty)."""
        xs = self.lines[index].xs
        try:
            return xs[0]
        except IndexError:
            return None

    def points(self) -> int:
        """How many points are inside the window, over all lines."""
        return sum(len(line.xs) for line in self.lines)

    def bounds(self) -> tuple[float, float, float, float] | None:
        """``(x_lo, x_hi, y_lo, y_hi)`` over every line in the window, or ``None`` when empty."""
        xs_lo, xs_hi, ys_lo, ys_hi = [], [], [], []
        for i, line in enumerate(self.lines):
            if not line.xs:
                continue
            x, y = self.arrays(i)
            xs_lo.append(float(x.min()))
            xs_hi.append(float(x.max()))
            ys_lo.append(float(y.min()))
            ys_hi.append(float(y.max()))
        if not xs_lo:
            return None
        return min(xs_lo), max(xs_hi), min(ys_lo), max(ys_hi)

    def clear(self) -> None:
        """Forget every point (lines and their colours stay)."""
        for line in self.lines:
            line.xs.clear()
            line.ys.clear()
            line.new_x.clear()
            line.new_y.clear()
        self.latest_x = None
