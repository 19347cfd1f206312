"""The protocol lab's wire format, shared by the client (:mod:`rtnb.lab.run`) and the server.

Pure: no sockets. The server's ``/lab/...`` endpoints
(:mod:`rtnb.server.lab_handlers`) and the client that measures them both
speak through this module, so the two cannot drift apart.

**Endpoints** (:data:`PATHS`): ``/lab/ws``, ``/lab/sse`` and ``/lab/webrtc``
(WebRTC signaling; the stream runs on each data channel the client opens).

**The query** (:class:`LabPlan`) says what to send:

=========  ===========================================================================
count      messages to stream (default 100)
rate       messages per second; 0 = as fast as the transport drains (default 100)
seconds    stop streaming after this long, whatever ``count`` says (0 = no limit)
size       payload bytes per message (32-65536, default 64)
binary     1 = binary messages (on SSE the raw bytes go into ``data:``)
cut        abort the connection after this many messages, once per ``session``
session    names the client across reconnects (for ``cut``)
ids        SSE: ``id:`` lines and ``retry:`` :data:`SSE_RETRY_MS`, resuming after ``Last-Event-ID``
=========  ===========================================================================

**A lab message** (:func:`lab_payload`) is exactly ``size`` bytes: ``SEQ TIME ``
in ASCII (10 digits, a space, the server's ``time.time()`` as 17 characters, a
space), then padding. A client on the same machine reads the send time back
(:func:`parse_header`) and so measures one-way latency with one clock.

**The summary** (:class:`Summary`): when the stream ends the server sends one
JSON message ``{"done": true, ...}`` (on SSE an event of type
:data:`SUMMARY_EVENT`) with what it counted: messages sent, the bytes its
socket carried for them, the handshake bytes and the transport it saw.

**Echo**: every message a ws or WebRTC client sends comes back as it came.

    >>> plan = LabPlan(count=3, rate=0, size=40, ids=True)
    >>> plan.to_query()
    {'count': '3', 'rate': '0', 'size': '40', 'ids': '1'}
    >>> LabPlan.from_query(plan.to_query()) == plan
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from ..jsonfast import dumps, loads

__all__ = [
    "BINARY_PATTERN",
    "HEADER_SIZE",
    "MAX_COUNT",
    "MAX_RATE",
    "MAX_SECONDS",
    "PATHS",
    "PAYLOAD_LIMITS",
    "SSE_RETRY_MS",
    "SUMMARY_EVENT",
    "LabPlan",
    "Summary",
    "binary_intact",
    "lab_payload",
    "parse_header",
]

#: Where each family's lab endpoint is served.
PATHS: dict[str, str] = {"ws": "/lab/ws", "sse": "/lab/sse", "webrtc": "/lab/webrtc"}

#: Length of a lab message's ``SEQ TIME `` header: 10 digits, a space,
#: ``time.time()`` as 17 characters, a space.
HEADER_SIZE = 29

#: The bytes after the header of a binary lab message: every byte value, in order.
BINARY_PATTERN = bytes(range(256))

#: Smallest and largest payload the lab sends (65,536 is the largest message
#: every WebRTC stack accepts).
PAYLOAD_LIMITS = (HEADER_SIZE + 3, 65_536)

#: Most messages one stream sends (``count`` and ``cut``).
MAX_COUNT = 1_000_000

#: Longest a stream runs (``seconds``).
MAX_SECONDS = 60.0

#: Highest rate a stream is paced at, messages per second.
MAX_RATE = 100_000.0

#: The SSE event type of the summary.
SUMMARY_EVENT = "done"

#: SSE with ``ids``: the ``retry:`` the server asks for, in ms (WHATWG HTML
#: 9.2.6: the client waits this long before it reconnects).
SSE_RETRY_MS = 100

_TRUE = ("1", "true", "yes")


def lab_payload(seq: int, t: float, size: int, binary: bool = False) -> str | bytes:
    """One lab message of exactly ``size`` bytes: ``SEQ TIME `` then padding.

    Text pads with ``x``; binary pads with :data:`BINARY_PATTERN` (all 256 byte
    values, so line breaks and invalid UTF-8 are in it).

    >>> lab_payload(7, 1764088200.5, 32)
    '0000000007 1764088200.500000 xxx'
    >>> len(lab_payload(7, 1764088200.5, 300, binary=True))
    300
    """
    head = f"{seq:010d} {t:017.6f} "
    pad = size - HEADER_SIZE
    if binary:
        reps = pad // len(BINARY_PATTERN) + 1
        return head.encode("ascii") + (BINARY_PATTERN * reps)[:pad]
    return head + "x" * pad


def parse_header(data: str | bytes) -> tuple[int, float] | None:
    """The (sequence number, send time) of a lab message; None for anything else.

    >>> parse_header('0000000007 1764088200.500000 xxx')
    (7, 1764088200.5)
    >>> parse_header('{"done": true}') is None
    True
    """
    if len(data) < HEADER_SIZE:
        return None
    try:
        return int(data[:10]), float(data[11:28])
    except ValueError:
        return None


def binary_intact(data: str | bytes, size: int) -> bool:
    """True when ``data`` is the binary lab message of ``size`` bytes, byte for byte."""
    if not isinstance(data, bytes) or len(data) != size:
        return False
    return data[HEADER_SIZE:] == lab_payload(0, 0.0, size, binary=True)[HEADER_SIZE:]


# --- the query ------------------------------------------------------------------------


def _number(query: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"query {name}={raw!r} is not a number") from None
    if value != value:  # NaN
        raise ValueError(f"query {name} must be a number")
    return min(hi, max(lo, value))


def _text(value: float) -> str:
    """A number as the shortest text that reads back as the same number."""
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    return text.removesuffix(".0")


@dataclass(frozen=True)
class LabPlan:
    """What one lab stream sends: the endpoint's query, parsed and bounded.

    Attributes:
        count: messages to stream (0-:data:`MAX_COUNT`).
        rate: messages per second, 0 for as fast as the transport drains.
        seconds: stop after this long whatever ``count`` says, 0 for no limit.
        size: payload bytes per message (:data:`PAYLOAD_LIMITS`).
        binary: binary messages instead of text.
        cut: abort the connection after this many messages, once per ``session``.
        session: names the client across reconnects (up to 64 characters).
        ids: SSE only: event ids, and resuming after ``Last-Event-ID``.
    """

    count: int = 100
    rate: float = 100.0
    seconds: float = 0.0
    size: int = 64
    binary: bool = False
    cut: int = 0
    session: str = ""
    ids: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LabPlan:
        """Read a query; numbers out of range are clamped, unknown names ignored.

        >>> plan = LabPlan.from_query({"count": "5", "size": "1", "binary": "yes"})
        >>> plan.count, plan.size, plan.binary
        (5, 32, True)

        Raises:
            ValueError: for a value that is not a number, naming the parameter.
        """
        return cls(
            count=int(_number(query, "count", 100, 0, MAX_COUNT)),
            rate=_number(query, "rate", 100.0, 0.0, MAX_RATE),
            seconds=_number(query, "seconds", 0.0, 0.0, MAX_SECONDS),
            size=int(_number(query, "size", 64, *PAYLOAD_LIMITS)),
            binary=query.get("binary", "0") in _TRUE,
            cut=int(_number(query, "cut", 0, 0, MAX_COUNT)),
            session=query.get("session", "")[:64],
            ids=query.get("ids", "0") in _TRUE,
        )

    def to_query(self) -> dict[str, str]:
        """The query that asks for this plan: every value that is not the default."""
        default = LabPlan()
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value == getattr(default, f.name):
                continue
            if isinstance(value, bool):
                out[f.name] = "1" if value else "0"
            elif isinstance(value, str):
                out[f.name] = value
            else:
                out[f.name] = _text(value)
        return out


# --- the end-of-stream summary --------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


@dataclass(frozen=True)
class Summary:
    """What the server counted for one stream, sent as its last message.

    Attributes:
        first: sequence number of the first message sent (after a resume, not 0).
        sent: messages sent.
        size: payload bytes per message.
        binary: binary messages were sent.
        transport: what carried them, as the server saw it (``"TCP"``,
            ``"HTTP/1.1 over TCP"``, ``"UDP (ICE host pair)"``).
        wire_bytes: bytes the server's socket (ws, sse: Linux TCP counters) or
            DTLS transport (WebRTC) carried for the ``sent`` messages; None
            where they cannot be counted.
        handshake_bytes: bytes exchanged to open the stream, None where not counted.
        last_event_id: SSE: the ``Last-Event-ID`` the client resumed after.
        ordered: WebRTC: the channel is ordered.
        max_retransmits: WebRTC: the channel's retransmit limit (None: reliable).
    """

    first: int
    sent: int
    size: int
    binary: bool
    transport: str = ""
    wire_bytes: int | None = None
    handshake_bytes: int | None = None
    last_event_id: str | None = None
    ordered: bool | None = None
    max_retransmits: int | None = None

    def encode(self) -> str:
        """The JSON text the server sends: ``{"done": true, "first": ..., ...}``.

        >>> Summary(0, 3, 40, False).encode()[:45]
        '{"done":true,"first":0,"sent":3,"size":40,"bi'
        """
        return dumps({"done": True, **asdict(self)})

    @classmethod
    def decode(cls, data: str | bytes) -> Summary | None:
        """The summary in a received message; None for any other message.

        Lenient with what a server of another version may send: unknown keys
        are ignored, a missing or mistyped count reads as 0 or None.

        >>> Summary.decode('{"done": true, "sent": 3, "transport": "TCP"}')
        Summary(first=0, sent=3, size=0, binary=False, transport='TCP', ...)
        >>> Summary.decode('0000000007 1764088200.500000 xxx') is None
        True
        """
        if not isinstance(data, str) or not data.startswith("{"):
            return None
        try:
            obj = loads(data)
        except ValueError:
            return None
        if not isinstance(obj, dict) or not obj.get("done"):
            return None
        last = obj.get("last_event_id")
        ordered = obj.get("ordered")
        return cls(
            first=_int_or_none(obj.get("first")) or 0,
            sent=_int_or_none(obj.get("sent")) or 0,
            size=_int_or_none(obj.get("size")) or 0,
            binary=obj.get("binary") is True,
            transport=str(obj.get("transport") or ""),
            wire_bytes=_int_or_none(obj.get("wire_bytes")),
            handshake_bytes=_int_or_none(obj.get("handshake_bytes")),
            last_event_id=None if last is None else str(last),
            ordered=ordered if isinstance(ordered, bool) else None,
            max_retransmits=_int_or_none(obj.get("max_retransmits")),
        )
