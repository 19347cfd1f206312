"""Assembles the aiohttp application: the guard middleware, shared state, every module's routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, web

from . import (
    graphql_handlers,
    jsonrpc_handlers,
    lab_handlers,
    limits,
    mqtt_handlers,
    pages,
    replay_handlers,
    socketio_handlers,
    sse_handlers,
    webrtc_handlers,
    ws_handlers,
)
from .common import SOCKETS, close_ws, forget_ws
from .config import CONFIG, ENDPOINTS, ServerConfig
from .limits import CLIENTS
from .security import origin_allowed, token_from_request, token_matches

__all__ = ["CLIENTS", "CONFIG", "ENDPOINTS", "SOCKETS", "TASKS", "build_app"]

log = logging.getLogger("rtnb.server")

TASKS = web.AppKey("rtnb_tasks", set[asyncio.Task[None]])

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status, reason=reason[:60])


def _public(path: str) -> bool:
    """Paths served without the token: they hold nothing secret, and a demo
    page's ``<script src>`` cannot carry it (the pages themselves still need it)."""
    return path == "/favicon.ico" or (
        path.startswith("/demo/") and path.endswith((".js", ".css")) and "/" not in path[6:]
    )


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Token and Origin checks, then track the handler for shutdown.

    (Host check and connection caps come first, in :func:`limits.admission`.)
    """
    app = request.app
    config = app[CONFIG]
    if config.token is not None and not _public(request.path):
        offered = token_from_request(request.headers, request.query)
        if not token_matches(offered, config.token):
            why = "missing token" if offered is None else "wrong token"
            return _refuse(
                401, f"{why}: send 'Authorization: Bearer <token>' or add ?token=<token>"
            )
    is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
    origin = request.headers.get("Origin")
    if is_ws and not origin_allowed(origin, config.own_origins, config.allowed_origins):
        log.warning("refused WebSocket from origin %s", origin)
        return _refuse(403, f"origin {origin} is not allowed (see allowed_origins)")
    task = asyncio.current_task()
    tasks = app[TASKS]
    if task is not None:
        tasks.add(task)
    try:
        return await handler(request)
    except ConnectionResetError as exc:
        # The client left mid-response (often before its headers were even
        # sent): routine, not a server error worth a logged traceback. aiohttp
        # finds the connection gone when it tries to send this.
        log.debug("client %s left: %r", request.remote, exc)
        return web.Response(status=400, reason="client gone")
    finally:
        forget_ws(request)
        if task is not None:
            tasks.discard(task)


async def _close_streams(app: web.Application) -> None:
    sockets = list(app[SOCKETS].values())
    await asyncio.gather(
        *(
            close_ws(ws, request, WSCloseCode.GOING_AWAY, b"server shutdown")
            for ws, request in sockets
        ),
        return_exceptions=True,
    )
    current = asyncio.current_task()
    tasks = [t for t in app[TASKS] if t is not current and not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2)


def build_app(config: ServerConfig) -> web.Application:
    """The application for one in-kernel server (routes from each handler module)."""
    # security hook (issue 14): Host check and caps per client identity run first
    app = web.Application(
        middlewares=[limits.admission, guard], client_max_size=config.max_message_size
    )
    limits.setup(app, config)
    app[CONFIG] = config
    app[ENDPOINTS] = []
    app[SOCKETS] = {}
    app[TASKS] = set()
    for module in (
        ws_handlers,
        sse_handlers,
        webrtc_handlers,
        replay_handlers,
        lab_handlers,
        jsonrpc_handlers,
        graphql_handlers,
        socketio_handlers,
        mqtt_handlers,
        pages,
    ):
        module.setup(app, config, app[ENDPOINTS])
    app.on_shutdown.append(_close_streams)
    return app
