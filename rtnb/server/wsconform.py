"""RFC 6455 rules aiohttp's WebSocket server leaves out, kept by one WebSocketResponse subclass.

Measured with a raw RFC 6455 client (tests/test_ws_conformance.py), aiohttp 3.14:

- it accepts, and echoes, a client frame that is not masked: section 5.1 says the
  server MUST fail the connection;
- it takes close code 1006 on the wire as a normal close and answers 1000: 1005,
  1006 and 1015 MUST NOT be sent in a close frame (7.4.1), so that is a protocol
  error (1002), as is a code past 4999 (7.4.2 defines none);
- it refuses a message of exactly ``max_msg_size`` bytes (its reader compares with
  ``>=``): only a larger one is over the limit;
- it answers an unknown ``Sec-WebSocket-Version`` with a bare 400, where 4.2.2 asks
  for an error such as 426 that names the version it speaks
  (``Sec-WebSocket-Version: 13``).

:class:`ConformingWebSocketResponse` fixes all four: it checks the version before
the handshake, puts :class:`_FrameGuard` (a scan of frame headers, payloads
skipped) in front of aiohttp's frame reader, and gives that reader a limit one
byte larger, keeping the exact limit for inflated messages in ``receive``.
"""

from __future__ import annotations

from aiohttp import WebSocketError, WSCloseCode, WSMessage, WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http_websocket import WebSocketWriter
from aiohttp.web_request import BaseRequest

__all__ = ["FORBIDDEN_CLOSE_CODES", "ConformingWebSocketResponse"]

#: Close codes an endpoint must not put in a close frame (RFC 6455 7.4.1).
FORBIDDEN_CLOSE_CODES = frozenset({1005, 1006, 1015})


class ConformingWebSocketResponse(web.WebSocketResponse):
    """``aiohttp.web.WebSocketResponse`` that keeps the RFC 6455 rules listed above.

    A drop-in replacement: same arguments, same behaviour otherwise.

    Example:
        >>> ws = ConformingWebSocketResponse(max_msg_size=1024)   # doctest: +SKIP
        >>> await ws.prepare(request)                             # doctest: +SKIP
    """

    def __init__(self, *, max_msg_size: int = 4 * 1024 * 1024, **kwargs: object) -> None:
        self._limit = max_msg_size
        # aiohttp refuses payload >= its limit; one byte more makes "> max_msg_size".
        super().__init__(max_msg_size=max_msg_size + 1 if max_msg_size else 0, **kwargs)  # type: ignore[arg-type]

    async def prepare(self, request: BaseRequest) -> AbstractStreamWriter:
        """Refuse an unknown protocol version with 426, then hand over to aiohttp."""
        headers = request.headers
        upgrade = headers.get("Upgrade", "").strip().lower() == "websocket"
        version = headers.get("Sec-WebSocket-Version", "")
        if not self.prepared and upgrade and version.strip() != "13":
            # 4.2.2: "send an appropriate HTTP error code (such as 426 Upgrade
            # Required) and a |Sec-WebSocket-Version| header field indicating the
            # version(s) the server is capable of understanding".
            raise web.HTTPUpgradeRequired(
                headers={"Sec-WebSocket-Version": "13"},
                text=f"unsupported Sec-WebSocket-Version {version!r}: this server speaks 13",
            )
        return await super().prepare(request)

    def _post_start(
        self, request: BaseRequest, protocol: str | None, writer: WebSocketWriter
    ) -> None:
        # aiohttp installs its frame reader here and feeds it any bytes that came
        # with the handshake: hold those back so the guard sees every byte first.
        handler = request.protocol
        tail, handler._message_tail = handler._message_tail, b""
        super()._post_start(request, protocol, writer)
        assert self._parser is not None and self._reader is not None
        guard = _FrameGuard(self._parser, self._reader)
        handler._payload_parser = guard
        if tail:
            guard.feed_data(tail)

    async def receive(self, timeout: float | None = None) -> WSMessage:
        """The next message, as aiohttp's ``receive``, with the size limit exact."""
        msg = await super().receive(timeout)
        if self._limit and msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            # Only an inflated (permessage-deflate) message can be one byte over
            # here; frames on the wire were checked by the reader.
            data = msg.data
            size = len(data)
            if isinstance(data, str) and self._limit < size * 4 <= 4 * self._limit:
                size = len(data.encode("utf-8"))
            if size > self._limit:
                exc = WebSocketError(
                    WSCloseCode.MESSAGE_TOO_BIG,
                    f"Message size {size} exceeds limit {self._limit}",
                )
                self._exception = exc
                await self.close(code=WSCloseCode.MESSAGE_TOO_BIG)
                return WSMessage(WSMsgType.ERROR, exc, None)
        return msg


class _FrameGuard:
    """Reads client frame headers ahead of aiohttp's reader and fails what it lets pass.

    It keeps only a header in progress and how many payload bytes to skip, plus
    a close frame's payload (at most 125 bytes) to read its code. On a violation
    it hands aiohttp's reader the frames before the offending one, then fails
    the message queue with a 1002 ``WebSocketError``, which aiohttp answers with
    a close frame of that code, as for the errors it finds itself.
    """

    __slots__ = ("_close", "_failed", "_head", "_key", "_queue", "_reader", "_skip")

    def __init__(self, reader: WebSocketReader, queue: WebSocketDataQueue) -> None:
        self._reader = reader
        self._queue = queue
        self._head = bytearray()
        self._skip = 0
        self._close: bytearray | None = None
        self._key = b""
        self._failed = False

    def feed_eof(self) -> None:
        self._reader.feed_eof()

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if self._failed:
            return True, b""
        found = self._scan(data)
        if found is None:
            return self._reader.feed_data(data)
        start, why = found
        if start:
            self._reader.feed_data(data[:start])
        self._failed = True
        self._queue.set_exception(WebSocketError(WSCloseCode.PROTOCOL_ERROR, why))
        return True, b""

    def _scan(self, data: bytes) -> tuple[int, str] | None:
        """Where in ``data`` the first offending frame starts, and why; None if none."""
        pos, end, start = 0, len(data), 0
        head = self._head
        while pos < end:
            if self._skip:
                take = min(self._skip, end - pos)
                if self._close is not None:
                    self._close += data[pos : pos + take]
                pos += take
                self._skip -= take
                if not self._skip and self._close is not None:
                    why = self._check_close()
                    if why:
                        return start, why
                continue
            # A header is 2-14 bytes; most arrive whole, so read them from a slice.
            if head:
                got = len(head)
                h = bytes(head) + data[pos : pos + 14 - got]
            else:
                got, start = 0, pos
                h = data[pos : pos + 14]
            if len(h) >= 2 and not h[1] & 0x80:
                # 5.1: "The server MUST close the connection upon receiving a frame
                # that is not masked." (aiohttp unmasks only when the bit is set.)
                return start, "client frame is not masked (RFC 6455 section 5.1)"
            size = _header_size(h)
            if len(h) < size:  # the header goes on in the next chunk
                head += data[pos:end]
                break
            pos += size - got
            head.clear()
            length = h[1] & 0x7F
            if length == 126:
                length = int.from_bytes(h[2:4], "big")
            elif length == 127:
                length = int.from_bytes(h[2:10], "big")
            is_close = h[0] & 0x0F == 0x8 and 2 <= length <= 125
            self._close = bytearray() if is_close else None
            self._key = h[size - 4 : size]
            self._skip = length
        return None

    def _check_close(self) -> str | None:
        payload, self._close = self._close, None
        assert payload is not None
        key = self._key
        code = (payload[0] ^ key[0]) << 8 | (payload[1] ^ key[1])
        if code in FORBIDDEN_CLOSE_CODES or code >= 5000:
            return f"close code {code} cannot be sent in a close frame (RFC 6455 section 7.4)"
        return None


def _header_size(head: bytes) -> int:
    """Bytes in a frame header, as far as its first two bytes tell (2 until they are in)."""
    if len(head) < 2:
        return 2
    length = head[1] & 0x7F
    extra = 2 if length == 126 else 8 if length == 127 else 0
    return 2 + extra + (4 if head[1] & 0x80 else 0)
