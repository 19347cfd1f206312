"""LiveSignaling: a WebRTC connection's offer, answer, candidates and states as they happen.

    >>> bot = rtnb.connect("webrtc", srv.url_for("/webrtc/bot"), name="bot")   # doctest: +SKIP
    >>> bot.signaling()                                                          # doctest: +SKIP

The view follows the transport's :class:`~rtnb.signallog.SignalBook` (handed in
by ``c.signaling()``: a view never touches the transport) by its version, at a
bounded rate: each flush sends only the events noted since the last one. The
events also live in the synced ``events`` trait (updated without sending, and
sent whole once when the view stops), so a page reload or a second view shows
them; the few state changes go as the synced ``states`` trait.
"""

from __future__ import annotations

import html
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import traitlets

from ..reader import check_rate
from ..runtime import get_runtime
from ..signallog import SignalBook, SignalEvent, SignalingLog
from ..source import FINAL_STATES
from ._view import LiveView

if TYPE_CHECKING:
    from ..message import Batch
    from ..source import Source

__all__ = ["LiveSignaling"]

HERE = Path(__file__).parent


class LiveSignaling(LiveView, anywidget.AnyWidget):  # type: ignore[misc]
    """A live log of a WebRTC connection's signaling, oldest first, with its states as chips.

    Args:
        conn: the connection to show (its name and its end).
        book: its signaling log (the WebRTC transport's ``signals``).
        rate: updates per second at most (default 8).
        height: the log's height in pixels (it scrolls inside, following the newest).

    One line per event: wall time, seconds since the first event, direction
    (``→`` sent, ``←`` received, ``•`` a state seen here), type and summary;
    click a line to see the whole message (an offer's SDP). The chips show the
    signaling, ICE gathering, ICE, DTLS and connection states now; a ``closed``
    or ``failed`` badge shows when the connection ends.

    Example:
        >>> bot.signaling(height=200)   # doctest: +SKIP
    """

    _esm = HERE / "signaling.js"
    _css = HERE / "signaling.css"

    name = traitlets.Unicode("").tag(sync=True)
    events = traitlets.List(traitlets.Dict()).tag(sync=True)
    states = traitlets.Dict().tag(sync=True)
    t0 = traitlets.Float(0.0).tag(sync=True)
    limit = traitlets.Int(100).tag(sync=True)
    height = traitlets.Int(360).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    ended = traitlets.Unicode("").tag(sync=True)
    ended_detail = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, conn: Source, book: SignalBook, *, rate: float = 8.0, height: int = 360
    ) -> None:
        check_rate(rate)
        if not isinstance(height, int) or isinstance(height, bool) or height < 60:
            raise ValueError(f"height must be at least 60 pixels, not {height!r}")
        self._book = book
        self._seen = 0  # the book's version this view has shown
        self._events: deque[tuple[int, SignalEvent]] = deque(maxlen=book.limit)
        # The log's messages are not this view's: a cursor at the end, read one at a time.
        self._open(conn, from_start=False, limit=1)
        # The book is written on the runtime loop: the first flush (or the final update
        # of an ended connection, when nothing writes any more) reads it.
        super().__init__(name=conn.name, limit=book.limit, height=height)
        self.on_msg(self._on_front_end_msg)
        self._start_view(rate)

    # --- flushing (runtime loop) -------------------------------------------------------

    def _changed(self) -> bool:
        return self._book.version != self._seen

    def _render(self, batch: Batch) -> None:
        book = self._book
        version = book.version
        fresh = book.since(self._seen)
        first = version - len(fresh)
        new = [(first + i, e) for i, e in enumerate(fresh)]
        self._seen = version
        self._events.extend(new)
        states = book.states
        t0 = book.started or 0.0
        self._set_quietly(events=[_row(n, e) for n, e in self._events])
        if states != self.states:  # a few changes per connection: synced as they come
            self.states = states
        if t0 != self.t0:
            self.t0 = t0
        if new:
            self.send({"type": "events", "events": [_row(n, e) for n, e in new]})

    def _final_update(self) -> None:
        super()._final_update()
        # The display refresh that follows makes a new view from the synced state: sync
        # the events once, so it starts with them (not empty until its snapshot).
        if getattr(self, "comm", None) is not None:
            self.send_state("events")
        state = self._source.state
        if state in FINAL_STATES:
            describe = getattr(self._source, "describe_state", None)
            self.ended_detail = describe() if callable(describe) else state
            self.ended = state

    def _set_quietly(self, **values: Any) -> None:
        # The front-end already has these values (it merges the increments); keep the
        # Python side current for views opened later without sending everything again.
        self._trait_values.update(values)

    def _send_snapshot(self) -> None:
        self.send({"type": "snapshot", "events": [_row(n, e) for n, e in self._events]})

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "hello":
            get_runtime().call_soon(self._send_snapshot)

    # --- display -------------------------------------------------------------------------

    @property
    def log(self) -> SignalingLog:
        """The events shown, oldest first (prints as a table)."""
        return SignalingLog(e for _, e in tuple(self._events))

    def _fallback(self) -> dict[str, Any]:
        chips = " · ".join(f"{k} {v}" for k, v in self.states.items())
        head = f"<p style='font-size:12px'><b>{html.escape(self.name)}</b> {html.escape(chips)}</p>"
        return {"text/plain": repr(self), "text/html": head + self.log._repr_html_()}

    def __repr__(self) -> str:
        states = self.states
        parts = [f"{len(self._events)} events"]
        parts += [f"{k} {states[k]}" for k in ("ice", "dtls", "connection") if k in states]
        if self.ended:
            parts.append(self.ended)
        return f"<LiveSignaling {self.name}: {', '.join(parts)}>"


def _row(n: int, e: SignalEvent) -> dict[str, Any]:
    return {
        "n": n,
        "t": e.t,
        "dir": e.direction,
        "type": e.type,
        "summary": e.summary,
        "detail": e.detail,
    }
