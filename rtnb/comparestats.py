"""The protocol lab's numbers: percentiles, throughput, overhead, the article's claims, verdicts.

Pure logic, no I/O: :mod:`rtnb.compare` measures, this module summarises and
judges. The article's comparison table is kept here as data (:data:`CLAIMS`)
and each claim gets a verdict from what was measured: ``confirmed``,
``differs`` (with the measured figure) or ``not measured`` (what a loopback
lab cannot show).

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    >>> overhead_per_message(wire_bytes=660, messages=10, payload_size=64)
    2.0
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

__all__ = [
    "BINARY_PATTERN",
    "CLAIMS",
    "HEADER_SIZE",
    "LABELS",
    "LOW_LATENCY_MS",
    "PAYLOAD_LIMITS",
    "WS_FRAMING",
    "Claim",
    "LatencySummary",
    "ProtocolResult",
    "Verdict",
    "binary_intact",
    "judge",
    "lab_payload",
    "latency_summary",
    "overhead_per_message",
    "parse_header",
    "percentile",
    "render_html",
    "render_text",
    "throughput",
    "verdict",
]

Status = Literal["confirmed", "differs", "not measured"]

#: Display names of the rows a comparison can have.
LABELS: dict[str, str] = {
    "ws": "WebSocket",
    "sse": "SSE",
    "webrtc": "WebRTC",
    "webrtc-unordered": "WebRTC unordered",
}

#: The lab's messages start with ``SEQ TIME `` in ASCII: 10 digits, a space,
#: ``time.time()`` as 17 characters, a space. The rest is padding.
HEADER_SIZE = 29

#: What "low latency" means here: a median one-way delay under this many ms.
LOW_LATENCY_MS = 10.0

#: RFC 6455 section 5.2: a frame header is 2 bytes, plus 2 or 8 for a longer
#: length, plus 4 for the client's mask, so 2 to 14 bytes per frame.
WS_FRAMING = (2, 14)


# --- statistics -----------------------------------------------------------------------


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


# --- one protocol's measurements ------------------------------------------------------


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


# --- the article's claims -------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One cell of the article's comparison table, in our words, and how to check it.

    Attributes:
        feature: the table row (``"Direction"``, ``"Latency"``, ...).
        family: the column: ``"ws"``, ``"sse"`` or ``"webrtc"``.
        says: what the article states.
        rule: the check :func:`verdict` applies.
    """

    feature: str
    family: str
    says: str
    rule: str


CLAIMS: tuple[Claim, ...] = (
    Claim("Direction", "ws", "both ways", "two-way"),
    Claim("Direction", "sse", "server to client only", "one-way"),
    Claim("Direction", "webrtc", "both ways, peer to peer", "two-way"),
    Claim("Transport", "ws", "TCP", "transport:tcp"),
    Claim("Transport", "sse", "HTTP", "transport:http"),
    Claim("Transport", "webrtc", "UDP or TCP, picked by ICE", "transport:udp|tcp"),
    Claim("Latency", "ws", "low", "low"),
    Claim("Latency", "sse", "low", "low"),
    Claim("Latency", "webrtc", "lowest of the three", "lowest"),
    Claim("Overhead", "ws", "2-14 bytes of framing a message", "framing"),
    Claim("Overhead", "sse", "the usual HTTP headers", "headers"),
    Claim("Overhead", "webrtc", "STUN/TURN signaling", "signaling"),
    Claim("Binary data", "ws", "supported", "binary"),
    Claim("Binary data", "sse", "no, text only", "text-only"),
    Claim("Binary data", "webrtc", "supported", "binary"),
    Claim("Firewall/NAT", "ws", "generally fine", "network"),
    Claim("Firewall/NAT", "sse", "excellent, it is plain HTTP", "network"),
    Claim("Firewall/NAT", "webrtc", "complex, may need TURN", "network"),
)


@dataclass(frozen=True)
class Verdict:
    """What the measurement says about one claim."""

    claim: Claim
    status: Status
    measured: str

    def to_dict(self) -> dict[str, str]:
        """A flat JSON-safe dict."""
        return {
            "feature": self.claim.feature,
            "protocol": self.claim.family,
            "article": self.claim.says,
            "measured": self.measured,
            "verdict": self.status,
        }


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def verdict(claim: Claim, results: Sequence[ProtocolResult]) -> Verdict:
    """Judge ``claim`` against the measured rows of its protocol family.

    A family with no measured row gives ``not measured``. For WebRTC the
    ordered, reliable row is the reference (the unordered one is shown beside it).
    """
    rows = [r for r in results if r.family == claim.family]
    if not rows:
        return Verdict(claim, "not measured", "protocol not run")
    r = next((x for x in rows if x.protocol == claim.family), rows[0])
    rule = claim.rule
    if rule == "two-way":
        ok = r.client_send == "echoed" and r.paced_received > 0
        return Verdict(claim, "confirmed" if ok else "differs", f"client send: {r.send_detail}")
    if rule == "one-way":
        ok = r.client_send == "refused" and r.paced_received > 0
        return Verdict(claim, "confirmed" if ok else "differs", f"client send: {r.send_detail}")
    if rule.startswith("transport:"):
        wanted = rule.partition(":")[2].split("|")
        seen = r.transport.lower()
        if not seen:
            return Verdict(claim, "not measured", "transport not observed")
        ok = any(w in seen for w in wanted)
        return Verdict(claim, "confirmed" if ok else "differs", r.transport)
    if rule == "low":
        lat = r.latency
        if lat is None:
            return Verdict(claim, "not measured", "no latency samples")
        ok = lat.p50 < LOW_LATENCY_MS
        return Verdict(
            claim,
            "confirmed" if ok else "differs",
            f"p50 {_ms(lat.p50)} ms, p99 {_ms(lat.p99)} ms (low: p50 < {LOW_LATENCY_MS:g} ms)",
        )
    if rule == "lowest":
        return _lowest(claim, rows, results)
    if rule == "framing":
        ov = r.overhead
        if ov is None:
            return Verdict(claim, "not measured", "wire bytes not counted on this platform")
        lo, hi = WS_FRAMING
        ok = lo <= ov <= hi
        return Verdict(claim, "confirmed" if ok else "differs", f"{ov:.1f} B per message")
    if rule in ("headers", "signaling"):
        ov = r.overhead
        once = "-" if r.handshake_bytes is None else f"{r.handshake_bytes:,} B"
        what = "headers" if rule == "headers" else "signaling + ICE/DTLS/SCTP set-up"
        if ov is None:
            return Verdict(claim, "not measured", f"{what} {once} once; per message not counted")
        # The article sets this against WebSocket's per-message framing: the claim
        # holds when the cost is per connection only, i.e. a message carries less
        # than the smallest WebSocket frame header on top of its payload.
        ok = ov < WS_FRAMING[0]
        return Verdict(
            claim,
            "confirmed" if ok else "differs",
            f"{what} {once} once, then {ov:.1f} B per message",
        )
    if rule == "binary":
        ok = r.binary == "intact"
        return Verdict(claim, "confirmed" if ok else "differs", r.binary_detail or r.binary)
    if rule == "text-only":
        ok = r.binary != "intact"
        return Verdict(claim, "confirmed" if ok else "differs", r.binary_detail or r.binary)
    if rule == "network":
        return Verdict(
            claim,
            "not measured",
            "loopback has no firewall or NAT" + (f"; {r.transport}" if r.transport else ""),
        )
    raise ValueError(f"unknown claim rule {rule!r}")


def _lowest(
    claim: Claim, rows: Sequence[ProtocolResult], results: Sequence[ProtocolResult]
) -> Verdict:
    mine = [(r.latency.p50, r.label) for r in rows if r.latency is not None]
    others = [
        (r.latency.p50, r.label)
        for r in results
        if r.family != claim.family and r.latency is not None
    ]
    if not mine:
        return Verdict(claim, "not measured", "no latency samples")
    best, best_label = min(mine)
    text = f"p50 {_ms(best)} ms ({best_label})"
    if not others:
        return Verdict(claim, "not measured", text + "; nothing to compare with")
    rival, rival_label = min(others)
    text += f" vs {_ms(rival)} ms ({rival_label})"
    return Verdict(claim, "confirmed" if best < rival else "differs", text)


def judge(results: Sequence[ProtocolResult], claims: Iterable[Claim] = CLAIMS) -> list[Verdict]:
    """A verdict for each claim whose protocol was measured.

    >>> judge([])
    []
    """
    families = {r.family for r in results}
    return [verdict(c, results) for c in claims if c.family in families]


# --- rendering ------------------------------------------------------------------------


def _latency_cell(r: ProtocolResult) -> str:
    lat = r.latency
    if lat is None:
        return "-"
    return f"{_ms(lat.p50)} / {_ms(lat.p95)} / {_ms(lat.p99)}"


def _binary_cell(r: ProtocolResult) -> str:
    return {"intact": "yes, intact", "altered": "no (altered)"}.get(r.binary, r.binary)


def _send_cell(r: ProtocolResult) -> str:
    return {"echoed": "yes (echoed)", "refused": "refused"}.get(r.client_send, r.client_send)


def metric_rows(results: Sequence[ProtocolResult]) -> list[tuple[str, list[str]]]:
    """The metrics table: (metric name, one cell per protocol)."""

    def row(name: str, fn: Any) -> tuple[str, list[str]]:
        return (name, [fn(r) for r in results])

    return [
        row("transport", lambda r: r.transport or "-"),
        row("connect, median ms", lambda r: _ms(r.connect)),
        row("latency p50/p95/p99 ms", _latency_cell),
        row("delivered (paced)", lambda r: f"{r.paced_received}/{r.paced_sent}"),
        row("throughput msg/s", lambda r: _num(r.msgs_per_s)),
        row("throughput MB/s", lambda r: _num(r.mb_per_s, 2)),
        row(
            "flood delivered",
            lambda r: f"{r.flood_received}/{r.flood_sent}" if r.flood_sent else "-",
        ),
        row("overhead B/msg", lambda r: "-" if r.overhead is None else f"{r.overhead:.1f}"),
        row("handshake bytes", lambda r: _num(r.handshake_bytes)),
        row("binary", _binary_cell),
        row("client to server", _send_cell),
        row("after a cut", lambda r: r.reconnect.split(":")[0] if r.reconnect else "-"),
    ]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render_text(
    results: Sequence[ProtocolResult], verdicts: Sequence[Verdict], title: str = ""
) -> str:
    """The comparison for a terminal: metrics, the claims with verdicts, notes."""
    out = [title] if title else []
    if results:
        header = ["", *(r.label for r in results)]
        out.append(_table(header, [[name, *cells] for name, cells in metric_rows(results)]))
    if verdicts:
        out.append("")
        out.append(
            _table(
                ["feature", "protocol", "article", "verdict", "measured"],
                [
                    [
                        v.claim.feature,
                        LABELS[v.claim.family],
                        v.claim.says,
                        v.status,
                        v.measured,
                    ]
                    for v in verdicts
                ],
            )
        )
    notes = _notes(results)
    if notes:
        out.append("")
        out.extend(notes)
    return "\n".join(out)


def _notes(results: Sequence[ProtocolResult]) -> list[str]:
    notes = []
    for r in results:
        if r.reconnect:
            notes.append(f"{r.label} after a server cut: {r.reconnect}")
    for r in results:
        for err in r.errors:
            notes.append(f"{r.label} error: {err}")
    return notes


_STATUS_STYLE = {
    "confirmed": "color:#1a7f37;font-weight:bold",
    "differs": "color:#bc4c00;font-weight:bold",
    "not measured": "color:#6e7781",
}


def render_html(
    results: Sequence[ProtocolResult],
    verdicts: Sequence[Verdict],
    title: str = "",
    image_png_base64: str | None = None,
) -> str:
    """The comparison as HTML: metrics, claims with verdicts, notes, an optional plot."""
    esc = html.escape
    parts = ["<div class='rtnb-compare'>"]
    if title:
        parts.append(f"<p><b>{esc(title)}</b></p>")
    if results:
        head = "".join(f"<th>{esc(r.label)}</th>" for r in results)
        body = "".join(
            f"<tr><th style='text-align:left'>{esc(name)}</th>"
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "</tr>"
            for name, cells in metric_rows(results)
        )
        parts.append(f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>")
    if verdicts:
        rows = "".join(
            "<tr>"
            f"<td>{esc(v.claim.feature)}</td><td>{esc(LABELS[v.claim.family])}</td>"
            f"<td>{esc(v.claim.says)}</td>"
            f"<td style='{_STATUS_STYLE[v.status]}'>{esc(v.status)}</td>"
            f"<td style='text-align:left'>{esc(v.measured)}</td>"
            "</tr>"
            for v in verdicts
        )
        parts.append(
            "<table><thead><tr><th>feature</th><th>protocol</th><th>the article says</th>"
            f"<th>verdict</th><th>measured</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    notes = _notes(results)
    if notes:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in notes) + "</ul>")
    if image_png_base64:
        parts.append(
            f"<img alt='latency distributions' src='data:image/png;base64,{image_png_base64}'/>"
        )
    parts.append("</div>")
    return "".join(parts)


# --- the lab's messages ---------------------------------------------------------------

#: The bytes after the header of a binary lab message: every byte value, in order.
BINARY_PATTERN = bytes(range(256))

#: Smallest and largest payload the lab sends (65,536 is the largest message
#: every WebRTC stack accepts).
PAYLOAD_LIMITS = (HEADER_SIZE + 3, 65_536)


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
