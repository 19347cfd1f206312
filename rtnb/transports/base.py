"""The Transport interface every kind implements, and what a Connection hands it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from ..errors import SendNotSupported
from ..options import check_names

__all__ = ["Ingest", "Sent", "Transport", "check_options"]


class Ingest(Protocol):
    """Called by a transport for each message it receives (on the runtime loop)."""

    def __call__(
        self,
        data: str | bytes,
        event: str | None = None,
        id: str | None = None,
        channel: str | None = None,
        topic: str | None = None,
    ) -> None: ...


@dataclass(frozen=True)
class Sent:
    """What a protocol verb put on the wire, for the connection's log.

    Attributes:
        data: the payload as logged (the frame's text or bytes).
        size: bytes on the wire.
        event: the Socket.IO event or JSON-RPC method, if any.
        topic: the MQTT topic, if any.
    """

    data: str | bytes
    size: int
    event: str | None = None
    topic: str | None = None


class Transport(ABC):
    """One protocol's way to open, receive, send and close.

    A Connection owns one transport for its whole life and calls ``open`` again
    after each drop, so a transport may keep state across reconnects (an SSE
    ``Last-Event-ID``). All methods run on the runtime loop.

    Class attributes:
        kind: the connect() kind (``"ws"``, ...).
        can_send: False for one-way kinds; ``send_refusal`` then says why.
        options: option names this kind accepts beyond the common ones (its
            table's names: ``WSOptions.names()``).
    """

    kind: ClassVar[str] = ""
    can_send: ClassVar[bool] = True
    send_refusal: ClassVar[str] = ""
    options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        self.url = url
        self.ingest = ingest
        #: Called with an error the stream survives (a malformed frame, a GraphQL error):
        #: the Connection counts it and shows its one line in ``stats.last_error``.
        self.on_error: Callable[[BaseException], None] = _ignore
        #: Hands over plain messages that came in one read (``nbytes`` bytes in
        #: all). The Connection sets its batch ingest here (one stamp and one
        #: counter update per read); a transport that parses messages in bursts
        #: calls it instead of ``ingest`` for each.
        self.ingest_many: Callable[[list[str | bytes], int], None] = self._ingest_each

    def _ingest_each(self, items: list[str | bytes], nbytes: int) -> None:
        for data in items:
            self.ingest(data)

    @property
    def reconnect_by_default(self) -> bool:
        """Whether a connection of this kind reconnects unless told otherwise."""
        return True

    @abstractmethod
    async def open(self) -> None:
        """Establish the connection; raise ConnectError (``fatal=True`` if retrying is futile)."""

    @abstractmethod
    async def serve(self) -> str:
        """Receive until the peer closes; return a one-line reason. Raise on errors."""

    async def send(self, data: str | bytes) -> int | Sent:
        """Send one message; return the payload's size in bytes.

        A kind whose send is a protocol verb (Socket.IO's ``emit("message", x)``,
        MQTT's publish to its ``topic``) returns that verb's :class:`Sent`, so the
        log shows the event or topic too.
        """
        raise NotImplementedError

    # Protocol verbs (rtnb.verbs): kinds that have them override these; the others
    # refuse with a sentence naming the kinds that do.

    async def call(
        self,
        method: str | Sequence[tuple[str, Any]],
        params: Any,
        timeout: float | None,
        sent: Callable[[Sent], None],
    ) -> Any:
        """Send a request, report it through ``sent`` once it is on the wire, return the reply.

        Raises:
            RPCError: when the peer answers with an error.
            TimeoutError: when no reply arrives within ``timeout`` seconds.
        """
        raise SendNotSupported(_no_verb(self.kind, "call", "jsonrpc and socketio"))

    async def notify(self, method: str, params: Any) -> Sent:
        """Send a notification (a request that gets no reply)."""
        raise SendNotSupported(_no_verb(self.kind, "notify", "jsonrpc"))

    async def emit(self, event: str, args: tuple[Any, ...]) -> Sent:
        """Send a named event with its arguments."""
        raise SendNotSupported(_no_verb(self.kind, "emit", "socketio"))

    async def publish(self, topic: str, payload: str | bytes, qos: int, retain: bool) -> Sent:
        """Publish ``payload`` on ``topic``."""
        raise SendNotSupported(_no_verb(self.kind, "publish", "mqtt"))

    @abstractmethod
    async def close(self) -> None:
        """Close whatever is open; idempotent and quiet."""

    def retry_delay(self) -> float | None:
        """A reconnect delay the server asked for (SSE ``retry:``), if any."""
        return None

    def info(self) -> dict[str, Any]:
        """Kind-specific live figures for ``stats`` (ping round trip, ICE state, ...)."""
        return {}


def _ignore(exc: BaseException) -> None:
    """``on_error`` of a transport used without a Connection."""


def _no_verb(kind: str, verb: str, kinds: str) -> str:
    return f"{kind} connections have no {verb}(); it belongs to {kinds} connections"


def check_options(kind: str, given: Mapping[str, Any], known: frozenset[str]) -> None:
    """Raise TypeError naming any option that ``kind`` does not understand.

    The same sentence as ``connect()`` gives (:func:`rtnb.options.check_names`).
    """
    check_names(kind, given, known)
