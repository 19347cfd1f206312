"""Connection: one live connection's lifecycle, and sending and receiving on it.

A Connection is made by :func:`rtnb.connect` (:mod:`rtnb.registry` keeps it by
name), lives on the runtime loop, and is used from any thread through
thread-safe methods. Whether to reconnect, when, and what state to show is
decided by the pure state machine in :mod:`rtnb.lifecycle`; this module does the
I/O those decisions ask for.

    >>> c = rtnb.connect("ws", "ws://127.0.0.1:8765/ws/echo")   # doctest: +SKIP
    >>> c.wait_open(timeout=10).send("hi")                      # doctest: +SKIP
    >>> c.recv(timeout=5).data                                   # doctest: +SKIP
    'hi'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .breaks import BreakBook
from .errors import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    RTError,
    SendNotSupported,
    connect_error,
    describe,
)
from .lifecycle import (
    FINAL_STATES,
    Action,
    Backoff,
    Event,
    Lifecycle,
    State,
    Step,
    open_failed,
    retry_delay,
    stream_ended,
)
from .message import Cursor, Message, MessageLog, payload_size
from .runtime import bind_context, get_runtime, in_loop_thread, quietly
from .sendtext import encode_payload
from .stats import Counters, Stats
from .transports import Transport, check_options, transport_class
from .verbs import Verbs
from .viewable import Viewable

__all__ = ["Connection", "State"]

log = logging.getLogger("rtnb")

_LOOP_BLOCK = (
    "{} would block the rtnb loop thread it is called from (in a callback); "
    "use the async twin {} there"
)


class Connection(Viewable, Verbs):
    """A live connection of one kind to one URL, with a bounded message log.

    Do not build one directly: use :func:`rtnb.connect`. Its views, recorder,
    exports and notebook display come from :class:`~rtnb.viewable.Viewable`.

    Attributes:
        name: the registry name (``ws1``, or what was given).
        kind: ``"ws"``, ``"sse"``, ``"webrtc"`` or ``"replay"``.
        url: where it connects.
        log: the :class:`~rtnb.message.MessageLog` of recent messages.
    """

    def __init__(
        self,
        kind: str,
        url: str,
        *,
        name: str,
        reconnect: bool | None = None,
        backoff: Backoff | Mapping[str, float] | None = None,
        max_messages: int = 10_000,
        send_on_open: Iterable[Any] | Any = (),
        open_timeout: float = 15.0,
        **options: Any,
    ) -> None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url must be a non-empty string, not {url!r}")
        cls = transport_class(kind, options)
        check_options(cls.kind, options)  # unknown options: one sentence naming the known
        self.kind: str = cls.kind
        self.url = url
        self.name = name
        self.log = MessageLog(max_messages)
        self.open_timeout = float(open_timeout)
        if isinstance(send_on_open, str | bytes | dict):
            send_on_open = [send_on_open]
        self.send_on_open: list[str | bytes] = [encode_payload(p) for p in send_on_open]
        self.options = dict(options)
        self.reopener: Callable[[], Connection] | None = None  # set by the registry
        self._counters = Counters()
        self._transport: Transport = cls(url, self._ingest, options)
        self._transport.on_error = self._record_error  # errors the stream survives
        if self._transport.ingest == self._ingest:  # not routed (as JSON-RPC does): batch
            self._transport.ingest_many = self._ingest_many
        if self.send_on_open and not self._transport.can_send:  # it would fail on every open
            raise SendNotSupported(f"send_on_open cannot be used: {cls.send_refusal}")
        self._lifecycle = Lifecycle(
            self._transport.reconnect_by_default if reconnect is None else reconnect,
            backoff if isinstance(backoff, Backoff) else Backoff(**(backoff or {})),
        )
        self._state_cond = threading.Condition()
        self._state_listeners: list[Callable[[Connection, State], None]] = []
        self._listeners: list[Callable[[Message], None]] = []
        self._cursor = self.log.cursor(start=0)
        self._task: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None
        self._open_event: asyncio.Event | None = None
        self._started = False
        self._closing = False
        self._closed = False  # close() has run to the end (views closed)

    # --- lifecycle: the I/O the state machine asks for ---------------------------------

    def start(self) -> Connection:
        """Begin connecting in the background and return at once (``connect`` calls it).

        Idempotent: a started connection is returned as it is.
        """
        if not self._started:
            self._started = True
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
        self._notify(self.state)  # "connecting": the first attempt begins
        step = Step(self.state, Action.OPEN)
        while step.action is not Action.STOP:
            if step.action is Action.OPEN:
                event = await self._open()
            elif step.action is Action.SERVE:
                event = await self._serve()
            else:
                await asyncio.sleep(step.delay)
                event = Event.RETRY_DUE
            step = self._step(event)

    def _step(self, event: Event) -> Step:
        """Tell the state machine what happened; announce the state it moves to."""
        before = self._lifecycle.state
        step = self._lifecycle.handle(
            event, now=time.monotonic(), hint=self._transport.retry_delay()
        )
        if step.state != before:  # counted, and marked for the views, before anyone hears
            self._counters.moved(
                before, step.state, time.time(), self.log.next_seq, self._transport.info
            )
            self._notify(step.state)
        return step

    async def _open(self) -> Event:
        transport = self._transport
        try:
            await asyncio.wait_for(transport.open(), self.open_timeout)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            err = connect_error(exc, self.open_timeout, transport.info().get("waiting_for"))
            self._record_error(err)
            await quietly(transport.close())
            return open_failed(
                fatal=err.fatal, finished=err.finished, received_any=self._counters.received > 0
            )
        return Event.OPENED

    async def _serve(self) -> Event:
        transport = self._transport
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
            self._counters.went_down(time.time())
            if self._open_event is not None:
                self._open_event.clear()
            await quietly(transport.close())
        return stream_ended(failed=failed)

    def _next_delay(self, attempt: int) -> float:
        """The wait before retry ``attempt``, as the state machine would choose it now."""
        return retry_delay(self.backoff, attempt, self._transport.retry_delay())

    def _notify(self, state: State) -> None:
        if self._open_event is not None:
            # Set on final states too, so a send() waiting to open wakes and says why.
            if state == "open" or state in FINAL_STATES:
                self._open_event.set()
            else:
                self._open_event.clear()
        with self._state_cond:
            self._state_cond.notify_all()
        if state in FINAL_STATES:
            self.log.end(self.describe_state())  # cursors at the end raise, waiters wake
        for fn in self._state_listeners:
            try:
                fn(self, state)
            except Exception:
                log.exception("rtnb %s: state listener failed", self.name)

    def _record_error(self, exc: BaseException) -> None:
        c = self._counters
        c.errors += 1
        c.last_error = describe(exc)
        log.info("rtnb %s: %s", self.name, c.last_error)

    async def aclose(self) -> None:
        """Close the connection (the async twin of :meth:`close`)."""
        if in_loop_thread():
            await self._aclose_on_loop()
        else:
            await get_runtime().arun(self._aclose_on_loop())

    _aclose_at_exit = aclose  # what the runtime calls at shutdown

    async def _aclose_on_loop(self) -> None:
        # One closing for every caller: the first one's task (in its context) does it.
        if self._closer is None:
            self._closer = asyncio.get_running_loop().create_task(
                self._close(), name=f"rtnb-close-{self.name}"
            )
        await asyncio.shield(self._closer)

    async def _close(self) -> None:
        self._closing = True
        self._lifecycle.handle(Event.CLOSE_REQUESTED)  # from now on the I/O only stops
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await quietly(self._transport.close())
        self._lifecycle.handle(Event.CLOSED)
        # The final notice, here in close()'s context (not the connection task's), even
        # when the stream had already ended by itself: listeners finish where close() ran.
        self._notify("closed")
        self._closed = True

    def close(self, timeout: float = 10.0) -> None:
        """Close the connection; when this returns, ``state == "closed"``.

        Idempotent. On-state listeners get a last ``"closed"`` from this call.
        Called from a callback on the runtime loop, it schedules the close
        instead of blocking.
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
                remaining = None if deadline is None else deadline - time.monotonic()
                if self._is_open(timeout, remaining):
                    return self
                if in_loop_thread():  # the state can only change on the loop we would block
                    raise RuntimeError(_LOOP_BLOCK.format("wait_open", "await_open"))
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
                remaining = None if deadline is None else deadline - loop.time()
                if self._is_open(timeout, remaining):
                    return self
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            unsubscribe()

    def _is_open(self, timeout: float | None, remaining: float | None) -> bool:
        """True when open, False to wait on; raise when it never will be or time is up."""
        state = self.state
        if state == "open":
            return True
        if state in FINAL_STATES:
            raise ConnectError(self.describe_state())
        if remaining is not None and remaining <= 0:
            raise ConnectTimeout(
                f"{self.kind} connection {self.name!r} to {self.url} not open after {timeout} s "
                f"(state {state}; last error: {self._counters.last_error or 'none'})"
            )
        return False

    # --- state and figures ------------------------------------------------------------

    @property
    def state(self) -> State:
        """``"connecting"``, ``"open"``, ``"reconnecting"``, ``"closed"`` or ``"failed"``."""
        return self._lifecycle.state

    @property
    def closing(self) -> bool:
        """True once ``close()`` has been asked for."""
        return self._closing

    def describe_state(self) -> str:
        """One line: kind, name, URL, state and the last error.

        >>> c.describe_state()                                     # doctest: +SKIP
        "ws connection 'ws1' to ws://127.0.0.1:1/ is failed: connection refused"
        """
        last = self._counters.last_error
        return f"{self.kind} connection {self.name!r} to {self.url} is {self.state}" + (
            f": {last}" if last else ""
        )

    @property
    def reconnect(self) -> bool:
        """Whether a drop is followed by a reconnect with backoff (may be changed live)."""
        return self._lifecycle.reconnect

    @reconnect.setter
    def reconnect(self, value: bool) -> None:
        self._lifecycle.reconnect = bool(value)

    @property
    def backoff(self) -> Backoff:
        """The waits between reconnect attempts."""
        return self._lifecycle.backoff

    @property
    def messages(self) -> MessageLog:
        """The bounded log of recent messages, newest last (both directions)."""
        return self.log

    @property
    def stats(self) -> Stats:
        """A snapshot of the counters: received, sent, bytes, rate, reconnects, errors, ...

        The gap figures (``gaps``, ``gap_windows``, ``down_seconds``) count the
        interruptions (see :class:`~rtnb.stats.Counters`): what the peer sent
        during one is lost unless the protocol resumes (SSE ``Last-Event-ID``).
        """
        extra = dict(self._transport.info())
        extra["state"] = self.state
        extra["dropped"] = self.log.dropped
        return self._counters.snapshot(extra)

    @property
    def breaks(self) -> BreakBook:
        """Where the stream was cut and came back, placed among the messages (for views)."""
        return self._counters.breaks

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
        topic: str | None = None,
    ) -> None:
        now = time.time()  # once per message, at up to a million a second: one call each
        msg = self.log.append(Message.received(data, now, event, id, channel, topic))
        self._counters.count_in(now, payload_size(data))
        for fn in self._listeners:
            try:
                fn(msg)
            except Exception as exc:
                self._record_error(exc)
                log.exception("rtnb %s: on_message callback failed", self.name)

    def _ingest_many(self, items: list[str | bytes], nbytes: int) -> None:
        """Ingest plain messages that came in one read (``nbytes`` in all): one stamp, one count."""
        if self._listeners:
            for data in items:
                self._ingest(data)
        else:
            now = time.time()
            self.log.extend_received(items, now)
            self._counters.count_in(now, nbytes, len(items))

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
            if (reason := self.log.ended) is not None:
                raise ConnectionClosed(reason)
            raise RuntimeError(_LOOP_BLOCK.format("recv", "arecv"))
        return self._cursor.next(timeout)

    def latest(self, timeout: float | None = 10.0) -> Message:
        """The newest received message (waiting up to ``timeout`` for a first one): "what
        is the price now?". :meth:`recv` reads every message in order; this leaves it be.

        Raises:
            RecvTimeout: when nothing was received and nothing arrives within ``timeout``.
        """
        waiting = self.log.cursor()  # made first, so a message arriving now is not missed
        msg = self.log.latest()
        if msg is None and in_loop_thread():
            raise RuntimeError(_LOOP_BLOCK.format("latest", "arecv"))
        return msg if msg is not None else waiting.next(timeout)

    async def arecv(self, timeout: float | None = None) -> Message:
        """The async twin of :meth:`recv`: ``m = await c.arecv()`` in a notebook cell."""
        return await self._cursor.anext(timeout)

    def cursor(self, from_start: bool = False) -> Cursor:
        """An independent reading position over received messages (``from_start``: stored
        ones too); its ``next()`` raises ConnectionClosed once the log ended and is read."""
        return self.log.cursor(self.log.first_seq if from_start else None)

    def on_message(self, fn: Callable[[Message], None]) -> Callable[[], None]:
        """Call ``fn(message)`` on the runtime loop for each received message; returns an
        unsubscriber. Keep ``fn`` quick (the ingest path); its exceptions count in
        ``stats.errors`` and are logged."""
        wrapped = bind_context(fn)  # what it prints lands in the registering cell
        self._listeners = [*self._listeners, wrapped]

        def unsubscribe() -> None:
            self._listeners = [f for f in self._listeners if f is not wrapped]

        return unsubscribe

    def on_state(self, fn: Callable[[Connection, State], None]) -> Callable[[], None]:
        """Call ``fn(connection, state)`` on each state change (on the runtime loop); returns
        an unsubscriber (harmless twice). Its last call is :meth:`close`'s ``"closed"``, made
        from that call (in the closing code's context) even if the stream had ended."""
        self._state_listeners = [*self._state_listeners, fn]

        def unsubscribe() -> None:
            self._state_listeners = [f for f in self._state_listeners if f is not fn]

        return unsubscribe

    # --- sending ----------------------------------------------------------------------

    @property
    def can_send(self) -> bool:
        """False for one-way kinds (SSE, replay): :attr:`send_refusal` then says why."""
        return self._transport.can_send

    @property
    def send_refusal(self) -> str:
        """Why this kind cannot send (``""`` when it can)."""
        if self.can_send:
            return ""
        return self._transport.send_refusal or f"{self.kind} connections cannot send"

    def send(self, data: Any, timeout: float | None = 10.0) -> Message:
        """Send ``data``: str as a text frame, bytes as binary, dict/list as JSON text.

        Waits (up to ``timeout``) for the connection to open if it is still
        connecting. Returns the sent message as logged (``direction == "out"``).

        Raises:
            SendNotSupported: for one-way kinds (SSE).
            ConnectionClosed: when the connection is closed or failed.
            TimeoutError: when it does not open in time.
        """
        if not self.can_send:
            raise SendNotSupported(self.send_refusal)
        payload = encode_payload(data)
        return get_runtime().run(self._send_when_open(payload, timeout), None)

    async def asend(self, data: Any, timeout: float | None = 10.0) -> Message:
        """The async twin of :meth:`send`."""
        if not self.can_send:
            raise SendNotSupported(self.send_refusal)
        payload = encode_payload(data)
        return await get_runtime().arun(self._send_when_open(payload, timeout))

    async def _send_when_open(self, payload: str | bytes, timeout: float | None) -> Message:
        await self._until_open("send", timeout)
        return await self._send_now(payload)

    async def _until_open(self, what: str, timeout: float | None) -> None:
        """On the loop: wait (up to ``timeout``) for the connection to be open to ``what``."""
        if self.state != "open":
            if self.state in FINAL_STATES:
                raise ConnectionClosed(self.describe_state())
            evt = self._open_event
            if evt is None:
                await asyncio.sleep(0)
                evt = self._open_event
            assert evt is not None
            try:
                await asyncio.wait_for(evt.wait(), timeout)
            except TimeoutError:
                raise ConnectTimeout(
                    f"cannot {what}: {self.describe_state()} (waited {timeout} s to open)"
                ) from None
            if self.state in FINAL_STATES:
                raise ConnectionClosed(self.describe_state())

    async def _send_now(self, payload: str | bytes) -> Message:
        try:
            out = await self._transport.send(payload)
        except RTError:
            raise
        except Exception as exc:
            self._record_error(exc)
            raise ConnectionClosed(f"send on {self.name!r} failed: {describe(exc)}") from exc
        if isinstance(out, int):
            return self._log_sent(payload, out)
        return self._log_sent(out.data, out.size, out.event, out.topic)  # socketio, mqtt

    def _log_sent(
        self, payload: str | bytes, size: int, event: str | None = None, topic: str | None = None
    ) -> Message:
        """Log and count what went out (on the loop)."""
        msg = Message(payload, ts=time.time(), direction="out", event=event, topic=topic)
        self.log.append(msg)
        self._counters.sent += 1
        self._counters.bytes_out += size
        return msg

    # --- context managers -------------------------------------------------------------

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
