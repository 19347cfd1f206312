"""JSON-RPC 2.0 over rtnb's WebSocket transport: requests, notifications, batches, pushes.

:class:`JSONRPCTransport` is a :class:`~rtnb.transports.ws.WebSocketTransport`
(same handshake options, TLS, keepalive, close texts) that reads each frame as
JSON-RPC 2.0 (https://www.jsonrpc.org/specification) instead of handing it on:

- a response whose ``id`` a :meth:`~rtnb.Connection.call` waits for answers it
  (``result``, or :class:`~rtnb.RPCError` for ``error``) and is not logged;
- a server notification or request becomes one Message: ``event`` = its method,
  ``data`` = its ``params`` as JSON text (so tables and plots see the fields of a
  subscription's push directly);
- a response nobody waits for (its call timed out, or the request went out by
  hand with ``send``) becomes one Message: ``event`` = the method it answers
  when known, else ``"response"``, ``data`` = the whole response;
- a frame that is not JSON, or not a JSON-RPC 2.0 object, is kept as it came
  (``event=None``) and its one-line reason goes to ``stats.last_error``.

Batches: ``call`` given a list of ``(method, params)`` pairs sends them as one
batch and returns the answers in the same order, an :class:`~rtnb.RPCError`
instance standing for each call that failed (one failure does not hide the
other answers). ``send`` sends its payload as it is (a request typed by hand).
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from .. import jsonfast
from ..errors import ConnectionClosed, ProtocolError, RPCError, RTError
from ..options import JSONRPCOptions
from .base import Ingest, Sent
from .ws import WebSocketTransport

__all__ = ["JSONRPCTransport"]

#: How many ids of calls that timed out are remembered, to log a late answer with its method.
_LATE = 256


def _rpc_error(obj: Any) -> RPCError:
    """A JSON-RPC error object (section 5.1) as an RPCError; a malformed one still reads."""
    if not isinstance(obj, Mapping):
        return RPCError(None, f"malformed error object: {jsonfast.dumps(obj)[:200]}")
    code = obj.get("code")
    return RPCError(
        code if isinstance(code, int) else None,
        str(obj.get("message", "error without a message")),
        obj.get("data"),
    )


class JSONRPCTransport(WebSocketTransport):
    """JSON-RPC 2.0 client over ``ws://`` or ``wss://`` (the ws options, plus ``max_pending``)."""

    kind: ClassVar[str] = "jsonrpc"
    options: ClassVar[frozenset[str]] = JSONRPCOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, self._on_frame, options)  # frames come to us, not to the log
        self._deliver = ingest
        self._max_pending = int(options.get("max_pending", 1000))
        if self._max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {self._max_pending!r}")
        self._ids = itertools.count(1)  # never reused, across reconnects too
        self._pending: dict[int | str, tuple[asyncio.Future[Any], str]] = {}
        self._methods: OrderedDict[int | str, str] = OrderedDict()  # late or hand-sent ids

    # --- receiving --------------------------------------------------------------------

    def _on_frame(self, data: str | bytes, *_: Any, **__: Any) -> None:
        try:
            obj = jsonfast.loads(data)
        except (ValueError, RecursionError):
            self._malformed(data, "a frame that is not JSON")
            return
        if isinstance(obj, list) and obj:
            for item in obj:  # a batch's answers: a bad one is kept alone, not the whole frame
                self._on_object(item, None)
        else:
            self._on_object(obj, data)

    def _on_object(self, obj: Any, frame: str | bytes | None) -> None:
        """Route one JSON-RPC object (``frame``: its text, or None inside a batch)."""
        if not isinstance(obj, dict) or obj.get("jsonrpc") != "2.0":
            text = jsonfast.dumps(obj) if frame is None else frame
            self._malformed(text, "a frame that is not a JSON-RPC 2.0 object")
            return
        method = obj.get("method")
        if isinstance(method, str):  # a notification (or a request) from the server
            params = obj.get("params")
            self._deliver(jsonfast.dumps(params) if params is not None else "null", method)
            return
        if "result" not in obj and "error" not in obj:
            text = jsonfast.dumps(obj) if frame is None else frame
            self._malformed(text, "a JSON-RPC object with neither method, result nor error")
            return
        key = obj.get("id")
        waiting = self._pending.pop(key, None) if isinstance(key, int | str) else None
        if waiting is not None:
            future, _ = waiting
            if not future.done():
                if "error" in obj:
                    future.set_exception(_rpc_error(obj["error"]))
                else:
                    future.set_result(obj["result"])
            return
        known = self._methods.pop(key, None) if isinstance(key, int | str) else None
        self._deliver(jsonfast.dumps(obj), known or "response")
        if "error" in obj and key is None:  # the server could not even read a request
            self.on_error(ProtocolError(f"server answered: {_rpc_error(obj['error'])}"))

    def _malformed(self, frame: str | bytes, what: str) -> None:
        self._deliver(frame)  # kept as it came: nothing is lost
        text = frame if isinstance(frame, str) else bytes(frame).decode("utf-8", "replace")
        preview = text if len(text) <= 60 else text[:57] + "..."
        self.on_error(ProtocolError(f"jsonrpc: {what}: {preview!r}"))

    async def serve(self) -> str:
        try:
            return await super().serve()
        finally:
            self._fail_pending("the connection dropped before the answer came")

    async def close(self) -> None:
        await super().close()
        self._fail_pending("the connection was closed before the answer came")

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for key, (future, method) in pending.items():
            if not future.done():
                future.set_exception(ConnectionClosed(f"{why} (call {method}, id {key})"))
            self._remember(key, method)

    def _remember(self, key: int | str, method: str) -> None:
        self._methods[key] = method
        while len(self._methods) > _LATE:
            self._methods.popitem(last=False)

    # --- sending ----------------------------------------------------------------------

    async def send(self, data: str | bytes) -> int:
        """Send ``data`` as it is; a request typed by hand has its answer logged with its method."""
        if isinstance(data, str) and data.startswith("{") and '"id"' in data:
            try:
                obj = jsonfast.loads(data)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("method"), str):
                key = obj.get("id")
                if isinstance(key, int | str):
                    self._remember(key, obj["method"])
        return await super().send(data)

    def _request(self, method: str, params: Any) -> tuple[dict[str, Any], asyncio.Future[Any]]:
        if not isinstance(method, str) or not method:
            raise ValueError(f"a JSON-RPC method is a non-empty string, not {method!r}")
        if params is not None and not isinstance(params, list | tuple | dict):
            raise TypeError(
                f"JSON-RPC params are a list or a dict (or None), not {type(params).__name__}"
            )
        if len(self._pending) >= self._max_pending:
            raise RTError(
                f"{len(self._pending)} calls already wait for their answer "
                f"(max_pending={self._max_pending}); wait for some, or raise max_pending"
            )
        key = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[key] = (future, method)
        req: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": key}
        if params is not None:
            req["params"] = list(params) if isinstance(params, tuple) else params
        return req, future

    async def call(
        self,
        method: str | Sequence[tuple[str, Any]],
        params: Any,
        timeout: float | None,
        sent: Callable[[Sent], None],
    ) -> Any:
        """Send a request (or a batch of them) and wait up to ``timeout`` s for the answer.

        Raises:
            RPCError: the server answered with an error (a single call).
            TimeoutError: no answer within ``timeout`` seconds.
            ConnectionClosed: the connection dropped or closed before the answer.
            RTError: ``max_pending`` calls already wait.
        """
        if isinstance(method, str):
            calls: list[tuple[str, Any]] = [(method, params)]
        else:
            if params is not None:
                raise TypeError("a batch call takes (method, params) pairs and no params")
            calls = [(name, args) for name, args in method]
            if not calls:
                raise ValueError("a batch call needs at least one (method, params) pair")
        made = []
        try:
            for name, args in calls:
                made.append(self._request(name, args))
        except Exception:
            for req, _ in made:
                self._pending.pop(req["id"], None)
            raise
        frame = jsonfast.dumps(made[0][0] if isinstance(method, str) else [r for r, _ in made])
        try:
            size = await super().send(frame)
        except BaseException:
            for req, _ in made:
                self._pending.pop(req["id"], None)
            raise
        sent(Sent(frame, size, event=calls[0][0] if isinstance(method, str) else "batch"))
        futures = [f for _, f in made]
        try:
            async with asyncio.timeout(timeout):
                if isinstance(method, str):
                    return await futures[0]
                done = await asyncio.gather(*futures, return_exceptions=True)
        except TimeoutError:
            late = [(r["id"], r["method"]) for r, _ in made if r["id"] in self._pending]
            for key, name in late:
                self._pending.pop(key, None)
                self._remember(key, name)
            names = ", ".join(name for _, name in late) or calls[0][0]
            raise TimeoutError(f"no answer to {names} within {timeout} s") from None
        for r in done:  # a dropped connection fails the batch; an error answer stays in place
            if isinstance(r, BaseException) and not isinstance(r, RPCError):
                raise r
        return done

    async def notify(self, method: str, params: Any) -> Sent:
        """Send a notification: no id, so the server sends no answer."""
        if not isinstance(method, str) or not method:
            raise ValueError(f"a JSON-RPC method is a non-empty string, not {method!r}")
        note: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            if not isinstance(params, list | tuple | dict):
                raise TypeError(
                    f"JSON-RPC params are a list or a dict (or None), not {type(params).__name__}"
                )
            note["params"] = list(params) if isinstance(params, tuple) else params
        frame = jsonfast.dumps(note)
        size = await super().send(frame)
        return Sent(frame, size, event=method)

    def info(self) -> dict[str, Any]:
        out = super().info()
        out["pending_calls"] = len(self._pending)
        return out
