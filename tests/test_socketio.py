"""The socketio kind: rtnb's client against rtnb's /socket.io/ and the JavaScript server,
the JavaScript client against rtnb's server, and the pure helpers."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtnb
from rtnb.errors import RPCError
from rtnb.recordfmt import decode_line
from rtnb.server import Server
from rtnb.transports.socketio import SUPPORTED, ack_error, event_data, sio_url

from .conftest import free_port, node_peer, require_node, wait_for

NODE = Path(__file__).parent / "node"


# --- pure helpers -----------------------------------------------------------------------


def test_event_data_one_argument_is_its_json_several_a_list() -> None:
    assert event_data([{"x": 1}]) == '{"x":1}'
    assert event_data(["hi"]) == '"hi"'
    assert event_data([1, "two"]) == '[1,"two"]'
    assert event_data([]) == "null"
    assert event_data([b"\x00\xff"]) == b"\x00\xff"
    assert event_data([{"b": b"\x01"}]) == '{"b":{"_binary_b64":"AQ=="}}'


def test_ack_error_only_for_a_lone_error_key() -> None:
    err = ack_error({"error": {"code": 4, "message": "no", "data": [1]}})
    assert isinstance(err, RPCError) and (err.code, err.message, err.data) == (4, "no", [1])
    assert ack_error({"error": "x"}) is not None
    assert ack_error({"error": "x", "result": 1}) is None
    assert ack_error(["error"]) is None


def test_sio_url_takes_http_and_ws_schemes() -> None:
    assert sio_url("ws://h:1/?token=t") == "http://h:1/?token=t"
    assert sio_url("https://h") == "https://h"
    with pytest.raises(ValueError, match="http:// or https://"):
        sio_url("ftp://h")


def test_unknown_option_is_refused_with_the_known_ones() -> None:
    with pytest.raises(TypeError, match="namespace"):
        rtnb.connect("socketio", "http://127.0.0.1:1", namespaces="/")


# --- against rtnb's own /socket.io/ -----------------------------------------------------


def test_call_send_and_unknown_event(server: Server) -> None:
    sio = rtnb.connect("socketio", server.socketio_url).wait_open(10)
    assert sio.call("echo", {"x": 1}, timeout=5) == {"x": 1}
    sio.send({"a": 1})  # send(x) is emit("message", x); the server sends it back
    m = sio.recv(timeout=5)
    assert (m.event, m.json) == ("message", {"a": 1})
    sio.emit("message", "plain")
    m = sio.recv(timeout=5)
    assert (m.event, m.json, m.data) == ("message", "plain", '"plain"')
    with pytest.raises(RPCError, match=r"unknown event 'nope'.*echo"):
        sio.call("nope", 1, timeout=5)
    assert sio.state == "open"  # a refused event loses nothing
    assert sio.call("echo", [1, 2], timeout=5) == [1, 2]
    out = [m for m in sio.log if m.direction == "out"]
    assert [(m.event, m.json) for m in out[:2]] == [("echo", {"x": 1}), ("message", {"a": 1})]


def test_chat_reaches_the_others_and_ticks_stream(server: Server) -> None:
    a = rtnb.connect("socketio", server.socketio_url).wait_open(10)
    b = rtnb.connect("socketio", server.socketio_url).wait_open(10)
    a.emit("chat", {"text": "hi"})
    m = b.recv(timeout=5)
    assert (m.event, m.json) == ("chat", {"text": "hi"})
    ack = a.call("subscribe", {"symbols": ["AAPL", "MSFT"], "rate": 50}, timeout=5)
    assert ack == {"subscribed": ["AAPL", "MSFT"], "rate": 50.0}
    ticks = [a.recv(timeout=5) for _ in range(4)]
    assert {t.event for t in ticks} == {"tick"}
    assert {t.json["symbol"] for t in ticks} == {"AAPL", "MSFT"}
    assert a.call("unsubscribe", {}, timeout=5) == {"subscribed": []}
    with pytest.raises(RPCError, match="symbol"):
        a.call("subscribe", {"symbols": ["no way"]}, timeout=5)
    df = a.to_pandas()
    assert {"event", "symbol"} <= set(df.columns), df.columns


def test_refused_namespace_fails_with_the_reason(server: Server) -> None:
    c = rtnb.connect("socketio", server.socketio_url, namespace="/nope")
    wait_for(lambda: c.state == "failed", 10)
    assert "refused namespace /nope" in c.describe_state()


def test_token_rules_apply_to_socketio(fresh_server: Server) -> None:
    srv = rtnb.serve(token="s3cret")
    try:
        c = rtnb.connect("socketio", srv.url)
        wait_for(lambda: c.state == "failed", 10)
        assert "HTTP 401" in c.describe_state() and "token" in c.describe_state()
        ok = rtnb.connect("socketio", srv.url, headers={"Authorization": "Bearer s3cret"})
        assert ok.call("echo", 7, timeout=10) == 7
        in_url = rtnb.connect("socketio", srv.socketio_url)  # ?token=... in the URL
        assert "token=" in srv.socketio_url and in_url.call("echo", 8, timeout=10) == 8
    finally:
        srv.stop()


def test_reconnect_renews_send_on_open_and_record_keeps_events(tmp_path: Path) -> None:
    port = free_port()
    srv = rtnb.serve(port=port)
    path = tmp_path / "sio.jsonl"
    try:
        c = rtnb.connect(
            "socketio",
            srv.socketio_url,
            send_on_open={"hello": 1},
            backoff={"initial": 0.1, "cap": 0.3},
        )
        rec = c.record(str(path))
        assert c.recv(timeout=10).json == {"hello": 1}
        srv.stop()
        wait_for(lambda: c.state != "open", 10)
        srv = rtnb.serve(port=port)
        m = c.recv(timeout=15)
        assert (m.event, m.json) == ("message", {"hello": 1})
        assert c.stats.reconnects == 1
        rec.stop()
    finally:
        srv.stop()
    recs = [decode_line(line) for line in path.read_text().splitlines()]
    events = {getattr(r, "event", None) for r in recs}
    assert "message" in events
    back = rtnb.connect("replay", str(path), speed=0)
    m = back.recv(timeout=5)
    assert m.event in ("message",)


class _EngineIO3(http.server.BaseHTTPRequestHandler):
    """Answers every poll like an Engine.IO v3 server (socket.io 2.x) does."""

    def do_GET(self) -> None:
        body = b'96:0{"sid":"abc","upgrades":[],"pingInterval":25000,"pingTimeout":5000}2:40'
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_an_engine_io_v3_server_is_named_as_a_version_mismatch() -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EngineIO3)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        c = rtnb.connect("socketio", f"http://127.0.0.1:{httpd.server_port}")
        wait_for(lambda: c.state == "failed", 10)
        text = c.describe_state()
        assert SUPPORTED in text and "Engine.IO v3" in text
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the JavaScript Socket.IO v4 server -------------------------------------------------


@pytest.fixture(scope="module")
def node_sio() -> Iterator[str]:
    with node_peer("socketio_server.js") as port:
        yield f"http://127.0.0.1:{port}"


def test_node_server_long_polling_only(node_sio: str) -> None:
    c = rtnb.connect("socketio", node_sio, transports=["polling"]).wait_open(10)
    assert c.stats.extra["transport"] == "polling"
    assert c.call("echo", "p", timeout=5) == "p"
    c.emit("multi")
    assert c.recv(timeout=5).json == [1, "two"]


@pytest.mark.parametrize("transports", [None, ["websocket"]])
def test_node_server_events_acks_and_binary(node_sio: str, transports: list[str] | None) -> None:
    c = rtnb.connect("socketio", node_sio, transports=transports).wait_open(10)
    assert c.call("echo", {"x": 1}, timeout=5) == {"x": 1}
    c.emit("push", {"n": 50})
    got = [c.recv(timeout=5) for _ in range(51)]
    assert [m.json["i"] for m in got[:50]] == list(range(50))
    assert (got[50].event, got[50].json) == ("done", None)
    c.emit("multi")
    m = c.recv(timeout=5)
    assert (m.event, m.json) == ("pair", [1, "two"])
    c.emit("bin")
    m = c.recv(timeout=5)
    assert (m.event, m.data) == ("blob", b"\x00\xff\x01")


def test_node_server_malformed_packet_is_skipped_and_counted(node_sio: str) -> None:
    c = rtnb.connect("socketio", node_sio, transports=["websocket"]).wait_open(10)
    c.emit("bad")
    m = c.recv(timeout=5)
    assert (m.event, m.json) == ("after", 1)
    assert c.state == "open"
    assert c.stats.errors == 1 and "malformed Socket.IO packet" in (c.stats.last_error or "")


def test_node_server_timeout_refusal_and_server_disconnect(node_sio: str) -> None:
    c = rtnb.connect("socketio", node_sio, backoff={"initial": 0.1}).wait_open(10)
    with pytest.raises(TimeoutError, match=r"no acknowledgement of 'chat' within 0\.5 s"):
        c.call("chat", "nobody acks this", timeout=0.5)
    c.emit("bye")
    wait_for(lambda: c.stats.reconnects == 1 and c.state == "open", 10)
    assert c.call("echo", 2, timeout=5) == 2
    admin = rtnb.connect("socketio", node_sio, namespace="/admin")
    wait_for(lambda: admin.state == "failed", 10)
    assert "refused namespace /admin: not allowed" in admin.describe_state()


# --- the JavaScript Socket.IO v4 client against rtnb ------------------------------------


def test_node_client_against_rtnb_server() -> None:
    node = require_node()
    srv = rtnb.serve(token="s3cret")
    try:
        p = subprocess.run(
            [node, str(NODE / "socketio_client.js"), srv.url, "s3cret"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=NODE,
        )
    finally:
        srv.stop()
    lines = p.stdout.splitlines()
    assert p.returncode == 0 and lines[-1] == "ok", p.stdout + p.stderr
    import json

    steps = {d["step"]: d["value"] for d in map(json.loads, lines[:-1])}
    assert steps["echo"] == {"x": 1}
    assert "unknown event 'nope'" in steps["unknown"]["error"]
    assert steps["message"] == {"hi": "there"}
    assert steps["subscribe"] == {"subscribed": ["AAPL"], "rate": 50}
    assert steps["tick"]["symbol"] == "AAPL"
    assert steps["transport"] == "websocket"  # upgraded from polling


def test_cli_tail_reads_socketio_events(server: Server) -> None:
    import sys

    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "rtnb.cli",
            "tail",
            "socketio",
            server.socketio_url,
            "--send-on-open",
            '{"x": 1}',
            "--count",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    rec = decode_line(p.stdout.splitlines()[0])
    assert getattr(rec, "event", None) == "message" and getattr(rec, "data", None) == '{"x":1}'
