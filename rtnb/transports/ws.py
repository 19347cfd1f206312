"""WebSocket transport on the ``websockets`` library (RFC 6455)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.messages import MAX_FRAGMENTS
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    PayloadTooBig,
    TooManyFragments,
)
from websockets.frames import DATA_OPCODES, CloseCode, Frame, Opcode
from websockets.protocol import Event
from websockets.typing import Subprotocol

from .. import localtrust
from ..errors import ConnectError, ProtocolError
from ..errors import ConnectionClosed as Closed
from ..options import ENGINES, WSOptions, choose_engine  # engines: re-exported
from .base import Ingest, Transport, check_options
from .tls import client_ssl_context

__all__ = ["ENGINES", "WebSocketTransport", "choose_engine", "close_text"]

#: Frames kept between the handshake and serve() before reading pauses.
_EARLY_FRAMES = 64

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
    """websockets' client connection, taking messages straight into rtnb, cut on time.

    Messages: websockets queues each data frame in an assembler that ``recv()``
    then awaits, one future and a few generator steps per message. Here each
    frame goes from ``process_event`` (called as the bytes are parsed) straight
    to rtnb's ingest, with the same checks ``recv()`` makes: fragments joined
    (at most websockets' ``MAX_FRAGMENTS``), text decoded as UTF-8 or the
    connection failed with 1007. Frames that arrive between the handshake and
    :meth:`start_ingest` wait in order (reading pauses past 64 of them). The
    messages one socket read brought go to the connection as one batch.

    Closing: when incoming data fails the connection (a message over
    ``max_size``, a protocol error), websockets sends the close frame and sets a
    deadline (``close_timeout``) for the server to close TCP, but enforces it only
    on the next send, close or keepalive ping. Against a server that then neither
    answers nor closes, the connection sat "open" for up to ``ping_interval``
    (12-20 s measured). RFC 6455 7.1.1 lets the client close TCP itself when the
    server does not; this does it at the deadline.
    """

    _close_timer: asyncio.TimerHandle | None = None
    _sink: Callable[[list[str | bytes], int], None] | None = None
    _early: list[Frame] | None = None
    _early_arrived: asyncio.Future[None] | None = None
    _fragments: list[bytes] | None = None
    _fragments_text = False
    _failed = False

    def start_ingest(self, sink: Callable[[list[str | bytes], int], None]) -> None:
        """Hand every message from now on (and those already here) to ``sink``."""
        early, self._early = self._early, None
        self._sink = sink
        self._batch: list[str | bytes] = []
        self._nbytes = 0
        for frame in early or ():
            self._take(frame)
        self._flush()
        if early is not None and len(early) > _EARLY_FRAMES:
            self.transport.resume_reading()

    async def recv_early(self) -> str | bytes:
        """The next message before :meth:`start_ingest`, for a handshake run on top of
        WebSocket (graphql-transport-ws's ``connection_ack``); ``recv()`` sees none.

        Raises:
            websockets.exceptions.ConnectionClosed: when the connection closes first.
        """
        while True:
            early = self._early
            if early:
                frame = early.pop(0)
                if len(early) == _EARLY_FRAMES:
                    self.transport.resume_reading()
                if not frame.fin:
                    raise ProtocolError("a fragmented message during the handshake")
                return (
                    str(frame.data, "utf-8") if frame.opcode is Opcode.TEXT else bytes(frame.data)
                )
            if self.connection_lost_waiter.done():
                raise self.protocol.close_exc
            arrived = self._early_arrived = self.loop.create_future()
            await asyncio.wait(
                {arrived, self.connection_lost_waiter}, return_when=asyncio.FIRST_COMPLETED
            )

    def _flush(self) -> None:
        if self._sink is not None and self._batch:  # no batch before start_ingest
            items, self._batch = self._batch, []
            nbytes, self._nbytes = self._nbytes, 0
            self._sink(items, nbytes)

    def process_event(self, event: Event) -> None:
        if self.response is None or not isinstance(event, Frame):
            super().process_event(event)  # the handshake response
        elif self._sink is not None:
            self._take(event)
        elif event.opcode in DATA_OPCODES:
            early = self._early = self._early or []
            early.append(event)
            if len(early) == _EARLY_FRAMES + 1:
                self.transport.pause_reading()
            arrived = self._early_arrived
            if arrived is not None and not arrived.done():
                arrived.set_result(None)
        else:
            super().process_event(event)  # a pong: ping round trips

    def _take(self, frame: Frame) -> None:
        """Add a data frame's message to the batch (handed over once the read is parsed)."""
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            self.acknowledge_pings(bytes(frame.data))
            return
        if self._failed or opcode not in DATA_OPCODES:
            return
        if frame.fin and self._fragments is None:
            if opcode is Opcode.TEXT:
                try:
                    self._batch.append(str(frame.data, "utf-8"))
                except UnicodeDecodeError as exc:
                    self._fail(CloseCode.INVALID_DATA, exc, f"{exc.reason} at position {exc.start}")
                    return
            else:
                self._batch.append(bytes(frame.data))
            self._nbytes += len(frame.data)
            return
        if self._fragments is None:
            self._fragments, self._fragments_text = [], opcode is Opcode.TEXT
        parts = self._fragments
        parts.append(bytes(frame.data))
        if len(parts) > MAX_FRAGMENTS:
            too_many = TooManyFragments(MAX_FRAGMENTS)
            self._fail(CloseCode.MESSAGE_TOO_BIG, too_many, "too many fragments")
        elif frame.fin:
            self._fragments = None
            data = b"".join(parts)
            try:
                self._batch.append(data.decode() if self._fragments_text else data)
            except UnicodeDecodeError as exc:
                self._fail(CloseCode.INVALID_DATA, exc, f"{exc.reason} at position {exc.start}")
                return
            self._nbytes += len(data)

    def _fail(self, code: CloseCode, exc: Exception, reason: str) -> None:
        """Fail the connection as ``recv()`` would have, from inside ``data_received``."""
        self._flush()  # what came before the fault was fine
        self._failed = True
        self._fragments = None
        self.set_connection_exc(exc)
        self.protocol.fail(code, reason)
        try:
            self.send_data()
        except Exception as err:  # the same handling as data_received's own send
            self.set_connection_exc(err)
        if self.close_deadline is None and self.close_timeout is not None:
            self.close_deadline = self.loop.time() + self.close_timeout

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # each frame parsed goes through process_event
        self._flush()
        deadline = self.close_deadline
        if deadline is not None and self._close_timer is None:
            self._close_timer = self.loop.call_at(deadline, self._close_overdue)

    def _close_overdue(self) -> None:
        if not self.connection_lost_waiter.done():
            self.set_connection_exc(TimeoutError("timed out while closing connection"))
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._flush()
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
        engine: ``"auto"``, ``"websockets"`` or ``"picows"``: see
            :func:`rtnb.options.choose_engine`; the kinds' registry builds a
            :class:`~rtnb.transports.fastws.PicowsTransport` when picows is chosen.
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
        self._ws: _ClientConnection | None = None

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
        assert isinstance(ws, _ClientConnection)
        self._ws = ws

    async def serve(self) -> str:
        ws = self._ws
        if ws is None:
            raise ProtocolError("serve() before open()")
        ws.start_ingest(self.ingest_many)
        await asyncio.shield(ws.connection_lost_waiter)
        exc = ws.close_exc
        text = _close_text(exc, self._max_size)
        if isinstance(exc, ConnectionClosedOK):
            return text
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
    rcvd = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd is not None else None
    sent = (exc.sent.code, exc.sent.reason) if exc.sent is not None else None
    return close_text(rcvd, sent, exc.rcvd_then_sent, max_size)


def close_text(
    rcvd: tuple[int, str] | None,
    sent: tuple[int, str] | None,
    rcvd_then_sent: bool | None,
    max_size: int | None,
) -> str:
    """One line on how a WebSocket closed, from the close frames received and sent.

    >>> close_text((1000, "done"), (1000, "done"), True, None)
    'closed by server: code 1000 (normal closure): done'
    """
    frame = rcvd or sent
    if frame is None:
        return "connection lost without a close frame (code 1006)"
    code, reason = frame
    who = "server" if rcvd is not None and rcvd_then_sent is not False else "client"
    refused = sent is not None and sent[0] == 1009
    if refused and (code == 1009 or rcvd_then_sent is False):  # we sent 1009 (first)
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
