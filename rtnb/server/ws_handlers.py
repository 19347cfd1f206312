"""WebSocket endpoints of the in-kernel server: /ws/echo, /ws/chat, /ws/ticker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .. import jsonfast
from ..ticker import Pacer, TickGenerator, parse_symbols
from .config import Endpoint, ServerConfig, config_of
from .faults import FaultInjector, deliver, injector_from_query
from .limits import claim_unpaced

__all__ = ["setup"]

log = logging.getLogger("rtnb.server")

CHAT = web.AppKey("rtnb_chat", set["Outbox"])


async def open_ws(request: web.Request, **kwargs: Any) -> web.WebSocketResponse:
    """Accept a WebSocket with the server's limits and track it for shutdown."""
    from .app import SOCKETS

    config = config_of(request)
    ws = web.WebSocketResponse(
        max_msg_size=config.max_message_size, heartbeat=config.heartbeat, **kwargs
    )
    await ws.prepare(request)
    request.app[SOCKETS][ws] = request
    return ws


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
    except (asyncio.TimeoutError, ConnectionError):
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


# --- /ws/echo -------------------------------------------------------------------------


async def echo(request: web.Request) -> web.WebSocketResponse:
    """Send every frame back as it came: text stays text, binary stays binary."""
    faults = request_faults(request, config_of(request).seed)
    ws = await open_ws(request)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if await deliver(faults, ws.send_str, msg.data):
                    cut(request)
                    break
            elif msg.type == WSMsgType.BINARY:
                if await deliver(faults, ws.send_bytes, msg.data):
                    cut(request)
                    break
            elif msg.type == WSMsgType.ERROR:
                log.info("echo: %s", ws.exception())
    except ConnectionResetError:
        pass  # the client vanished while its echo was being sent
    return ws


# --- /ws/chat -------------------------------------------------------------------------


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


async def chat(request: web.Request) -> web.WebSocketResponse:
    """Broadcast each message to every other client (never back to the sender)."""
    config = config_of(request)
    faults = request_faults(request, config.seed)
    ws = await open_ws(request)
    members = request.app[CHAT]
    me = Outbox(ws, request, config.send_queue, config.send_queue_bytes, faults, "rtnb-chat-writer")
    members.add(me)
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            for other in list(members):
                if other is me:
                    continue
                if not other.offer(msg.data):
                    members.discard(other)
                    log.info("chat: dropping a client that cannot keep up")
                    other.drop()
    finally:
        members.discard(me)
        await me.aclose()
    return ws


# --- /ws/ticker -----------------------------------------------------------------------


async def ticker(request: web.Request) -> web.WebSocketResponse:
    """Seeded random-walk ticks; query ``symbols``, ``rate`` (per symbol/s), ``count``, ``seed``.

    Text messages ``{"type": "subscribe"|"unsubscribe", "channel": SYMBOL}``
    change the symbols; each is acknowledged with ``{"type": "subscribed", ...}``.
    """
    config = config_of(request)
    try:
        symbols = parse_symbols(request.query.get("symbols"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    rate = query_float(request, "rate", 2.0, 0.0, 200_000.0)
    count = int(query_float(request, "count", 0, 0, 1e12))
    seed = int(query_float(request, "seed", config.seed, 0, 2**31))
    gen = TickGenerator(symbols, seed=seed)
    faults = request_faults(request, seed)
    if rate == 0:
        claim_unpaced(request)  # security hook (issue 14): bounded flat-out streams
    ws = await open_ws(request)
    changed = asyncio.Event()

    async def read_commands() -> None:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            reply = _command(gen, msg.data)
            if reply is not None:
                await ws.send_str(jsonfast.dumps(reply))
                changed.set()

    reader = asyncio.get_running_loop().create_task(read_commands())
    sent = 0
    try:
        pacer: Pacer | None = None
        while not ws.closed and not reader.done():
            n_sym = len(gen.symbols)
            if n_sym == 0:
                changed.clear()
                await _wait_either(changed, reader)
                pacer = None
                continue
            if pacer is None or pacer.rate != rate * n_sym:
                pacer = Pacer(rate * n_sym, time.time())
            due = pacer.due(time.time())
            if rate == 0:
                due = 256
            for _ in range(due):
                tick = gen.next(time.time())
                if tick is None:
                    break
                if await deliver(faults, ws.send_str, jsonfast.dumps(tick)):
                    cut(request)
                    return ws
                sent += 1
                if count and sent >= count:
                    await ws.close(code=WSCloseCode.OK, message=b"count reached")
                    return ws
            if rate == 0:
                await asyncio.sleep(0)
            else:
                changed.clear()
                await _wait_either(changed, reader, pacer.wait(time.time()))
    except ConnectionResetError:
        pass  # the client vanished mid-send: routine, not worth a logged traceback
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
    return ws


async def _wait_either(
    event: asyncio.Event, task: asyncio.Task[None], timeout: float | None = None
) -> None:
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


def _command(gen: TickGenerator, text: str) -> dict[str, Any] | None:
    try:
        cmd = jsonfast.loads(text)
    except ValueError:
        return {"type": "error", "error": 'expected JSON like {"type":"subscribe",...}'}
    if not isinstance(cmd, dict) or cmd.get("type") not in ("subscribe", "unsubscribe"):
        return {"type": "error", "error": "unknown command; use subscribe or unsubscribe"}
    channel = cmd.get("channel")
    channels = channel if isinstance(channel, list) else [channel]
    try:
        names = parse_symbols(",".join(str(c) for c in channels if c is not None), ())
    except ValueError as exc:
        return {"type": "error", "error": str(exc)}
    if not names:
        return {"type": "error", "error": "subscribe needs a channel (a symbol like AAPL)"}
    for name in names:
        try:
            gen.add(name) if cmd["type"] == "subscribe" else gen.remove(name)
        except ValueError as exc:
            return {"type": "error", "error": str(exc)}
    kind = "subscribed" if cmd["type"] == "subscribe" else "unsubscribed"
    return {"type": kind, "channel": channel, "symbols": gen.symbols}


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the WebSocket routes."""
    app[CHAT] = set()
    app.router.add_get("/ws/echo", echo)
    app.router.add_get("/ws/chat", chat)
    app.router.add_get("/ws/ticker", ticker)
    endpoints += [
        Endpoint("/ws/echo", "ws", "echoes each frame; text stays text, binary stays binary"),
        Endpoint("/ws/chat", "ws", "broadcasts each message to every other client"),
        Endpoint(
            "/ws/ticker",
            "ws",
            "random-walk ticks {t, symbol, price}; send "
            '{"type":"subscribe","channel":"TSLA"} to add a symbol',
            "?symbols=AAPL,MSFT&rate=5",
        ),
    ]
