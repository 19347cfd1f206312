"""The in-kernel server over real sockets: endpoints, safety defaults, slow clients."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

import rtnb
from rtnb.errors import ConnectError, ServerError
from rtnb.server import Server, running_server
from rtnb.server.app import CLIENTS

from .conftest import free_port


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_returns_a_running_server_with_a_free_port(server: Server) -> None:
    assert server.running
    assert server.url.startswith("http://127.0.0.1:") and server.port > 0
    assert server.ws_url == "ws" + server.url[4:]
    assert server.url_for("/ws/echo") == f"{server.ws_url}/ws/echo"
    assert server.url_for("/sse/clock") == f"{server.url}/sse/clock"
    assert running_server() is not None


def test_index_lists_endpoints_and_magics(server: Server) -> None:
    status, body = get(server.url + "/")
    assert status == 200
    for path in ("/ws/echo", "/ws/chat", "/ws/ticker"):
        assert path in body
    assert "%rt_connect ws /ws/ticker" in body
    html = server._repr_html_()
    assert "/ws/chat" in html and "running" in html
    assert "%rt_connect ws /ws/echo" in server.describe()


def test_chat_reaches_every_other_client_but_not_the_sender(server: Server) -> None:
    url = server.url_for("/ws/chat")
    a, b, c = (rtnb.connect("ws", url).wait_open(10) for _ in range(3))
    time.sleep(0.1)
    a.send("from a")
    assert b.recv(timeout=5).data == "from a"
    assert c.recv(timeout=5).data == "from a"
    b.send(b"\x01binary")
    assert a.recv(timeout=5).data == b"\x01binary"
    assert c.recv(timeout=5).data == b"\x01binary"
    with pytest.raises(TimeoutError):
        a.recv(timeout=0.3)
    with pytest.raises(TimeoutError):
        b.recv(timeout=0.1)


def test_ticker_rejects_bad_query_with_400(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?rate=fast"))
    with pytest.raises(ConnectError, match="HTTP 400"):
        c.wait_open(10)


def test_ticker_count_closes_normally(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?rate=0&count=50"), reconnect=False)
    deadline = time.monotonic() + 10
    while c.state != "closed" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.state == "closed"
    assert c.stats.received == 50
    assert "count reached" in (c.stats.last_error or "")


def test_ticker_count_beyond_one_batch_sends_every_tick(server: Server) -> None:
    # 600 ticks flat out take three batches of the paced loop: none is skipped
    c = rtnb.connect("ws", server.url_for("/ws/ticker?rate=0&count=600&symbols=A"))
    ticks = [c.recv(timeout=10).json for _ in range(600)]
    assert [t["symbol"] for t in ticks] == ["A"] * 600
    deadline = time.monotonic() + 10
    while c.state == "open" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.stats.received == 600


def test_ticker_takes_the_bots_spelling_and_unsubscribes(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=&rate=50")).wait_open(10)
    c.send({"type": "subscribe", "symbols": ["amd", "NVDA"]})
    assert c.recv(timeout=5).json == {
        "type": "subscribed",
        "channel": ["amd", "NVDA"],
        "symbols": ["AMD", "NVDA"],
    }
    c.send({"type": "unsubscribe", "channel": "AMD,NVDA"})
    while (msg := c.recv(timeout=5).json).get("type") != "unsubscribed":
        assert "symbol" in msg  # ticks already on their way
    assert msg["symbols"] == []
    c.send({"type": "subscribe", "channel": "AMD", "symbols": "NVDA"})
    assert "not both" in c.recv(timeout=5).json["error"]
    c.close()


def test_ticker_subscribe_with_a_huge_symbol_list_is_refused_at_once(server: Server) -> None:
    async def scenario() -> dict[str, str]:
        async with ws_connect(server.url_for("/ws/ticker?symbols=&rate=1"), max_size=None) as ws:
            channel = ",".join(f"S{i}" for i in range(1_000_000))  # ~8 MB, under the limit
            await ws.send(json.dumps({"type": "subscribe", "channel": channel}))
            reply: dict[str, str] = json.loads(await asyncio.wait_for(ws.recv(), 30))
            return reply

    assert "at most 64 symbols" in asyncio.run(scenario())["error"]


def test_same_seed_gives_the_same_prices_over_the_wire(server: Server) -> None:
    def prices() -> list[float]:
        c = rtnb.connect("ws", server.url_for("/ws/ticker?rate=0&count=20&seed=9"))
        out = [c.recv(timeout=10).json["price"] for _ in range(20)]
        c.close()
        return out

    assert prices() == prices()


def test_cross_site_websocket_handshake_is_refused(server: Server) -> None:
    async def attempt(origin: str) -> int:
        try:
            async with ws_connect(server.url_for("/ws/echo"), origin=origin) as ws:  # type: ignore[arg-type]
                await ws.send("x")
                await ws.recv()
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(attempt("https://evil.example")) == 403
    assert asyncio.run(attempt("http://localhost:8888")) == 101
    assert asyncio.run(attempt(server.url)) == 101


def test_token_is_required_when_set() -> None:
    srv = rtnb.serve(token="s3cret")
    try:
        status, body = get(srv.url + "/")
        assert status == 401 and "missing token" in body
        status, body = get(srv.url + "/?token=nope")
        assert status == 401 and "wrong token" in body
        assert get(srv.url + "/?token=s3cret")[0] == 200
        assert get(srv.url + "/", {"Authorization": "Bearer s3cret"})[0] == 200
        c = rtnb.connect("ws", srv.url_for("/ws/echo", token=False))
        with pytest.raises(ConnectError, match="HTTP 401"):
            c.wait_open(10)
        ok = rtnb.connect("ws", srv.url_for("/ws/echo")).wait_open(10)
        ok.send("in")
        assert ok.recv(timeout=5).data == "in"
        hdr = rtnb.connect(
            "ws", srv.url_for("/ws/echo", token=False), headers={"Authorization": "Bearer s3cret"}
        )
        hdr.wait_open(10)
    finally:
        srv.stop()


def test_a_token_with_url_special_characters_works_in_every_url() -> None:
    token = "p&ss w#rd+/?"
    srv = rtnb.serve(token=token)
    try:
        assert get(srv.url_for("/"))[0] == 200
        assert get(srv.url_for("/sse/clock?count=1&interval=0.01"))[0] == 200
        c = rtnb.connect("ws", srv.url_for("/ws/echo"), reconnect=False).wait_open(10)
        c.close()
        status, page = get(srv.url, headers={"Authorization": f"Bearer {token}"})
        assert status == 200
        link = page.split("href='")[1].split("'")[0].replace("&amp;", "&")
        assert get(f"{srv.url}/{link}")[0] == 200
    finally:
        srv.stop()


def test_only_static_demo_assets_are_served_without_the_token() -> None:
    srv = rtnb.serve(token="t0k")
    try:
        assert get(f"{srv.url}/demo/webrtc.js")[0] == 200  # for <script src>
        for path in ("/", "/demo/webrtc", "/demo/sse", "/ws/echo", "/sse/clock?count=1"):
            assert get(srv.url + path)[0] == 401, path
    finally:
        srv.stop()


def test_binding_beyond_loopback_generates_a_token() -> None:
    srv = rtnb.serve(host="0.0.0.0")
    try:
        assert srv.token and len(srv.token) >= 20
        assert "token=" in srv.url_for("/ws/echo")
        assert f"token: {srv.token}" in srv.describe()
    finally:
        srv.stop()


def test_oversized_frame_is_refused_without_harming_others() -> None:
    srv = rtnb.serve(max_message_size=10_000)
    try:
        other = rtnb.connect("ws", srv.url_for("/ws/echo")).wait_open(10)
        big = rtnb.connect("ws", srv.url_for("/ws/echo"), reconnect=False).wait_open(10)
        big.send("x" * 50_000)
        deadline = time.monotonic() + 10
        while big.state == "open" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert big.state in ("failed", "closed")
        assert "1009" in (big.stats.last_error or "")
        other.send("still here")
        assert other.recv(timeout=5).data == "still here"
    finally:
        srv.stop()


def test_a_slow_chat_client_is_dropped_not_buffered() -> None:
    srv = rtnb.serve(send_queue=8)

    async def scenario() -> tuple[int | None, int]:
        url = srv.url_for("/ws/chat")
        # a reader that never reads: its socket buffers fill, then its outbox
        async with ws_connect(url, max_queue=1) as slow, ws_connect(url) as sender:
            slow.transport.pause_reading()
            payload = "y" * 60_000
            for _ in range(400):
                await sender.send(payload)
            await asyncio.sleep(1.0)
            slow.transport.resume_reading()
            code = None
            received = 0
            try:
                while True:
                    await asyncio.wait_for(slow.recv(), 5)
                    received += 1
            except Exception:
                code = slow.close_code
            return code, received

    try:
        code, received = asyncio.run(scenario())
        assert code == 1013
        assert received < 400
    finally:
        srv.stop()


def test_port_in_use_is_a_clear_server_error() -> None:
    port = free_port()
    srv = rtnb.serve(port=port)
    try:
        with pytest.raises(ServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            rtnb.serve(port=port)
    finally:
        srv.stop()
    assert not srv.running
    srv.stop()  # idempotent


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(TypeError, match="unknown server setting"):
        rtnb.serve(colour="red")


def test_stop_closes_clients_with_going_away() -> None:
    srv = rtnb.serve()
    c = rtnb.connect("ws", srv.url_for("/ws/echo"), reconnect=False).wait_open(10)
    srv.stop()
    deadline = time.monotonic() + 10
    while c.state == "open" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.state == "closed"
    assert "1001" in (c.stats.last_error or "")


def _silent_ws_client(port: int, path: str) -> socket.socket:
    """A raw WebSocket client that completes the handshake and then never reads."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return s


def test_stop_does_not_hang_on_a_client_that_never_reads() -> None:
    srv = rtnb.serve()
    silent = _silent_ws_client(srv.port, "/ws/ticker?rate=0")
    try:
        deadline = time.monotonic() + 10
        while sum(srv._app[CLIENTS].values()) < 1 and time.monotonic() < deadline:  # type: ignore[index]
            time.sleep(0.05)
        time.sleep(0.5)  # the ticker fills the socket buffers and waits to drain
        srv.stop(timeout=10)  # raised TimeoutError when close() waited for the drain
        assert not srv.running
    finally:
        silent.close()


def test_a_chat_client_that_never_reads_again_is_cut() -> None:
    srv = rtnb.serve(send_queue=8)
    silent = _silent_ws_client(srv.port, "/ws/chat")

    async def flood() -> None:
        async with ws_connect(srv.url_for("/ws/chat")) as sender:
            for _ in range(400):
                await sender.send("y" * 60_000)
            await asyncio.sleep(0.2)

    try:
        asyncio.run(flood())
        # the dropped client's close handshake cannot drain: its connection is cut,
        # so its handler ends and its slot is free again
        clients = srv._app[CLIENTS]  # type: ignore[index]
        deadline = time.monotonic() + 10
        while clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not clients
    finally:
        silent.close()
        srv.stop()


def test_chat_outbox_is_bounded_in_bytes_not_only_in_messages() -> None:
    # 256 queued messages may not mean 256 x 16 MiB: the byte budget drops
    # a silent client long before its message count is reached
    srv = rtnb.serve(send_queue=256, send_queue_bytes=1024 * 1024)
    silent = _silent_ws_client(srv.port, "/ws/chat")

    async def flood() -> None:
        async with ws_connect(srv.url_for("/ws/chat")) as sender:
            for _ in range(60):  # 60 x 256 KiB: far fewer than 256 messages
                await sender.send("z" * 256 * 1024)
            await asyncio.sleep(0.2)

    try:
        clients = srv._app[CLIENTS]  # type: ignore[index]
        deadline = time.monotonic() + 10
        while not clients and time.monotonic() < deadline:
            time.sleep(0.02)
        asyncio.run(flood())
        deadline = time.monotonic() + 10
        while clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not clients  # the silent client was dropped (and cut), the sender left
    finally:
        silent.close()
        srv.stop()


def test_clients_that_reset_at_once_are_not_logged_as_server_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv = rtnb.serve()
    upgrade = (
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    )
    caplog.set_level(logging.ERROR)
    try:
        for path in ("/sse/clock", "/sse/ticker?symbols=AAPL", "/ws/echo", "/webrtc/signal"):
            for _ in range(5):
                s = socket.create_connection(("127.0.0.1", srv.port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                extra = upgrade if path.startswith(("/ws/", "/webrtc/")) else ""
                s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
                s.close()  # with SO_LINGER 0: a reset, as when a tab is closed
        clients = srv._app[CLIENTS]  # type: ignore[index]
        deadline = time.monotonic() + 10
        while clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert get(srv.url_for("/"))[0] == 200  # also lets the last handlers finish
    finally:
        srv.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_closed_websocket_leaves_nothing_behind(fresh_server: Server) -> None:
    # Each WebSocket the server served was kept (with its request, socket and
    # compressor, ~100 KB) for the server's lifetime: a notebook that connects and
    # closes in a loop grew without bound.
    import gc
    import weakref

    from aiohttp import web

    from rtnb.server.common import SOCKETS

    assert fresh_server._app is not None
    tracked = fresh_server._app[SOCKETS]

    def responses() -> list[object]:  # type(), not isinstance(): a dead weak proxy raises
        return [o for o in gc.get_objects() if issubclass(type(o), web.WebSocketResponse)]

    before = {id(o) for o in responses()}
    for _ in range(20):
        c = rtnb.connect("ws", fresh_server.url_for("/ws/echo"), name="cycle").wait_open(10)
        c.send("hi")
        assert c.recv(timeout=5).data == "hi"
        c.close()
    deadline = time.monotonic() + 10
    while tracked and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tracked  # every handler returned and was forgotten
    gc.collect()
    left = [weakref.ref(o) for o in responses() if id(o) not in before]
    assert len(left) <= 1, f"{len(left)} closed WebSockets still alive"
