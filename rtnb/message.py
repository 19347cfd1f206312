"""Message, the bounded MessageLog, and the cursors every reader of the log uses.

Ingest is O(1): building a :class:`Message` stores references only (JSON is
parsed lazily on first access) and :meth:`MessageLog.append` is a deque append
plus a check for waiters. Everything that reads the log does it through a
:class:`Cursor`: ``recv`` one message at a time (:meth:`Cursor.next`), views and
the recorder one batch per flush (:meth:`Cursor.take`).

    >>> log = MessageLog(max_messages=3)
    >>> for i in range(5):
    ...     _ = log.append(Message.incoming(f'{{"i": {i}}}'))
    >>> [m.json["i"] for m in log]
    [2, 3, 4]
    >>> cur = log.cursor(start=log.first_seq)
    >>> cur.next().json
    {'i': 2}
    >>> batch = log.cursor(start=0, direction=None).take(limit=2)
    >>> [m.json["i"] for m in batch.messages], batch.missed, batch.skipped
    ([3, 4], 2, 1)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from . import jsonfast
from .errors import ConnectionClosed, MessagesMissed, RecvTimeout

if TYPE_CHECKING:
    import pandas

__all__ = ["Batch", "Cursor", "Direction", "Message", "MessageLog", "payload_size"]

Direction = Literal["in", "out"]

_UNPARSED: Any = object()
_new = object.__new__
_JSON_START = frozenset('{["-0123456789tfn')
_JSON_START_BYTES = frozenset(b'{["-0123456789tfn')
_WS = " \t\r\n"


class Message:
    """One message received or sent on a connection.

    Attributes:
        seq: position in its connection's log, from 0, never reused.
        ts: time it was received or sent (``time.time()`` seconds).
        direction: ``"in"`` (received) or ``"out"`` (sent).
        data: the payload: ``str`` for text, ``bytes`` for binary.
        event: the SSE event type (``None`` for other kinds or the default ``message``).
        id: the SSE event id, if any.
        channel: the WebRTC data-channel label, if any.
        topic: the MQTT topic, if any.
    """

    __slots__ = ("_json", "channel", "data", "direction", "event", "id", "seq", "topic", "ts")

    def __init__(
        self,
        data: str | bytes,
        *,
        seq: int = -1,
        ts: float | None = None,
        direction: Direction = "in",
        event: str | None = None,
        id: str | None = None,
        channel: str | None = None,
        topic: str | None = None,
    ) -> None:
        self.data = data
        self.seq = seq
        self.ts = time.time() if ts is None else ts
        self.direction: Direction = direction
        self.event = event
        self.id = id
        self.channel = channel
        self.topic = topic
        self._json: Any = _UNPARSED

    @classmethod
    def received(
        cls,
        data: str | bytes,
        ts: float,
        event: str | None = None,
        id: str | None = None,
        channel: str | None = None,
        topic: str | None = None,
    ) -> Message:
        """Build a received message on the ingest path (``seq`` is assigned by the log).

        The same message as ``Message(data, ts=ts, event=event, ...)`` at a third
        of the cost: positional arguments and plain slot stores, once per message
        at 100k+ messages/s.
        """
        msg = _new(cls)
        msg.data = data
        msg.seq = -1
        msg.ts = ts
        msg.direction = "in"
        msg.event = event
        msg.id = id
        msg.channel = channel
        msg.topic = topic
        msg._json = _UNPARSED
        return msg

    @classmethod
    def incoming(cls, data: str | bytes, **kw: Any) -> Message:
        """Build a received message (``seq`` is assigned by the log)."""
        return cls(data, **kw)

    @property
    def is_binary(self) -> bool:
        """True when the payload arrived as binary (a ``bytes`` object)."""
        return isinstance(self.data, bytes | bytearray | memoryview)

    @property
    def text(self) -> str:
        """The payload as text; binary is decoded as UTF-8 with replacement characters."""
        data = self.data
        if isinstance(data, str):
            return data
        return bytes(data).decode("utf-8", errors="replace")

    @property
    def size(self) -> int:
        """Payload size in bytes (UTF-8 length for text)."""
        return payload_size(self.data)

    @property
    def json(self) -> Any:
        """The payload parsed as JSON, or ``None`` when it is not JSON.

        Parsed on first access and cached. Binary frames holding UTF-8 JSON are
        parsed too, since some servers send text as binary.
        """
        value = self._json
        if value is _UNPARSED:
            value = self._json = _parse_json(self.data)
        return value

    @property
    def is_json(self) -> bool:
        """True when the payload parsed as JSON (``json`` may still be ``None`` for ``null``)."""
        self.json  # noqa: B018 - fills the cache
        return self._json is not None or _strip(self.data) == "null"

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe dict of this message (binary payloads base64-encoded)."""
        rec: dict[str, Any] = {
            "seq": self.seq,
            "ts": self.ts,
            "direction": self.direction,
        }
        if isinstance(self.data, str):
            rec["data"] = self.data
        else:
            rec["data_b64"] = base64.b64encode(bytes(self.data)).decode("ascii")
        if self.event is not None:
            rec["event"] = self.event
        if self.id is not None:
            rec["id"] = self.id
        if self.channel is not None:
            rec["channel"] = self.channel
        if self.topic is not None:
            rec["topic"] = self.topic
        return rec

    def __repr__(self) -> str:
        kind = "bytes" if self.is_binary else "str"
        data = self.data
        preview = data[:24].hex() if isinstance(data, bytes) else self.text
        if len(preview) > 60:
            preview = preview[:57] + "..."
        extra = "".join(
            f" {k}={v!r}" for k, v in (("event", self.event), ("id", self.id)) if v is not None
        )
        return f"<Message seq={self.seq} {self.direction} {kind}[{self.size}]{extra} {preview!r}>"


def payload_size(data: str | bytes) -> int:
    """Bytes of a payload: its length, UTF-8 length for text.

    >>> payload_size("h\u00e9"), payload_size(b"ab")
    (3, 2)
    """
    if isinstance(data, str):
        return len(data) if data.isascii() else len(data.encode("utf-8", "surrogatepass"))
    return len(data)


def _strip(data: str | bytes) -> str:
    if isinstance(data, str):
        return data.strip()
    try:
        return bytes(data).decode("utf-8").strip()
    except UnicodeDecodeError:
        return ""


def _parse_json(data: str | bytes) -> Any:
    if not data:
        return None
    try:
        if isinstance(data, str):
            if data[0] not in _JSON_START and data.lstrip(_WS)[:1] not in _JSON_START:
                return None
        else:
            first = data[0]
            if first not in _JSON_START_BYTES:
                stripped = bytes(data).lstrip()
                if not stripped or stripped[0] not in _JSON_START_BYTES:
                    return None
        return jsonfast.loads(data)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):
        return None  # RecursionError: the stdlib backend on "[[[[..." nested too deep


class MessageLog:
    """A bounded, append-only log of messages with monotonically increasing ``seq``.

    Only the runtime loop appends; any thread may read. When full, the oldest
    message is dropped. Readers that wait (``recv``) register a wakeup. When
    the connection reaches a final state it calls :meth:`end`, so a cursor
    that has read everything raises instead of waiting for ever.

    Args:
        max_messages: how many recent messages to keep (default 10,000).
    """

    def __init__(self, max_messages: int = 10_000) -> None:
        if not isinstance(max_messages, int) or max_messages < 1:
            raise ValueError(f"max_messages must be a positive integer, not {max_messages!r}")
        self.max_messages = max_messages
        self._items: deque[Message] = deque(maxlen=max_messages)
        self._next_seq = 0
        self._wakeups: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._ended: str | None = None

    # --- writing (runtime loop only) ---------------------------------------------------

    def append(self, msg: Message) -> Message:
        """Assign the next ``seq`` to ``msg``, store it, wake any waiting readers."""
        msg.seq = self._next_seq
        self._next_seq += 1
        self._items.append(msg)
        if self._wakeups:
            self._wake()
        return msg

    def extend_received(self, items: list[str | bytes], ts: float) -> None:
        """Append a received message for each payload in ``items``, all stamped ``ts``.

        The ingest path's batch (what one socket read brought): the same
        messages as ``append(Message.received(data, ts))`` for each, with the
        call overhead paid once. Each message is stored as ``append`` stores
        it (``seq``, then ``next_seq``, then the deque), so readers on other
        threads see the same states.
        """
        store = self._items.append
        seq = self._next_seq
        for data in items:
            msg = _new(Message)
            msg.data = data
            msg.seq = seq
            msg.ts = ts
            msg.direction = "in"
            msg.event = msg.id = msg.channel = msg.topic = None
            msg._json = _UNPARSED
            seq += 1
            self._next_seq = seq
            store(msg)
        if self._wakeups:
            self._wake()

    def _wake(self) -> None:
        with self._lock:
            wakeups, self._wakeups = self._wakeups, []
        for fn in wakeups:
            fn()

    def clear(self) -> None:
        """Drop every stored message; ``seq`` keeps counting from where it was."""
        self._items.clear()

    def end(self, reason: str) -> None:
        """Say that nothing more will arrive (the connection is closed or failed).

        A cursor that has read everything then raises
        :class:`~rtnb.errors.ConnectionClosed` with ``reason`` instead of waiting;
        waiting readers wake. Calling it again updates the reason.
        """
        self._ended = reason
        self._wake()

    @property
    def ended(self) -> str | None:
        """Why nothing more will arrive (see :meth:`end`), or ``None`` while it may."""
        return self._ended

    # --- reading (any thread) ----------------------------------------------------------

    @property
    def first_seq(self) -> int:
        """``seq`` of the oldest stored message (== ``next_seq`` when empty)."""
        return self._next_seq - len(self._items)

    @property
    def next_seq(self) -> int:
        """``seq`` the next appended message will get (= messages ever appended)."""
        return self._next_seq

    @property
    def dropped(self) -> int:
        """How many messages fell off the front because of the bound (or ``clear``)."""
        return self.first_seq

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Message]:
        return iter(list(self._items))

    def __getitem__(self, index: int) -> Message:
        return self._items[index]

    def __repr__(self) -> str:
        return f"<MessageLog {len(self)}/{self.max_messages} next_seq={self._next_seq}>"

    def get(self, seq: int) -> Message | None:
        """The message with this ``seq``, or ``None`` when not (or no longer) stored."""
        items = self._items
        first = self._next_seq - len(items)
        idx = seq - first
        if 0 <= idx < len(items):
            try:
                return items[idx]
            except IndexError:  # appended/dropped concurrently
                return None
        return None

    def _read(self, seq: int, limit: int | None) -> tuple[list[Message], int, int]:
        """Stored messages with ``seq >= seq`` (only the newest ``limit``, oldest first),
        the first stored ``seq`` and the end (``next_seq``), from one consistent snapshot.

        Only what is returned is copied, so a view's flush costs what is new (or
        ``limit``), not the size of the log. Safe from any thread: an append that
        races the copy is detected and the snapshot taken again in full.
        """
        items_ = self._items
        end = self._next_seq
        size = len(items_)
        want = end - seq if limit is None else min(end - seq, limit)
        if want <= 0:
            return [], end - size, end
        if want < size:
            tail = list(itertools.islice(reversed(items_), want))
            if tail[0].seq == end - 1:  # else: appended meanwhile, copy all
                tail.reverse()
                return tail, end - size, end
        items = list(items_)  # a snapshot: the loop thread may append meanwhile
        end = items[-1].seq + 1 if items else self._next_seq
        first = end - len(items)
        start = max(0, seq - first)
        if limit is not None:
            start = max(start, len(items) - limit)
        return items[start:], first, end

    def tail(self, n: int) -> list[Message]:
        """The newest ``n`` messages, oldest first (only those are copied)."""
        if n <= 0:
            return []
        items = list(itertools.islice(reversed(self._items), n))
        items.reverse()
        return items

    def latest(self, direction: Direction | None = "in") -> Message | None:
        """The newest stored message (received ones by default), or ``None``.

        >>> log = MessageLog(); _ = log.append(Message.incoming("a"))
        >>> _ = log.append(Message.incoming("b")); log.latest().data
        'b'
        """
        for msg in reversed(list(self._items)):
            if direction is None or msg.direction == direction:
                return msg
        return None

    def add_wakeup(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` (once) on the next append; ``fn`` must be quick and thread-safe."""
        with self._lock:
            self._wakeups.append(fn)

    def remove_wakeup(self, fn: Callable[[], None]) -> None:
        """Forget a wakeup registered with :meth:`add_wakeup` that is no longer needed."""
        with self._lock, contextlib.suppress(ValueError):
            self._wakeups.remove(fn)

    def cursor(self, start: int | None = None, direction: Direction | None = "in") -> Cursor:
        """A reading position; ``start`` defaults to the next message to arrive."""
        return Cursor(self, self._next_seq if start is None else start, direction)

    # --- export ------------------------------------------------------------------------

    def to_records(self) -> list[dict[str, Any]]:
        """Every stored message as a JSON-safe dict (see :meth:`Message.to_record`)."""
        return [m.to_record() for m in list(self._items)]

    def to_pandas(self, flatten_json: bool = True) -> pandas.DataFrame:
        """A DataFrame, one row per stored message (see :func:`rtnb.frames.to_dataframe`)."""
        from .frames import to_dataframe

        return to_dataframe(list(self._items), flatten_json)


class Batch(NamedTuple):
    """What :meth:`Cursor.take` returns: the new messages and what went by unread.

    Attributes:
        messages: the new messages, oldest first.
        missed: messages that fell off the log's bound before they could be read.
        skipped: messages passed over to honour ``take``'s ``limit`` (older than
            the newest ``limit``).
    """

    messages: list[Message]
    missed: int
    skipped: int


class Cursor:
    """A reading position in a :class:`MessageLog`: what ``recv``, views and recorders use.

    A message appended before the read is still returned, so ``send`` then
    ``recv`` never races. ``direction="in"`` skips sent messages, ``None``
    reads both directions.

    Attributes:
        log: the log read.
        pos: ``seq`` of the next message to read.
        direction: ``"in"``, ``"out"`` or ``None`` (both).
    """

    def __init__(self, log: MessageLog, start: int, direction: Direction | None = "in") -> None:
        self.log = log
        self.pos = start
        self.direction = direction

    @property
    def pending(self) -> bool:
        """True when messages arrived past the cursor (a cheap check, no copy)."""
        return self.pos < self.log.next_seq

    def take(self, limit: int | None = None) -> Batch:
        """Everything new at the cursor as one batch; the cursor moves past it.

        Only what is returned is copied, so a view flushing 10 times a second
        pays for what is new (at most ``limit``), whatever the stream's rate.

        Args:
            limit: return only the newest ``limit`` messages; the older ones are
                counted in ``skipped`` (a table showing 200 rows needs only 200).

        Returns:
            A :class:`Batch`; ``missed`` counts messages that fell off the log
            before this call. Messages of the other direction are left out.

        Raises:
            ConnectionClosed: when the log has ended (the connection is closed or
                failed) and the cursor had already read everything.
        """
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, not {limit!r}")
        log = self.log
        ended = log.ended  # before the read: what arrived before the end is returned
        pos = self.pos
        msgs, first, end = log._read(pos, limit)
        if end <= pos:
            if ended is not None:
                raise ConnectionClosed(ended)
            return Batch([], 0, 0)
        start = max(pos, first)
        self.pos = end
        batch = Batch(msgs, start - pos, end - start - len(msgs))
        if self.direction is not None:
            want = self.direction
            return batch._replace(messages=[m for m in msgs if m.direction == want])
        return batch

    def poll(self) -> Message | None:
        """The next matching message if one is stored, else ``None``.

        Raises:
            MessagesMissed: when messages at the cursor fell off the log; the
                cursor then moves to the oldest kept message.
        """
        log = self.log
        while True:
            first = log.first_seq
            if self.pos < first:
                missed = first - self.pos
                self.pos = first
                raise MessagesMissed(missed, log.max_messages)
            if self.pos >= log.next_seq:
                return None
            msg = log.get(self.pos)
            if msg is None:
                continue  # it fell off between the checks: report it on the next pass
            self.pos += 1
            if self.direction is None or msg.direction == self.direction:
                return msg

    def _poll_or_end(self) -> Message | None:
        ended = self.log.ended  # before the poll: what arrived before the end is returned
        msg = self.poll()
        if msg is None and ended is not None:
            raise ConnectionClosed(ended)
        return msg

    def next(self, timeout: float | None = None) -> Message:
        """Block until the next matching message arrives (any thread but the loop's).

        Args:
            timeout: seconds to wait; ``None`` waits for ever.

        Raises:
            RecvTimeout: when ``timeout`` seconds pass without one.
            MessagesMissed: see :meth:`poll`.
            ConnectionClosed: when the log has ended and everything was read.
        """
        msg = self._poll_or_end()
        if msg is not None:
            return msg
        deadline = None if timeout is None else time.monotonic() + timeout
        event = threading.Event()
        while True:
            event.clear()
            self.log.add_wakeup(event.set)
            try:
                msg = self._poll_or_end()
                if msg is not None:
                    return msg
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise RecvTimeout(f"no message within {timeout} s")
                event.wait(remaining)
            finally:
                self.log.remove_wakeup(event.set)

    async def anext(self, timeout: float | None = None) -> Message:
        """The async twin of :meth:`next`, awaitable from any event loop."""
        msg = self._poll_or_end()
        if msg is not None:
            return msg
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            fut: asyncio.Future[None] = loop.create_future()

            def wake(fut: asyncio.Future[None] = fut) -> None:
                # runs inside append() on the ingest path: a waiter whose loop was
                # closed under it must not break the stream
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(_resolve, fut)

            self.log.add_wakeup(wake)
            try:
                msg = self._poll_or_end()
                if msg is not None:
                    return msg
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise RecvTimeout(f"no message within {timeout} s")
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(fut, remaining)
            finally:
                self.log.remove_wakeup(wake)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
