"""Server safety over real sockets: tokens, origins, limits, slow clients and hostile input.

Each test fails when the protection it names is removed from ``rtnb.server``.
(The basic cases live in tests/test_server.py; these go further.)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import socket
import struct
import time
import tracemalloc
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from websockets.asyncio.client import connect as ws_connect

import rtnb
import rtnb.runtime
from rtnb.errors import ConnectError
from rtnb.recordfmt import Header, Record, encode, encode_header
from rtnb.server import Server, security
from rtnb.server.app import SOCKETS
from rtnb.server.limits import GATE
from rtnb.server.webrtc_handlers import BOTS

from .conftest import CHROMIUM, CHROMIUM_FLAGS, require_netns, wait_for
from .faultproxy import FaultProxy

# --- a raw WebSocket client, to send what well-behaved libraries refuse to --------------


class RawWS:
    """A minimal RFC 6455 client over a plain TCP stream (asyncio)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(
        cls, port: int, path: str = "/ws/echo", origin: str | None = None, source: str = "127.0.0.1"
    ) -> RawWS:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        key = base64.b64encode(os.urandom(16))
        head = (
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            ).encode()
            + b"Sec-WebSocket-Key: "
            + key
            + b"\r\n"
        )
        if origin:
            head += f"Origin: {origin}\r\n".encode()
        writer.write(head + b"\r\n")
        status = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert status.startswith(b"HTTP/1.1 101"), status[:200]
        return cls(reader, writer)

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, declared: int | None = None
    ) -> None:
        """A masked client frame; ``declared`` lies about the payload length."""
        length = len(payload) if declared is None else declared
        head = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            head += bytes([0x80 | length])
        elif length < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + body)

    async def read_frame(self) -> tuple[int, bytes]:
        """The next frame from the server: (opcode, payload)."""
        b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), 10)
        length = b1 & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        return b0 & 0x0F, await self.reader.readexactly(length)

    async def close_code(self) -> tuple[int, str]:
        """Read until the server's close frame: (code, reason)."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode("utf-8", "replace")

    def close(self) -> None:
        self.writer.transport.abort()


def still_serving(server: Server) -> None:
    """Another client is served normally."""
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    c.send("still here")
    assert c.recv(timeout=5).data == "still here"
    c.close()


# --- tokens ---------------------------------------------------------------------------


def test_wrong_token_is_refused_with_the_reason_and_not_retried() -> None:
    srv = rtnb.serve(token="right")
    try:
        url = srv.url_for("/ws/echo", token=False) + "?token=wrong"
        c = rtnb.connect("ws", url)
        with pytest.raises(ConnectError, match=r"HTTP 401 \(.*wrong token: send 'Authorization"):
            c.wait_open(10)
        assert c.state == "failed" and c.stats.errors == 1  # 401 is fatal: no retry loop
        bearer = rtnb.connect(
            "ws", srv.url_for("/ws/echo", token=False), headers={"Authorization": "Bearer nope"}
        )
        with pytest.raises(ConnectError, match="wrong token"):
            bearer.wait_open(10)
        # a token of another length, or empty, is just wrong (constant-time compare)
        for bad in ("", "r", "right" * 50):
            req = urllib.request.Request(srv.url + "/", headers={"Authorization": f"Bearer {bad}"})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(req, timeout=10)
            assert info.value.code == 401
        still_serving_with_token(srv)
    finally:
        srv.stop()


def still_serving_with_token(srv: Server) -> None:
    c = rtnb.connect("ws", srv.url_for("/ws/echo")).wait_open(10)
    c.send("ok")
    assert c.recv(timeout=5).data == "ok"


def test_binding_beyond_loopback_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rtnb.server"):
        srv = rtnb.serve(host="0.0.0.0")
    try:
        assert srv.token is not None
        assert any(
            "beyond loopback" in r.getMessage() and srv.token in r.getMessage()
            for r in caplog.records
        )
        # the token is then needed even from loopback
        c = rtnb.connect("ws", srv.url_for("/ws/echo", token=False))
        with pytest.raises(ConnectError, match="HTTP 401"):
            c.wait_open(10)
    finally:
        srv.stop()


# --- origins --------------------------------------------------------------------------


def test_origin_allowlist_is_exact_and_configurable() -> None:
    async def status(port: int, origin: str) -> int:
        try:
            ws = await RawWS.connect(port, origin=origin)
        except AssertionError as exc:
            return int(str(exc).split()[1].strip("'\""))
        ws.close()
        return 101

    srv = rtnb.serve(allowed_origins=["https://notebooks.example.org"])
    try:
        port = srv.port
        cases = {
            "https://notebooks.example.org": 101,
            "https://notebooks.example.org.evil.com": 403,
            "http://notebooks.example.org": 403,  # scheme is part of the origin
            "https://evil.example": 403,
            "null": 403,  # sandboxed iframes and file:// pages
            "http://127.0.0.1.evil.com:8000": 403,
            "http://localhost.evil.com": 403,
            "http://localhost:3000": 101,
            "http://[::1]:3000": 101,
        }
        got = {o: asyncio.run(status(port, o)) for o in cases}
        assert got == cases
    finally:
        srv.stop()


PAGE = """<!doctype html><meta charset="utf-8"><title>probe</title>
<script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket(new URLSearchParams(location.search).get("target"));
  ws.onopen = () => { ws.send("from " + location.origin); };
  ws.onmessage = (e) => { resolve("echo:" + e.data); ws.close(); };
  ws.onclose = (e) => resolve("closed:" + e.code);
});
</script>"""

CHROMIUM_ARGS = [
    *CHROMIUM_FLAGS,
    # a hostile site that resolves to this machine: its origin is not localhost
    "--host-resolver-rules=MAP evil.test 127.0.0.1",
]


@pytest.mark.browser
def test_cross_origin_page_in_a_real_browser_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_netns()
    from aiohttp import web
    from playwright.sync_api import sync_playwright

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    app = web.Application()
    app.router.add_get("/probe", page)
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    page_port = rtnb.runtime.run(start(), 10)
    default = rtnb.serve()
    trusting = rtnb.serve(allowed_origins=[f"http://evil.test:{page_port}"])
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
            )
            try:
                tab = ctx.new_page()

                def probe(site: str, srv: Server) -> str:
                    target = srv.url_for("/ws/echo")
                    tab.goto(f"http://{site}:{page_port}/probe?target={target}")
                    return str(tab.evaluate("window.result"))

                with caplog.at_level(logging.WARNING, logger="rtnb.server"):
                    hostile = probe("evil.test", default)
                    local = probe("localhost", default)
                    allowed = probe("evil.test", trusting)
            finally:
                ctx.close()
    finally:
        default.stop()
        trusting.stop()
        rtnb.runtime.run(runner.cleanup(), 10)
    # the browser only sees a failed handshake (1006); the server says why
    assert hostile == "closed:1006"
    assert any(
        f"refused WebSocket from origin http://evil.test:{page_port}" in r.getMessage()
        for r in caplog.records
    )
    assert local == f"echo:from http://localhost:{page_port}"
    assert allowed == f"echo:from http://evil.test:{page_port}"


# --- limits ---------------------------------------------------------------------------


def test_connections_per_client_are_limited_with_a_reason() -> None:
    srv = rtnb.serve(max_connections_per_client=3)
    try:
        url = srv.url_for("/ws/echo")
        held = [rtnb.connect("ws", url).wait_open(10) for _ in range(3)]
        extra = rtnb.connect("ws", url, reconnect=False)
        with pytest.raises(ConnectError, match=r"HTTP 429 \(.*too many connections from 127"):
            extra.wait_open(10)
        # 429 means "later": with reconnect on, it retries and gets in once a slot frees
        patient = rtnb.connect("ws", url, backoff={"initial": 0.05, "cap": 0.2})
        wait_for(lambda: patient.stats.errors >= 1)
        assert patient.state == "reconnecting"
        held[0].close()
        patient.wait_open(10).send("in")
        assert patient.recv(timeout=5).data == "in"
    finally:
        srv.stop()


def test_server_wide_connection_limit_is_a_503_with_a_reason() -> None:
    srv = rtnb.serve(max_connections=2)
    try:
        url = srv.url_for("/ws/echo")
        _held = [rtnb.connect("ws", url).wait_open(10) for _ in range(2)]
        c = rtnb.connect("ws", url, reconnect=False)
        with pytest.raises(ConnectError, match=r"HTTP 503 \(.*server full: 2 connections"):
            c.wait_open(10)
    finally:
        srv.stop()


def test_a_frame_claiming_exabytes_is_refused_at_once() -> None:
    srv = rtnb.serve(max_message_size=64 * 1024)

    async def attack() -> tuple[int, str]:
        ws = await RawWS.connect(srv.port)
        # one write: data still arriving after the server's close would turn it into a RST
        ws.send_frame(0x1, b"x" * 16, declared=2**62)
        try:
            return await ws.close_code()
        finally:
            ws.close()

    try:
        tracemalloc.start()
        code, reason = asyncio.run(attack())
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert code == 1009, reason  # RFC 6455 7.4.1: message too big
        assert peak < 32 * 1024 * 1024  # nothing near the declared size was allocated
        still_serving(srv)
    finally:
        srv.stop()


def test_fragments_adding_up_past_the_limit_are_refused() -> None:
    srv = rtnb.serve(max_message_size=64 * 1024)

    async def attack() -> int:
        ws = await RawWS.connect(srv.port)
        ws.send_frame(0x1, b"a" * 40_000, fin=False)
        ws.send_frame(0x0, b"b" * 40_000, fin=False)  # 80,000 bytes so far: over
        try:
            return (await ws.close_code())[0]
        finally:
            ws.close()

    try:
        assert asyncio.run(attack()) == 1009
        still_serving(srv)
    finally:
        srv.stop()


# --- slow clients ---------------------------------------------------------------------


def test_a_stalled_ticker_client_is_dropped_not_buffered() -> None:
    srv = rtnb.serve(heartbeat=1.0)
    try:
        with FaultProxy(srv.port) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}/ws/ticker?rate=0&symbols=AAPL"
            slow = rtnb.connect("ws", url, reconnect=False, ping_interval=None).wait_open(10)
            slow.recv(timeout=5)
            proxy.stall()
            app = srv._app
            assert app is not None

            def buffered() -> int:
                total = 0
                for ws, _ in list(app[SOCKETS].values()):
                    writer = getattr(ws, "_writer", None)
                    transport = getattr(writer, "transport", None)
                    if transport is not None and not transport.is_closing():
                        total += transport.get_write_buffer_size()
                return total

            peak = 0
            deadline = time.monotonic() + 20
            while any(not ws.closed for ws, _ in list(app[SOCKETS].values())):
                peak = max(peak, rtnb.runtime.run(_call(buffered), 5))
                assert time.monotonic() < deadline, "stalled client was never dropped"
                time.sleep(0.05)
            # the server waited for the socket (backpressure) rather than queueing ticks,
            # then its heartbeat found the client dead and dropped it
            assert peak < 1024 * 1024
            still_serving(srv)
    finally:
        srv.stop()


async def _call(fn: Callable[[], int]) -> int:
    return fn()


# --- hostile input ----------------------------------------------------------------------


def test_invalid_utf8_text_frame_closes_that_client_with_1007() -> None:
    srv = rtnb.serve()

    async def attack() -> int:
        ws = await RawWS.connect(srv.port)
        ws.send_frame(0x1, b"ok \xff\xfe not utf-8")
        try:
            return (await ws.close_code())[0]
        finally:
            ws.close()

    try:
        other = rtnb.connect("ws", srv.url_for("/ws/echo")).wait_open(10)
        assert asyncio.run(attack()) == 1007
        other.send("unharmed")
        assert other.recv(timeout=5).data == "unharmed"
    finally:
        srv.stop()


def test_bad_commands_to_the_ticker_get_error_replies(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=&rate=10")).wait_open(10)
    bad = [
        "{not json",
        "\x00\x00\x00",
        "[]",
        '{"type": "subscribe"}',
        '{"type": "subscribe", "channel": "<script>"}',
        '{"type": "subscribe", "channel": "' + "A" * 10_000 + '"}',
        '{"type": "explode"}',
    ]
    for text in bad:
        c.send(text)
    replies = [c.recv(timeout=5).json for _ in bad]
    assert all(r["type"] == "error" and r["error"] for r in replies)
    assert "bad symbol" in replies[4]["error"]
    assert c.state == "open"
    c.send(b"\x00binary is ignored")
    c.send({"type": "subscribe", "channel": "OK"})
    assert c.recv(timeout=5).json["type"] == "subscribed"


def test_undecodable_token_and_malformed_origin_are_refused_not_a_500() -> None:
    srv = rtnb.serve(token="abc")

    async def status(headers: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(
            b"GET /ws/echo?token=abc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + headers + b"\r\n"
        )
        try:
            line = await asyncio.wait_for(reader.readline(), 10)
            return line.split(b" ")[1]
        finally:
            writer.transport.abort()

    try:
        assert asyncio.run(status(b"Authorization: Bearer \xff\xfe\r\n")) == b"401"
        assert asyncio.run(status(b"Origin: http://[::1\r\n")) == b"403"
        assert asyncio.run(status(b"Origin: http://\xff.example\r\n")) == b"403"
    finally:
        srv.stop()


def test_garbage_instead_of_a_handshake_is_a_400_and_the_server_lives_on() -> None:
    srv = rtnb.serve()

    async def garbage(payload: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        writer.write(payload)
        try:
            return await asyncio.wait_for(reader.read(200), 10)
        finally:
            writer.transport.abort()

    try:
        answers = [
            asyncio.run(garbage(p))
            for p in (
                b"\x00" * 100 + b"\r\n\r\n",
                b"GET /ws/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\r\n",
                b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n",
            )
        ]
        assert all(re.match(rb"HTTP/1\.[01] 4\d\d ", a) for a in answers), answers
        still_serving(srv)
    finally:
        srv.stop()


# --- signaling rooms and bot peers (plain WebSocket clients: no ICE, no namespace) ----


def closed(c: rtnb.Connection) -> None:
    wait_for(lambda: c.state in ("closed", "failed"))


def test_signaling_rooms_are_bounded_with_a_reason() -> None:
    srv = rtnb.serve(max_rooms=2, room_size=2)
    try:

        def peer(room: str) -> rtnb.Connection:
            return rtnb.connect("ws", srv.url_for(f"/webrtc/signal?room={room}"), reconnect=False)

        a, b = peer("one").wait_open(10), peer("two").wait_open(10)
        assert a.recv(timeout=5).json["type"] == "room"
        third_room = peer("three")
        refusal = third_room.recv(timeout=5).json
        assert refusal == {"type": "error", "error": refusal["error"]}
        assert "too many rooms (2)" in refusal["error"]
        closed(third_room)
        assert "code 1013" in (third_room.stats.last_error or "")
        assert "too many rooms" in (third_room.stats.last_error or "")
        b2 = peer("two").wait_open(10)
        crowd = peer("two")
        assert "is full (2 peers)" in crowd.recv(timeout=5).json["error"]
        closed(crowd)
        assert "code 1008" in (crowd.stats.last_error or "")
        bad = peer("no/slashes")
        with pytest.raises(ConnectError, match="HTTP 400"):
            bad.wait_open(10)
        # the rooms that exist keep working
        b.send({"type": "note", "n": 1})
        assert b2.recv(timeout=5).json["type"] == "room"
        assert b2.recv(timeout=5).json == {"type": "note", "n": 1}
    finally:
        srv.stop()


def test_messages_held_for_an_absent_peer_are_bounded() -> None:
    srv = rtnb.serve()
    try:
        alone = rtnb.connect("ws", srv.url_for("/webrtc/signal?room=lonely")).wait_open(10)
        alone.recv(timeout=5)  # {"type": "room", ...}
        for i in range(200):
            alone.send({"type": "note", "n": i})
        wait_for(lambda: any((m.json or {}).get("type") == "error" for m in alone.messages))
        refusals = [m.json for m in alone.messages if (m.json or {}).get("type") == "error"]
        assert "messages already wait for them" in refusals[0]["error"]
        late = rtnb.connect("ws", srv.url_for("/webrtc/signal?room=lonely")).wait_open(10)
        wait_for(lambda: any((m.json or {}).get("type") == "room" for m in late.messages))
        held = [m for m in late.messages if (m.json or {}).get("type") == "note"]
        assert 0 < len(held) <= 64  # HELD_MESSAGES: the rest were refused, not queued
        assert alone.state == "open" and late.state == "open"
    finally:
        srv.stop()


def test_bot_peers_are_bounded_with_a_reason() -> None:
    srv = rtnb.serve(max_bots=1)
    try:
        first = rtnb.connect("ws", srv.url_for("/webrtc/bot"), reconnect=False).wait_open(10)
        assert first.recv(timeout=5).json["type"] == "hello"
        second = rtnb.connect("ws", srv.url_for("/webrtc/bot"), reconnect=False)
        assert "server busy: 1 bots already running" in second.recv(timeout=5).json["error"]
        closed(second)
        assert "code 1013" in (second.stats.last_error or "")
        first.close()
        wait_for(lambda: srv._app is not None and not srv._app[BOTS])
        third = rtnb.connect("ws", srv.url_for("/webrtc/bot"), reconnect=False).wait_open(10)
        assert third.recv(timeout=5).json["type"] == "hello"
    finally:
        srv.stop()


# --- issue 14: DNS rebinding (the Host check) -------------------------------------------


def write_recording(path: Path, payloads: list[str]) -> None:
    lines = [encode_header(Header(kind="ws", url="ws://example/ws", started=1000.0))]
    lines += [encode(Record(ts=1000.0 + i, data=p, seq=i)) for i, p in enumerate(payloads)]
    path.write_text("\n".join(lines) + "\n")


def http_status(port: int, path: str, host: str, extra: str = "") -> tuple[int, bytes]:
    """One raw request with a chosen Host header: (status, the whole answer)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


def test_a_request_for_another_host_name_is_refused_with_the_reason(tmp_path: Path) -> None:
    recording = tmp_path / "r.jsonl"
    write_recording(recording, ["secret"])
    srv = rtnb.serve()
    try:
        srv.add_recording("r", recording)
        port = srv.port
        evil = f"evil.example:{port}"
        for path, extra in (
            ("/", ""),
            ("/sse/clock", ""),
            ("/sse/replay?name=r", ""),
            ("/ws/echo", UPGRADE),
            ("/demo/ws", ""),
        ):
            status, answer = http_status(port, path, evil, extra)
            assert status == 403, (path, answer[:200])
            assert b"DNS rebinding" in answer
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "127.0.0.2", f"[::1]:{port}"):
            assert http_status(port, "/", host)[0] == 200, host
        # a trailing dot or letter case does not smuggle a name in
        assert http_status(port, "/", "EVIL.example.")[0] == 403
        assert http_status(port, "/", "localhost.evil.example")[0] == 403
    finally:
        srv.stop()


def test_allowed_hosts_serves_a_lan_name_and_star_serves_any() -> None:
    named = rtnb.serve(allowed_hosts=["lab.example"])
    anyone = rtnb.serve(allowed_hosts=["*"])
    try:
        assert http_status(named.port, "/", "lab.example:80")[0] == 200
        assert http_status(named.port, "/", "evil.example")[0] == 403
        assert http_status(anyone.port, "/", "evil.example")[0] == 200
    finally:
        named.stop()
        anyone.stop()


def test_jupyter_server_proxy_requests_carry_the_browser_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RTNB_PROXY_PREFIX", "/user/ann/proxy/")
    srv = rtnb.serve()
    try:
        context = f"X-Forwarded-Context: /user/ann/proxy/{srv.port}\r\n"
        assert http_status(srv.port, "/", "hub.example.org", context)[0] == 200
        other = "X-Forwarded-Context: /user/bob/proxy/1\r\n"
        assert http_status(srv.port, "/", "hub.example.org", other)[0] == 403
    finally:
        srv.stop()


# --- issue 14: slow and idle connections -------------------------------------------------


def aiohttp_connections(srv: Server) -> int:
    """TCP connections the server holds (aiohttp's own count, from accept)."""
    runner = srv._runner
    assert runner is not None and runner.server is not None
    return len(runner.server.connections)


def test_slow_header_clients_are_counted_timed_out_and_cannot_lock_others_out() -> None:
    srv = rtnb.serve(max_connections=20, header_timeout=2.0)
    slow: list[socket.socket] = []
    try:
        for _ in range(30):  # more than max_connections, each still sending its headers
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            slow.append(s)
        # counted from accept: the oldest waiting ones made room, never more than 20 held
        wait_for(lambda: aiohttp_connections(srv) <= 20, timeout=5)
        assert get_status(srv.url + "/") == 200  # a legitimate client is served at once
        # the header timeout closes the rest
        wait_for(lambda: aiohttp_connections(srv) == 0, timeout=2.0 + 3)
        for s in slow:
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(100) == b""
    finally:
        for s in slow:
            s.close()
        srv.stop()


def test_connections_that_go_free_their_slots_at_once() -> None:
    srv = rtnb.serve(max_connections=20)
    idle = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(15)]
    try:
        wait_for(lambda: aiohttp_connections(srv) == 15, timeout=5)
        gate = srv._app[GATE] if srv._app is not None else None
        assert gate is not None and len(gate.connections) == 15
        for s in idle:
            s.close()
        wait_for(lambda: not gate.connections, timeout=1.0)
    finally:
        for s in idle:
            s.close()
        srv.stop()


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


# --- issue 14: clients that never read ---------------------------------------------------


def silent_ws(port: int, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{UPGRADE}\r\n".encode())
    s.settimeout(10)
    assert s.recv(12).startswith(b"HTTP/1.1 101")
    return s


def test_clients_that_never_read_are_aborted_within_twice_the_heartbeat() -> None:
    heartbeat = 2.0
    srv = rtnb.serve(heartbeat=heartbeat, send_timeout=heartbeat)
    silent = [silent_ws(srv.port, "/ws/ticker?rate=0") for _ in range(4)]
    silent += [silent_ws(srv.port, "/ws/chat") for _ in range(3)]

    async def flood() -> None:
        async with ws_connect(srv.url_for("/ws/chat")) as sender:
            for _ in range(60):
                await sender.send("x" * 50_000)
            await asyncio.sleep(0.2)

    try:
        asyncio.run(flood())
        t0 = time.monotonic()
        wait_for(lambda: aiohttp_connections(srv) == 0, timeout=2 * heartbeat + 2)
        assert time.monotonic() - t0 < 2 * heartbeat + 1
        still_serving(srv)
    finally:
        for s in silent:
            s.close()
        srv.stop()


# --- issue 14: other local processes cannot lock the notebook out ---------------------


def test_other_local_clients_cannot_use_up_the_notebooks_caps() -> None:
    srv = rtnb.serve(max_connections_per_client=4, max_connections=12, reserved_connections=3)

    async def others(n: int) -> list[RawWS]:
        return [await RawWS.connect(srv.port, "/ws/echo") for _ in range(n)]

    try:
        # no key: another local process, all on 127.0.0.1
        held = rtnb.runtime.run(others(4), 10)
        with pytest.raises(AssertionError, match="429"):
            rtnb.runtime.run(RawWS.connect(srv.port, "/ws/echo"), 10)
        # the notebook's own client carries this server's key: counted apart
        mine = [rtnb.connect("ws", srv.url_for("/ws/echo")).wait_open(10) for _ in range(4)]
        mine[0].send("mine")
        assert mine[0].recv(timeout=5).data == "mine"
        extra = rtnb.connect("ws", srv.url_for("/ws/echo"), reconnect=False)
        with pytest.raises(
            ConnectError, match=r"429 \(.*too many connections from 127.0.0.1 \(this process\)"
        ):
            extra.wait_open(10)
        for ws in held:
            ws.close()
    finally:
        srv.stop()


def test_reserved_connections_are_kept_for_the_notebook() -> None:
    srv = rtnb.serve(max_connections=8, reserved_connections=2, max_connections_per_client=100)

    async def others(sources: list[str]) -> list[RawWS]:
        return [await RawWS.connect(srv.port, "/ws/echo", source=s) for s in sources]

    try:
        # 8 - 2 reserved, from two addresses (one may hold at most half of those 6)
        held = rtnb.runtime.run(others(["127.0.0.2"] * 3 + ["127.0.0.3"] * 3), 10)
        with pytest.raises(AssertionError, match="503 server full"):
            rtnb.runtime.run(RawWS.connect(srv.port, "/ws/echo", source="127.0.0.4"), 10)
        mine = rtnb.connect("ws", srv.url_for("/ws/echo")).wait_open(10)
        mine.send("in")
        assert mine.recv(timeout=5).data == "in"
        for ws in held:
            ws.close()
    finally:
        srv.stop()


# --- issue 14: smaller items -----------------------------------------------------------


def test_a_very_long_demo_name_is_a_404_not_a_500(server: Server) -> None:
    assert get_status(server.url_for("/demo/" + "a" * 5000)) == 404
    assert get_status(server.url_for("/demo/..%2fsecurity.py")) == 404
    assert get_status(server.url_for("/demo/sse")) == 200


def test_an_origin_with_userinfo_is_not_taken_for_its_host() -> None:
    async def status(port: int, origin: str) -> int:
        try:
            ws = await RawWS.connect(port, origin=origin)
        except AssertionError as exc:
            return int(str(exc).split()[1].strip("'\""))
        ws.close()
        return 101

    srv = rtnb.serve()
    try:
        for origin in (
            "http://evil.com:80@127.0.0.1",
            "http://evil.com@localhost:8888",
            "http://127.0.0.1/path",
            "http://localhost:8888?x=1",
        ):
            assert asyncio.run(status(srv.port, origin)) == 403, origin
        assert asyncio.run(status(srv.port, "http://127.0.0.1:9")) == 101
    finally:
        srv.stop()


def test_unpaced_streams_are_bounded_for_other_clients(tmp_path: Path) -> None:
    recording = tmp_path / "r.jsonl"
    write_recording(recording, ["x"])
    srv = rtnb.serve(max_unpaced_streams=2)
    try:
        srv.add_recording("r", recording)

        async def flat_out() -> list[RawWS]:
            return [await RawWS.connect(srv.port, "/ws/ticker?rate=0") for _ in range(2)]

        held = rtnb.runtime.run(flat_out(), 10)
        for path in ("/ws/ticker?rate=0", "/ws/replay?name=r&speed=0&loop=1"):
            with pytest.raises(AssertionError, match="503"):
                rtnb.runtime.run(RawWS.connect(srv.port, path), 10)
        status, answer = http_status(srv.port, "/sse/ticker?symbols=AAPL&rate=0", "127.0.0.1")
        assert status == 503 and b"as fast as possible" in answer
        # a paced stream, and the notebook's own flat-out one, still go
        paced = rtnb.connect("ws", srv.url_for("/ws/ticker?rate=5")).wait_open(10)
        assert paced.recv(timeout=5).json["symbol"]
        mine = rtnb.connect("ws", srv.url_for("/ws/ticker?rate=0")).wait_open(10)
        assert mine.recv(timeout=5).json["symbol"]
        for ws in held:
            ws.close()
        # the slots come back when those clients go
        wait_for(lambda: srv._app is not None and srv._app[GATE].unpaced == 0)
    finally:
        srv.stop()


@pytest.mark.webrtc
def test_ice_candidates_trickled_to_the_bot_are_capped(fresh_server: Server) -> None:
    require_netns()
    import json

    from aiortc import RTCConfiguration, RTCPeerConnection

    from rtnb.server.limits import MAX_ICE_CANDIDATES

    async def trickle() -> list[str]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("x")
        await pc.setLocalDescription(await pc.createOffer())
        errors = []
        try:
            async with ws_connect(fresh_server.url_for("/webrtc/bot")) as ws:
                await ws.recv()  # hello
                sdp = {"type": "offer", "sdp": pc.localDescription.sdp}
                await ws.send(json.dumps({"type": "offer", "sdp": sdp}))
                assert json.loads(await ws.recv())["type"] == "answer"
                for i in range(MAX_ICE_CANDIDATES + 40):
                    line = f"candidate:{i} 1 udp 2122260223 127.0.0.1 {20000 + i} typ host"
                    cand = {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}
                    await ws.send(json.dumps({"type": "candidate", "candidate": cand}))
                await ws.send("{oops")  # answered after the candidates: the end
                while True:
                    got = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if got.get("type") == "error":
                        errors.append(got["error"])
                        if "not JSON" in got["error"]:
                            return errors
        finally:
            await pc.close()

    errors = rtnb.runtime.run(trickle(), 30)
    capped = [e for e in errors if f"more than {MAX_ICE_CANDIDATES} ICE candidates" in e]
    assert len(capped) == 1, errors  # said once, the rest ignored silently


# --- the pure rules, directly ------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "allowed", "any_address", "ok"),
    [
        ("127.0.0.1:8888", (), False, True),
        ("127.9.9.9", (), False, True),
        ("[::1]:8888", (), False, True),
        ("LOCALHOST:1", (), False, True),
        ("localhost.", (), False, True),
        ("evil.example:8888", (), False, False),
        ("127.0.0.1.evil.example", (), False, False),
        ("localhost@evil.example", (), False, False),
        ("", (), False, False),
        ("a b", (), False, False),
        ("192.168.1.5:80", (), False, False),
        ("192.168.1.5:80", (), True, True),
        ("[fe80::1]:80", (), True, True),
        ("lan.example", (), True, False),
        ("Lan.Example:80", ("lan.example",), False, True),
        ("anything.example", ("*",), False, True),
        (None, (), False, True),
    ],
)
def test_host_allowed(
    host: str | None, allowed: tuple[str, ...], any_address: bool, ok: bool
) -> None:
    assert security.host_allowed(host, allowed, any_address) is ok


@pytest.mark.parametrize(
    ("origin", "parsed"),
    [
        ("http://localhost:8888", ("http", "localhost", 8888)),
        ("HTTPS://Example.org", ("https", "example.org", None)),
        ("http://[::1]:3000", ("http", "::1", 3000)),
        ("http://evil.com:80@127.0.0.1", None),
        ("http://user@localhost", None),
        ("http://localhost/", None),
        ("http://localhost:99999", None),
        ("http://localhost:0", None),
        ("ftp://localhost", None),
        ("null", None),
        ("http://[::1", None),
    ],
)
def test_parse_origin_takes_only_scheme_host_and_port(
    origin: str, parsed: tuple[str, str, int | None] | None
) -> None:
    assert security.parse_origin(origin) == parsed


def test_static_names_and_client_identity() -> None:
    assert security.static_name_ok("webrtc.js") and security.static_name_ok("sse")
    for bad in ("", ".env", "../x", "a/b", "a\\b", "a" * 101, "x..y", "é"):
        assert not security.static_name_ok(bad), bad
    assert security.client_identity(None, None, "k") == ("?", False)
    assert security.client_identity("::1", "wrong", "k") == ("::1", False)
    assert security.client_identity("::1", "k", "k") == ("::1 (this process)", True)


def test_a_server_on_every_interface_serves_addresses_and_this_machines_name() -> None:
    srv = rtnb.serve(host="0.0.0.0", token="t")
    try:
        for host, status in (
            ("192.0.2.7:80", 200),
            (f"{socket.gethostname()}:{srv.port}", 200),
            ("evil.example", 403),
        ):
            assert http_status(srv.port, "/?token=t", host)[0] == status, host
    finally:
        srv.stop()
