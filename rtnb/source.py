"""What a view, the recorder and the summaries need from a connection: the ``Source`` protocol.

Views (``rtnb.widgets``), the recorder (``rtnb.record``) and the HTML summary
(``rtnb.display``) are typed against :class:`Source`, not against
:class:`rtnb.Connection`, so they depend on this small surface only and the
connection module may build them without an import cycle. ``State`` and
``FINAL_STATES`` come from the pure state machine, :mod:`rtnb.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .lifecycle import FINAL_STATES, State

if TYPE_CHECKING:
    from .breaks import BreakBook
    from .message import Message, MessageLog
    from .stats import Stats

__all__ = ["FINAL_STATES", "Source", "State"]


class Source(Protocol):
    """The part of a connection that views and recorders read (see :class:`rtnb.Connection`).

    A view reads ``log`` through its own cursor at a bounded rate, follows
    ``state`` through ``on_state`` and stops on a final state; it never
    touches the transport.
    """

    @property
    def name(self) -> str:
        """The registry name (``ws1``, ...)."""

    @property
    def kind(self) -> str:
        """``"ws"``, ``"sse"``, ``"webrtc"``, ``"replay"``, ..."""

    @property
    def url(self) -> str:
        """Where it connects."""

    @property
    def state(self) -> State:
        """Where the connection is in its life."""

    @property
    def log(self) -> MessageLog:
        """The bounded log of recent messages."""

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters."""

    @property
    def breaks(self) -> BreakBook:
        """Where the stream was cut and came back, placed among the messages."""

    @property
    def can_send(self) -> bool:
        """False for one-way kinds (SSE, replay); ``send_refusal`` then says why."""

    @property
    def send_refusal(self) -> str:
        """Why ``send`` is refused (empty when ``can_send``)."""

    def on_state(self, fn: Callable[[Source, State], None]) -> Callable[[], None]:
        """Call ``fn(source, state)`` on the runtime loop at each change; returns its undo."""

    @property
    def reopener(self) -> Callable[[], Source] | None:
        """Makes a fresh connection like this one, registered in its place (``None`` for
        one that :func:`rtnb.connect` did not make)."""

    async def asend(self, data: Any, timeout: float | None = 10.0) -> Message:
        """Send ``data`` (str text, bytes binary, dict/list JSON); the sent message."""

    def summary(self) -> str:
        """One line: name, kind, URL, state and the main counters."""
