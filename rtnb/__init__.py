"""rtnb: WebSocket, Server-Sent Events and WebRTC streams in Jupyter and IPython.

>>> import rtnb
>>> srv = rtnb.serve()                                        # doctest: +SKIP
>>> c = rtnb.connect("ws", srv.url_for("/ws/ticker"))         # doctest: +SKIP
>>> c.wait_open().recv(timeout=5).json                        # doctest: +SKIP
{'t': 1764088200.1, 'symbol': 'AAPL', 'price': 191.4}
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .connection import Connection
from .errors import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    MessagesMissed,
    ProtocolError,
    RecvTimeout,
    RPCError,
    RTError,
    SendNotSupported,
    ServerError,
)
from .lab.run import acompare, compare
from .lifecycle import Backoff
from .message import Message, MessageLog
from .registry import close_all, connect, connections, get_connection, replay
from .stats import Stats

if TYPE_CHECKING:
    from .server import Server

__version__ = "0.1.0"

# A library only logs; the application decides where it goes. Without this,
# a warning logged on the background loop would land in whichever cell runs.
logging.getLogger("rtnb").addHandler(logging.NullHandler())

__all__ = [
    "Backoff",
    "ConnectError",
    "ConnectTimeout",
    "Connection",
    "ConnectionClosed",
    "Message",
    "MessageLog",
    "MessagesMissed",
    "ProtocolError",
    "RPCError",
    "RTError",
    "RecvTimeout",
    "SendNotSupported",
    "Server",
    "ServerError",
    "Stats",
    "__version__",
    "acompare",
    "close_all",
    "compare",
    "connect",
    "connections",
    "get_connection",
    "load_ipython_extension",
    "replay",
    "serve",
    "unload_ipython_extension",
]


def serve(host: str = "127.0.0.1", port: int = 0, token: str | None = None, **kw: Any) -> Server:
    """Start the in-kernel server (see :func:`rtnb.server.serve`)."""
    from .server import serve as _serve

    return _serve(host, port, token, **kw)


def __getattr__(name: str) -> Any:
    if name == "Server":
        from .server import Server

        return Server
    raise AttributeError(f"module 'rtnb' has no attribute {name!r}")


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext rtnb``: register the magics."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext rtnb``: remove the magics (connections you hold stay open)."""
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
