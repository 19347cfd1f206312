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

from ..rows import TableRows, pretty_payload, rows_html
from ..runtime import get_runtime
from ._view import LiveView
from .flusher import check_rate, pull

if TYPE_CHECKING:
    from ..connection import Connection

__all__ = ["LiveTable"]

log = logging.getLogger("rtnb")
HERE = Path(__file__).parent
_META = ("event", "id", "channel", "topic")


class LiveTable(LiveView, anywidget.AnyWidget):  # type: ignore[misc]
    """A live table of a connection's messages, newest on top.

    Args:
        conn: the connection to show.
        columns: field paths to show (``["symbol", "bid.size"]``); by default the
            JSON payloads are flattened and columns appear as fields are seen.
        max_rows: how many rows to keep and show.
        newest_first: newest row on top (default) or at the bottom.
        filter: keep only matching messages: ``"symbol=AAPL"``, ``"symbol~AA"``,
            ``"~text"``, ``{"symbol": "AAPL"}`` or a function of the message.
        rate: updates per second at most (default 10).
        height: the table's height in pixels (it scrolls inside).
        sent: also show sent messages (default ``True``).

    Click a row to see its whole payload, pretty-printed.

    Example:
        >>> c.table(filter="symbol=AAPL", columns=["price"])   # doctest: +SKIP
    """

    _esm = (HERE / "table.js").read_text(encoding="utf-8")
    _css = (HERE / "table.css").read_text(encoding="utf-8")

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

    def __init__(
        self,
        conn: Connection,
        *,
        columns: Iterable[str] | None = None,
        max_rows: int = 200,
        newest_first: bool = True,
        filter: Any = None,
        rate: float = 10.0,
        height: int = 320,
        sent: bool = True,
    ) -> None:
        check_rate(rate)
        model = TableRows(max_rows=max_rows, columns=columns, filter=filter)
        if not isinstance(height, int) or isinstance(height, bool) or height < 60:
            raise ValueError(f"height must be at least 60 pixels, not {height!r}")
        self._model = model
        self._sent = bool(sent)
        log_ = conn.log
        start = log_.first_seq
        first, _ = log_.since(start, None if model.keep else max_rows)
        skipped = first[0].seq - start if first else 0
        model.add((m for m in first if self._sent or m.direction == "in"), skipped)
        self._pos = first[-1].seq + 1 if first else log_.next_seq
        self._meta_seen: set[str] = set()
        self._last_info_sent: dict[str, Any] = {}
        for row in model.rows:
            self._meta_seen.update(k for k in _META if k in row)
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
        )
        self.on_msg(self._on_front_end_msg)
        self.observe(self._on_paused, names="paused")
        self._start_view(conn, rate, self._flush, self._changed, self._show_error)

    def _show_error(self, exc: BaseException) -> None:
        text = f"update failed: {type(exc).__name__}: {exc}"
        if text != self.error:
            self.error = text[:300]

    # --- flushing (runtime loop) -------------------------------------------------------

    def _changed(self) -> bool:
        return not self.paused and self._conn.log.next_seq != self._pos

    def _flush(self) -> None:
        model = self._model
        limit = None if model.keep is not None else model.max_rows
        before = self._pos
        msgs, self._pos, _missed = pull(self._conn.log, self._pos, limit)
        # Messages beyond the pull limit (or gone from the log) still count as seen.
        skipped = self._pos - before - len(msgs)
        if not self._sent:
            msgs = [m for m in msgs if m.direction == "in"]
        cols_before = len(model.columns)
        new = model.add(msgs, skipped)
        if len(model.columns) != cols_before:
            self.columns = list(model.columns)
        for row in new:
            for key in _META:
                if key in row and key not in self._meta_seen:
                    self._meta_seen.add(key)
                    self.meta = [k for k in _META if k in self._meta_seen]
        info = self._info()
        self._set_quietly(rows=model.snapshot(), info=info)
        if new or info != self._last_info_sent:
            self._last_info_sent = info
            self.send({"type": "rows", "rows": new, "info": info})

    def _info(self) -> dict[str, Any]:
        m = self._model
        return {"shown": len(m.rows), "seen": m.seen, "matched": m.matched}

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
        msg = self._conn.log.get(seq)
        text = (
            pretty_payload(msg)
            if msg is not None
            else f"message #{seq} is no longer stored (the log keeps the newest "
            f"{self._conn.log.max_messages})"
        )
        self.send({"type": "detail", "seq": seq, "text": text})

    def _on_paused(self, change: Any) -> None:
        if not change["new"] and self._flusher is not None:
            self._flusher.poke()

    def _final_update(self) -> None:
        if self._conn.log.next_seq != self._pos:
            self._flush()

    # --- public ------------------------------------------------------------------------

    def pause(self) -> None:
        """Stop showing new messages (they keep arriving in the log)."""
        self.paused = True

    def resume(self) -> None:
        """Show new messages again, starting from the newest."""
        self.paused = False

    def clear(self) -> None:
        """Empty the table (the connection's log is not touched)."""

        def do_clear() -> None:
            self._model.clear()
            self._pos = self._conn.log.next_seq
            self._set_quietly(rows=[])
            self.columns = list(self._model.columns)
            self._send_snapshot()

        get_runtime().call_soon(do_clear)

    def close(self) -> None:
        """Stop updating and remove the widget."""
        self.stop()
        super().close()

    def _fallback(self) -> dict[str, Any]:
        rows = self._model.snapshot()
        return {
            "text/plain": repr(self),
            "text/html": rows_html(list(self._model.columns), rows),
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
