"""The article's comparison table as data, and a verdict on each claim from what was measured.

Pure. Each claim (:data:`CLAIMS`) gets a :class:`Verdict`: ``confirmed``,
``differs`` (with the measured figure) or ``not measured`` (what a loopback
lab cannot show).

    >>> judge([])
    []
    >>> CLAIMS[0].feature, CLAIMS[0].family, CLAIMS[0].says
    ('Direction', 'ws', 'both ways')
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .numbers import ProtocolResult, format_ms

__all__ = [
    "CLAIMS",
    "LOW_LATENCY_MS",
    "WS_FRAMING",
    "Claim",
    "Status",
    "Verdict",
    "judge",
    "verdict",
]

Status = Literal["confirmed", "differs", "not measured"]

#: What "low latency" means here: a median one-way delay under this many ms.
LOW_LATENCY_MS = 10.0

#: RFC 6455 section 5.2: a frame header is 2 bytes, plus 2 or 8 for a longer
#: length, plus 4 for the client's mask, so 2 to 14 bytes per frame.
WS_FRAMING = (2, 14)


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


def verdict(claim: Claim, results: Sequence[ProtocolResult]) -> Verdict:
    """Judge ``claim`` against the measured rows of its protocol family.

    A family with no measured row gives ``not measured``. For WebRTC the
    ordered, reliable row is the reference (the unordered one is shown beside it).

    Raises:
        ValueError: for a claim whose rule this function does not know.
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
            f"p50 {format_ms(lat.p50)} ms, p99 {format_ms(lat.p99)} ms "
            f"(low: p50 < {LOW_LATENCY_MS:g} ms)",
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
    text = f"p50 {format_ms(best)} ms ({best_label})"
    if not others:
        return Verdict(claim, "not measured", text + "; nothing to compare with")
    rival, rival_label = min(others)
    text += f" vs {format_ms(rival)} ms ({rival_label})"
    return Verdict(claim, "confirmed" if best < rival else "differs", text)


def judge(results: Sequence[ProtocolResult], claims: Iterable[Claim] = CLAIMS) -> list[Verdict]:
    """A verdict for each claim whose protocol was measured."""
    families = {r.family for r in results}
    return [verdict(c, results) for c in claims if c.family in families]
