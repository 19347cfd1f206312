"""Which columns a live table shows and how their cells read: dominant shape, pins, formats.

Pure: no widgets, no I/O. :class:`~rtnb.rows.TableRows` feeds each shipped
row's fields to a :class:`ColumnChooser` (columns from the fields most recent
messages have, pinned ones first) and a :class:`ColumnFormats` (numeric columns
with one number of decimals, epoch times shown as times); the table's front-end
applies the same formats as :func:`format_cell`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "ColumnChooser",
    "ColumnFormats",
    "epoch_unit",
    "format_cell",
]

#: Messages a table looks back over to find the stream's usual shape.
SHAPE_WINDOW = 256
#: Below this many messages every field seen gets a column (there is no usual shape yet).
SHAPE_MIN = 20
#: A field gets a column when at least this share of recent messages has it ...
ADD_SHARE = 0.3
#: ... and keeps it while the share stays at or above this one (no flicker at the edge).
DROP_SHARE = 0.1


class ColumnChooser:
    """Columns from the stream's dominant shape: fields most recent messages have.

    A subscribe acknowledgement or an error among thousands of ticks does not
    add its fields for good: a field needs :data:`ADD_SHARE` of the last
    :data:`SHAPE_WINDOW` messages to get a column and loses it below
    :data:`DROP_SHARE`. Pinned columns come first and stay whatever the stream does.
    Columns keep the order in which their fields were first seen.

        >>> c = ColumnChooser()
        >>> for i in range(50):
        ...     c.observe(["type", "channel"] if i == 25 else ["t", "price"])
        >>> c.choose()
        ['t', 'price']
        >>> c.pinned = ["channel"]
        >>> c.choose()
        ['channel', 't', 'price']

    Args:
        max_columns: chosen (unpinned) columns at most.
        window: how many recent messages the shares are taken over.
    """

    def __init__(self, max_columns: int = 24, window: int = SHAPE_WINDOW) -> None:
        self.max_columns = max_columns
        self.window = window
        self.pinned: list[str] = []
        self._recent: deque[tuple[str, ...]] = deque()
        self._counts: dict[str, int] = {}
        self._rank: dict[str, int] = {}  # first-seen order
        self._chosen: list[str] = []

    def observe(self, keys: Iterable[str]) -> None:
        """Count one message's fields."""
        shape = tuple(keys)
        counts = self._counts
        if len(self._recent) >= self.window:
            for k in self._recent.popleft():
                left = counts[k] - 1
                if left:
                    counts[k] = left
                else:
                    del counts[k]
        self._recent.append(shape)
        rank = self._rank
        for k in shape:
            counts[k] = counts.get(k, 0) + 1
            if k not in rank:
                rank[k] = len(rank)
        if len(rank) > 8 * self.window:  # fields that come and go (ids as keys): forget old ones
            self._rank = {k: r for k, r in rank.items() if k in counts}

    def choose(self) -> list[str]:
        """Decide the columns from what was observed; returns :attr:`columns`."""
        n = len(self._recent)
        if n:
            had = set(self._chosen)
            keep = [
                k
                for k, c in self._counts.items()
                if n < SHAPE_MIN or c >= ADD_SHARE * n or (k in had and c >= DROP_SHARE * n)
            ]
            keep.sort(key=lambda k: self._rank.get(k, 0))
            self._chosen = keep[: self.max_columns]
        return self.columns

    @property
    def columns(self) -> list[str]:
        """Pinned columns, then the chosen ones."""
        pinned = self.pinned
        return pinned + [c for c in self._chosen if c not in pinned]

    def clear(self) -> None:
        """Forget what was observed (pinned columns stay)."""
        self._recent.clear()
        self._counts.clear()
        self._rank.clear()
        self._chosen = []


#: Epoch seconds between 2000-01-01 and 2100-01-01 are plausible times.
EPOCH_RANGE = (946_684_800.0, 4_102_444_800.0)
#: Field names that say "a time" (the last part of a path, lower case).
_TIME_NAMES = frozenset({"t", "ts", "time", "timestamp", "date", "datetime", "when", "e"})
#: Without a time-like name, a value this close to the receive time still counts as one.
NEAR_SECONDS = 7 * 86400.0
_MAX_DECIMALS = 8


def epoch_unit(name: str, value: float, received: float | None = None) -> str | None:
    """``"s"`` or ``"ms"`` when ``value`` is plausibly an epoch time in that unit, else ``None``.

    Plausible: between 2000 and 2100, and either named like a time (``t``, ``ts``,
    ``time``, ``*_at``, ``*time*``, ...) or within a week of ``received``.

    >>> epoch_unit("t", 1_764_000_000.5), epoch_unit("ts", 1_764_000_000_500)
    ('s', 'ms')
    >>> epoch_unit("price", 1_764_000_000.5), epoch_unit("t", 42.0)
    (None, None)
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return None
    leaf = name.rsplit(".", 1)[-1].lower()
    named = leaf in _TIME_NAMES or leaf.endswith("_at") or "time" in leaf
    lo, hi = EPOCH_RANGE
    for unit, scale in (("s", 1.0), ("ms", 1000.0)):
        secs = value / scale
        if lo <= secs <= hi and (
            named or (received is not None and abs(secs - received) <= NEAR_SECONDS)
        ):
            return unit
    return None


def _decimals(value: Any) -> int | None:
    """Digits after the point as the value is spelled, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return 0
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = repr(value)
    elif isinstance(value, str) and 0 < len(value) <= 40:
        text = value.strip()
        try:
            float(text)
        except ValueError:
            return None
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            return None
    else:
        return None
    if "e" in text or "E" in text:
        return _MAX_DECIMALS
    point = text.find(".")
    return 0 if point < 0 else min(_MAX_DECIMALS, len(text) - point - 1)


class ColumnFormats:
    """How each column's values show: numbers with one number of decimals, or times.

    A column whose every value is a number (or a numeric string) is numeric; it
    shows with as many decimals as its longest value had (so digits line up); a
    numeric column whose every value is a plausible epoch (:func:`epoch_unit`)
    shows as a time. The row keeps the raw text, so the payload pane shows the value as sent.

        >>> f = ColumnFormats()
        >>> f.observe({"t": 1_764_000_000.25, "price": 101.5, "sym": "A"}, received=0.0)
        >>> f.observe({"price": 99.125}, received=0.0)
        >>> f.formats()
        {'t': {'time': 's'}, 'price': {'decimals': 3}}
    """

    def __init__(self) -> None:
        self._decimals: dict[str, int] = {}
        self._epoch: dict[str, str | None] = {}
        self._text: set[str] = set()

    def observe(self, fields: Mapping[str, Any], received: float | None = None) -> None:
        """Take one message's field values (raw, before they become cell text)."""
        text, decimals, epoch = self._text, self._decimals, self._epoch
        for name, value in fields.items():
            if name in text or value is None:
                continue
            d = _decimals(value)
            if d is None:
                text.add(name)
                decimals.pop(name, None)
                epoch.pop(name, None)
                continue
            if d > decimals.get(name, -1):
                decimals[name] = d
            number = value if isinstance(value, int | float) else float(value)
            unit = epoch_unit(name, number, received)
            if name not in epoch:
                epoch[name] = unit
            elif epoch[name] != unit:
                epoch[name] = None

    def formats(self) -> dict[str, dict[str, Any]]:
        """``{column: {"decimals": n}}`` or ``{column: {"time": "s"|"ms"}}`` for numeric columns."""
        out: dict[str, dict[str, Any]] = {}
        for name, d in self._decimals.items():
            unit = self._epoch.get(name)
            out[name] = {"time": unit} if unit else {"decimals": d}
        return out

    def clear(self) -> None:
        """Forget every column."""
        self._decimals.clear()
        self._epoch.clear()
        self._text.clear()


def format_cell(text: str, fmt: Mapping[str, Any] | None) -> str:
    """A cell's text as its column shows it (see :class:`ColumnFormats`).

    >>> format_cell("1.5", {"decimals": 3}), format_cell("AAPL", {"decimals": 3})
    ('1.500', 'AAPL')
    """
    if not fmt:
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    if value != value or value in (float("inf"), float("-inf")):
        return text
    unit = fmt.get("time")
    if unit:
        import time

        secs = value / (1000.0 if unit == "ms" else 1.0)
        try:
            return time.strftime("%H:%M:%S", time.localtime(secs)) + f".{int(secs % 1 * 1000):03d}"
        except (OverflowError, OSError, ValueError):
            return text
    return f"{value:.{int(fmt.get('decimals', 0))}f}"
