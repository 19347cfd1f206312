"""The in-kernel server's settings, where handlers find them, and its Endpoint records."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from aiohttp import web

__all__ = ["CONFIG", "ENDPOINTS", "Endpoint", "ServerConfig", "config_of"]


@dataclass
class ServerConfig:
    """Settings for one in-kernel server (see :func:`rtnb.serve`)."""

    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    allowed_origins: tuple[str, ...] = ()
    max_message_size: int = 16 * 1024 * 1024
    max_connections: int = 1000
    max_connections_per_client: int = 200
    #: Messages (and characters or bytes) waiting for one chat or relay client
    #: before it is dropped as too slow; one message of any allowed size may wait.
    send_queue: int = 256
    send_queue_bytes: int = 32 * 1024 * 1024
    seed: int = 42
    room_size: int = 2
    max_rooms: int = 100
    max_bots: int = 20
    sse_history: int = 1000
    heartbeat: float = 15.0
    tls: bool = False
    #: Host names served besides localhost and loopback addresses (the DNS-rebinding
    #: guard); ``"*"`` serves any. The bound address is added when the server starts.
    allowed_hosts: tuple[str, ...] = ()
    #: Seconds a new connection has to send its first complete request head.
    header_timeout: float = 20.0
    #: Seconds a kept-alive connection may wait for its next request.
    idle_timeout: float = 30.0
    #: Seconds a client may take no data at all (its socket buffer full and not
    #: shrinking) before its connection is cut.
    send_timeout: float = 15.0
    #: Of ``max_connections``, how many are kept for this process's own clients.
    reserved_connections: int = 16
    #: Streams at once sent as fast as possible (``rate=0``, ``speed=0``) to
    #: clients other than this process.
    max_unpaced_streams: int = 8
    #: Filled in when the server starts: its own origins (for the Origin check).
    own_origins: list[str] = field(default_factory=list)
    #: This server's key for its own process's clients (see :mod:`rtnb.localtrust`).
    client_key: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)

    def __post_init__(self) -> None:
        self.allowed_hosts = tuple(self.allowed_hosts)
        for name in ("header_timeout", "idle_timeout", "send_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"{name} must be a number of seconds > 0, not {value!r}")
        for name in ("reserved_connections", "max_unpaced_streams"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= 0):
                raise ValueError(f"{name} must be a whole number >= 0, not {value!r}")


CONFIG = web.AppKey("rtnb_config", ServerConfig)


def config_of(request: web.Request) -> ServerConfig:
    """The settings of the server handling ``request``."""
    return request.app[CONFIG]


@dataclass(frozen=True)
class Endpoint:
    """One path the server offers, for the index page, magics and reprs."""

    path: str
    kind: str  # "ws", "sse", "webrtc", "page"
    description: str
    example: str = ""  # query string worth showing, e.g. "?symbols=AAPL,MSFT&rate=5"


#: The paths a server offers, in the order its index page lists them.
ENDPOINTS = web.AppKey("rtnb_endpoints", list[Endpoint])
