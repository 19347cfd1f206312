"""The registry of named connections: connect, replay, look up, close them all.

Every connection made by :func:`connect` (or :func:`replay`) is kept here under
its name until its ``close()``; the magics and the command line find
connections by these names.

    >>> c = rtnb.connect("ws", "ws://127.0.0.1:8765/ws/echo", name="echo")  # doctest: +SKIP
    >>> rtnb.get_connection("echo") is c                                   # doctest: +SKIP
    True
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from typing import Any

from . import connection as _connection_module
from .connection import Connection
from .lifecycle import State
from .transports import transport_class

__all__ = ["close_all", "connect", "connections", "default_name", "get_connection", "replay"]

#: Name prefixes that differ from the kind.
_PREFIXES = {"webrtc": "rtc"}

_registry: dict[str, Connection] = {}
_lock = threading.Lock()
_numbers: dict[str, itertools.count[int]] = {}


def default_name(kind: str) -> str:
    """The next free name for a connection of ``kind``: ``ws1``, ``ws2``, ``sse1``, ``rtc1``...

    Each prefix counts on its own; a name already taken is skipped.

    Raises:
        ValueError: for an unknown kind.
    """
    kind = transport_class(kind).kind  # "websocket" -> "ws"
    prefix = _PREFIXES.get(kind, kind)
    with _lock:
        numbers = _numbers.setdefault(prefix, itertools.count(1))
        while True:
            name = f"{prefix}{next(numbers)}"
            if name not in _registry:
                return name


def connect(kind: str, url: str, **options: Any) -> Connection:
    """Open a connection of ``kind`` to ``url`` in the background and return it at once.

    A connection already registered under the same name is closed first.

    Args:
        kind: ``"ws"`` (WebSocket), ``"sse"`` (Server-Sent Events) or ``"webrtc"``
            (a data channel through a signaling WebSocket URL); application
            protocols on a WebSocket: ``"jsonrpc"`` (JSON-RPC 2.0) and
            ``"graphql"`` (graphql-transport-ws; ``query=`` is the subscription).
        url: where to connect.
        **options: ``name``, ``reconnect`` (default on for ws and GET sse),
            ``backoff`` (a :class:`~rtnb.lifecycle.Backoff` or its arguments),
            ``max_messages`` (log bound, default 10,000), ``send_on_open`` (messages
            sent after every open, for subscriptions), ``open_timeout``, and the
            kind's own options (``headers``, ``verify``, ``cafile``, ``subprotocols``
            for ws; ``method``, ``json``, ``last_event_id`` for sse; ``channel``,
            ``role``, ``ice_servers`` for webrtc).

    Returns:
        The :class:`~rtnb.connection.Connection`; ``c.wait_open()`` blocks until it is open.

    Example:
        >>> c = rtnb.connect("ws", "ws://127.0.0.1:8765/ws/echo", name="echo")  # doctest: +SKIP
        >>> c.wait_open().send({"hello": "world"})                              # doctest: +SKIP
    """
    name = options.pop("name", None) or default_name(kind)
    conn = Connection(kind, url, name=name, **options)
    conn.reopener = functools.partial(_like, conn)
    conn.on_state(_forget_when_closed)
    with _lock:
        old = _registry.get(name)
        _registry[name] = conn
    if old is not None and old is not conn:
        old.close()  # before the new one starts: two peers of one name must not overlap
    return conn.start()


def _like(conn: Connection) -> Connection:
    """A new connection like ``conn`` (kind, URL, name, options), registered in its place."""
    same: dict[str, Any] = dict(conn.options)
    for option in ("reconnect", "backoff", "send_on_open", "open_timeout"):
        same[option] = getattr(conn, option)
    return connect(conn.kind, conn.url, name=conn.name, max_messages=conn.log.max_messages, **same)


def _forget_when_closed(conn: Connection, state: State) -> None:
    # close() ends with a "closed" notice; a stream that ended by itself stays listed.
    if state == "closed" and conn.closing:
        with _lock:
            if _registry.get(conn.name) is conn:
                del _registry[conn.name]


def replay(
    path: str | os.PathLike[str],
    speed: float = 1.0,
    *,
    name: str | None = None,
    loop: bool = False,
    max_messages: int = 10_000,
    **options: Any,
) -> Connection:
    """Play a recording back as a read-only connection of kind ``"replay"``.

    The received messages of the recording arrive again in order, with their
    original spacing divided by ``speed`` (``0`` = as fast as possible), so
    tables, plots and ``recv`` work exactly as on the live stream. The
    connection ends in state ``"closed"`` after the last message (unless
    ``loop=True``).

    Args:
        path: a JSON Lines file written by :class:`~rtnb.record.Recorder` (or ``rtnb record``).
        speed: playback speed factor; 1 is real time, 0 means no waiting.
        name: the registry name (default ``replay1``, ...).
        loop: start again from the top after the last message.
        max_messages: the log's bound.
        **options: other :func:`connect` options.

    Raises:
        ValueError: for a negative or non-numeric ``speed``.

    Example:
        >>> r = rtnb.replay("ticks.jsonl", speed=0)     # doctest: +SKIP
        >>> r.wait_open(); r.recv(timeout=5).json        # doctest: +SKIP
        {'t': 1764088200.1, 'symbol': 'AAPL', 'price': 191.4}
    """
    return connect(
        "replay",
        os.fspath(path),
        speed=speed,
        loop=loop,
        name=name,
        max_messages=max_messages,
        **options,
    )


def connections() -> dict[str, Connection]:
    """The registered connections by name: every one not yet ``close()``-d.

    A connection whose stream ended by itself (state ``closed`` or ``failed``)
    stays listed, with its messages, until ``close()`` is called on it.
    """
    with _lock:
        return dict(_registry)


def get_connection(name: str) -> Connection:
    """The registered connection called ``name``.

    Raises:
        KeyError: with the known names, when there is none.
    """
    with _lock:
        try:
            return _registry[name]
        except KeyError:
            known = ", ".join(sorted(_registry)) or "none"
            raise KeyError(f"no connection named {name!r} (open ones: {known})") from None


def close_all() -> None:
    """Close every registered connection."""
    for conn in list(connections().values()):
        conn.close()


# These three were first defined in rtnb.connection: code written against that
# keeps working. They are bound from here, so that rtnb.connection, which the
# registry builds on, never imports the registry back.
_connection_module.connect = connect  # type: ignore[attr-defined]
_connection_module.connections = connections  # type: ignore[attr-defined]
_connection_module.get_connection = get_connection  # type: ignore[attr-defined]
