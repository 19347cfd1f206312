"""ConnectionPanel: what displaying a connection shows — state, counters, send box, live table.

    >>> c = rtnb.connect("ws", url)     # doctest: +SKIP
    >>> c                               # doctest: +SKIP   (the panel, in a notebook)

Counters refresh ten times a second, as often as the table below, so the two
agree (only when they changed); the state dot
changes as soon as the state does. The buttons follow the state: Send and
Pause are disabled (with a tooltip saying why) on a one-way, closed or failed
connection; Disconnect closes it; Retry (failed) or Reconnect (closed) opens
it again with the same kind, URL and options. While paused the panel counts
what arrived since; the filter box re-filters the table (``symbol=AAPL``).
A terminal IPython gets the one-line summary; nbconvert and saved notebooks
get the HTML summary.
"""

from __future__ import annotations

import concurrent.futures
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import traitlets

from ..display import STATE_COLOURS, connection_html
from ..errors import describe
from ..reader import check_rate
from ..runtime import get_runtime
from ..sendtext import parse_send_text
from ..source import FINAL_STATES
from ._view import LiveView, in_kernel
from .table import LiveTable

if TYPE_CHECKING:
    from ..message import Batch
    from ..source import Source, State

__all__ = ["ConnectionPanel", "PanelControls", "display_connection"]

log = logging.getLogger("rtnb")
HERE = Path(__file__).parent


class PanelControls(anywidget.AnyWidget):
    """The top of the panel: header, counters, send box and buttons (front-end in panel.js)."""

    _esm = HERE / "panel.js"  # a path: anywidget reloads it live in development
    _css = HERE / "panel.css"

    name = traitlets.Unicode("").tag(sync=True)
    kind = traitlets.Unicode("").tag(sync=True)
    url = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("connecting").tag(sync=True)
    state_colours = traitlets.Dict(STATE_COLOURS).tag(sync=True)
    can_send = traitlets.Bool(False).tag(sync=True)
    send_refusal = traitlets.Unicode("").tag(sync=True)
    counters = traitlets.Dict().tag(sync=True)
    paused = traitlets.Bool(False).tag(sync=True)
    new_since_pause = traitlets.Int(0).tag(sync=True)
    has_table = traitlets.Bool(True).tag(sync=True)
    filter_text = traitlets.Unicode("").tag(sync=True)
    feedback = traitlets.Dict().tag(sync=True)


class ConnectionPanel(LiveView, ipywidgets.VBox):  # type: ignore[misc]
    """A connection's panel: kind, URL, state, live counters, send box, pause/clear, live table.

    Args:
        conn: the connection.
        table: show the live table below (default ``True``).
        rate: counter refreshes per second (default 10, the table's rate).
        **table_options: passed to :class:`~rtnb.widgets.table.LiveTable`
            (``columns``, ``max_rows``, ``filter``, ...).

    Example:
        >>> c.panel(columns=["symbol", "price"], max_rows=50)   # doctest: +SKIP
    """

    # A class default keeps stop()/close() harmless on an instance whose __init__ failed.
    table: LiveTable | None = None

    def __init__(
        self, conn: Source, *, table: bool = True, rate: float = 10.0, **table_options: Any
    ) -> None:
        check_rate(rate)
        self._rate = rate
        self._table_options = dict(table_options)
        self._received_at_pause = 0
        #: The panel that replaced this one's content after Retry (``None`` before).
        self.retried: ConnectionPanel | None = None
        # The table first: it checks its options before it opens a widget, so bad
        # options leave no orphaned controls widget behind.
        self.table = LiveTable(conn, **table_options) if table else None
        self._open(conn, from_start=False, limit=0)  # counters only: no message is copied
        self.controls = PanelControls(
            name=conn.name,
            kind=conn.kind,
            url=conn.url,
            state=conn.state,
            can_send=conn.can_send,
            send_refusal=conn.send_refusal,
            counters=_counters(conn),
            has_table=self.table is not None,
            filter_text=str(table_options.get("filter") or ""),
        )
        self._feedback_n = 0
        children = [self.controls] + ([self.table] if self.table is not None else [])
        super().__init__(children=children)
        self.add_class("rtnb-panel")
        self.controls.on_msg(self._on_front_end_msg)
        self._start_view(rate)

    # --- runtime loop ------------------------------------------------------------------

    def _changed(self) -> bool:
        return True  # the counters move (the rate decays) with no new message too

    def _render(self, batch: Batch) -> None:
        counters = _counters(self._source)
        if counters != self.controls.counters:
            self.controls.counters = counters
        if self.controls.paused:
            self.controls.new_since_pause = counters["received"] - self._received_at_pause
        if self.controls.state != self._source.state:
            self.controls.state = self._source.state

    def _state_changed(self, source: Source, state: State) -> None:
        self.controls.state = state
        super()._state_changed(source, state)

    # --- front-end messages (kernel main thread) ---------------------------------------

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "send":
            self.send_text(str(content.get("text", "")))
        elif kind == "pause":
            if content.get("paused"):
                self.pause()
            else:
                self.resume()
        elif kind == "clear":
            self.clear()
        elif kind == "disconnect":
            self.disconnect()
        elif kind == "retry":
            self.retry()
        elif kind == "filter":
            self.set_filter(str(content.get("text", "")))

    def _say(self, ok: bool, text: str) -> None:
        self._feedback_n += 1
        self.controls.feedback = {"ok": ok, "text": text, "n": self._feedback_n}

    def send_text(self, text: str) -> None:
        """What the Send button does: validate ``text``, then send it without blocking.

        JSON-looking text must parse; a bad payload is reported in the panel and
        not sent. The outcome (or the error) shows under the send box.
        """
        conn = self._source
        if not conn.can_send:
            self._say(False, conn.send_refusal or f"{conn.kind} cannot send")
            return
        payload, error = parse_send_text(text)
        if error is not None or payload is None:
            self._say(False, error or "nothing to send")
            return

        def done(fut: concurrent.futures.Future[Any]) -> None:
            exc = fut.exception()
            if exc is not None:
                self._say(False, f"not sent: {str(exc).splitlines()[0] if str(exc) else exc!r}")
                log.info("rtnb %s: panel send failed: %s", conn.name, exc)
            else:
                msg = fut.result()
                self._say(True, f"sent #{msg.seq + 1} ({msg.size} B)")

        try:
            fut = get_runtime().submit(conn.asend(payload))
        except Exception as exc:
            self._say(False, f"not sent: {exc}")
            return
        fut.add_done_callback(done)

    def pause(self) -> None:
        """Freeze the table (messages keep arriving in the log; the panel counts them)."""
        self._received_at_pause = self._source.stats.received
        self.controls.new_since_pause = 0
        self.controls.paused = True
        if self.table is not None:
            self.table.pause()

    def resume(self) -> None:
        """Unfreeze the table; it jumps to the newest messages."""
        self.controls.paused = False
        self.controls.new_since_pause = 0
        if self.table is not None:
            self.table.resume()

    def disconnect(self) -> None:
        """What the Disconnect button does: close the connection (views keep their state)."""
        close = getattr(self._source, "close", None)
        if close is None:
            self._say(False, f"{self._source.kind} connections cannot be closed from here")
            return
        close()
        self._say(True, "disconnected: Reconnect opens it again")

    def retry(self) -> ConnectionPanel | None:
        """What Retry / Reconnect does: open the connection again, as it was opened.

        A new connection with the same kind, URL, name and options replaces the
        old one in the registry; notebook variables bound to the old one are
        rebound to it, and this panel shows the new one from then on.

        Returns:
            The panel now shown inside this one, or ``None`` when reopening failed
            (the reason shows under the send box).
        """
        old = self._source
        try:
            new = reopen(old)
        except Exception as exc:
            self._say(False, f"cannot reconnect: {describe(exc)}")
            return None
        fresh = ConnectionPanel(
            new, table=self.table is not None, rate=self._rate, **self._table_options
        )
        self.stop()
        self.retried = fresh
        self.children = [fresh]
        if self.table is not None:
            self.table.close()
        self.controls.close()
        return fresh

    def set_filter(self, text: str) -> None:
        """What the filter box does: show only matching messages (empty: all of them).

        ``text`` is a table filter (``symbol=AAPL``, ``symbol~AA``, or text to look for);
        the table is rebuilt with it and re-reads what the log holds.
        """
        if self.table is None:
            return
        options = dict(self._table_options, filter=text.strip() or None)
        try:
            table = LiveTable(self._source, **options)
        except (TypeError, ValueError) as exc:
            self._say(False, f"filter not applied: {describe(exc)}")
            return
        old, self.table = self.table, table
        self._table_options = options
        self.children = [self.controls, table]
        old.close()
        self.controls.filter_text = text.strip()
        if self.controls.paused:
            table.pause()

    def clear(self) -> None:
        """Empty the table. The connection's data stays: ``messages``, ``recv()``
        and ``to_pandas()`` still have it (use ``conn.log.clear()`` to drop it)."""
        if self.table is not None:
            self.table.clear()

    def stop(self) -> None:
        """Stop updating the counters and the table; both keep their last state."""
        super().stop()
        if self.table is not None:
            self.table.stop()

    def close(self) -> None:
        """Stop updating and remove the panel and its table."""
        self.stop()
        if self.table is not None:
            self.table.close()
        controls = getattr(self, "controls", None)  # None when __init__ failed
        if controls is not None:
            controls.close()
        super().close()

    def _fallback(self) -> dict[str, Any]:
        conn = self._source
        return {"text/plain": conn.summary(), "text/html": connection_html(conn)}

    def __repr__(self) -> str:
        return f"<ConnectionPanel {self._source.summary() if hasattr(self, '_source') else ''}>"


#: Panels made by displaying a connection that keep updating, per connection.
AUTO_PANELS_PER_CONNECTION = 2
_auto_panels: dict[str, list[ConnectionPanel]] = {}


def _counters(conn: Source) -> dict[str, Any]:
    s = conn.stats
    return {
        "received": s.received,
        "sent": s.sent,
        # an ended connection receives nothing: its last 5 s mean would mislead
        "rate": 0.0 if conn.state in FINAL_STATES else round(s.rate, 1),
        "bytes_in": s.bytes_in,
        "bytes_out": s.bytes_out,
        "reconnects": s.reconnects,
        "errors": s.errors,
        "last_error": s.last_error or "",
    }


def reopen(conn: Source) -> Source:
    """A new connection like ``conn`` (kind, URL, name, options), registered in its place.

    Notebook variables that held ``conn`` are rebound to the new connection.

    Raises:
        RuntimeError: for a connection that :func:`rtnb.connect` did not make.
    """
    if conn.reopener is None:
        raise RuntimeError(f"{conn.name} was not made by rtnb.connect(): cannot reopen it")
    new = conn.reopener()
    _rebind(conn, new)
    return new


def _rebind(old: object, new: object) -> None:
    """Point the notebook's variables that name ``old`` at ``new`` (in a kernel only)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return
    shell = get_ipython()
    if shell is None:
        return
    names = [k for k, v in shell.user_ns.items() if v is old and not k.startswith("_")]
    for name in names:
        shell.user_ns[name] = new


def display_connection(conn: Source) -> None:
    """Show ``conn``: the live panel in a Jupyter kernel, the one-line summary in a terminal.

    The panel's output also carries ``text/plain`` and ``text/html`` summaries, so
    nbconvert and notebooks saved without widget state stay readable.
    """
    if not in_kernel():
        print(conn.summary())
        return
    panel = ConnectionPanel(conn)
    panel._ipython_display_()
    # Showing the same connection again (re-running a cell) freezes its older panels,
    # so repeated displays do not multiply the comm traffic.
    shown = [p for p in _auto_panels.get(conn.name, []) if p.running and p.connection is conn]
    _auto_panels[conn.name] = shown
    shown.append(panel)
    while len(shown) > AUTO_PANELS_PER_CONNECTION:
        shown.pop(0).stop()
