"""The in-kernel server's GraphQL endpoint: /graphql, over WebSocket (graphql-transport-ws).

The schema::

    type Query { hello(name: String): String! }
    type Mutation { echo(text: String!): String! }
    type Subscription { ticks(symbols: [String!], rate: Float, count: Int): Tick! }
    type Tick { t: Float! symbol: String! price: Float! }

The protocol is the ``graphql-ws`` library's
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
``connection_init`` / ``connection_ack``, ``ping`` / ``pong``, ``subscribe``
answered by ``next`` results and ``complete``, ``error`` for a document that
does not parse or validate, and its close codes (4400 bad message, 4401
subscribe before the ack, 4406 no subprotocol, 4408 no init in time, 4409 a
duplicate id, 4429 a second init).

Documents are parsed, validated and executed by graphql-core, the Python port
of the reference implementation (graphql-js): hand-parsing GraphQL would miss
fragments, variables, aliases and directives, and produce error messages no
client expects. The ticks reuse the server's one paced stream
(:func:`~rtnb.server.pacing.stream_paced`) and the tick command parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web
from graphql import (
    ExecutionResult,
    GraphQLArgument,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    OperationDefinitionNode,
    OperationType,
    execute,
    parse,
    subscribe,
    validate,
)

from .. import jsonfast
from ..ticker import Schedule, TickGenerator, parse_tick_command
from .common import close_ws, open_ws
from .config import Endpoint, ServerConfig, config_of
from .pacing import Step, stream_paced

__all__ = ["PROTOCOL", "SCHEMA", "setup"]

log = logging.getLogger("rtnb.server")

PROTOCOL = "graphql-transport-ws"

#: Seconds a client has to send connection_init.
INIT_TIMEOUT = 10.0


def _ticks(
    _root: Any, info: Any, symbols: list[str] | None = None, rate: float = 2.0, count: int = 0
) -> AsyncIterator[dict[str, Any]]:
    """The ``ticks`` source; checks its arguments before the stream starts.

    A ValueError here (a bad symbol, rate or count) becomes the result's error.
    """
    cmd = parse_tick_command(
        {"type": "subscribe", "symbols": symbols or ["AAPL"], "rate": rate, "count": count}
    )
    gen = TickGenerator(cmd.symbols or ["AAPL"], seed=info.context["seed"])
    return _tick_stream(gen, cmd.rate or 0.0, cmd.count or 0)


async def _tick_stream(
    gen: TickGenerator, rate: float, count: int
) -> AsyncIterator[dict[str, Any]]:
    """Paced random-walk ticks through a small bounded queue."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=64)
    schedule = Schedule(rate * len(gen.symbols), time.time(), count)

    async def send_next() -> Step:
        tick = gen.next(time.time())
        if tick is None:
            return "nothing"
        await queue.put(tick)  # waits for a slow reader
        return "sent"

    async def feed() -> None:
        try:
            await stream_paced(schedule, send_next)
        finally:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)

    feeder = asyncio.get_running_loop().create_task(feed())
    try:
        while (tick := await queue.get()) is not None:
            yield tick
    finally:
        feeder.cancel()


def _schema() -> GraphQLSchema:
    tick = GraphQLObjectType(
        "Tick",
        {
            "t": GraphQLField(GraphQLNonNull(GraphQLFloat)),
            "symbol": GraphQLField(GraphQLNonNull(GraphQLString)),
            "price": GraphQLField(GraphQLNonNull(GraphQLFloat)),
        },
    )
    query = GraphQLObjectType(
        "Query",
        {
            "hello": GraphQLField(
                GraphQLNonNull(GraphQLString),
                args={"name": GraphQLArgument(GraphQLString)},
                resolve=lambda _r, _i, name="world": f"Hello, {name}!",
            )
        },
    )
    mutation = GraphQLObjectType(
        "Mutation",
        {
            "echo": GraphQLField(
                GraphQLNonNull(GraphQLString),
                args={"text": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=lambda _r, _i, text: text,
            )
        },
    )
    subscription = GraphQLObjectType(
        "Subscription",
        {
            "ticks": GraphQLField(
                GraphQLNonNull(tick),
                args={
                    "symbols": GraphQLArgument(GraphQLList(GraphQLNonNull(GraphQLString))),
                    "rate": GraphQLArgument(GraphQLFloat, default_value=2.0),
                    "count": GraphQLArgument(GraphQLInt, default_value=0),
                },
                subscribe=_ticks,
                resolve=lambda tick, _i, **_args: tick,
            )
        },
    )
    return GraphQLSchema(query=query, mutation=mutation, subscription=subscription)


#: The endpoint's schema (built once).
SCHEMA = _schema()


class _Close(Exception):
    """Close the socket with a graphql-transport-ws code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _Session:
    """One client: the init handshake and its running operations."""

    def __init__(self, ws: web.WebSocketResponse, seed: int) -> None:
        self.ws = ws
        self.seed = seed
        self.acked = False
        self.operations: dict[str, asyncio.Task[None]] = {}

    async def send(self, message: dict[str, Any]) -> None:
        if not self.ws.closed:
            await self.ws.send_str(jsonfast.dumps(message))

    async def handle(self, text: str) -> None:
        try:
            msg = jsonfast.loads(text)
        except (ValueError, RecursionError):
            raise _Close(4400, "Invalid message received") from None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "connection_init":
            if self.acked:
                raise _Close(4429, "Too many initialisation requests")
            self.acked = True
            await self.send({"type": "connection_ack"})
        elif kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            pass
        elif kind == "subscribe":
            self._subscribe(msg)
        elif kind == "complete":
            task = self.operations.pop(str(msg.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            raise _Close(4400, f"Invalid message type {kind!r}" if kind else "Invalid message")

    def _subscribe(self, msg: dict[str, Any]) -> None:
        if not self.acked:
            raise _Close(4401, "Unauthorized")
        key, payload = msg.get("id"), msg.get("payload")
        if not isinstance(key, str) or not key or not isinstance(payload, dict):
            raise _Close(4400, "Invalid message received")
        if not isinstance(payload.get("query"), str):
            raise _Close(4400, "Invalid message received: the payload has no query")
        if key in self.operations:
            raise _Close(4409, f"Subscriber for {key} already exists")
        task = asyncio.get_running_loop().create_task(self._run(key, payload))
        self.operations[key] = task
        task.add_done_callback(lambda _t: self._forget(key, task))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        if self.operations.get(key) is task:
            del self.operations[key]

    async def _run(self, key: str, payload: dict[str, Any]) -> None:
        try:
            doc = parse(payload["query"])
        except GraphQLError as exc:
            await self.send({"id": key, "type": "error", "payload": [exc.formatted]})
            return
        errors = validate(SCHEMA, doc)
        if errors:
            await self.send({"id": key, "type": "error", "payload": [e.formatted for e in errors]})
            return
        variables = payload.get("variables")
        kwargs: dict[str, Any] = {
            "variable_values": variables if isinstance(variables, dict) else None,
            "operation_name": payload.get("operationName"),
            "context_value": {"seed": self.seed},
        }
        if _is_subscription(doc, kwargs["operation_name"]):
            outcome: Any = subscribe(SCHEMA, doc, **kwargs)
        else:
            outcome = execute(SCHEMA, doc, **kwargs)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        try:
            if isinstance(outcome, ExecutionResult):
                await self.send({"id": key, "type": "next", "payload": outcome.formatted})
            else:
                stream: AsyncIterator[ExecutionResult] = outcome
                try:
                    async for result in stream:
                        await self.send({"id": key, "type": "next", "payload": result.formatted})
                except (ConnectionResetError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # the source stream broke: the operation ends
                    log.info("graphql: operation %s failed: %r", key, exc)
                    await self.send(
                        {"id": key, "type": "error", "payload": [{"message": str(exc)}]}
                    )
                    return
                finally:
                    with contextlib.suppress(Exception):
                        await stream.aclose()  # type: ignore[attr-defined]
            await self.send({"id": key, "type": "complete"})
        except ConnectionResetError:
            pass  # the client left

    def stop(self) -> None:
        for task in self.operations.values():
            task.cancel()
        self.operations.clear()


def _is_subscription(doc: Any, name: str | None) -> bool:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        ops = [op for op in ops if op.name is not None and op.name.value == name]
    return len(ops) == 1 and ops[0].operation == OperationType.SUBSCRIPTION


async def graphql_ws(request: web.Request) -> web.WebSocketResponse:
    """GraphQL over WebSocket (graphql-transport-ws): ``query { hello }``, ``ticks``."""
    config = config_of(request)
    ws = await open_ws(request, protocols=(PROTOCOL,))
    if ws.ws_protocol != PROTOCOL:
        await close_ws(ws, request, 4406, b"Subprotocol not acceptable")
        return ws
    session = _Session(ws, config.seed)
    try:
        async with asyncio.timeout(INIT_TIMEOUT) as init_deadline:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    if msg.type == WSMsgType.BINARY:
                        raise _Close(4400, "Invalid message received: binary frame")
                    continue
                await session.handle(msg.data)
                if session.acked:
                    init_deadline.reschedule(None)
    except TimeoutError:
        await close_ws(ws, request, 4408, b"Connection initialisation timeout")
    except _Close as close:
        await close_ws(ws, request, close.code, close.reason.encode()[:120])
    except ConnectionResetError:
        pass
    finally:
        session.stop()
    return ws


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the GraphQL route."""
    app.router.add_get("/graphql", graphql_ws)
    endpoints.append(
        Endpoint(
            "/graphql",
            "graphql",
            "GraphQL over WebSocket (graphql-transport-ws): subscription { ticks(symbols, rate) "
            "{ t symbol price } }, query { hello }",
        )
    )
