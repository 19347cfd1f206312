"""The in-kernel server's JSON-RPC 2.0 endpoint over WebSocket: /ws/jsonrpc.

Methods (https://www.jsonrpc.org/specification):

- ``echo(x)``: answers its params as they came;
- ``add([a, b, ...])`` or ``add({"a": .., "b": ..})``: answers the sum;
- ``subscribe({"symbols": [...], "rate": R, "count": N})``: answers
  ``{"symbols": [...]}``, then pushes ticks as notifications
  ``{"jsonrpc": "2.0", "method": "tick", "params": {t, symbol, price}}``;
  ``unsubscribe({"symbols": [...]})`` removes symbols;
- ``log(...)``: a notification the server only logs.

Batches are answered with a batch; notifications get no answer. Errors are
the specification's: -32700 parse error, -32600 invalid request, -32601
method not found, -32602 invalid params.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from typing import Any

from aiohttp import WSMsgType, web

from .. import jsonfast
from ..ticker import Schedule, TickGenerator, parse_tick_command
from .common import open_ws
from .config import Endpoint, ServerConfig, config_of
from .pacing import Step, stream_paced

__all__ = ["handle", "setup"]

log = logging.getLogger("rtnb.server")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602

#: Largest batch answered; a bigger one is refused whole.
MAX_BATCH = 1000


class _Fault(Exception):
    """A JSON-RPC error to answer with."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _error(code: int, message: str, key: Any = None, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "error": err, "id": key}


class _Session:
    """One client's state: its tick subscription."""

    def __init__(self, ws: web.WebSocketResponse, seed: int) -> None:
        self.ws = ws
        self.gen = TickGenerator([], seed=seed)
        self.rate = 2.0
        self.count = 0
        self.changed = asyncio.Event()
        self.stream: asyncio.Task[None] | None = None

    # --- methods ----------------------------------------------------------------------

    def call(self, method: str, params: Any) -> Any:
        if method == "echo":
            return params
        if method == "add":
            return _add(params)
        if method in ("subscribe", "unsubscribe"):
            return self._subscribe(method, params)
        if method == "log":
            log.info("jsonrpc log: %s", jsonfast.dumps(params)[:200])
            return None
        raise _Fault(METHOD_NOT_FOUND, "Method not found", {"method": method})

    def _subscribe(self, method: str, params: Any) -> Any:
        if params is None:
            params = {}
        if not isinstance(params, dict):
            raise _Fault(INVALID_PARAMS, "Invalid params", "params is an object like {symbols}")
        try:
            cmd = parse_tick_command({**params, "type": method})
        except ValueError as exc:
            raise _Fault(INVALID_PARAMS, "Invalid params", str(exc)) from None
        if method == "unsubscribe":
            for name in cmd.symbols or []:
                self.gen.remove(name)
        else:
            for name in cmd.symbols or ["AAPL"]:
                self.gen.add(name)
            self.rate = self.rate if cmd.rate is None else cmd.rate
            self.count = self.count if cmd.count is None else cmd.count
            if self.stream is None or self.stream.done():  # a finished count starts anew
                self.stream = asyncio.get_running_loop().create_task(self._push())
        self.changed.set()
        return {"symbols": self.gen.symbols}

    async def _push(self) -> None:
        """Tick notifications at ``rate`` per symbol, ``count`` in all (0: no end)."""
        ws = self.ws
        schedule = Schedule(self.rate * len(self.gen.symbols), time.time(), self.count)

        async def send_next() -> Step:
            tick = self.gen.next(time.time())
            if tick is None:
                return "nothing"
            note = {"jsonrpc": "2.0", "method": "tick", "params": tick}
            await ws.send_str(jsonfast.dumps(note))
            return "sent"

        async def pause(seconds: float) -> None:
            if self.rate == 0 and self.gen.symbols:
                await asyncio.sleep(0)
            else:  # until the next tick or a (un)subscribe
                self.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self.changed.wait(), seconds if self.gen.symbols else None
                    )
            want = self.rate * len(self.gen.symbols)
            if schedule.rate != want:
                schedule.set_rate(want, time.time())

        with contextlib.suppress(ConnectionResetError):
            await stream_paced(schedule, send_next, pause, lambda: not ws.closed)

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.cancel()


def _add(params: Any) -> Any:
    values = list(params.values()) if isinstance(params, dict) else params
    if not isinstance(values, list) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise _Fault(INVALID_PARAMS, "Invalid params", "add takes numbers: [1, 2] or {a, b}")
    total = sum(values)
    if isinstance(total, float) and not math.isfinite(total):
        raise _Fault(INVALID_PARAMS, "Invalid params", "the sum is not a finite number")
    return total


def _one(session: _Session, obj: Any) -> dict[str, Any] | None:
    """Answer one request object; None for a notification."""
    if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
        return _error(INVALID_REQUEST, "Invalid Request", None, "not a JSON-RPC 2.0 object")
    key = obj.get("id")
    is_note = "id" not in obj
    method = obj.get("method")
    if not isinstance(method, str) or (not is_note and not isinstance(key, str | int | None)):
        return _error(
            INVALID_REQUEST, "Invalid Request", key if isinstance(key, str | int) else None
        )
    params = obj.get("params")
    if params is not None and not isinstance(params, list | dict):
        return None if is_note else _error(INVALID_PARAMS, "Invalid params", key)
    try:
        result = session.call(method, params)
    except _Fault as fault:
        return None if is_note else _error(fault.code, fault.message, key, fault.data)
    return None if is_note else {"jsonrpc": "2.0", "result": result, "id": key}


def handle(session: _Session, text: str | bytes) -> str | None:
    """The answer to one frame (a request, a notification or a batch), or None."""
    try:
        obj = jsonfast.loads(text)
    except (ValueError, RecursionError):
        return jsonfast.dumps(_error(PARSE_ERROR, "Parse error"))
    if isinstance(obj, list):
        if not obj or len(obj) > MAX_BATCH:
            why = "empty batch" if not obj else f"batch over {MAX_BATCH} calls"
            return jsonfast.dumps(_error(INVALID_REQUEST, "Invalid Request", None, why))
        answers = [a for a in (_one(session, o) for o in obj) if a is not None]
        return jsonfast.dumps(answers) if answers else None
    answer = _one(session, obj)
    return None if answer is None else jsonfast.dumps(answer)


async def jsonrpc(request: web.Request) -> web.WebSocketResponse:
    """JSON-RPC 2.0 over a WebSocket: echo, add, subscribe/unsubscribe (tick notifications)."""
    config = config_of(request)
    ws = await open_ws(request)
    session = _Session(ws, config.seed)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                answer = handle(session, msg.data)
            elif msg.type == WSMsgType.BINARY:
                answer = jsonfast.dumps(_error(PARSE_ERROR, "Parse error", None, "binary frame"))
            else:
                continue
            if answer is not None:
                await ws.send_str(answer)
    except ConnectionResetError:
        pass  # the client vanished mid-answer
    finally:
        session.stop()
    return ws


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the JSON-RPC route."""
    app.router.add_get("/ws/jsonrpc", jsonrpc)
    endpoints.append(
        Endpoint(
            "/ws/jsonrpc",
            "jsonrpc",
            "JSON-RPC 2.0: echo, add, subscribe {symbols, rate} -> tick notifications",
        )
    )
