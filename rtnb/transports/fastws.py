"""WebSocket transport on picows: frames from its parser's callback straight into the log.

The ``fast`` extra (``pip install 'rtnb[fast]'``) brings picows, a Cython
WebSocket client whose parser calls back once per frame with no future and no
queue; here that callback hands each message to the connection's ingest.
Selected with ``connect("ws", url, engine="picows")``, or by ``engine="auto"``
when picows is installed and ``compression=None`` (see
:func:`rtnb.transports.ws.choose_engine`).

It keeps the ws contract: text and binary messages (fragments joined, text
checked as UTF-8 or the connection fails with 1007), handshake headers,
``origin``, ``user_agent``, subprotocols (none accepted is fatal), keepalive
pings with their round trip in ``stats.ping_rtt``, ``max_size`` (1009 past
it), TLS (``verify``, ``cafile``), a proxy URL, and the same error texts, so
reconnects behave the same. What it lacks: permessage-deflate (picows has
none: ``compression`` must be ``None``) and ``proxy=True`` resolves the
environment's proxy once per open with websockets' own rules.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from collections.abc import Callable, Mapping
from importlib.metadata import version
from typing import Any

import picows
from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

from ..errors import ConnectError, ProtocolError
from ..errors import ConnectionClosed as Closed
from .base import Ingest
from .ws import WebSocketTransport, _os_error_text, _tls_error_text, close_text

__all__ = ["PicowsTransport"]

log = logging.getLogger("rtnb")

#: Frames kept between the handshake and serve() before reading pauses.
_EARLY_FRAMES = 64
#: Close codes that end a stream normally (RFC 6455 7.4.1), as in websockets.
_OK_CODES = (1000, 1001)
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONTINUATION = WSMsgType.CONTINUATION
_CLOSE = WSMsgType.CLOSE
_PONG = WSMsgType.PONG


class _Listener(WSListener):
    """picows' per-connection callbacks: messages to the log in batches, pongs, the close.

    A plain frame (final, text or binary, no reserved bit, within ``max_size``)
    takes the short path: its payload joins the batch, handed to the sink when
    picows marks the last frame of the bytes it parsed (``last_in_buffer``),
    so one socket read costs one timestamp and one counter update. Everything
    else flushes the batch first, so order is kept.
    """

    def __init__(self, max_size: int | None) -> None:
        super().__init__()
        self.limit = max_size if max_size is not None else sys.maxsize
        self.sink: Callable[[list[str | bytes], int], None] | None = None
        self.ready = False  # a sink is set, no fragments pending, not failed
        self.batch: list[str | bytes] = []
        self.nbytes = 0
        self.early: list[tuple[bool, bytes]] = []
        self.parts: list[bytes] | None = None
        self.parts_text = False
        self.parts_size = 0
        self.failed = False
        self.pong: asyncio.Future[None] | None = None
        self.rtt: float | None = None
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.flush()

    def start(self, sink: Callable[[list[str | bytes], int], None]) -> None:
        """Hand every message from now on (and those already here) to ``sink``."""
        self.sink = sink
        early, self.early = self.early, []
        for is_text, payload in early:
            if not self._add(is_text, payload):
                break
        self.flush()
        self.ready = not self.failed and self.parts is None
        if len(early) > _EARLY_FRAMES and self.transport is not None:
            self.transport.underlying_transport.resume_reading()

    def flush(self) -> None:
        """Hand the batch to the sink."""
        if self.batch and self.sink is not None:
            items, self.batch = self.batch, []
            nbytes, self.nbytes = self.nbytes, 0
            self.sink(items, nbytes)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        msg_type = frame.msg_type
        size = frame.payload_size
        if (
            (msg_type is _TEXT or msg_type is _BINARY)
            and self.ready
            and frame.fin
            and size <= self.limit
            and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
        ):
            if msg_type is _TEXT:
                try:
                    self.batch.append(frame.get_payload_as_utf8_text())
                except UnicodeDecodeError as exc:
                    self._fail(WSCloseCode.INVALID_TEXT, f"{exc.reason} at position {exc.start}")
                    return
            else:
                self.batch.append(frame.get_payload_as_bytes())
            self.nbytes += size
            if frame.last_in_buffer:
                self.flush()
            return
        self.flush()
        if msg_type is _CLOSE:
            self._close(transport, frame)
        elif self.failed:
            return
        elif size > self.limit:  # picows refuses it too, but may deliver it all the same
            self._fail(WSCloseCode.MESSAGE_TOO_BIG, f"over size limit ({self.limit} bytes)")
        elif frame.rsv1 or frame.rsv2 or frame.rsv3:  # no extension was negotiated
            self._fail(WSCloseCode.PROTOCOL_ERROR, "reserved bits must be 0")
        elif msg_type is _TEXT or msg_type is _BINARY or msg_type is _CONTINUATION:
            self._fragment(msg_type, frame)
        elif msg_type is _PONG and self.pong is not None and not self.pong.done():
            self.pong.set_result(None)

    def _close(self, transport: WSTransport, frame: WSFrame) -> None:
        if not transport.is_close_frame_sent:  # echo the code (RFC 6455 5.5.1)
            code = frame.get_close_code()
            if code == WSCloseCode.NO_INFO:
                transport.send_close(WSCloseCode.OK)
            elif _valid_close_code(int(code.value)):
                transport.send_close(code)
            else:
                self.failed, self.ready = True, False
                reason = f"invalid close code {code.value}".encode()
                transport.send_close(WSCloseCode.PROTOCOL_ERROR, reason)
        transport.disconnect()

    def _fragment(self, msg_type: WSMsgType, frame: WSFrame) -> None:
        if msg_type is not _CONTINUATION:
            if self.parts is not None:
                self._fail(WSCloseCode.PROTOCOL_ERROR, "expected a continuation frame")
                return
            self.parts, self.parts_text, self.parts_size = [], msg_type is _TEXT, 0
            self.ready = False
        elif self.parts is None:
            self._fail(WSCloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
            return
        self.parts.append(frame.get_payload_as_bytes())
        self.parts_size += frame.payload_size
        if self.parts_size > self.limit:
            self._fail(WSCloseCode.MESSAGE_TOO_BIG, f"over size limit ({self.limit} bytes)")
            return
        if frame.fin:
            payload, self.parts = b"".join(self.parts), None
            if self.sink is None:
                self._keep(self.parts_text, payload)
            elif self._add(self.parts_text, payload):
                self.flush()
                self.ready = True

    def _keep(self, is_text: bool, payload: bytes) -> None:
        self.early.append((is_text, payload))
        if len(self.early) == _EARLY_FRAMES + 1 and self.transport is not None:
            self.transport.underlying_transport.pause_reading()

    def _add(self, is_text: bool, data: bytes) -> bool:
        """Add a whole message to the batch; False when its text is not UTF-8 (then failed)."""
        try:
            self.batch.append(data.decode() if is_text else data)
        except UnicodeDecodeError as exc:
            self._fail(WSCloseCode.INVALID_TEXT, f"{exc.reason} at position {exc.start}")
            return False
        self.nbytes += len(data)
        return True

    def _fail(self, code: WSCloseCode, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): send a close frame with ``code``, hang up."""
        self.flush()  # what came before the fault was fine
        self.failed, self.ready, self.parts = True, False, None
        transport = self.transport
        if transport is not None:
            if not transport.is_close_frame_sent:
                transport.send_close(code, reason.encode())
            transport.disconnect()

    async def keepalive(self, interval: float, timeout: float | None) -> None:
        """Ping every ``interval`` s; fail with 1011 when a pong takes over ``timeout`` s.

        The same rule and close code as websockets' keepalive; the round trip
        of each answered ping is kept for ``stats.ping_rtt``.
        """
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            transport = self.transport
            if transport is None or transport.is_disconnected or self.failed:
                return
            self.pong = loop.create_future()
            sent_at = loop.time()
            transport.send_ping(b"rtnb")
            try:
                await asyncio.wait_for(asyncio.shield(self.pong), timeout)
            except TimeoutError:
                self._fail(WSCloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                return
            self.rtt = loop.time() - sent_at


def _valid_close_code(code: int) -> bool:
    """Whether a peer may send ``code`` in a close frame (RFC 6455 7.4.1-2)."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


class PicowsTransport(WebSocketTransport):
    """Text and binary frames over ``ws://`` or ``wss://`` on picows.

    The options are :class:`WebSocketTransport`'s (``compression`` must be
    ``None``); see the module docstring for what differs.
    """

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        kw = self._connect_kwargs
        headers = list(kw["additional_headers"] or [])
        if kw.get("origin") is not None:
            headers.append(("Origin", str(kw["origin"])))
        agent = kw.get("user_agent_header", f"rtnb (picows {version('picows')})")
        if agent is not None:
            headers.append(("User-Agent", str(agent)))
        self._offered: list[str] = list(kw["subprotocols"] or [])
        if self._offered:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(self._offered)))
        self._ping_interval: float | None = kw["ping_interval"]
        self._ping_timeout: float | None = kw["ping_timeout"]
        self._picows_kwargs: dict[str, Any] = {
            "ssl_context": kw.get("ssl"),
            "extra_headers": headers,
            "websocket_handshake_timeout": None,  # the Connection applies open_timeout
            "max_frame_size": self._max_size if self._max_size is not None else sys.maxsize,
            "logger_name": "rtnb.picows",
        }
        self._proxy = kw["proxy"]
        self._picows: WSTransport | None = None
        self._listener: _Listener | None = None
        self._subprotocol: str | None = None

    async def open(self) -> None:
        listener = _Listener(self._max_size)
        proxy = get_proxy(parse_uri(self.url)) if self._proxy is True else self._proxy
        try:
            transport, _ = await picows.ws_connect(
                lambda: listener, self.url, proxy=proxy or None, **self._picows_kwargs
            )
        except picows.WSInvalidStatusError as exc:
            response = exc.response
            status = int(response.status) if response is not None else 0
            body = (exc.raw_body or b"")[:200].decode("utf-8", "replace").strip()
            fatal = 400 <= status < 500 and status not in (408, 429)
            raise ConnectError(
                f"server refused the WebSocket handshake: HTTP {status}"
                + (f" ({body})" if body else ""),
                fatal=fatal,
            ) from exc
        except picows.WSInvalidURL as exc:
            raise ConnectError(f"invalid WebSocket URL: {exc}", fatal=True) from exc
        except picows.WSInvalidHeaderError as exc:
            raise ConnectError(
                f"WebSocket handshake failed: invalid {_header_name(exc.name)} header ({exc})"
            ) from exc
        except picows.WSHandshakeError as exc:
            raise ConnectError(f"WebSocket handshake failed: {exc}") from exc
        except ssl.SSLError as exc:
            raise ConnectError(_tls_error_text(exc, self.url), fatal=True) from exc
        except OSError as exc:
            raise ConnectError(_os_error_text(exc, self.url)) from exc
        response = getattr(transport, "response", None)  # picows' stubs say never None
        if response is None:  # the peer hung up before answering
            transport.disconnect(graceful=False)
            raise ConnectError(
                "WebSocket handshake failed: connection closed while reading the HTTP response"
            )
        chosen = response.headers.get("Sec-WebSocket-Protocol")
        if chosen is not None and chosen not in self._offered:
            transport.disconnect(graceful=False)
            raise ConnectError(f"server chose subprotocol {chosen!r}, not offered", fatal=True)
        if self._offered and chosen is None:
            transport.send_close(WSCloseCode.PROTOCOL_ERROR, b"no subprotocol")
            transport.disconnect()
            raise ConnectError(
                f"server accepted none of the subprotocols {', '.join(self._offered)}", fatal=True
            )
        self._picows, self._listener, self._subprotocol = transport, listener, chosen

    async def serve(self) -> str:
        transport, listener = self._picows, self._listener
        if transport is None or listener is None:
            raise ProtocolError("serve() before open()")
        listener.start(self.ingest_many)
        pinger = None
        if self._ping_interval is not None:
            pinger = asyncio.create_task(
                listener.keepalive(self._ping_interval, self._ping_timeout), name="rtnb-ping"
            )
        failure: BaseException | None = None
        try:
            await transport.wait_disconnected()
        except (picows.WSError, OSError, ValueError) as exc:
            failure = exc  # a local failure (a frame over max_size, a protocol error)
        finally:
            if pinger is not None:
                pinger.cancel()
        hs = transport.close_handshake
        rcvd = (hs.recv.code.value, hs.recv.reason or "") if hs is not None and hs.recv else None
        sent = (hs.sent.code.value, hs.sent.reason or "") if hs is not None and hs.sent else None
        text = close_text(rcvd, sent, hs.recv_then_sent if hs else None, self._max_size)
        if listener.failed:  # we failed it: say why, from the close frame we sent
            text = close_text(None, sent, None, self._max_size)
        elif rcvd and sent and rcvd[0] in _OK_CODES and sent[0] in _OK_CODES and not failure:
            return text
        if "1009" in text:
            raise ProtocolError(text) from failure
        raise Closed(text) from failure

    async def send(self, data: str | bytes) -> int:
        transport = self._picows
        if transport is None or transport.is_disconnected:
            raise ConnectionError("not connected")
        if isinstance(data, str):
            payload = data.encode()
            transport.send(_TEXT, payload)
            return len(payload)
        transport.send(_BINARY, data)
        return len(data)

    async def close(self) -> None:
        transport, self._picows = self._picows, None
        if transport is None:
            return
        if not transport.is_disconnected:
            if not transport.is_close_frame_sent:
                transport.send_close(WSCloseCode.OK)
            try:
                await asyncio.wait_for(asyncio.shield(transport.wait_disconnected()), 3)
            except TimeoutError:
                transport.disconnect(graceful=False)
            except Exception:  # the failure itself was reported by serve()
                log.debug("picows close", exc_info=True)

    def info(self) -> dict[str, Any]:
        listener = self._listener
        if self._picows is None or listener is None:
            return {"ping_rtt": None, "subprotocol": None}
        return {"ping_rtt": listener.rtt, "subprotocol": self._subprotocol}


def _header_name(name: str | None) -> str:
    """``sec-websocket-accept`` as HTTP spells it: ``Sec-WebSocket-Accept``."""
    if not name:
        return "a"
    return "-".join(
        "WebSocket" if p.lower() == "websocket" else p.capitalize() for p in name.split("-")
    )
