"""LiveTable: the newest messages of a connection as a table that updates ~10 times a second.

    >>> t = conn.table(columns=["symbol", "price"], max_rows=100)   # doctest: +SKIP
    >>> t                                                            # doctest: +SKIP

Python ships only new rows, batched by the flusher; the front-end merges them.
The current rows also live in the synced ``rows`` trait (updated without
sending), so a page reload or a second view of the same widget shows them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..fields import parse_path
from ..reader import check_rate
from ..rows import TableRows, pretty_payload, rows_html
from ..runtime import get_runtime
from ..source import FINAL_STATES
from ._view import LiveView

if TYPE_CHECKING:
    from ..message import Batch
    from ..source import Source

__all__ = ["LiveTable"]

log = logging.getLogger("rtnb")
HERE = Path(__file__).parent
_META = ("event", "id", "channel", "topic")


class LiveTable(LiveView, anywidget.AnyWidget):  # type: ignore[misc]
    """A live table of a connection's messages, newest on top.

    Args:
        conn: the connection to show.
        columns: field paths to show (``["symbol", "bid.size"]``); by default the
            JSON payloads are flattened and the columns are the fields most recent
            messages have (an odd message's other fields show in its ``data`` cell).
        max_rows: how many rows to keep and show.
        newest_first: newest row on top (default) or at the bottom.
        filter: keep only matching messages: ``"symbol=AAPL"``, ``"symbol~AA"``,
            ``"~text"``, ``{"symbol": "AAPL"}`` or a function of the message.
        rate: updates per second at most (default 10).
        height: the table's height in pixels (it scrolls inside).
        sent: also show sent messages (default ``True``).
        pin: columns to show first, always (click a column's header to pin or unpin it).

    The ``#`` column numbers the connection's messages from 1 (a message's
    ``seq`` plus one), in and out. Click a row to see its whole payload,
    pretty-printed. Numeric columns are right-aligned with one number of
    decimals; epoch times show as times (the payload keeps the raw value).
    Where the stream was cut and where it came back, a marked row says so
    (with the ``Last-Event-ID`` an SSE stream resumed from). When the
    connection ends, a ``closed`` or ``failed`` badge shows.

    Example:
        >>> c.table(filter="symbol=AAPL", columns=["price"])   # doctest: +SKIP
    """

    _esm = HERE / "table.js"  # a path: anywidget reloads it live in development
    _css = HERE / "table.css"

    name = traitlets.Unicode("").tag(sync=True)
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    meta = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    max_rows = traitlets.Int(200).tag(sync=True)
    newest_first = traitlets.Bool(True).tag(sync=True)
    height = traitlets.Int(320).tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    filter_text = traitlets.Unicode("").tag(sync=True)
    info = traitlets.Dict().tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    formats = traitlets.Dict().tag(sync=True)
    pinned = traitlets.List(traitlets.Unicode()).tag(sync=True)
    ended = traitlets.Unicode("").tag(sync=True)
    ended_detail = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        conn: Source,
        *,
        columns: Iterable[str] | None = None,
        max_rows: int = 200,
        newest_first: bool = True,
        filter: Any = None,
        rate: float = 10.0,
        height: int = 320,
        sent: bool = True,
        pin: Iterable[str] = (),
    ) -> None:
        check_rate(rate)
        model = TableRows(max_rows=max_rows, columns=columns, filter=filter, pinned=pin)
        if not isinstance(height, int) or isinstance(height, bool) or height < 60:
            raise ValueError(f"height must be at least 60 pixels, not {height!r}")
        self._model = model
        self._meta_seen: set[str] = set()
        self._marks_seen = 0  # cuts and resumes of the connection already placed
        # A filter must see every message; without one, only the newest max_rows show.
        self._open(conn, limit=None if model.keep else max_rows, direction=None if sent else "in")
        self._add(self._take())
        super().__init__(
            name=conn.name,
            columns=list(model.columns),
            meta=[k for k in _META if k in self._meta_seen],
            rows=model.snapshot(),
            max_rows=max_rows,
            newest_first=bool(newest_first),
            height=height,
            filter_text=_describe_filter(filter),
            info=self._info(),
            formats=model.formats(),
            pinned=model.pinned,
        )
        self._last_info_sent = self._info()  # the front-end got it with the widget
        self.on_msg(self._on_front_end_msg)
        self.observe(self._on_paused, names="paused")
        self.observe(self._on_pinned, names="pinned")
        self._start_view(rate)

    # --- flushing (runtime loop) -------------------------------------------------------

    def _add(self, batch: Batch) -> list[dict[str, Any]]:
        # Messages beyond the limit (or gone from the log) still count as seen.
        breaks = self._source.breaks
        marks = breaks.since(self._marks_seen)
        self._marks_seen = breaks.count
        new = self._model.add(batch.messages, batch.skipped + batch.missed, marks)
        seen = self._meta_seen
        if len(seen) < len(_META):
            for row in new:
                seen.update(k for k in _META if k in row)
        return new

    def _changed(self) -> bool:
        if self.paused:
            return False
        return super()._changed() or self._source.breaks.count != self._marks_seen

    def _render(self, batch: Batch) -> None:
        model = self._model
        meta_before = len(self._meta_seen)
        new = self._add(batch)
        self._sync_columns()
        if len(self._meta_seen) != meta_before:
            self.meta = [k for k in _META if k in self._meta_seen]
        info = self._info()
        self._set_quietly(rows=model.snapshot(), info=info)
        if new or info != self._last_info_sent:
            self._last_info_sent = info
            self.send({"type": "rows", "rows": new, "info": info})

    def _sync_columns(self) -> None:
        model = self._model
        if model.columns != self.columns:
            self.columns = list(model.columns)
        formats = model.formats()
        if formats != self.formats:
            self.formats = formats

    def _final_update(self) -> None:
        super()._final_update()
        state = self._source.state
        if state in FINAL_STATES:
            describe = getattr(self._source, "describe_state", None)
            self.ended_detail = describe() if callable(describe) else state
            self.ended = state

    def _info(self) -> dict[str, Any]:
        # What the table read (seen, matched) and the connection's own counters, so the
        # bar says "received" and "sent" with the panel's numbers.
        m, s = self._model, self._source.stats
        return {
            "shown": len(m.rows),
            "seen": m.seen,
            "matched": m.matched,
            "received": s.received,
            "sent": s.sent,
        }

    def _set_quietly(self, **values: Any) -> None:
        # The front-end already has these values (it merges the increments); keep the
        # Python side current for views opened later without sending the whole list again.
        self._trait_values.update(values)

    def _send_snapshot(self) -> None:
        self.send(
            {
                "type": "reset",
                "rows": self._model.snapshot(),
                "columns": list(self._model.columns),
                "info": self._info(),
            }
        )

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "hello":
            get_runtime().call_soon(self._send_snapshot)
        elif kind == "detail" and isinstance(content.get("seq"), int):
            get_runtime().call_soon(self._send_detail, content["seq"])

    def _send_detail(self, seq: int) -> None:
        log_ = self._source.log
        msg = log_.get(seq)
        text = (
            pretty_payload(msg)
            if msg is not None
            else f"message #{seq + 1} is no longer stored (the log keeps the newest "
            f"{log_.max_messages})"
        )
        self.send({"type": "detail", "seq": seq, "text": text})

    def _on_pinned(self, change: Any) -> None:
        wanted = [str(c) for c in change["new"]]

        def apply() -> None:
            try:
                self._model.pin(wanted)
            except ValueError as exc:
                self.error = f"cannot pin: {exc}"[:300]
                return
            self._sync_columns()

        get_runtime().call_soon(apply)

    def _on_paused(self, change: Any) -> None:
        if not change["new"] and self._flusher is not None:
            self._flusher.poke()

    # --- public ------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop showing new messages (they keep arriving in the log)."""
        self.paused = True

    def resume(self) -> None:
        """Show new messages again, starting from the newest."""
        self.paused = False

    def pin(self, *columns: str) -> None:
        """Show these columns first, always (replaces the pinned set; none unpins all).

        Raises:
            ValueError: for a bad field path.
        """
        for col in columns:
            parse_path(col)
        self.pinned = list(columns)

    def clear(self) -> None:
        """Empty the table (the connection's log is not touched)."""

        def do_clear() -> None:
            self._model.clear()
            self._cursor.pos = self._source.log.next_seq
            self._set_quietly(rows=[])
            self.columns = list(self._model.columns)
            self._send_snapshot()

        get_runtime().call_soon(do_clear)

    def _fallback(self) -> dict[str, Any]:
        rows = self._model.snapshot()
        return {
            "text/plain": repr(self),
            "text/html": rows_html(list(self._model.columns), rows, formats=self._model.formats()),
        }

    def __repr__(self) -> str:
        m = self._model
        return (
            f"<LiveTable {self.name}: {len(m.rows)} rows shown, {m.seen} messages seen"
            + (f", filter {self.filter_text}" if self.filter_text else "")
            + ">"
        )


def _describe_filter(spec: Any) -> str:
    if spec is None:
        return ""
    if callable(spec):
        return getattr(spec, "__name__", "function")
    if isinstance(spec, dict):
        return ", ".join(f"{k}={v}" for k, v in spec.items())
    return str(spec)
