"""The in-kernel server's settings, where handlers find them, and its Endpoint records."""

from __future__ import annotations

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
    #: Filled in when the server starts: its own origins (for the Origin check).
    own_origins: list[str] = field(default_factory=list)


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
