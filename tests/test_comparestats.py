"""The protocol lab's pure parts: statistics, lab messages, claims and verdicts, rendering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.comparestats import (
    CLAIMS,
    HEADER_SIZE,
    LABELS,
    ProtocolResult,
    binary_intact,
    judge,
    lab_payload,
    latency_summary,
    overhead_per_message,
    parse_header,
    percentile,
    render_html,
    render_text,
    throughput,
    verdict,
)

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=200), st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


@given(st.lists(finite, min_size=1, max_size=200))
def test_latency_summary_is_ordered(values: list[float]) -> None:
    s = latency_summary(values)
    assert s is not None and s.ordered and s.n == len(values)


def test_percentile_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="0-100"):
        percentile([1.0], 101)
    assert latency_summary([]) is None


def test_throughput_and_overhead() -> None:
    assert throughput(2000, 0.5, 500) == (4000.0, 2.0)
    assert throughput(0, 1.0, 64) == (None, None)
    assert overhead_per_message(66 * 10, 10, 64) == 2.0
    assert overhead_per_message(0, 0, 64) is None


@given(
    st.integers(min_value=0, max_value=10**10 - 1),
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.integers(min_value=HEADER_SIZE + 3, max_value=5000),
    st.booleans(),
)
def test_lab_payload_has_its_size_and_parses_back(
    seq: int, t: float, size: int, binary: bool
) -> None:
    data = lab_payload(seq, t, size, binary)
    assert len(data) == size
    assert isinstance(data, bytes) is binary
    got = parse_header(data)
    assert got is not None
    assert got[0] == seq and got[1] == pytest.approx(t, abs=1e-6)


def test_binary_payload_carries_every_byte_value_and_is_checked() -> None:
    data = lab_payload(3, 1.5, HEADER_SIZE + 256, binary=True)
    assert isinstance(data, bytes)
    assert set(data[HEADER_SIZE:]) == set(range(256))
    assert binary_intact(data, len(data))
    assert not binary_intact(data.decode("utf-8", "replace"), len(data))
    assert not binary_intact(data[:-1] + b"?", len(data))
    assert parse_header('{"done": true}') is None
    assert parse_header(bytes(range(256))) is None


def _row(protocol: str, **kw: object) -> ProtocolResult:
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
    ws = _row("ws", wire_bytes=66 * 10, wire_messages=10)
    sse = _row(
        "sse",
        client_send="refused",
        binary="altered",
        transport="HTTP/1.1 over TCP",
        wire_bytes=78 * 10,
        wire_messages=10,
        handshake_bytes=400,
        latency_ms=[0.5, 0.6],
    )
    rtc = _row("webrtc", transport="UDP (ICE host pair)", latency_ms=[0.1, 0.1])
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
    ws = _row("ws", client_send="failed", wire_bytes=100 * 10, wire_messages=10, binary="altered")
    sse = _row("sse", client_send="echoed", binary="intact", latency_ms=[50.0])
    rtc = _row("webrtc", latency_ms=[5.0], transport="TCP")
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
    rows = [_row("ws", latency_ms=[1.0]), _row("webrtc-unordered", latency_ms=[0.5])]
    v = verdict(next(c for c in CLAIMS if c.rule == "lowest"), rows)
    assert v.status == "confirmed" and "WebRTC unordered" in v.measured
    assert {c.family for c in CLAIMS} == {"ws", "sse", "webrtc"}
    assert judge([]) == [] and len(judge(rows)) == 12


def test_rendering_shows_rows_claims_and_notes() -> None:
    rows = [
        _row("ws", reconnect="restarted: after 300 ms", errors=["flood: slow"]),
        _row("sse", transport="HTTP/1.1 over TCP", client_send="refused"),
    ]
    text = render_text(rows, judge(rows), "title line")
    assert text.startswith("title line")
    assert "WebSocket" in text and "SSE" in text and "confirmed" in text
    assert "WebSocket after a server cut: restarted" in text
    assert "WebSocket error: flood: slow" in text
    page = render_html([_row("ws", transport="<b>")], [], "t", "QUJD")
    assert "&lt;b&gt;" in page and "data:image/png;base64,QUJD" in page


def test_results_survive_a_dict_round_trip() -> None:
    r = _row("webrtc-unordered", connect_ms=[30.0, 40.0], flood_received=5, flood_seconds=0.5)
    back = ProtocolResult.from_dict(r.to_dict())
    assert back == r
    assert back.label == LABELS["webrtc-unordered"] and back.family == "webrtc"
    assert r.to_dict()["derived"]["msgs_per_s"] == 10.0
    assert back.connect == 35.0


def test_docstring_examples() -> None:
    import doctest

    import rtnb.comparestats

    result = doctest.testmod(rtnb.comparestats, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0


def test_the_module_stays_pure() -> None:
    import ast
    from pathlib import Path

    import rtnb.comparestats

    tree = ast.parse(Path(rtnb.comparestats.__file__).read_text())
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not imported & {"asyncio", "socket", "aiohttp", "IPython", "matplotlib", "pandas"}
