"""The Transport interface every kind implements, and what a Connection hands it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

from ..options import check_names

__all__ = ["Ingest", "Transport", "check_options"]


class Ingest(Protocol):
    """Called by a transport for each message it receives (on the runtime loop)."""

    def __call__(
        self,
        data: str | bytes,
        event: str | None = None,
        id: str | None = None,
        channel: str | None = None,
    ) -> None: ...


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

    async def send(self, data: str | bytes) -> int:
        """Send one message; return the payload's size in bytes."""
        raise NotImplementedError

    @abstractmethod
    async def close(self) -> None:
        """Close whatever is open; idempotent and quiet."""

    def retry_delay(self) -> float | None:
        """A reconnect delay the server asked for (SSE ``retry:``), if any."""
        return None

    def info(self) -> dict[str, Any]:
        """Kind-specific live figures for ``stats`` (ping round trip, ICE state, ...)."""
        return {}


def check_options(kind: str, given: Mapping[str, Any], known: frozenset[str]) -> None:
    """Raise TypeError naming any option that ``kind`` does not understand.

    The same sentence as ``connect()`` gives (:func:`rtnb.options.check_names`).
    """
    check_names(kind, given, known)
