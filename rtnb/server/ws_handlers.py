"""WebSocket endpoints of the in-kernel server: /ws/echo, /ws/chat, /ws/ticker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .. import jsonfast
from ..ticker import Schedule, TickGenerator, parse_symbols, parse_tick_command
from .common import Outbox, cut, open_ws, query_float, request_faults
from .config import Endpoint, ServerConfig, config_of
from .faults import deliver
from .limits import claim_unpaced
from .pacing import Step, stream_paced

__all__ = ["setup"]

log = logging.getLogger("rtnb.server")

CHAT = web.AppKey("rtnb_chat", set[Outbox])


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
            await ws.send_str(jsonfast.dumps(_command(gen, msg.data)))
            changed.set()

    reader = asyncio.get_running_loop().create_task(read_commands())
    schedule = Schedule(rate * len(gen.symbols), time.time(), count)

    async def send_next() -> Step:
        tick = gen.next(time.time())
        if tick is None:
            return "nothing"  # every symbol was unsubscribed
        return "stop" if await deliver(faults, ws.send_str, jsonfast.dumps(tick)) else "sent"

    async def pause(seconds: float) -> None:
        if rate == 0 and gen.symbols:
            await asyncio.sleep(0)
        else:  # until the next tick, a subscribe, or the client's close (no symbols: no tick)
            changed.clear()
            await _wait_either(changed, reader, seconds if gen.symbols else None)
        if schedule.rate != rate * len(gen.symbols):
            schedule.set_rate(rate * len(gen.symbols), time.time())

    try:
        ending = await stream_paced(
            schedule, send_next, pause, lambda: not ws.closed and not reader.done()
        )
        if ending == "stopped":
            cut(request)
        elif ending == "count":
            await ws.close(code=WSCloseCode.OK, message=b"count reached")
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


def _command(gen: TickGenerator, text: str) -> dict[str, Any]:
    """Apply one subscribe/unsubscribe command to ``gen``; the reply to send."""
    try:
        cmd = parse_tick_command(text)
        if not cmd.symbols:
            raise ValueError("subscribe needs a channel (a symbol like AAPL)")
        for name in cmd.symbols:
            gen.add(name) if cmd.action == "subscribe" else gen.remove(name)
    except ValueError as exc:
        return {"type": "error", "error": str(exc)}
    return {"type": f"{cmd.action}d", "channel": cmd.channel, "symbols": gen.symbols}


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
