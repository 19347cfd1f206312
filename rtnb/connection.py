"""Connection: lifecycle, reconnect policy, stats and the registry of named connections.

A Connection is made by :func:`connect`, lives on the runtime loop, and is used
from any thread through thread-safe methods:

    >>> c = rtnb.connect("ws", "ws://127.0.0.1:8765/ws/echo")   # doctest: +SKIP
    >>> c.wait_open(timeout=10).send("hi")                      # doctest: +SKIP
    >>> c.recv(timeout=5).data                                   # doctest: +SKIP
    'hi'
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from . import jsonfast
from .errors import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    RTError,
    SendNotSupported,
)
from .message import Cursor, Message, MessageLog
from .runtime import get_runtime, in_loop_thread
from .source import FINAL_STATES, State
from .stats import Backoff, Counters, Stats
from .transports import Transport, transport_class

if TYPE_CHECKING:
    import pandas

__all__ = ["Connection", "State", "connect", "connections", "get_connection"]

log = logging.getLogger("rtnb")

#: Options every kind understands; the rest go to the transport.
COMMON_OPTIONS = frozenset(
    {
        "name",
        "reconnect",
        "backoff",
        "max_messages",
        "send_on_open",
        "open_timeout",
    }
)

#: An open that lasts at least this long resets the backoff to its first step.
STABLE_AFTER = 2.0

#: How many recent interruptions ``stats.gap_windows`` keeps.
GAP_WINDOWS = 10

_LOOP_BLOCK = (
    "{} would block the rtnb loop thread it is called from (in a callback); "
    "use the async twin {} there"
)

_registry: dict[str, Connection] = {}
_registry_lock = threading.Lock()
_counters: dict[str, itertools.count[int]] = {}


def _default_name(kind: str) -> str:
    prefix = {"webrtc": "rtc"}.get(kind, kind)
    counter = _counters.setdefault(prefix, itertools.count(1))
    with _registry_lock:
        while True:
            name = f"{prefix}{next(counter)}"
            if name not in _registry:
                return name


def encode_payload(data: Any) -> str | bytes:
    """What ``send`` puts on the wire: str as text, bytes as binary, JSON for the rest.

    >>> encode_payload({"type": "subscribe", "channel": "AAPL"})
    '{"type":"subscribe","channel":"AAPL"}'

    Raises:
        TypeError: for values that are not str, bytes or JSON-serialisable.
    """
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, dict | list | tuple | int | float | bool) or data is None:
        try:
            return jsonfast.dumps(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot send {type(data).__name__} as JSON: {exc}") from exc
    raise TypeError(
        f"send() takes str (text frame), bytes (binary frame) or a dict/list (JSON), "
        f"not {type(data).__name__}"
    )


class Connection:
    """A live connection of one kind to one URL, with a bounded message log.

    Do not build one directly: use :func:`rtnb.connect`.

    Attributes:
        name: the registry name (``ws1``, or what was given).
        kind: ``"ws"``, ``"sse"``, ``"webrtc"`` or ``"replay"``.
        url: where it connects.
        log: the :class:`~rtnb.message.MessageLog` of recent messages.
        reconnect: whether a drop is followed by a reconnect with backoff.
    """

    def __init__(
        self,
        kind: str,
        url: str,
        *,
        name: str | None = None,
        reconnect: bool | None = None,
        backoff: Backoff | Mapping[str, float] | None = None,
        max_messages: int = 10_000,
        send_on_open: Iterable[Any] | Any = (),
        open_timeout: float = 15.0,
        **options: Any,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url must be a non-empty string, not {url!r}")
        cls = transport_class(kind)
        self.kind: str = cls.kind
        self.url = url
        self.name = name or _default_name(self.kind)
        self.log = MessageLog(max_messages)
        self.open_timeout = float(open_timeout)
        self.backoff = (
            backoff
            if isinstance(backoff, Backoff)
            else Backoff(**backoff)
            if backoff is not None
            else Backoff()
        )
        if isinstance(send_on_open, str | bytes | dict):
            send_on_open = [send_on_open]
        self.send_on_open: list[str | bytes] = [encode_payload(p) for p in send_on_open]
        self.options = dict(options)
        self._counters = Counters()
        self._transport: Transport = cls(url, self._ingest, options)
        if self.send_on_open and not self._transport.can_send:
            # it would fail after every open and reconnect for ever
            raise SendNotSupported(f"send_on_open cannot be used: {cls.send_refusal}")
        self.reconnect = self._transport.reconnect_by_default if reconnect is None else reconnect
        self._state: State = "connecting"
        self._state_cond = threading.Condition()
        self._state_listeners: list[Callable[[Connection, State], None]] = []
        self._listeners: list[Callable[[Message], None]] = []
        self._cursor = self.log.cursor(start=0)
        self._task: asyncio.Task[None] | None = None
        self._open_event: asyncio.Event | None = None
        self._closing = False
        self._closed = False  # close() has run to the end (views closed, unregistered)
        self._views: list[Any] = []
        # Interruptions: when the stream dropped, and (start, end) of recent ones.
        self._down_since: float | None = None
        self._gap_windows: deque[tuple[float, float]] = deque(maxlen=GAP_WINDOWS)
        self._down_seconds = 0.0

    # --- lifecycle --------------------------------------------------------------------

    def _start(self) -> Connection:
        rt = get_runtime()
        rt.register(self)
        rt.call_soon(self._start_on_loop)
        return self

    def _start_on_loop(self) -> None:
        self._open_event = asyncio.Event()
        if self._closing:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"rtnb-connection-{self.name}"
        )

    async def _run(self) -> None:
        attempt = 0
        first = True
        transport = self._transport
        # No `finally` that sets "closed" when close() cancels this task: aclose() sets it
        # itself right after, so on_state listeners (views stopping, refreshing their
        # display) run in the context of the close() call, i.e. of the closing cell.
        while not self._closing:
            self._set_state("connecting" if first else "reconnecting")
            try:
                await asyncio.wait_for(transport.open(), self.open_timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                waiting = transport.info().get("waiting_for")
                err = _as_connect_error(exc, self.open_timeout, waiting)
                self._record_error(err)
                await _quietly(transport.close())
                if err.fatal or not self.reconnect:
                    ended = err.finished and self._counters.received > 0
                    self._set_state("closed" if ended else "failed")
                    return
            else:
                opened = time.monotonic()
                if not first:
                    self._counters.reconnects += 1
                self._note_gap()
                first = False
                self._set_state("open")
                failed = False
                try:
                    for payload in self.send_on_open:
                        await self._send_now(payload)
                    reason = await transport.serve()
                    if not self._closing:
                        self._counters.last_error = reason
                        log.info("rtnb %s: %s", self.name, reason)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failed = True
                    self._record_error(exc)
                finally:
                    self._down_since = time.time()
                    if self._open_event is not None:
                        self._open_event.clear()
                    await _quietly(transport.close())
                if self.closing:
                    break
                if not self.reconnect:
                    self._set_state("failed" if failed else "closed")
                    return
                if time.monotonic() - opened >= STABLE_AFTER:
                    attempt = 0
            first = False
            self._set_state("reconnecting")
            await asyncio.sleep(self._next_delay(attempt))
            attempt += 1

    def _note_gap(self) -> None:
        """Count the interruption that just ended (messages sent meanwhile may be lost)."""
        start, self._down_since = self._down_since, None
        if start is None:
            return
        end = time.time()
        self._counters.gaps += 1
        self._gap_windows.append((start, end))
        self._down_seconds += end - start

    def _next_delay(self, attempt: int) -> float:
        hint = self._transport.retry_delay()
        if hint is None:
            return self.backoff.delay(attempt)
        b = self.backoff
        return Backoff(hint, b.factor, max(b.cap, hint), b.jitter, b.floor).delay(attempt)

    def _set_state(self, state: State) -> None:
        if state == self._state and state != "connecting":
            return
        self._state = state
        if self._open_event is not None:
            # Set on final states too, so a send() waiting to open wakes and says why.
            if state == "open" or state in FINAL_STATES:
                self._open_event.set()
            else:
                self._open_event.clear()
        with self._state_cond:
            self._state_cond.notify_all()
        if state in FINAL_STATES:
            self.log.end(self._why_not_open())  # cursors at the end raise, waiters wake
        for fn in self._state_listeners:
            try:
                fn(self, state)
            except Exception:
                log.exception("rtnb %s: state listener failed", self.name)

    def _record_error(self, exc: BaseException) -> None:
        c = self._counters
        c.errors += 1
        c.last_error = _describe(exc)
        log.info("rtnb %s: %s", self.name, c.last_error)

    async def _aclose_at_exit(self) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection (the async twin of :meth:`close`)."""
        if in_loop_thread():
            await self._aclose_on_loop()
        else:
            await get_runtime().arun(self._aclose_on_loop())

    async def _aclose_on_loop(self) -> None:
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await _quietly(self._transport.close())
        self._set_state("closed")
        for view in list(self._views):
            with contextlib.suppress(Exception):
                view.close()
        with _registry_lock:
            if _registry.get(self.name) is self:
                del _registry[self.name]
        self._closed = True

    def close(self, timeout: float = 10.0) -> None:
        """Close the connection; when this returns, ``state == "closed"``.

        Idempotent. Called from a callback on the runtime loop, it schedules the
        close instead of blocking.
        """
        if self._closed:
            return
        rt = get_runtime()
        if in_loop_thread():
            rt.loop.create_task(self._aclose_on_loop())
            return
        rt.run(self._aclose_on_loop(), timeout)

    def wait_open(self, timeout: float | None = 10.0) -> Connection:
        """Block until the connection is open; return it, so calls can chain.

        Raises:
            ConnectError: when the connection failed or was closed; the message
                says why (the last error seen).
            ConnectTimeout: when it is not open within ``timeout`` seconds.
            RuntimeError: on the runtime loop (in a callback) when it would have to wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._state_cond:
            while True:
                state = self._state
                if state == "open":
                    return self
                if state in FINAL_STATES:
                    raise ConnectError(self._why_not_open())
                if in_loop_thread():  # the state can only change on the loop we would block
                    raise RuntimeError(_LOOP_BLOCK.format("wait_open", "await_open"))
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise ConnectTimeout(self._not_open_after(timeout, state))
                self._state_cond.wait(remaining)

    async def await_open(self, timeout: float | None = 10.0) -> Connection:
        """The async twin of :meth:`wait_open`; it holds no thread while it waits."""
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def on_state(_conn: Connection, _state: State) -> None:
            with contextlib.suppress(RuntimeError):  # that loop was closed under us
                loop.call_soon_threadsafe(changed.set)

        unsubscribe = self.on_state(on_state)
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                changed.clear()  # before reading the state: a change after it sets it again
                state = self._state
                if state == "open":
                    return self
                if state in FINAL_STATES:
                    raise ConnectError(self._why_not_open())
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise ConnectTimeout(self._not_open_after(timeout, state))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            unsubscribe()

    def _not_open_after(self, timeout: float | None, state: State) -> str:
        return (
            f"{self.kind} connection {self.name!r} to {self.url} not open after "
            f"{timeout} s (state {state}; last error: {self._counters.last_error or 'none'})"
        )

    def _why_not_open(self) -> str:
        last = self._counters.last_error
        return f"{self.kind} connection {self.name!r} to {self.url} is {self._state}" + (
            f": {last}" if last else ""
        )

    # --- state and figures ------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """True once ``close()`` has been asked for."""
        return self._closing

    @property
    def state(self) -> State:
        """``"connecting"``, ``"open"``, ``"reconnecting"``, ``"closed"`` or ``"failed"``."""
        return self._state

    @property
    def messages(self) -> MessageLog:
        """The bounded log of recent messages, newest last (both directions)."""
        return self.log

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters: received, sent, bytes, rate, reconnects, errors, ...

        ``gaps`` counts interruptions the stream came back from; ``gap_windows``
        holds the (start, end) wall times of the last few, ``down_seconds`` their
        total. What the peer sent during a gap is lost unless the protocol
        resumes (SSE ``Last-Event-ID``).
        """
        c = self._counters
        extra = dict(self._transport.info())
        extra["state"] = self._state
        extra["dropped"] = self.log.dropped
        extra["gap_windows"] = list(self._gap_windows)
        extra["down_seconds"] = self._down_seconds
        return Stats(
            received=c.received,
            sent=c.sent,
            bytes_in=c.bytes_in,
            bytes_out=c.bytes_out,
            rate=c.rx_rate.rate(),
            reconnects=c.reconnects,
            errors=c.errors,
            last_error=c.last_error,
            last_message_at=c.last_message_at,
            gaps=c.gaps,
            extra=extra,
        )

    @property
    def can_send(self) -> bool:
        """False for one-way kinds (SSE, replay); :attr:`send_refusal` then says why."""
        return self._transport.can_send

    @property
    def send_refusal(self) -> str:
        """Why ``send`` is refused on this kind (empty when :attr:`can_send`)."""
        return self._transport.send_refusal

    @property
    def transport(self) -> Transport:
        """The protocol adapter (for advanced use and diagnostics)."""
        return self._transport

    # --- receiving --------------------------------------------------------------------

    def _ingest(
        self,
        data: str | bytes,
        event: str | None = None,
        id: str | None = None,
        channel: str | None = None,
    ) -> None:
        now = time.time()
        msg = Message(data, ts=now, event=event, id=id, channel=channel)
        self.log.append(msg)
        c = self._counters
        c.received += 1
        c.bytes_in += msg.size
        c.last_message_at = now
        c.rx_rate.tick(now)
        if self._listeners:
            for fn in self._listeners:
                try:
                    fn(msg)
                except Exception as exc:
                    self._record_error(exc)
                    log.exception("rtnb %s: on_message callback failed", self.name)

    def _closed_error(self) -> Exception | None:
        if self._state in FINAL_STATES:
            return ConnectionClosed(self._why_not_open())
        return None

    def recv(self, timeout: float | None = None) -> Message:
        """The next received message not yet returned by ``recv``.

        A message that arrived before the call is still returned, so ``send``
        then ``recv`` never races.

        Raises:
            RecvTimeout: (a ``TimeoutError``) when none arrives within ``timeout``.
            MessagesMissed: when unread messages fell off the log's bound.
            ConnectionClosed: when the connection is closed and nothing is left to read.
            RuntimeError: on the runtime loop (in a callback) when it would have to
                wait: only the loop it would block can bring the message.
        """
        if in_loop_thread():
            msg = self._cursor.poll()
            if msg is not None:
                return msg
            if (exc := self._closed_error()) is not None:
                raise exc
            raise RuntimeError(_LOOP_BLOCK.format("recv", "arecv"))
        return self._cursor.next(timeout)

    async def arecv(self, timeout: float | None = None) -> Message:
        """The async twin of :meth:`recv`: ``m = await c.arecv()`` in a notebook cell."""
        return await self._cursor.anext(timeout)

    def cursor(self, from_start: bool = False) -> Cursor:
        """An independent reading position (``from_start`` includes what is stored)."""
        return self.log.cursor(self.log.first_seq if from_start else None)

    def on_message(self, fn: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``fn(message)`` on the runtime loop for each received message.

        Keep ``fn`` quick: it runs on the ingest path. Returns a function that
        unsubscribes. Exceptions are counted in ``stats.errors`` and logged.
        """
        wrapped = _route_output(fn)
        self._listeners = [*self._listeners, wrapped]

        def unsubscribe() -> None:
            self._listeners = [f for f in self._listeners if f is not wrapped]

        return unsubscribe

    def on_state(self, fn: Callable[[Connection, State], None]) -> Callable[[], None]:
        """Call ``fn(connection, state)`` on each state change; returns an unsubscriber.

        ``fn`` runs on the runtime loop. Unsubscribing twice is harmless.
        """
        self._state_listeners = [*self._state_listeners, fn]

        def unsubscribe() -> None:
            self._state_listeners = [f for f in self._state_listeners if f is not fn]

        return unsubscribe

    # --- sending ----------------------------------------------------------------------

    def _check_can_send(self) -> None:
        if not self._transport.can_send:
            raise SendNotSupported(self._transport.send_refusal)

    def send(self, data: Any, timeout: float | None = 10.0) -> Message:
        """Send ``data``: str as a text frame, bytes as binary, dict/list as JSON text.

        Waits (up to ``timeout``) for the connection to open if it is still
        connecting. Returns the sent message as logged (``direction == "out"``).

        Raises:
            SendNotSupported: for one-way kinds (SSE).
            ConnectionClosed: when the connection is closed or failed.
            TimeoutError: when it does not open in time.
        """
        self._check_can_send()
        payload = encode_payload(data)
        return get_runtime().run(self._send_when_open(payload, timeout), None)

    async def asend(self, data: Any, timeout: float | None = 10.0) -> Message:
        """The async twin of :meth:`send`."""
        self._check_can_send()
        payload = encode_payload(data)
        return await get_runtime().arun(self._send_when_open(payload, timeout))

    async def _send_when_open(self, payload: str | bytes, timeout: float | None) -> Message:
        if self._state != "open":
            if self._state in FINAL_STATES:
                raise ConnectionClosed(self._why_not_open())
            evt = self._open_event
            if evt is None:
                await asyncio.sleep(0)
                evt = self._open_event
            assert evt is not None
            try:
                await asyncio.wait_for(evt.wait(), timeout)
            except asyncio.TimeoutError:
                raise ConnectTimeout(
                    f"cannot send: {self._why_not_open()} (waited {timeout} s to open)"
                ) from None
            if self._state in FINAL_STATES:
                raise ConnectionClosed(self._why_not_open())
        return await self._send_now(payload)

    async def _send_now(self, payload: str | bytes) -> Message:
        try:
            size = await self._transport.send(payload)
        except RTError:
            raise
        except Exception as exc:
            self._record_error(exc)
            raise ConnectionClosed(f"send on {self.name!r} failed: {_describe(exc)}") from exc
        now = time.time()
        msg = self.log.append(Message(payload, ts=now, direction="out"))
        self._counters.sent += 1
        self._counters.bytes_out += size
        return msg

    # --- views and export (implemented in rtnb.widgets / rtnb.record) ------------------

    def table(self, **options: Any) -> Any:
        """A live table of this connection's messages (see :class:`rtnb.widgets.LiveTable`)."""
        from .widgets.table import LiveTable

        return LiveTable(self, **options)

    def plot(self, *fields: str, **options: Any) -> Any:
        """A live plot of one or more fields (see :func:`rtnb.widgets.plot.live_plot`)."""
        from .widgets.plot import live_plot

        return live_plot(self, *fields, **options)

    def panel(self, **options: Any) -> Any:
        """The connection panel: state, counters, send box and live table."""
        from .widgets.panel import ConnectionPanel

        return ConnectionPanel(self, **options)

    def record(self, path: str, **options: Any) -> Any:
        """Write every message to ``path`` as JSON Lines until stopped (see rtnb.record)."""
        from .record import Recorder

        return Recorder(self, path, **options)

    def to_records(self) -> list[dict[str, Any]]:
        """Stored messages as JSON-safe dicts."""
        return self.log.to_records()

    def to_pandas(self, flatten_json: bool = True) -> pandas.DataFrame:
        """Stored messages as a pandas DataFrame, JSON flattened into columns."""
        return self.log.to_pandas(flatten_json)

    def _attach_view(self, view: Any) -> None:
        self._views.append(view)

    def _detach_view(self, view: Any) -> None:
        with contextlib.suppress(ValueError):
            self._views.remove(view)

    # --- display ----------------------------------------------------------------------

    def summary(self) -> str:
        """One line: name, kind, URL, state and the main counters."""
        s = self.stats
        line = (
            f"{self.name}: {self.kind} {self.url} [{self._state}] "
            f"received={s.received} sent={s.sent} rate={s.rate:.1f}/s "
            f"reconnects={s.reconnects} errors={s.errors}"
        )
        if s.last_error and self._state != "open":
            line += f" last_error={s.last_error!r}"
        return line

    def __repr__(self) -> str:
        return f"<rtnb.Connection {self.summary()}>"

    def _repr_html_(self) -> str:
        from .display import connection_html

        return connection_html(self)

    def _ipython_display_(self) -> None:
        from .widgets.panel import display_connection

        display_connection(self)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _route_output(fn: Callable[[Message], None]) -> Callable[[Message], None]:
    """Wrap a user callback so what it prints lands in the cell that registered it.

    ipykernel keeps the current cell's parent header in context variables; the
    loop thread would otherwise use the context of the cell that opened the
    connection. Running the callback in a copy of the registering context
    attributes its output to the cell that called ``on_message``.
    """
    ctx = contextvars.copy_context()

    def routed(msg: Message) -> None:
        ctx.run(fn, msg)

    return routed


async def _quietly(aw: Any) -> None:
    try:
        await aw
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("rtnb: ignored error while closing: %r", exc)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, RTError):
        return text.splitlines()[0]
    name = type(exc).__name__
    line = text.splitlines()[0] if text else name
    return line if line.startswith(name) else f"{name}: {line}"


def _as_connect_error(
    exc: BaseException, open_timeout: float, waiting_for: Any = None
) -> ConnectError:
    if isinstance(exc, ConnectError):
        return exc
    err: ConnectError
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        err = ConnectTimeout(
            f"no answer within open_timeout={open_timeout} s"
            + (f" (was waiting for {waiting_for})" if waiting_for else "")
        )
    else:
        err = ConnectError(_describe(exc))
    err.__cause__ = exc
    return err


def connect(kind: str, url: str, **options: Any) -> Connection:
    """Open a connection of ``kind`` to ``url`` in the background and return it at once.

    Args:
        kind: ``"ws"`` (WebSocket), ``"sse"`` (Server-Sent Events) or ``"webrtc"``
            (a data channel through a signaling WebSocket URL).
        url: where to connect.
        **options: ``name``, ``reconnect`` (default on for ws and GET sse),
            ``backoff`` (a :class:`~rtnb.stats.Backoff` or its arguments),
            ``max_messages`` (log bound, default 10,000), ``send_on_open`` (messages
            sent after every open, for subscriptions), ``open_timeout``, and the
            kind's own options (``headers``, ``verify``, ``cafile``, ``subprotocols``
            for ws; ``method``, ``json``, ``last_event_id`` for sse; ``channel``,
            ``role``, ``ice_servers`` for webrtc).

    Returns:
        The :class:`Connection`; ``c.wait_open()`` blocks until it is open.

    Example:
        >>> c = rtnb.connect("ws", "ws://127.0.0.1:8765/ws/echo", name="echo")  # doctest: +SKIP
        >>> c.wait_open().send({"hello": "world"})                              # doctest: +SKIP
    """
    conn = Connection(kind, url, **options)
    with _registry_lock:
        old = _registry.get(conn.name)
        _registry[conn.name] = conn
    if old is not None and old is not conn:
        old.close()
    return conn._start()


def connections() -> dict[str, Connection]:
    """The registered connections by name: every one not yet ``close()``-d.

    A connection whose stream ended by itself (state ``closed`` or ``failed``)
    stays listed, with its messages, until ``close()`` is called on it.
    """
    with _registry_lock:
        return dict(_registry)


def get_connection(name: str) -> Connection:
    """The registered connection called ``name``.

    Raises:
        KeyError: with the known names, when there is none.
    """
    with _registry_lock:
        try:
            return _registry[name]
        except KeyError:
            known = ", ".join(sorted(_registry)) or "none"
            raise KeyError(f"no connection named {name!r} (open ones: {known})") from None
