"""Protocol verbs on a connection: call, notify, emit and publish, for the kinds that have them.

:class:`Verbs` is mixed into :class:`rtnb.Connection`. A JSON-RPC or Socket.IO
connection answers ``call``, JSON-RPC ``notify``, Socket.IO ``emit`` and MQTT
``publish``; on any other kind a verb raises :class:`~rtnb.SendNotSupported`
naming the kinds that have it. Each verb waits (up to ``timeout``) for the
connection to open, hands the work to the transport on the runtime loop, and
logs what went out (``direction == "out"``) like ``send`` does.

    >>> rpc = rtnb.connect("jsonrpc", "ws://127.0.0.1:8765/ws/jsonrpc")   # doctest: +SKIP
    >>> rpc.call("add", [1, 2], timeout=5)                                # doctest: +SKIP
    3
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .runtime import get_runtime
from .sendtext import encode_payload

if TYPE_CHECKING:
    from .message import Message
    from .transports.base import Sent, Transport

__all__ = ["Verbs"]

T = TypeVar("T")


class Verbs:
    """``call``, ``notify``, ``emit``, ``publish`` and their async twins (a mixin)."""

    if TYPE_CHECKING:
        _transport: Transport

        async def _until_open(self, what: str, timeout: float | None) -> None: ...

        def _log_sent(
            self,
            payload: str | bytes,
            size: int,
            event: str | None = None,
            topic: str | None = None,
        ) -> Message: ...

    # --- request / response -----------------------------------------------------------

    def call(
        self,
        method: str | Sequence[tuple[str, Any]],
        params: Any = None,
        timeout: float | None = 10.0,
    ) -> Any:
        """Call ``method`` with ``params`` and return the peer's answer.

        JSON-RPC: a request with an id, answered by its response's ``result``; a
        list of ``(method, params)`` pairs is sent as one batch and answered by a
        list in the same order (an ``RPCError`` instance for each call that failed).
        GraphQL: ``method`` is a query or mutation document, ``params`` its
        variables; the answer is its ``data``.
        Socket.IO: an event with an acknowledgement, answered by the ack's value.

        Raises:
            RPCError: when the peer answers with an error (``.code``, ``.message``, ``.data``).
            TimeoutError: when no answer arrives within ``timeout`` seconds.
            SendNotSupported: on a kind without requests.
        """
        return self._block_on(self._call(method, params, timeout))

    async def acall(
        self,
        method: str | Sequence[tuple[str, Any]],
        params: Any = None,
        timeout: float | None = 10.0,
    ) -> Any:
        """The async twin of :meth:`call`."""
        return await get_runtime().arun(self._call(method, params, timeout))

    async def _call(
        self, method: str | Sequence[tuple[str, Any]], params: Any, timeout: float | None
    ) -> Any:
        await self._until_open(f"call {method if isinstance(method, str) else 'batch'}", timeout)

        def sent(out: Sent) -> None:
            self._log_sent(out.data, out.size, out.event, out.topic)

        return await self._transport.call(method, params, timeout, sent)

    # --- one-way verbs ----------------------------------------------------------------

    def notify(self, method: str, params: Any = None, timeout: float | None = 10.0) -> Message:
        """Send a JSON-RPC notification (no id, no reply); returns it as logged."""
        return self._block_on(self._verb("notify", lambda t: t.notify(method, params), timeout))

    async def anotify(
        self, method: str, params: Any = None, timeout: float | None = 10.0
    ) -> Message:
        """The async twin of :meth:`notify`."""
        return await get_runtime().arun(
            self._verb("notify", lambda t: t.notify(method, params), timeout)
        )

    def emit(self, event: str, *args: Any, timeout: float | None = 10.0) -> Message:
        """Emit a Socket.IO ``event`` with ``args``; returns it as logged."""
        return self._block_on(self._verb("emit", lambda t: t.emit(event, args), timeout))

    async def aemit(self, event: str, *args: Any, timeout: float | None = 10.0) -> Message:
        """The async twin of :meth:`emit`."""
        return await get_runtime().arun(self._verb("emit", lambda t: t.emit(event, args), timeout))

    def publish(
        self,
        topic: str,
        payload: Any,
        qos: int = 0,
        retain: bool = False,
        timeout: float | None = 10.0,
    ) -> Message:
        """Publish ``payload`` (str, bytes, or JSON for dict/list) on an MQTT ``topic``."""
        data = encode_payload(payload)
        return self._block_on(
            self._verb("publish", lambda t: t.publish(topic, data, qos, retain), timeout)
        )

    async def apublish(
        self,
        topic: str,
        payload: Any,
        qos: int = 0,
        retain: bool = False,
        timeout: float | None = 10.0,
    ) -> Message:
        """The async twin of :meth:`publish`."""
        data = encode_payload(payload)
        return await get_runtime().arun(
            self._verb("publish", lambda t: t.publish(topic, data, qos, retain), timeout)
        )

    async def _verb(
        self, what: str, act: Callable[[Transport], Awaitable[Sent]], timeout: float | None
    ) -> Message:
        await self._until_open(what, timeout)
        out = await act(self._transport)
        return self._log_sent(out.data, out.size, out.event, out.topic)

    def _block_on(self, coro: Coroutine[Any, Any, T]) -> T:
        return get_runtime().run(coro, None)
