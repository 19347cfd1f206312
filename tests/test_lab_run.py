"""rtnb.compare (rtnb.lab.run) against the real in-kernel server: structure and physics, not speed.

The WebRTC test runs in the loopback-only namespace (scripts/test-netns).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import rtnb
from rtnb.lab import Comparison
from rtnb.lab.claims import WS_FRAMING
from rtnb.lab.run import acompare, compare
from rtnb.server import Server

from .conftest import require_netns


@pytest.fixture(scope="module")
def ws_sse(server: Server) -> Comparison:
    """One short comparison of WebSocket and SSE, shared by the tests below."""
    return compare(duration=2, rate=100, payload_size=64, protocols=("ws", "sse"), server=server)


def test_every_message_sent_at_the_paced_rate_arrives(ws_sse: Comparison) -> None:
    assert [r.protocol for r in ws_sse.results] == ["ws", "sse"]
    for r in ws_sse.results:
        assert not r.errors, r.errors
        assert r.paced_sent == 100 and r.delivered_all
        assert r.flood_sent > 0 and r.flood_received == r.flood_sent  # TCP loses nothing
        assert r.msgs_per_s is not None and r.msgs_per_s > 0
        assert len(r.connect_ms) == 4 and all(ms > 0 for ms in r.connect_ms)


def test_latency_percentiles_are_ordered_and_positive(ws_sse: Comparison) -> None:
    for r in ws_sse.results:
        lat = r.latency
        assert lat is not None and lat.n == 100
        assert lat.ordered and lat.min > 0


def test_websocket_framing_is_measured_within_rfc_6455(ws_sse: Comparison) -> None:
    ws = ws_sse["ws"]
    assert ws.wire_bytes is not None and ws.wire_messages == 100
    lo, hi = WS_FRAMING
    assert ws.overhead is not None and lo <= ws.overhead <= hi
    assert ws.transport == "TCP" and ws.handshake_bytes and ws.handshake_bytes > 100


def test_a_longer_payload_needs_the_16_bit_length_field(server: Server) -> None:
    # RFC 6455 5.2: 126-65535 byte payloads add 2 bytes of extended length.
    ws = compare(duration=0.4, rate=50, payload_size=300, protocols="ws", server=server)["ws"]
    assert ws.overhead is not None and ws.overhead == pytest.approx(4.0, abs=0.5)


def test_sse_refuses_to_send_and_cannot_carry_bytes(ws_sse: Comparison) -> None:
    ws, sse = ws_sse["ws"], ws_sse["sse"]
    assert sse.client_send == "refused" and "one-way" in sse.send_detail
    assert sse.binary == "altered" and "text" in sse.binary_detail
    assert ws.client_send == "echoed" and ws.binary == "intact"
    assert sse.transport.startswith("HTTP/1.1")
    assert sse.overhead is not None and sse.overhead > 0  # data: lines and chunk sizes


def test_a_cut_is_followed_by_a_reconnect(ws_sse: Comparison) -> None:
    ws, sse = ws_sse["ws"], ws_sse["sse"]
    assert sse.resumed is True and "Last-Event-ID 19" in sse.reconnect
    assert ws.resumed is False and "began again at 0" in ws.reconnect
    assert ws.reconnect_ms is not None and sse.reconnect_ms is not None


def test_each_claim_gets_a_verdict(ws_sse: Comparison) -> None:
    verdicts = {(v.claim.feature, v.claim.family): v for v in ws_sse.verdicts}
    assert len(verdicts) == 12
    for key in [("Direction", "ws"), ("Direction", "sse"), ("Binary data", "sse")]:
        assert verdicts[key].status == "confirmed", verdicts[key]
    assert verdicts[("Overhead", "ws")].status == "confirmed"
    assert verdicts[("Firewall/NAT", "sse")].status == "not measured"


def test_the_result_renders_and_exports(ws_sse: Comparison, tmp_path: Path) -> None:
    text = str(ws_sse)
    assert "latency p50/p95/p99 ms" in text and "2-14 bytes of framing" in text
    page = ws_sse._repr_html_()
    assert page.count("<table>") == 2 and "data:image/png;base64," in page
    fig = ws_sse.plot()
    assert len(fig.axes) == 2 and fig.canvas.__class__.__name__ == "FigureCanvasAgg"
    assert fig._repr_png_().startswith(b"\x89PNG")  # shows in any front-end, no pyplot
    df = ws_sse.to_pandas()
    assert list(df.index) == ["ws", "sse"] and df.loc["ws", "paced_received"] == 100
    assert len(ws_sse.to_pandas("latency")) == 200
    assert set(ws_sse.to_pandas("claims")["verdict"]) <= {"confirmed", "differs", "not measured"}
    path = ws_sse.to_json(tmp_path / "cmp.json")
    saved = json.loads(path.read_text())
    assert saved["machine"]["cpus"] and len(saved["results"][0]["latency_ms"]) == 100
    back = Comparison.from_json(path)
    assert back.results == ws_sse.results and str(back) == text


def test_bad_arguments_get_one_clear_line() -> None:
    with pytest.raises(ValueError, match="unknown protocol 'quic'"):
        compare(protocols=["quic"])
    with pytest.raises(ValueError, match="duration"):
        compare(duration=0)
    with pytest.raises(ValueError, match="payload_size"):
        compare(payload_size=10)
    with pytest.raises(ValueError, match="server must be"):
        compare(duration=1, protocols="ws", server="ftp://x")


def test_rtnb_compare_is_a_plain_function_with_an_async_twin() -> None:
    import importlib.util
    import inspect
    import subprocess
    import sys

    assert inspect.isfunction(rtnb.compare) and rtnb.compare is compare
    assert inspect.iscoroutinefunction(rtnb.acompare) and rtnb.acompare is acompare
    assert inspect.signature(acompare).parameters == inspect.signature(compare).parameters
    # No module of that name exists to shadow the function once imported.
    assert importlib.util.find_spec("rtnb.compare") is None
    code = (
        "import inspect, rtnb, rtnb.lab, rtnb.lab.run; "
        "print(inspect.isfunction(rtnb.compare), rtnb.acompare.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["True", "acompare"], out.stderr


def test_acompare_runs_from_another_event_loop(server: Server) -> None:
    import asyncio

    result = asyncio.run(acompare(duration=0.4, rate=50, protocols="ws", server=server))
    assert isinstance(result, Comparison) and result["ws"].delivered_all
    with pytest.raises(ValueError, match="unknown protocol"):
        asyncio.run(acompare(protocols="quic"))


@pytest.mark.webrtc
def test_webrtc_reliable_and_unreliable(server: Server) -> None:
    require_netns()
    result = compare(duration=2, rate=100, protocols="webrtc", server=server)
    rel, unrel = result["webrtc"], result["webrtc-unordered"]
    for r in (rel, unrel):
        assert r.delivered_all, r.errors  # loopback at 100 msg/s loses nothing
        assert r.latency is not None and r.latency.ordered and r.latency.min > 0
        assert r.binary == "intact" and r.client_send == "echoed"
        assert r.transport == "UDP (ICE host pair)"  # loopback: host candidates only
        # DTLS record + SCTP common and DATA chunk headers, measured on the DTLS transport
        assert r.overhead is not None and 29 <= r.overhead <= 100
        assert r.handshake_bytes is not None and r.handshake_bytes > 1000
        assert r.resumed is False and "new offer/answer" in r.reconnect
    assert rel.flood_received == rel.flood_sent > 0  # reliable: nothing lost even flat out
    assert 0 < unrel.flood_received <= unrel.flood_sent


def test_magic_prints_the_table_and_refuses_bad_use(tmp_path: Path) -> None:
    from .test_magics_terminal import ipython

    code = "\n".join(
        [
            "%load_ext rtnb",
            "r = %rt_compare ws --duration 0.4 --json lab.json",
            "print(r['ws'].paced_received, r['ws'].paced_sent)",
            "%rt_compare quic",
        ]
    )
    p = ipython(code, tmp_path)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    assert "saved to lab.json" in p.stdout and "40 40" in p.stdout
    assert "measuring WebSocket: paced stream" in p.stdout
    assert json.loads((tmp_path / "lab.json").read_text())["results"][0]["protocol"] == "ws"
    err = p.stderr.splitlines()
    assert err[0].startswith("rt_compare: unknown protocol 'quic'")
    assert err[1].startswith("usage: %rt_compare")


def test_cli_prints_the_same_table(tmp_path: Path) -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).with_name("rtnb")
    p = subprocess.run(
        [str(exe), "compare", "ws", "--duration", "0.4", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("rtnb compare: 0.4 s per protocol")
    assert "latency p50/p95/p99 ms" in p.stdout and "2-14 bytes of framing" in p.stdout
    bad = subprocess.run(
        [str(exe), "compare", "--rate", "0"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and bad.stderr.startswith("rtnb compare: rate must be")


def test_a_server_in_another_process_is_measured_by_url(tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    from .conftest import free_port

    port = free_port()
    exe = Path(sys.executable).with_name("rtnb")
    proc = subprocess.Popen(
        [str(exe), "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while "Ctrl-C" not in proc.stdout.readline() and time.monotonic() < deadline:
            pass
        result = compare(duration=0.4, rate=50, protocols="ws", server=f"http://127.0.0.1:{port}")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    ws = result["ws"]
    assert "server in another process" in result.title
    assert ws.delivered_all and ws.client_send == "echoed" and not ws.errors
    assert ws.overhead is not None and 2 <= ws.overhead <= 14
