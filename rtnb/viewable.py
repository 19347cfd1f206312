"""What a connection offers beyond sending and receiving: live views, a recorder, exports, display.

:class:`Viewable` is mixed into :class:`rtnb.Connection`, so ``c.table()``,
``c.plot(...)``, ``c.panel()``, ``c.record(path)``, ``c.to_pandas()`` and the
notebook display work on every connection (``c.signaling()`` on a WebRTC
one), while ``rtnb.connection`` keeps to the lifecycle and to sending and
receiving. The views are imported only when
first used, so ``import rtnb`` loads no widget library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

    from .lifecycle import State
    from .message import MessageLog
    from .stats import Stats

__all__ = ["Viewable"]


class Viewable:
    """Views, a recorder, exports and the notebook display of a connection (a mixin).

    The factories hand ``self`` (the connection) to the views; ``self`` is typed
    ``Any`` there, since naming the connection's class here would import
    ``rtnb.connection`` back.
    """

    name: str
    kind: str
    url: str
    log: MessageLog

    if TYPE_CHECKING:

        @property
        def state(self) -> State: ...

        @property
        def stats(self) -> Stats: ...

    def table(self: Any, **options: Any) -> Any:
        """A live table of this connection's messages (see :class:`rtnb.widgets.LiveTable`)."""
        from .widgets.table import LiveTable

        return LiveTable(self, **options)

    def plot(self: Any, *fields: str, **options: Any) -> Any:
        """A live plot of one or more fields (see :func:`rtnb.widgets.plot.live_plot`)."""
        from .widgets.plot import live_plot

        return live_plot(self, *fields, **options)

    def panel(self: Any, **options: Any) -> Any:
        """The connection panel: state, counters, send box and live table."""
        from .widgets.panel import ConnectionPanel

        return ConnectionPanel(self, **options)

    def signaling(self: Any, **options: Any) -> Any:
        """A live log of a WebRTC connection's offer, answer, candidates and states.

        See :class:`rtnb.widgets.signaling.LiveSignaling`; show it in the cell that
        connects to watch the negotiation happen.

        Example:
            >>> bot = rtnb.connect("webrtc", srv.url_for("/webrtc/bot"))   # doctest: +SKIP
            >>> bot.signaling()                                              # doctest: +SKIP

        Raises:
            TypeError: for a connection that is not WebRTC (it has no signaling).
        """
        book = getattr(getattr(self, "_transport", None), "signals", None)
        if book is None:
            raise TypeError(
                f"signaling() shows a WebRTC connection's signaling; "
                f"{self.name!r} is a {self.kind} connection"
            )
        from .widgets.signaling import LiveSignaling

        return LiveSignaling(self, book, **options)

    def record(self: Any, path: str, **options: Any) -> Any:
        """Write every message to ``path`` as JSON Lines until stopped (see rtnb.record)."""
        from .record import Recorder

        return Recorder(self, path, **options)

    def to_records(self) -> list[dict[str, Any]]:
        """Stored messages as JSON-safe dicts."""
        return self.log.to_records()

    def to_pandas(self, flatten_json: bool = True) -> pandas.DataFrame:
        """Stored messages as a pandas DataFrame, JSON flattened into columns."""
        return self.log.to_pandas(flatten_json)

    def summary(self) -> str:
        """One line: name, kind, URL, state and the main counters."""
        s = self.stats
        state = self.state
        line = (
            f"{self.name}: {self.kind} {self.url} [{state}] "
            f"received={s.received} sent={s.sent} rate={s.rate:.1f}/s "
            f"reconnects={s.reconnects} errors={s.errors}"
        )
        if s.last_error and state != "open":
            line += f" last_error={s.last_error!r}"
        return line

    def __repr__(self) -> str:
        return f"<rtnb.Connection {self.summary()}>"

    def _repr_html_(self: Any) -> str:
        from .display import connection_html

        html: str = connection_html(self)
        return html

    def _ipython_display_(self: Any) -> None:
        from .widgets.panel import display_connection

        display_connection(self)
