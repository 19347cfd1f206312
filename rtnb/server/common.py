"""What every endpoint module of the in-kernel server shares.

Accepting and closing WebSockets (tracked for shutdown in :data:`SOCKETS`),
cutting a connection, reading query numbers and fault options, the CORS grant
for allowed origins, and :class:`Outbox`, one client's bounded send queue.
Handler modules import from here and never from each other; ``app.py`` only
assembles them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiohttp import WSCloseCode, web

from .config import ServerConfig, config_of
from .faults import FaultInjector, deliver, injector_from_query
from .security import origin_allowed
from .wsconform import ConformingWebSocketResponse

__all__ = [
    "CLOSE_TIMEOUT",
    "SOCKETS",
    "Outbox",
    "close_ws",
    "cors_headers",
    "cut",
    "forget_ws",
    "open_ws",
    "query_float",
    "request_faults",
]

log = logging.getLogger("rtnb.server")

#: Every open WebSocket of a server with its request, by ``id`` of the request, closed on
#: shutdown. An entry goes when its handler returns (:func:`forget_ws`): a weak mapping
#: would keep them all, since a request refers back to its response (~100 KB each).
SOCKETS = web.AppKey("rtnb_sockets", dict[int, tuple[web.WebSocketResponse, web.Request]])


async def open_ws(request: web.Request, **kwargs: Any) -> web.WebSocketResponse:
    """Accept a WebSocket with the server's limits and track it for shutdown."""
    config = config_of(request)
    ws = ConformingWebSocketResponse(
        max_msg_size=config.max_message_size, heartbeat=config.heartbeat, **kwargs
    )
    await ws.prepare(request)
    request.app[SOCKETS][id(request)] = (ws, request)
    return ws


def forget_ws(request: web.Request) -> None:
    """Stop tracking the WebSocket ``request``'s handler opened (its handler returned)."""
    request.app[SOCKETS].pop(id(request), None)


#: How long a closing handshake may take before the connection is cut.
CLOSE_TIMEOUT = 2.0


async def close_ws(
    ws: web.WebSocketResponse,
    request: web.Request,
    code: int,
    message: bytes,
    timeout: float = CLOSE_TIMEOUT,
) -> None:
    """Close ``ws``, cutting the TCP connection when the client does not read or answer.

    A plain ``ws.close()`` waits for the socket to drain, without limit: a
    client that stopped reading would hold it (and a shutdown) forever.
    """
    try:
        await asyncio.wait_for(ws.close(code=code, message=message), timeout)
    except (TimeoutError, ConnectionError):
        cut(request)


def query_float(request: web.Request, name: str, default: float, lo: float, hi: float) -> float:
    """A float query parameter clamped to [lo, hi].

    Raises:
        web.HTTPBadRequest: when it is not a number.
    """
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"query {name}={raw!r} is not a number") from None
    if value != value:  # NaN
        raise web.HTTPBadRequest(text=f"query {name} must be a number")
    return min(hi, max(lo, value))


def request_faults(request: web.Request, seed: int) -> FaultInjector | None:
    """The fault injector a request asks for (``latency``, ``jitter``, ``drop``, ``cut_after``).

    Raises:
        web.HTTPBadRequest: for a bad fault option, with the reason.
    """
    try:
        return injector_from_query(request.query, seed)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


def cut(request: web.Request) -> None:
    """Abort the request's TCP connection: no close frame, no FIN (a simulated network cut)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def cors_headers(request: web.Request, config: ServerConfig) -> dict[str, str]:
    """CORS grant for an allowed ``Origin``; nothing for a disallowed or absent one."""
    origin = request.headers.get("Origin")
    if origin is None or not origin_allowed(origin, config.own_origins, config.allowed_origins):
        if origin is not None:
            log.info("SSE from origin %s: no CORS grant", origin)
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


class Outbox:
    """One client's bounded send queue, drained in order by its own writer task.

    At most ``limit`` messages and ``max_bytes`` characters or bytes wait (one
    message of any size always may): a client that cannot keep up is refused
    by :meth:`offer` and then dropped with :meth:`drop`, never buffered.
    Shared by ``/ws/chat`` and the WebRTC signaling relay.
    """

    def __init__(
        self,
        ws: web.WebSocketResponse,
        request: web.Request,
        limit: int,
        max_bytes: int,
        faults: FaultInjector | None = None,
        name: str = "rtnb-outbox-writer",
    ) -> None:
        self.ws = ws
        self.request = request
        self.faults = faults
        self.max_bytes = max_bytes
        self.queued_bytes = 0
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue(limit)
        self.writer = asyncio.get_running_loop().create_task(self._drain(), name=name)
        self.closer: asyncio.Task[None] | None = None

    def offer(self, data: str | bytes) -> bool:
        """Queue a message; False when the client cannot keep up."""
        size = len(data)
        if self.queued_bytes and self.queued_bytes + size > self.max_bytes:
            return False
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            return False
        self.queued_bytes += size
        return True

    def drop(self) -> None:
        """Close the client as too slow (1013), in the background, once."""
        if self.closer is None:
            self.closer = asyncio.get_running_loop().create_task(
                close_ws(self.ws, self.request, WSCloseCode.TRY_AGAIN_LATER, b"too slow")
            )

    async def _drain(self) -> None:
        ws = self.ws
        while True:
            data = await self.queue.get()
            self.queued_bytes -= len(data)
            if isinstance(data, str):
                done = await deliver(self.faults, ws.send_str, data)
            else:
                done = await deliver(self.faults, ws.send_bytes, data)
            if done:
                cut(self.request)
                return

    async def aclose(self) -> None:
        """Stop the writer (what is still queued is not sent)."""
        self.writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.writer
