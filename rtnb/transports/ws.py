"""WebSocket transport on the ``websockets`` library (RFC 6455)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
)
from websockets.typing import Subprotocol

from .. import localtrust
from ..errors import ConnectError, ProtocolError
from ..errors import ConnectionClosed as Closed
from ..options import WSOptions
from .base import Ingest, Transport, check_options
from .tls import client_ssl_context

__all__ = ["WebSocketTransport"]

#: Close codes (RFC 6455 section 7.4.1) worth naming in a message.
CLOSE_CODES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1006: "abnormal closure, no close frame",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
    1012: "service restart",
    1013: "try again later",
}


class _ClientConnection(ClientConnection):
    """websockets' client connection, cut on time once it has failed on received data.

    When incoming data fails the connection (a message over ``max_size``, a
    protocol error), websockets sends the close frame and sets a deadline
    (``close_timeout``) for the server to close TCP, but enforces it only on the
    next send, close or keepalive ping. Against a server that then neither answers
    nor closes, ``recv()`` sat waiting with the connection "open" for up to
    ``ping_interval`` (12-20 s measured). RFC 6455 7.1.1 lets the client close TCP
    itself when the server does not; this does it at the deadline.
    """

    _close_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        deadline = self.close_deadline
        if deadline is not None and self._close_timer is None:
            self._close_timer = self.loop.call_at(deadline, self._close_overdue)

    def _close_overdue(self) -> None:
        if not self.connection_lost_waiter.done():
            self.set_connection_exc(TimeoutError("timed out while closing connection"))
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._close_timer is not None:
            self._close_timer.cancel()
        super().connection_lost(exc)


class WebSocketTransport(Transport):
    """Text and binary frames over ``ws://`` or ``wss://``.

    Options:
        headers: extra handshake headers (a dict or ``[(name, value), ...]``).
        subprotocols: subprotocols to offer; a server that picks none of them
            fails the connection (fatal).
        compression: ``"deflate"`` (permessage-deflate, the default) or ``None``.
        ping_interval / ping_timeout: keepalive pings in seconds (20/20); a peer
            that misses a pong is considered dead and the connection reconnects.
        max_size: largest message accepted, in bytes (default 16 MiB).
        origin: the ``Origin`` header to send.
        verify / cafile: TLS checking for ``wss://`` (see ``client_ssl_context``).
        proxy: an HTTP/SOCKS proxy URL, ``True`` (environment, the default) or ``None``.
    """

    kind: ClassVar[str] = "ws"
    options: ClassVar[frozenset[str]] = WSOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        check_options(self.kind, options, self.options)
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(
                f"a WebSocket URL starts with ws:// or wss:// and names a host, not {url!r}"
            )
        self._connect_kwargs: dict[str, Any] = {
            # security hook (issue 14): this process's key for its own servers
            "additional_headers": (_headers(options.get("headers")) or [])
            + list(localtrust.headers_for(url).items()),
            "subprotocols": [Subprotocol(p) for p in _as_list(options.get("subprotocols"))] or None,
            "compression": options.get("compression", "deflate"),
            "ping_interval": options.get("ping_interval", 20.0),
            "ping_timeout": options.get("ping_timeout", 20.0),
            "max_size": options.get("max_size", 16 * 1024 * 1024),
            "open_timeout": None,  # the Connection applies its own open_timeout
            "close_timeout": 2.0,
            "proxy": options.get("proxy", True),
            "max_queue": 64,
            "create_connection": _ClientConnection,
        }
        if "origin" in options:
            self._connect_kwargs["origin"] = options["origin"]
        if "user_agent" in options:
            self._connect_kwargs["user_agent_header"] = options["user_agent"]
        if parts.scheme == "wss":
            self._connect_kwargs["ssl"] = client_ssl_context(
                options.get("verify", True), options.get("cafile")
            )
        self._max_size = self._connect_kwargs["max_size"]
        self._ws: ClientConnection | None = None

    async def open(self) -> None:
        try:
            ws = await ws_connect(self.url, **self._connect_kwargs)
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body or b"")[:200].decode("utf-8", "replace").strip()
            fatal = 400 <= status < 500 and status not in (408, 429)
            raise ConnectError(
                f"server refused the WebSocket handshake: HTTP {status}"
                + (f" ({body})" if body else ""),
                fatal=fatal,
            ) from exc
        except NegotiationError as exc:
            raise ConnectError(f"negotiation failed: {exc}", fatal=True) from exc
        except InvalidURI as exc:
            raise ConnectError(f"invalid WebSocket URL: {exc}", fatal=True) from exc
        except InvalidHandshake as exc:
            cause = f" ({exc.__cause__})" if exc.__cause__ is not None else ""
            raise ConnectError(f"WebSocket handshake failed: {exc}{cause}") from exc
        except ssl.SSLError as exc:
            # the same certificate or protocol mismatch fails the same way again
            raise ConnectError(_tls_error_text(exc, self.url), fatal=True) from exc
        except OSError as exc:
            # no such host (or no DNS at all, offline): the next try resolves the same way
            raise ConnectError(_os_error_text(exc, self.url), fatal=_unresolved(exc)) from exc
        offered = self._connect_kwargs["subprotocols"]
        if offered and ws.subprotocol is None:
            await ws.close(1002, "no subprotocol")
            raise ConnectError(
                f"server accepted none of the subprotocols {', '.join(offered)}", fatal=True
            )
        self._ws = ws

    async def serve(self) -> str:
        ws = self._ws
        if ws is None:
            raise ProtocolError("serve() before open()")
        ingest = self.ingest
        try:
            while True:
                ingest(await ws.recv())
        except ConnectionClosedOK as exc:
            return _close_text(exc, self._max_size)
        except ConnectionClosed as exc:
            text = _close_text(exc, self._max_size)
            if isinstance(exc.__cause__, PayloadTooBig) or "1009" in text:
                raise ProtocolError(text) from exc
            raise Closed(text) from exc

    async def send(self, data: str | bytes) -> int:
        ws = self._ws
        if ws is None:
            raise ConnectionError("not connected")
        await ws.send(data)
        return len(data) if isinstance(data, bytes) or data.isascii() else len(data.encode())

    async def close(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 3)
            except (TimeoutError, OSError):
                ws.transport.abort()

    def info(self) -> dict[str, Any]:
        ws = self._ws
        if ws is None:
            return {"ping_rtt": None, "subprotocol": None}
        latency = getattr(ws, "latency", 0.0)
        return {"ping_rtt": latency or None, "subprotocol": ws.subprotocol}


def _headers(value: Any) -> list[tuple[str, str]] | None:
    if value is None:
        return None
    items = value.items() if isinstance(value, Mapping) else value
    try:
        return [(str(k), str(v)) for k, v in items]
    except (TypeError, ValueError) as exc:
        raise TypeError("headers must be a dict or a list of (name, value) pairs") from exc


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(v) for v in value]
    raise TypeError("subprotocols must be a string or a list of strings")


def _close_text(exc: ConnectionClosed, max_size: int | None) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "connection lost without a close frame (code 1006)"
    code = frame.code
    reason = frame.reason
    who = "server" if exc.rcvd is not None and exc.rcvd_then_sent is not False else "client"
    if code == 1009 and exc.sent is not None and exc.sent.code == 1009:
        return f"message over max_size={max_size} bytes refused (code 1009)"
    text = f"closed by {who}: code {code} ({CLOSE_CODES.get(code, 'other')})"
    return f"{text}: {reason}" if reason else text


def _tls_error_text(exc: ssl.SSLError, url: str) -> str:
    host = urlsplit(url).netloc
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = exc.verify_message or exc.reason or "not trusted"
        return (
            f"TLS certificate of {host} not trusted ({why}): pass cafile= with the CA "
            "that signed it (srv.cafile for rtnb.serve(tls=True)), or verify=False "
            "for local testing only"
        )
    reason = (exc.reason or str(exc)).lower().replace("_", " ")
    hint = " (is it a plain ws:// server?)" if "wrong version" in reason else ""
    return f"TLS handshake with {host} failed: {reason}{hint}"


def _os_error_text(exc: OSError, url: str) -> str:
    host = urlsplit(url).netloc
    if isinstance(exc, ConnectionRefusedError):
        return f"connection refused by {host} (is the server running?)"
    if isinstance(exc, ConnectionResetError):
        return f"connection reset by {host} during the handshake"
    if _unresolved(exc):
        return f"cannot resolve host {urlsplit(url).hostname!r} (check the name, or the internet)"
    return f"{type(exc).__name__}: {exc}"


def _unresolved(exc: OSError) -> bool:
    """True when ``exc`` is a name-resolution failure (``socket.gaierror``): retrying is futile."""
    return isinstance(exc, socket.gaierror) or "Name or service not known" in str(exc)
