"""GraphQL over WebSocket (the graphql-transport-ws protocol) on rtnb's WebSocket transport.

:class:`GraphQLTransport` is a :class:`~rtnb.transports.ws.WebSocketTransport`
that speaks the protocol of the ``graphql-ws`` library
(https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md): after every
(re)connect it sends ``connection_init``, waits for ``connection_ack`` and
subscribes the connection's ``query`` again. Then

- each ``next`` payload's ``data`` becomes one Message: ``json`` = the data
  object, ``event`` = the operation's name (or ``"next"`` when it has none);
- ``errors`` in a ``next``, or an ``error`` message, become one Message with
  ``event = "error"`` holding them all (nothing is lost) and one line in
  ``stats.last_error``; an ``error`` ends the operation, so the connection
  ends ``failed`` with that line instead of running it again;
- ``complete`` ends the stream cleanly: the connection ends ``closed``;
- ``ping`` is answered with ``pong``.

``call(document, variables)`` runs a query or mutation on the same socket and
returns its ``data``; errors raise :class:`~rtnb.RPCError` (``data`` = the
payload). The query is parsed with graphql-core when the connection is made,
so a syntax error is a ``ValueError`` naming line and column, not a reconnect
loop.

Why not the ``gql`` library: its WebSocket transports (``gql.transport.websockets``)
do speak graphql-transport-ws, but each owns its socket, its own receive task
and its own reconnect policy (``ReconnectingAsyncClientSession``) and hands
results out as one async generator per subscription. Wrapping it would run two
receive loops and two reconnect policies for one connection, and lose what
rtnb's WebSocket transport already does (handshake options, TLS context,
proxies, close-code texts, the overdue-close fix). The protocol itself is seven
message types, so it is spoken here on top of that transport; graphql-core (the
reference implementation's port, also used by the in-kernel server) only
parses the documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse
from websockets.exceptions import ConnectionClosed as WSClosed

from .. import jsonfast
from ..errors import ConnectError, ConnectionClosed, ProtocolError, RPCError
from ..options import GraphQLOptions
from .base import Ingest, Sent
from .ws import WebSocketTransport

__all__ = ["PROTOCOL", "GraphQLTransport", "operation_of"]

#: The WebSocket subprotocol of graphql-ws (the older subscriptions-transport-ws is "graphql-ws").
PROTOCOL = "graphql-transport-ws"

#: Close codes of the protocol after which trying again cannot help.
_FATAL_CLOSES = (4400, 4401, 4403, 4406, 4409, 4429)


def operation_of(document: str, operation_name: str | None = None) -> tuple[str, str | None]:
    """The operation ``document`` would run: its type and its name.

    >>> operation_of("subscription Ticks { ticks { price } }")
    ('subscription', 'Ticks')
    >>> operation_of("{ hello }")
    ('query', None)

    Raises:
        ValueError: for a syntax error (with its line and column), an unknown
            ``operation_name``, or several operations and no name to choose one.
    """
    if not isinstance(document, str) or not document.strip():
        raise ValueError(f"a GraphQL document is a non-empty string, not {document!r}")
    try:
        doc = parse(document)
    except GraphQLSyntaxError as exc:
        at = exc.locations[0] if exc.locations else None
        where = f" (line {at.line}, column {at.column})" if at is not None else ""
        raise ValueError(f"GraphQL {exc.message.rstrip('.')}{where}") from None
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        ops = [op for op in ops if op.name is not None and op.name.value == operation_name]
        if not ops:
            raise ValueError(f"the document has no operation named {operation_name!r}")
    if not ops:
        raise ValueError("the document has no operation (query, mutation or subscription)")
    if len(ops) > 1:
        raise ValueError("the document has several operations: name one with operation_name")
    op = ops[0]
    return op.operation.value, op.name.value if op.name is not None else None


def _error_line(errors: Any) -> str:
    """One line for a GraphQL error list (``[{"message": ...}, ...]``)."""
    items = errors if isinstance(errors, list) else [errors]
    texts = [str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in items]
    more = f" (and {len(texts) - 1} more)" if len(texts) > 1 else ""
    return (texts[0] if texts else "an empty error list") + more


@dataclass
class _Call:
    """One ``call()`` waiting for its result."""

    future: asyncio.Future[Any]
    subscription: bool
    results: list[Any] = field(default_factory=list)


class GraphQLTransport(WebSocketTransport):
    """graphql-transport-ws client: ``query`` (re)subscribed on every open, ``call`` for queries.

    Options: those of the ws kind, plus ``query``, ``variables``,
    ``operation_name`` and ``connection_params`` (the ``connection_init`` payload).
    """

    kind: ClassVar[str] = "graphql"
    options: ClassVar[frozenset[str]] = GraphQLOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        given = dict(options)
        offered = given.get("subprotocols") or []
        offered = [offered] if isinstance(offered, str) else list(offered)
        if PROTOCOL not in offered:
            given["subprotocols"] = [PROTOCOL, *offered]
        super().__init__(url, self._on_frame, given)  # frames come to us, not to the log
        self._deliver = ingest
        self._query: str | None = options.get("query")
        self._variables = dict(options.get("variables") or {})
        self._operation_name: str | None = options.get("operation_name")
        params = options.get("connection_params")
        self._init: dict[str, Any] = {"type": "connection_init"}
        if params is not None:
            self._init["payload"] = dict(params)
        self._event = "next"
        self._what = "the operation"  # for the line that says it is over
        if self._query is not None:
            op_type, name = operation_of(self._query, self._operation_name)
            self._event = self._operation_name or name or "next"
            self._what = f"the {op_type}" + (f" {self._event}" if self._event != "next" else "")
        self._last_error: str | None = None  # of the running operation
        self._ids = itertools.count(1)
        self._sub_id: str | None = None
        self._calls: dict[str, _Call] = {}
        self._ended: str | None = None  # why the operation is over: no more opens
        self._ended_fatal = False
        self._waiting_for: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # --- opening: connection_init, connection_ack, subscribe ----------------------------

    async def open(self) -> None:
        if self._ended is not None:
            raise ConnectError(self._ended, fatal=True, finished=not self._ended_fatal)
        await super().open()
        ws = self._ws
        assert ws is not None
        self._waiting_for = "connection_ack"
        try:
            await ws.send(jsonfast.dumps(self._init))
            while True:
                msg = _parsed(await ws.recv_early())
                kind = msg.get("type") if msg is not None else None
                if kind == "connection_ack":
                    break
                if kind == "ping":
                    await ws.send('{"type":"pong"}')
                elif kind != "pong":
                    raise ConnectError(
                        f"graphql: expected connection_ack, got {kind or 'a malformed frame'}",
                        fatal=True,
                    )
        except WSClosed as exc:
            frame = exc.rcvd
            code = frame.code if frame is not None else 1006
            reason = f": {frame.reason}" if frame is not None and frame.reason else ""
            raise ConnectError(
                f"graphql: server closed before connection_ack (code {code}{reason})",
                fatal=code in _FATAL_CLOSES,
            ) from exc
        self._waiting_for = None  # kept on a timeout: the error names what did not come
        if self._query is not None:
            self._sub_id = f"sub-{next(self._ids)}"
            self._last_error = None
            await ws.send(
                jsonfast.dumps(self._subscribe(self._sub_id, self._query, self._variables))
            )

    def _subscribe(self, key: str, query: str, variables: Mapping[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": query, "variables": dict(variables)}
        if self._operation_name is not None and query is self._query:
            payload["operationName"] = self._operation_name
        return {"id": key, "type": "subscribe", "payload": payload}

    # --- receiving --------------------------------------------------------------------

    def _on_frame(self, data: str | bytes, *_: Any, **__: Any) -> None:
        msg = _parsed(data)
        kind = msg.get("type") if msg is not None else None
        if msg is None or not isinstance(kind, str):
            self._malformed(data, "a frame that is not a graphql-transport-ws message")
            return
        key = msg.get("id")
        key = key if isinstance(key, str) else ""
        call = self._calls.get(key)
        if kind == "next":
            if call is not None:
                self._answer(key, call, msg.get("payload"))
            elif key == self._sub_id:
                self._next(msg.get("payload"), data)
            # else: a late result of a call that timed out or was cancelled
        elif kind == "error":
            self._error(key, call, msg.get("payload"))
        elif kind == "complete":
            if call is not None:
                self._calls.pop(key, None)
                if not call.future.done():
                    call.future.set_exception(
                        RPCError(None, "graphql: the operation completed without a result")
                    )
            elif key == self._sub_id:
                after = f" (after an error: {self._last_error})" if self._last_error else ""
                self._end(f"graphql: {self._what} completed{after}", fatal=False)
        elif kind == "ping":
            self._later(self._send_raw('{"type":"pong"}'))
        elif kind != "pong":
            self._malformed(data, f"an unknown message type {kind!r}")

    def _next(self, payload: Any, frame: str | bytes) -> None:
        if not isinstance(payload, Mapping):
            self._malformed(frame, "a next message without a payload object")
            return
        data = payload.get("data")
        if data is not None:
            self._deliver(jsonfast.dumps(data), self._event)
        errors = payload.get("errors")
        if errors:
            self._deliver(jsonfast.dumps({"errors": errors}), "error")
            self._last_error = _error_line(errors)
            self.on_error(ProtocolError(f"graphql: {self._last_error}"))

    def _error(self, key: str, call: _Call | None, payload: Any) -> None:
        line = f"graphql: {_error_line(payload)}"
        if call is not None:
            self._calls.pop(key, None)
            if not call.future.done():
                call.future.set_exception(RPCError(None, line, payload))
            return
        self._deliver(jsonfast.dumps({"errors": payload}), "error")  # kept whole in the log
        if key == self._sub_id:
            self._end(line, fatal=True)
        else:
            self.on_error(ProtocolError(line))

    def _answer(self, key: str, call: _Call, payload: Any) -> None:
        self._calls.pop(key, None)
        if call.subscription:  # a call wants one result: stop the stream at the server
            self._later(self._send_raw(jsonfast.dumps({"id": key, "type": "complete"})))
        if call.future.done():
            return
        if not isinstance(payload, Mapping):
            call.future.set_exception(RPCError(None, "graphql: a result without a payload"))
        elif payload.get("errors"):
            line = f"graphql: {_error_line(payload['errors'])}"
            call.future.set_exception(RPCError(None, line, dict(payload)))
        else:
            call.future.set_result(payload.get("data"))

    def _end(self, why: str, *, fatal: bool) -> None:
        """The subscription is over: close, and let the next open end the connection."""
        self._ended, self._ended_fatal = why, fatal
        ws = self._ws
        if ws is not None:
            self._later(ws.close(1000, "operation over"))

    def _malformed(self, frame: str | bytes, what: str) -> None:
        self._deliver(frame)  # kept as it came
        text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", "replace")
        preview = text if len(text) <= 60 else text[:57] + "..."
        self.on_error(ProtocolError(f"graphql: {what}: {preview!r}"))

    def _later(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_raw(self, text: str) -> None:
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(WSClosed):  # the receive loop reports the close
                await ws.send(text)

    async def serve(self) -> str:
        try:
            reason = await super().serve()
        finally:
            self._fail_calls("the connection dropped before the result came")
        if self._ended is not None:
            if self._ended_fatal:  # the connection ends failed, with the error's line
                raise ProtocolError(self._ended)
            return self._ended
        return reason

    async def close(self) -> None:
        await super().close()
        self._waiting_for = None
        self._fail_calls("the connection was closed before the result came")

    def _fail_calls(self, why: str) -> None:
        calls, self._calls = self._calls, {}
        for key, call in calls.items():
            if not call.future.done():
                call.future.set_exception(ConnectionClosed(f"graphql: {why} (operation {key})"))

    # --- calls ------------------------------------------------------------------------

    async def call(
        self,
        method: str | Sequence[tuple[str, Any]],
        params: Any,
        timeout: float | None,
        sent: Callable[[Sent], None],
    ) -> Any:
        """Run the query or mutation ``method`` with variables ``params``; return its ``data``.

        Raises:
            ValueError: the document does not parse.
            RPCError: the server answered with errors (``.data``: the payload).
            TimeoutError: no result within ``timeout`` seconds.
        """
        if not isinstance(method, str):
            raise TypeError("a GraphQL call takes one document; batches are JSON-RPC's")
        if params is not None and not isinstance(params, Mapping):
            raise TypeError(f"GraphQL variables are a dict, not {type(params).__name__}")
        op_type, op_name = operation_of(method)
        key = f"call-{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._calls[key] = _Call(future, op_type == "subscription")
        frame = jsonfast.dumps(self._subscribe(key, method, params or {}))
        try:
            size = await super().send(frame)
        except BaseException:
            self._calls.pop(key, None)
            raise
        sent(Sent(frame, size, event=op_name or op_type))
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            if self._calls.pop(key, None) is not None:
                self._later(self._send_raw(jsonfast.dumps({"id": key, "type": "complete"})))
            raise TimeoutError(f"no result for {op_name or op_type} within {timeout} s") from None

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["waiting_for"] = self._waiting_for
        out["operation"] = self._event if self._query is not None else None
        return out


def _parsed(data: str | bytes) -> dict[str, Any] | None:
    try:
        obj = jsonfast.loads(data)
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None
