"""rtnb.lab.claims: the article's claims and the verdicts the measurements give them."""

from __future__ import annotations

import doctest

import pytest

import rtnb.lab.claims
from rtnb.lab.claims import CLAIMS, Claim, judge, verdict
from rtnb.lab.numbers import ProtocolResult


def row(protocol: str, **kw: object) -> ProtocolResult:
    """A measured row that passes every check unless ``kw`` says otherwise."""
    base: dict[str, object] = {
        "payload_size": 64,
        "paced_sent": 10,
        "paced_received": 10,
        "latency_ms": [0.2, 0.3, 0.4],
        "client_send": "echoed",
        "send_detail": "echoed",
        "binary": "intact",
        "transport": "TCP",
    }
    base.update(kw)
    return ProtocolResult(protocol, **base)  # type: ignore[arg-type]


def _verdicts(results: list[ProtocolResult]) -> dict[tuple[str, str], str]:
    return {(v.claim.feature, v.claim.family): v.status for v in judge(results)}


def test_verdicts_follow_the_measurements() -> None:
    ws = row("ws", wire_bytes=66 * 10, wire_messages=10)
    sse = row(
        "sse",
        client_send="refused",
        binary="altered",
        transport="HTTP/1.1 over TCP",
        wire_bytes=78 * 10,
        wire_messages=10,
        handshake_bytes=400,
        latency_ms=[0.5, 0.6],
    )
    rtc = row("webrtc", transport="UDP (ICE host pair)", latency_ms=[0.1, 0.1])
    got = _verdicts([ws, sse, rtc])
    assert got[("Direction", "ws")] == "confirmed"
    assert got[("Direction", "sse")] == "confirmed"
    assert got[("Transport", "webrtc")] == "confirmed"
    assert got[("Overhead", "ws")] == "confirmed"
    assert got[("Overhead", "sse")] == "differs"  # 14 B a message besides the headers
    assert got[("Overhead", "webrtc")] == "not measured"
    assert got[("Binary data", "sse")] == "confirmed"
    assert got[("Latency", "webrtc")] == "confirmed"
    assert got[("Firewall/NAT", "ws")] == "not measured"


def test_verdicts_can_differ() -> None:
    ws = row("ws", client_send="failed", wire_bytes=100 * 10, wire_messages=10, binary="altered")
    sse = row("sse", client_send="echoed", binary="intact", latency_ms=[50.0])
    rtc = row("webrtc", latency_ms=[5.0], transport="TCP")
    got = _verdicts([ws, sse, rtc])
    assert got[("Direction", "ws")] == "differs"
    assert got[("Direction", "sse")] == "differs"
    assert got[("Overhead", "ws")] == "differs"  # 36 B is past RFC 6455's 14
    assert got[("Binary data", "ws")] == "differs"
    assert got[("Binary data", "sse")] == "differs"
    assert got[("Latency", "sse")] == "differs"  # p50 50 ms is not low
    assert got[("Latency", "webrtc")] == "differs"  # ws was faster
    assert got[("Transport", "webrtc")] == "confirmed"  # TCP is one of ICE's choices


def test_unreliable_row_joins_the_webrtc_column() -> None:
    rows = [row("ws", latency_ms=[1.0]), row("webrtc-unordered", latency_ms=[0.5])]
    v = verdict(next(c for c in CLAIMS if c.rule == "lowest"), rows)
    assert v.status == "confirmed" and "WebRTC unordered" in v.measured
    assert {c.family for c in CLAIMS} == {"ws", "sse", "webrtc"}
    assert judge([]) == [] and len(judge(rows)) == 12


def test_what_was_not_seen_is_not_measured() -> None:
    bare = ProtocolResult("ws")
    got = {v.claim.rule: v for v in judge([bare])}
    assert got["transport:tcp"].status == "not measured"
    assert got["low"].measured == "no latency samples"
    assert got["framing"].measured == "wire bytes not counted on this platform"
    lowest = next(c for c in CLAIMS if c.rule == "lowest")
    only = verdict(lowest, [row("webrtc")])
    assert only.status == "not measured" and "nothing to compare with" in only.measured
    assert verdict(lowest, [row("ws")]).measured == "protocol not run"


def test_an_unknown_rule_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown claim rule 'magic'"):
        verdict(Claim("Speed", "ws", "fast", "magic"), [row("ws")])


def test_docstring_examples() -> None:
    result = doctest.testmod(rtnb.lab.claims, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 2 and result.failed == 0
