"""The protocol lab's numbers: one protocol's measurements and the statistics drawn from them.

Pure: percentiles, throughput and per-message overhead, and
:class:`ProtocolResult`, the raw measurements of one row of a comparison with
its derived figures.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    >>> overhead_per_message(wire_bytes=660, messages=10, payload_size=64)
    2.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "LABELS",
    "LatencySummary",
    "ProtocolResult",
    "format_ms",
    "format_number",
    "latency_summary",
    "overhead_per_message",
    "percentile",
    "throughput",
]

#: Display names of the rows a comparison can have.
LABELS: dict[str, str] = {
    "ws": "WebSocket",
    "sse": "SSE",
    "webrtc": "WebRTC",
    "webrtc-unordered": "WebRTC unordered",
}


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolating linearly between ranks.

    The same definition as ``numpy.percentile``'s default.

    >>> percentile([5.0], 99)
    5.0
    >>> percentile([1.0, 2.0, 3.0], 100)
    3.0

    Raises:
        ValueError: for no values or ``q`` outside 0-100.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0-100, not {q}")
    data = sorted(values)
    pos = (len(data) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


@dataclass(frozen=True)
class LatencySummary:
    """One-way latency figures in milliseconds."""

    n: int
    min: float
    p50: float
    p95: float
    p99: float
    max: float
    mean: float

    @property
    def ordered(self) -> bool:
        """True when min <= p50 <= p95 <= p99 <= max, as percentiles must be."""
        return self.min <= self.p50 <= self.p95 <= self.p99 <= self.max


def latency_summary(samples_ms: Sequence[float]) -> LatencySummary | None:
    """Percentiles of latency samples (ms); None when there are none.

    >>> latency_summary([1.0, 2.0, 3.0, 4.0, 5.0]).p50
    3.0
    """
    if not samples_ms:
        return None
    data = sorted(samples_ms)
    return LatencySummary(
        n=len(data),
        min=data[0],
        p50=percentile(data, 50),
        p95=percentile(data, 95),
        p99=percentile(data, 99),
        max=data[-1],
        mean=math.fsum(data) / len(data),
    )


def throughput(
    messages: int, seconds: float, payload_size: int
) -> tuple[float, float] | tuple[None, None]:
    """Messages per second and payload megabytes (10^6 bytes) per second.

    >>> throughput(1000, 0.5, 1000)
    (2000.0, 2.0)
    >>> throughput(1, 0.0, 64)
    (None, None)
    """
    if messages <= 0 or seconds <= 0:
        return (None, None)
    rate = messages / seconds
    return (rate, rate * payload_size / 1e6)


def overhead_per_message(wire_bytes: int, messages: int, payload_size: int) -> float | None:
    """Bytes carried per message beyond its payload; None when nothing was counted.

    >>> overhead_per_message(1500, 10, 100)
    50.0
    """
    if messages <= 0 or wire_bytes < 0:
        return None
    return wire_bytes / messages - payload_size


def format_ms(value: float | None) -> str:
    """A time in ms with the digits that matter: ``"0.42"``, ``"12.3"``, ``"250"``, ``"-"``.

    >>> format_ms(0.4213), format_ms(12.34), format_ms(250.4), format_ms(None)
    ('0.42', '12.3', '250', '-')
    """
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def format_number(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, ``"-"`` for None.

    >>> format_number(12345.678), format_number(2.5, 2), format_number(None)
    ('12,346', '2.50', '-')
    """
    return "-" if value is None else f"{value:,.{digits}f}"


@dataclass
class ProtocolResult:
    """Everything measured for one protocol (one row of the comparison).

    Times are in milliseconds; byte counts are what the server's socket or
    DTLS transport carried (application-layer bytes: the TCP/IP or UDP/IP
    headers below them are not counted).

    Attributes:
        protocol: ``"ws"``, ``"sse"``, ``"webrtc"`` or ``"webrtc-unordered"``.
        transport: what carried it, as observed (``"TCP"``, ``"HTTP/1.1 over TCP"``,
            ``"UDP (ICE host pair)"``).
        connect_ms: connect-to-open times, one per connection made.
        latency_ms: one-way delays (server send to client receive) at the paced rate.
        rate: the paced rate asked for (messages/s).
        paced_sent / paced_received: messages of the paced phase.
        flood_sent / flood_received / flood_seconds: the as-fast-as-possible
            phase; seconds from its first to its last received message.
        wire_bytes / wire_messages: bytes the server's transport sent for
            ``wire_messages`` messages of ``payload_size`` bytes.
        handshake_bytes: bytes exchanged to open (HTTP upgrade, SSE request and
            response headers, or WebRTC signaling plus ICE/DTLS/SCTP set-up).
        binary: ``"intact"``, ``"altered"`` (arrived changed) or ``"failed"``.
        client_send: ``"echoed"`` (a client-to-server send came back),
            ``"refused"`` or ``"failed"``.
        reconnect: what the client did after the server cut the connection.
        reconnect_ms: cut to open again, when it reopened.
        resumed: True when the stream went on where it stopped (no gap, no
            repeat), False when it restarted, None when unknown.
        errors: what went wrong while measuring, one line each.
    """

    protocol: str
    transport: str = ""
    payload_size: int = 0
    rate: float = 0.0
    connect_ms: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    paced_sent: int = 0
    paced_received: int = 0
    flood_sent: int = 0
    flood_received: int = 0
    flood_seconds: float = 0.0
    wire_bytes: int | None = None
    wire_messages: int = 0
    handshake_bytes: int | None = None
    binary: str = "failed"
    binary_detail: str = ""
    client_send: str = "failed"
    send_detail: str = ""
    reconnect: str = ""
    reconnect_ms: float | None = None
    resumed: bool | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """The display name (``"WebSocket"``, ...)."""
        return LABELS.get(self.protocol, self.protocol)

    @property
    def family(self) -> str:
        """The article's column this row belongs to: ``ws``, ``sse`` or ``webrtc``."""
        return "webrtc" if self.protocol.startswith("webrtc") else self.protocol

    @property
    def latency(self) -> LatencySummary | None:
        """Percentiles of :attr:`latency_ms`."""
        return latency_summary(self.latency_ms)

    @property
    def connect(self) -> float | None:
        """The median connect time in ms."""
        return percentile(self.connect_ms, 50) if self.connect_ms else None

    @property
    def msgs_per_s(self) -> float | None:
        """Sustained throughput of the flood phase, messages per second."""
        return throughput(self.flood_received, self.flood_seconds, self.payload_size)[0]

    @property
    def mb_per_s(self) -> float | None:
        """Sustained throughput of the flood phase, payload MB (10^6 B) per second."""
        return throughput(self.flood_received, self.flood_seconds, self.payload_size)[1]

    @property
    def overhead(self) -> float | None:
        """Measured bytes per message beyond the payload."""
        if self.wire_bytes is None:
            return None
        return overhead_per_message(self.wire_bytes, self.wire_messages, self.payload_size)

    @property
    def delivered_all(self) -> bool:
        """True when every message of the paced phase arrived."""
        return self.paced_sent > 0 and self.paced_received == self.paced_sent

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the raw measurements plus the derived figures."""
        d = asdict(self)
        lat = self.latency
        d["derived"] = {
            "label": self.label,
            "connect_ms": self.connect,
            "latency": asdict(lat) if lat is not None else None,
            "msgs_per_s": self.msgs_per_s,
            "mb_per_s": self.mb_per_s,
            "overhead_bytes": self.overhead,
        }
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProtocolResult:
        """Rebuild from :meth:`to_dict` output (derived figures are recomputed)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})
