"""Faults: the server's fault-injection options, and clients driven through a misbehaving proxy.

Every failure a network can produce leads to a documented state and message:

=============================  ===================  =====================================
fault                          state                ``stats.last_error`` says
=============================  ===================  =====================================
accept, then close at once     reconnecting         WebSocket handshake failed (closed ...)
accept, then reset             reconnecting         connection reset by HOST during ...
TCP reset / cut (no FIN)       reconnecting, open   connection lost without a close frame
stalled server                 reconnecting, open   keepalive ping timeout (code 1011)
refused connection             reconnecting/failed  connection refused by HOST
DNS failure                    failed (fatal)       cannot resolve host 'NAME'
wrong subprotocol from server  failed (fatal)       negotiation failed: ...
corrupt frame from server      reconnecting, open   code 1002 / 1007 ...
no answer at all (blackhole)   reconnecting/failed  no answer within open_timeout=N s
untrusted TLS certificate      failed (fatal)       TLS certificate of HOST not trusted
=============================  ===================  =====================================
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import threading
import time
from collections.abc import Iterator

import pytest

import rtnb
from rtnb.errors import ConnectError, ConnectionClosed
from rtnb.server import Server
from rtnb.server.faults import FaultInjector, FaultPlan, Step, deliver, parse_faults

from .conftest import free_port, wait_for
from .faultproxy import FaultProxy


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultProxy]:
    with FaultProxy(server.port) as p:
        yield p


def via(proxy: FaultProxy, path: str) -> str:
    return f"ws://127.0.0.1:{proxy.port}{path}"


FAST = {"initial": 0.05, "cap": 0.2}


# --- the pure fault plan --------------------------------------------------------------


def test_parse_faults_reads_milliseconds_fractions_and_counts() -> None:
    plan = parse_faults({"latency": "250", "jitter": "50", "drop": "0.1", "cut_after": "7"}, 3)
    assert plan == FaultPlan(latency=0.25, jitter=0.05, drop=0.1, cut_after=7, seed=3)
    assert plan.active
    assert not parse_faults({"symbols": "AAPL"}).active


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"latency": "soon"}, "latency='soon' is not a number"),
        ({"latency": "-5"}, "latency must be between 0 and 60000 ms"),
        ({"jitter": "inf"}, "jitter must be between"),
        ({"drop": "1.5"}, "drop must be between 0 and 1"),
        ({"drop": "nan"}, "drop must be between 0 and 1"),
        ({"cut_after": "0"}, "cut_after must be at least 1"),
        ({"cut_after": "2.5"}, "cut_after='2.5' is not a whole number"),
    ],
)
def test_bad_fault_options_say_which_and_why(query: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_faults(query)


def test_same_seed_same_fate_and_drop_fraction_holds() -> None:
    plan = parse_faults({"drop": "0.3", "jitter": "20"}, seed=11)
    a, b = FaultInjector(plan), FaultInjector(plan)
    steps = [a.next() for _ in range(2000)]
    assert steps == [b.next() for _ in range(2000)]
    dropped = sum(s.drop for s in steps)
    assert 500 <= dropped <= 700  # 30 % of 2000, within ~5 sigma
    assert all(0 <= s.delay <= 0.02 for s in steps)
    assert FaultInjector(parse_faults({"drop": "0.3"}, seed=12)).next() is not None


def test_cut_is_due_after_n_sent_not_dropped() -> None:
    inj = FaultInjector(FaultPlan(cut_after=2))
    inj.record(Step(0, drop=True))
    inj.record(Step(0, drop=False))
    assert not inj.cut_due
    inj.record(Step(0, drop=False))
    assert inj.cut_due and inj.sent == 2 and inj.dropped == 1


def test_deliver_waits_drops_and_reports_the_cut() -> None:
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    async def run() -> list[bool]:
        inj = FaultInjector(FaultPlan(latency=0.01, drop=0.5, cut_after=3, seed=5))
        return [await deliver(inj, send, str(i)) for i in range(20) if not inj.cut_due]

    flags = asyncio.run(run())
    assert len(sent) == 3 and flags[-1] is True and not any(flags[:-1])
    assert asyncio.run(deliver(None, send, "plain")) is False and sent[-1] == "plain"


# --- fault injection on the server's endpoints -----------------------------------------


def test_ticker_drop_loses_about_that_fraction(server: Server) -> None:
    url = server.url_for("/ws/ticker?rate=0&count=2000&drop=0.25&seed=4")
    c = rtnb.connect("ws", url, reconnect=False)
    wait_for(lambda: c.state == "closed")
    # the ticker counts ticks made, so 2000 made minus the dropped quarter arrive
    assert 1350 <= c.stats.received <= 1650


def test_ticker_latency_delays_each_message(server: Server) -> None:
    url = server.url_for("/ws/ticker?rate=0&count=3&latency=300")
    c = rtnb.connect("ws", url, reconnect=False).wait_open(10)
    ticks = [c.recv(timeout=10).json for _ in range(3)]
    # each tick is made, then waits 300 ms before it is sent: the next is made after that
    assert ticks[1]["t"] - ticks[0]["t"] >= 0.29
    assert ticks[2]["t"] - ticks[1]["t"] >= 0.29


def test_cut_after_makes_the_client_reconnect_and_count_the_gap(server: Server) -> None:
    url = server.url_for("/ws/ticker?rate=0&cut_after=20&symbols=AAPL")
    c = rtnb.connect("ws", url, backoff=FAST)
    wait_for(lambda: c.stats.reconnects >= 2)
    s = c.stats
    assert "without a close frame (code 1006)" in (s.last_error or "")
    assert s.gaps >= 2 and len(s.gap_windows) >= 2
    start, end = s.gap_windows[0]
    assert 0 < end - start < 10 and s.down_seconds > 0
    c.close()
    # exactly 20 arrive on each connection before its cut
    (_, first_end), (second_start, _) = s.gap_windows[0], s.gap_windows[1]
    times = [m.ts for m in c.messages if m.direction == "in"]
    assert sum(t < start for t in times) == 20
    assert sum(first_end <= t < second_start for t in times) == 20


def test_echo_and_chat_take_fault_options_too(server: Server) -> None:
    echo = rtnb.connect("ws", server.url_for("/ws/echo?cut_after=2"), reconnect=False)
    echo.wait_open(10)
    for text in ("a", "b", "c"):
        with contextlib.suppress(ConnectionClosed):  # the cut may come before "c" is sent
            echo.send(text, timeout=5)
    wait_for(lambda: echo.state in ("closed", "failed"))
    assert [m.data for m in echo.messages if m.direction == "in"] == ["a", "b"]

    lossy = rtnb.connect("ws", server.url_for("/ws/chat?drop=1")).wait_open(10)
    talker = rtnb.connect("ws", server.url_for("/ws/chat")).wait_open(10)
    listener = rtnb.connect("ws", server.url_for("/ws/chat")).wait_open(10)
    time.sleep(0.1)
    talker.send("to all")
    assert listener.recv(timeout=5).data == "to all"
    with pytest.raises(TimeoutError):
        lossy.recv(timeout=0.5)


def test_bad_fault_option_is_http_400_with_the_reason(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?drop=2"))
    with pytest.raises(ConnectError, match=r"HTTP 400 \(query drop must be between 0 and 1"):
        c.wait_open(10)
    assert c.state == "failed"


# --- clients through the proxy --------------------------------------------------------


def test_proxy_forwards_transparently(proxy: FaultProxy) -> None:
    c = rtnb.connect("ws", via(proxy, "/ws/echo")).wait_open(10)
    c.send("through")
    assert c.recv(timeout=5).data == "through"
    assert proxy.accepted == 1 and proxy.bytes_up > 0 and proxy.bytes_down > 0


@pytest.mark.parametrize("mode", ["accept_close", "accept_rst"])
def test_accept_then_close_never_spins(proxy: FaultProxy, mode: str) -> None:
    proxy.mode = mode  # type: ignore[assignment]
    # even with no initial delay, the backoff floor (50 ms) bounds the attempts
    c = rtnb.connect("ws", via(proxy, "/ws/echo"), backoff={"initial": 0.0, "jitter": 0.0})
    time.sleep(2.0)
    attempts = proxy.accepted
    c.close()
    assert 2 <= attempts <= 2.0 / 0.05 + 2
    assert c.stats.errors >= 2
    last = c.stats.last_error or ""
    if mode == "accept_close":
        assert "handshake failed" in last and "connection closed while reading" in last
    else:  # the reset lands while connecting or while reading the answer
        assert "reset by 127.0.0.1" in last or "connection closed while reading" in last


def test_default_backoff_grows_with_jitter(proxy: FaultProxy) -> None:
    proxy.mode = "accept_close"
    c = rtnb.connect("ws", via(proxy, "/ws/echo"))
    time.sleep(2.0)
    c.close()
    # 0.5 s doubling, jitter up to half: at most 0 + .5 + 1 + 2 -> 4 attempts in 2 s (slack 1)
    assert 2 <= proxy.accepted <= 5


def test_cut_without_fin_reconnects_and_reports_the_gap(proxy: FaultProxy) -> None:
    url = via(proxy, "/ws/ticker?rate=50&symbols=AAPL")
    c = rtnb.connect("ws", url, backoff=FAST).wait_open(10)
    c.recv(timeout=5)
    states: list[str] = []
    c.on_state(lambda _c, s: states.append(s))
    assert proxy.cut() == 1
    wait_for(lambda: c.stats.reconnects == 1 and c.state == "open")
    assert states[0] == "reconnecting" and states[-1] == "open"
    assert "without a close frame (code 1006)" in (c.stats.last_error or "")
    before = c.stats.received
    wait_for(lambda: c.stats.received > before)
    s = c.stats
    assert s.gaps == 1 and len(s.gap_windows) == 1
    start, end = s.gap_windows[0]
    assert start < end and s.down_seconds == pytest.approx(end - start)


def test_stalled_server_is_detected_by_ping_timeout(proxy: FaultProxy) -> None:
    url = via(proxy, "/ws/ticker?rate=20&symbols=AAPL")
    c = rtnb.connect(
        "ws", url, ping_interval=0.3, ping_timeout=0.3, backoff=FAST, open_timeout=2
    ).wait_open(10)
    c.recv(timeout=5)
    proxy.stall()
    wait_for(lambda: c.state != "open")
    assert "keepalive ping timeout" in (c.stats.last_error or "")
    assert "1011" in (c.stats.last_error or "")
    proxy.resume()
    c.wait_open(15)
    before = c.stats.received
    wait_for(lambda: c.stats.received > before)
    assert c.stats.reconnects >= 1


def test_blackholed_connect_times_out_with_a_clear_message(proxy: FaultProxy) -> None:
    proxy.mode = "blackhole"
    c = rtnb.connect("ws", via(proxy, "/ws/echo"), open_timeout=0.5, reconnect=False)
    with pytest.raises(ConnectError, match=r"no answer within open_timeout=0.5 s"):
        c.wait_open(10)
    assert c.state == "failed"


def test_refused_connection_keeps_retrying_then_connects() -> None:
    port = free_port()
    c = rtnb.connect("ws", f"ws://127.0.0.1:{port}/ws/echo", backoff=FAST)
    wait_for(lambda: c.stats.errors >= 2)
    assert c.state in ("reconnecting", "connecting")
    assert f"connection refused by 127.0.0.1:{port}" in (c.stats.last_error or "")
    srv = rtnb.serve(port=port)
    try:
        c.wait_open(10).send("late")
        assert c.recv(timeout=5).data == "late"
    finally:
        srv.stop()


def test_dns_failure_is_a_clear_connect_error() -> None:
    c = rtnb.connect("ws", "ws://nonexistent.invalid/ws/echo", reconnect=False)
    with pytest.raises(ConnectError, match=r"cannot resolve host 'nonexistent\.invalid'"):
        c.wait_open(15)
    assert c.state == "failed"


@pytest.mark.parametrize("kind", ["ws", "sse"])
def test_dns_failure_fails_fast_even_with_reconnect(kind: str) -> None:
    # a name that does not resolve resolves the same way on the next try: no retry loop
    url = f"{'ws' if kind == 'ws' else 'http'}://nonexistent.invalid/x"
    again = rtnb.connect(kind, url, backoff=FAST)
    started = time.monotonic()
    with pytest.raises(ConnectError, match=r"cannot resolve host 'nonexistent\.invalid'"):
        again.wait_open(20)
    assert time.monotonic() - started < 5
    assert again.state == "failed"
    time.sleep(0.3)
    assert again.stats.errors == 1 and again.stats.reconnects == 0


class _WrongSubprotocolServer:
    """A raw server that completes the handshake but picks a subprotocol nobody offered."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> _WrongSubprotocolServer:
        self.thread.start()
        fut = asyncio.run_coroutine_threadsafe(self._start(), self.loop)
        fut.result(5)
        return self

    async def _start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n"
            b"Sec-WebSocket-Protocol: evil.v9\r\n\r\n"
        )
        await writer.drain()
        await reader.read()
        writer.close()

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_wrong_subprotocol_from_the_server_is_fatal() -> None:
    with _WrongSubprotocolServer() as bad:
        c = rtnb.connect("ws", f"ws://127.0.0.1:{bad.port}/", subprotocols=["chat.v1"])
        with pytest.raises(ConnectError, match=r"evil\.v9"):
            c.wait_open(10)
        assert c.state == "failed"
        assert c.stats.errors == 1  # fatal: no retry


# --- bad input from the server --------------------------------------------------------


def test_invalid_utf8_from_the_server_closes_1007_and_reconnects(proxy: FaultProxy) -> None:
    c = rtnb.connect("ws", via(proxy, "/ws/echo"), backoff=FAST, compression=None)
    c.wait_open(10)
    # an unmasked text frame from the "server": FIN+text, length 2, invalid UTF-8
    proxy.inject(b"\x81\x02\xff\xfe")
    wait_for(lambda: c.stats.reconnects == 1 and c.state == "open")
    assert "1007" in (c.stats.last_error or "")
    assert c.stats.received == 0
    c.send("after")
    assert c.recv(timeout=5).data == "after"


def test_corrupt_frame_header_is_a_protocol_error_then_reconnect(proxy: FaultProxy) -> None:
    c = rtnb.connect("ws", via(proxy, "/ws/echo"), backoff=FAST, compression=None)
    c.wait_open(10)
    # reserved opcode 0x3 with RSV bits set: not a frame RFC 6455 allows
    proxy.corrupt_next(b"\xf3", offset=0)
    c.send("hello")
    wait_for(lambda: c.stats.reconnects == 1 and c.state == "open")
    assert "1002" in (c.stats.last_error or "")
    c.send("again")
    assert c.recv(timeout=5).data == "again"


def test_nul_bytes_and_garbage_json_are_just_messages(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    c.send("a\x00b")
    c.send('{"unterminated": ')
    nul, bad = c.recv(timeout=5), c.recv(timeout=5)
    assert nul.data == "a\x00b" and nul.json is None
    assert bad.json is None and not bad.is_json
    assert c.state == "open" and c.stats.errors == 0


def test_index_page_documents_the_fault_options(server: Server) -> None:
    import urllib.request

    with urllib.request.urlopen(server.url + "/", timeout=10) as resp:
        body = resp.read().decode()
    for option in ("latency", "jitter", "drop", "cut_after"):
        assert f"<code>{option}</code>" in body
    for path in ("/ws/echo", "/ws/chat", "/ws/ticker", "/sse/clock", "/sse/ticker"):
        assert f"<code>{path}</code>" in body
    assert "no close frame" in body and "HTTP 400" in body


def test_sse_ticker_takes_the_same_fault_options(server: Server) -> None:
    bad = rtnb.connect("sse", server.url_for("/sse/ticker?latency=-1"))
    with pytest.raises(ConnectError, match="latency must be between 0 and 60000 ms"):
        bad.wait_open(10)
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=0&count=400&drop=0.5&seed=3")
    c = rtnb.connect("sse", url, reconnect=False)
    wait_for(lambda: c.state in ("closed", "failed"))
    ids = [int(m.id) for m in c.messages if m.id is not None]
    # dropped ticks leave holes in the consecutive ids: visible, as the page says
    assert 120 <= len(ids) <= 280 and ids == sorted(ids) and ids[-1] <= 400


# --- SSE redirects --------------------------------------------------------------------


@pytest.fixture
def redirector(server: Server) -> Iterator[int]:
    """A second server whose paths redirect: to the real stream, in a loop, off to nowhere."""
    from aiohttp import web

    import rtnb.runtime

    async def moved(_r: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(server.url_for("/sse/clock?interval=0.05"))

    async def loop(_r: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def nowhere(_r: web.Request) -> web.Response:
        raise web.HTTPFound("http://nonexistent.invalid/sse")

    app = web.Application()
    app.router.add_get("/moved", moved)
    app.router.add_get("/loop", loop)
    app.router.add_get("/nowhere", nowhere)
    runner = web.AppRunner(app)

    async def start() -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    yield rtnb.runtime.run(start(), 10)
    rtnb.runtime.run(runner.cleanup(), 10)


def test_sse_follows_a_redirect_by_default(redirector: int) -> None:
    c = rtnb.connect("sse", f"http://127.0.0.1:{redirector}/moved").wait_open(10)
    assert "time" in c.recv(timeout=5).json


def test_sse_redirect_refused_loop_and_dead_end_are_named(redirector: int) -> None:
    base = f"http://127.0.0.1:{redirector}"
    cases = [
        ("/moved", {"follow_redirects": False}, r"HTTP 307"),
        ("/loop", {}, r"TooManyRedirects"),
        # the host that failed is the redirect's, not the one first asked
        ("/nowhere", {}, r"cannot resolve host 'nonexistent\.invalid'"),
    ]
    for path, options, message in cases:
        c = rtnb.connect("sse", base + path, reconnect=False, **options)
        with pytest.raises(ConnectError, match=message):
            c.wait_open(10)
        assert c.state == "failed"
