"""Socket.IO endpoint of the in-kernel server at ``/socket.io/`` (python-socketio's AsyncServer).

Events, in the default namespace ``/``:

- ``echo``: acknowledged with its own arguments (``sio.call("echo", x) -> x``);
- ``message``: sent back to the sender as ``message`` (``send(x)`` round trips);
- ``chat``: broadcast as ``chat`` to every other client;
- ``subscribe`` ``{"symbols": [...], "rate": 5, "count": 0}``: random-walk
  ``tick`` events ``{t, symbol, price}``, acknowledged with the symbols;
  ``unsubscribe`` ``{"symbols": [...]}`` (none: all) stops them;
- anything else: acknowledged with ``{"error": "unknown event ..."}``.

The server's token and Origin rules apply: every Engine.IO request passes the
guard middleware, and the CORS check asks the same allowlist.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import socketio
from aiohttp import web

from ..ticker import DEFAULT_SYMBOLS, Schedule, TickGenerator, parse_tick_command
from .config import Endpoint, ServerConfig
from .pacing import Step, stream_paced
from .security import origin_allowed

__all__ = ["EVENTS", "SIO", "setup"]

log = logging.getLogger("rtnb.server")

SIO = web.AppKey("rtnb_socketio", socketio.AsyncServer)

#: The events this server answers.
EVENTS = ("echo", "message", "chat", "subscribe", "unsubscribe")

DEFAULT_RATE = 2.0  # ticks per symbol per second
MAX_BACKLOG = 256  # packets waiting for one client before its ticks pause


class _Ticks:
    """One client's tick subscription: its symbols and the task streaming them."""

    def __init__(self, seed: int) -> None:
        self.gen = TickGenerator((), seed=seed)
        self.task: asyncio.Task[None] | None = None

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.task = None


def _as_command(action: str, data: Any) -> dict[str, Any]:
    cmd = dict(data) if isinstance(data, Mapping) else {"symbols": data}
    cmd["type"] = action
    return cmd


def _backlog(sio: socketio.AsyncServer, sid: str) -> int:
    """Packets queued for client ``sid`` and not yet written (0 if unknown)."""
    with contextlib.suppress(Exception):
        eio_sid = sio.manager.eio_sid_from_sid(sid, "/")
        return int(sio.eio.sockets[eio_sid].queue.qsize())
    return 0


def _handlers(sio: socketio.AsyncServer, config: ServerConfig) -> None:
    ticks: dict[str, _Ticks] = {}

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        ticks[sid] = _Ticks(config.seed)

    async def disconnect(sid: str, reason: Any = None) -> None:
        state = ticks.pop(sid, None)
        if state is not None:
            state.stop()

    async def echo(sid: str, *args: Any) -> Any:
        return args[0] if len(args) == 1 else args if args else None

    async def message(sid: str, *args: Any) -> None:
        await sio.emit("message", args[0] if len(args) == 1 else args or None, to=sid)

    async def chat(sid: str, *args: Any) -> None:
        await sio.emit("chat", args[0] if len(args) == 1 else args or None, skip_sid=sid)

    async def stream(sid: str, state: _Ticks, rate: float, count: int) -> None:
        schedule = Schedule(rate * len(state.gen.symbols), time.time(), count)

        async def send_next() -> Step:
            if _backlog(sio, sid) > MAX_BACKLOG:
                return "nothing"  # the client reads slower than we tick: wait
            tick = state.gen.next(time.time())
            if tick is None:
                return "stop"
            await sio.emit("tick", tick, to=sid)
            return "sent"

        async def pause(seconds: float) -> None:
            await asyncio.sleep(max(seconds, 0.005 if _backlog(sio, sid) > MAX_BACKLOG else 0))

        await stream_paced(schedule, send_next, pause, lambda: sid in ticks)

    async def subscribe(sid: str, data: Any = None) -> dict[str, Any]:
        state = ticks.get(sid)
        if state is None:
            return {"error": "not connected"}
        try:
            cmd = parse_tick_command(_as_command("subscribe", data or {}))
            for name in cmd.symbols or DEFAULT_SYMBOLS:
                state.gen.add(name)
        except ValueError as exc:
            return {"error": str(exc)}
        rate = DEFAULT_RATE if cmd.rate is None else cmd.rate
        state.stop()
        state.task = asyncio.get_running_loop().create_task(
            stream(sid, state, rate, cmd.count or 0), name="rtnb-sio-ticks"
        )
        return {"subscribed": state.gen.symbols, "rate": rate}

    async def unsubscribe(sid: str, data: Any = None) -> dict[str, Any]:
        state = ticks.get(sid)
        if state is None:
            return {"error": "not connected"}
        try:
            cmd = parse_tick_command(_as_command("unsubscribe", data or {}))
        except ValueError as exc:
            return {"error": str(exc)}
        for name in cmd.symbols or state.gen.symbols:
            state.gen.remove(name)
        if not state.gen.symbols:
            state.stop()
        return {"subscribed": state.gen.symbols}

    async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return {"error": f"unknown event {event!r}; this server answers {', '.join(EVENTS)}"}

    for name, fn in (
        ("connect", connect),
        ("disconnect", disconnect),
        ("echo", echo),
        ("message", message),
        ("chat", chat),
        ("subscribe", subscribe),
        ("unsubscribe", unsubscribe),
        ("*", unknown),
    ):
        sio.on(name, fn)


async def _shutdown(app: web.Application) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(app[SIO].shutdown(), 3)


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Attach the Socket.IO server at ``/socket.io/``."""

    def allowed(origin: str | None) -> bool:
        return origin_allowed(origin, config.own_origins, config.allowed_origins)

    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        cors_allowed_origins=allowed,
        max_http_buffer_size=config.max_message_size,
        logger=False,
        engineio_logger=False,
    )
    sio.attach(app, socketio_path="socket.io")
    _handlers(sio, config)
    app[SIO] = sio
    app.on_shutdown.append(_shutdown)
    endpoints.append(
        Endpoint(
            "/socket.io/",
            "socketio",
            "Socket.IO v4 server: echo (ack), message, chat (broadcast), subscribe -> tick events",
        )
    )
