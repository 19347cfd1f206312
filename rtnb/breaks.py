"""Where a connection's stream broke and came back, in the order of its messages (pure).

A cut is noted when an open stream goes down, a resume when it is open again;
each holds the ``seq`` the next message will get, so a view can draw the mark
between the last message before the break and the first one after it::

    >>> book = BreakBook()
    >>> book.cut(seq=25, now=100.0, reason="server ended the stream")
    >>> book.resume(seq=25, now=100.25, info={"last_event_id": "25"})
    >>> for b in book.since(0):
    ...     print(b.kind, b.seq, b.text)
    cut 25 server ended the stream
    resume 25 back after 0.25 s, resuming after Last-Event-ID 25
    >>> book
    <BreakBook: 2 noted>
      cut    before #26: server ended the stream
      resume before #26: back after 0.25 s, resuming after Last-Event-ID 25
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any, Literal, NamedTuple

__all__ = ["BREAK_LIMIT", "Break", "BreakBook"]

#: How many breaks a connection keeps (the oldest go first).
BREAK_LIMIT = 64

#: The longest reason a cut keeps.
TEXT_LIMIT = 160

BreakKind = Literal["cut", "resume"]


class Break(NamedTuple):
    """One cut or resume.

    Attributes:
        n: its number among this connection's breaks, from 1 (never reused).
        seq: the ``seq`` of the first message after it.
        ts: wall time (``time.time()`` seconds).
        kind: ``"cut"`` or ``"resume"``.
        text: one short line saying what happened.
    """

    n: int
    seq: int
    ts: float
    kind: BreakKind
    text: str

    def as_row(self) -> dict[str, Any]:
        """The JSON-safe table row of this mark (see :mod:`rtnb.rows`)."""
        return {
            "mark": self.kind,
            "n": self.n,
            "seq": self.seq,
            "ts": round(self.ts, 3),
            "text": self.text,
        }


class BreakBook:
    """The bounded list of a connection's breaks (written on its loop, read by views)."""

    def __init__(self, limit: int = BREAK_LIMIT) -> None:
        self._items: deque[Break] = deque(maxlen=limit)
        self._down_at: float | None = None
        #: How many breaks were ever noted.
        self.count = 0

    def _add(self, seq: int, now: float, kind: BreakKind, text: str) -> None:
        self.count += 1
        self._items.append(Break(self.count, seq, now, kind, text))

    def cut(self, seq: int, now: float, reason: str | None) -> None:
        """The open stream went down at ``now``; ``reason`` as the connection recorded it."""
        self._down_at = now
        text = " ".join((reason or "").split()) or "the stream ended"
        self._add(
            seq, now, "cut", text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
        )

    def resume(self, seq: int, now: float, info: Mapping[str, Any] | None = None) -> None:
        """The stream is open again at ``now``; ``info`` is the transport's (``last_event_id``).

        >>> book = BreakBook()
        >>> book.resume(seq=0, now=5.0)   # a first open: nothing to mark
        >>> book.count
        0
        """
        down, self._down_at = self._down_at, None
        if down is None:
            return
        text = f"back after {now - down:.2f} s"
        last_id = (info or {}).get("last_event_id")
        if last_id:
            text += f", resuming after Last-Event-ID {last_id}"
        self._add(seq, now, "resume", text)

    def __iter__(self) -> Iterator[Break]:
        """The kept breaks, oldest first."""
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        lines = [f"  {b.kind:<6} before #{b.seq + 1}: {b.text}" for b in self]
        return "\n".join([f"<BreakBook: {self.count} noted>", *lines])

    def since(self, count: int) -> list[Break]:
        """The breaks noted after the first ``count`` (those still kept), oldest first."""
        new = self.count - count
        if new <= 0:
            return []
        items = list(self._items)
        return items[-new:] if new < len(items) else items
