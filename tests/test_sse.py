"""The SSE client transport against real servers: rtnb's own, a test aiohttp app, and Node."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

import rtnb
from rtnb.errors import ConnectError, ConnectionClosed, SendNotSupported
from rtnb.runtime import run
from rtnb.server import Server
from rtnb.stats import Backoff
from rtnb.transports.sse import SSETransport

from .conftest import free_port, require_node, wait_for

NODE_DIR = Path(__file__).resolve().parent / "node"
FAST = {"initial": 0.05, "factor": 1.0, "cap": 0.05, "jitter": 0.0}


# --- a test-only SSE app (not part of the product server) --------------------------------


async def _stream(request: web.Request, blocks: list[str], hold: float = 0.0) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for block in blocks:
        await resp.write(block.encode())
    if hold:
        await asyncio.sleep(hold)
    return resp


async def post_chat(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    words = str(body["prompt"]).split()
    blocks = [f"data: {json.dumps({'token': w, 'model': body.get('model')})}\n\n" for w in words]
    return await _stream(request, [*blocks, "event: done\ndata: [DONE]\n\n"])


async def status(request: web.Request) -> web.Response:
    code = int(request.match_info["code"])
    return web.Response(status=code, text="" if code == 204 else f"nope: reason {code}")


async def not_sse(request: web.Request) -> web.Response:
    return web.json_response({"not": "an event stream"})


async def huge(request: web.Request) -> web.StreamResponse:
    last = request.headers.get("Last-Event-ID")
    blocks = (
        [] if last == "2" else ["id: 1\ndata: small\n\n", "id: 2\ndata: " + "x" * 50_000 + "\n\n"]
    )
    return await _stream(request, [*blocks, "id: 3\ndata: after\n\n"], hold=5)


async def endless_line(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    try:
        for _ in range(200):  # at most 13 MB, never a line break
            await resp.write(b"data: " + b"z" * 65536)
    except ConnectionError:
        pass
    return resp


async def malformed(request: web.Request) -> web.StreamResponse:
    blocks = [
        '{"json": "instead"}\n',
        "garbage\n\n",
        "retry: soon\n",
        "retry: 250\n\n",
        "data: ok\n\n",
    ]
    return await _stream(request, blocks, hold=5)


async def never_answers(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(30)
    return web.Response()


@pytest.fixture(scope="module")
def lab() -> Iterator[str]:
    app = web.Application()
    app.router.add_post("/chat", post_chat)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/json", not_sse)
    app.router.add_get("/huge", huge)
    app.router.add_get("/endless", endless_line)
    app.router.add_get("/malformed", malformed)
    app.router.add_get("/silent", never_answers)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=0.5)
    port = free_port()

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    run(start(), timeout=10)
    yield f"http://127.0.0.1:{port}"
    run(runner.cleanup(), timeout=10)


# --- events from rtnb's own server ------------------------------------------------------


def test_ticks_arrive_with_ids_data_and_no_event_type(server: Server) -> None:
    c = rtnb.connect("sse", server.url_for("/sse/ticker?symbols=AAPL&rate=100&seed=11"))
    msgs = [c.recv(timeout=10) for _ in range(3)]
    first = int(msgs[0].id or 0)
    assert [m.id for m in msgs] == [str(first), str(first + 1), str(first + 2)]
    assert all(m.event is None and m.json["symbol"] == "AAPL" for m in msgs)
    assert c.stats.last_event_id == msgs[-1].id or int(c.stats.last_event_id) > first


def test_clock_sends_iso_times(server: Server) -> None:
    c = rtnb.connect("sse", server.url_for("/sse/clock?interval=0.05"))
    times = [c.recv(timeout=10).json["time"] for _ in range(2)]
    assert times[0] < times[1]
    assert "T" in times[0]


def test_cut_mid_stream_resumes_with_no_gap_and_no_duplicate(server: Server) -> None:
    c = rtnb.connect(
        "sse",
        server.url_for("/sse/ticker?symbols=AAPL,MSFT&rate=150&seed=12&cut_after=7&retry=30"),
    )
    ids = [int(c.recv(timeout=10).id or -1) for _ in range(40)]
    assert ids == list(range(ids[0], ids[0] + 40))
    assert c.stats.reconnects >= 4
    assert c.stats.retry_ms == 30


def test_last_event_id_option_starts_from_a_known_point(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=GOOG&rate=0&seed=13&count=50")
    first = rtnb.connect("sse", url, reconnect=False)
    wait_for(lambda: first.state == "closed")
    assert [m.id for m in first.messages][-1] == "50"
    c = rtnb.connect("sse", url, last_event_id="41", reconnect=False)
    assert [c.recv(timeout=10).id for _ in range(9)] == [str(i) for i in range(42, 51)]
    wait_for(lambda: c.state == "closed")


def test_id_older_than_history_resumes_at_oldest_with_a_gap_event(fresh_server: Server) -> None:
    srv = rtnb.serve(sse_history=20)
    try:
        url = srv.url_for("/sse/ticker?symbols=AAPL&rate=0&seed=14&count=100")
        done = rtnb.connect("sse", url, reconnect=False)
        wait_for(lambda: done.state == "closed")
        c = rtnb.connect("sse", url, last_event_id="10", reconnect=False)
        gap = c.recv(timeout=10)
        assert gap.event == "gap"
        assert gap.json["missed"] == 70 and gap.json["resumed_at"] == 81
        assert [c.recv(timeout=10).id for _ in range(20)] == [str(i) for i in range(81, 101)]
    finally:
        srv.stop()


def test_finished_stream_answers_204_and_the_client_stops(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=0&seed=15&count=5")
    c = rtnb.connect("sse", url, backoff=FAST)
    assert [c.recv(timeout=10).id for _ in range(5)] == ["1", "2", "3", "4", "5"]
    wait_for(lambda: c.state == "closed")  # an orderly end, not a failure
    assert "204" in (c.stats.last_error or "")
    assert "not to reconnect" in (c.stats.last_error or "")


def test_server_retry_hint_sets_the_reconnect_delay(server: Server) -> None:
    c = rtnb.connect("sse", server.url_for("/sse/ticker?rate=100&seed=16&cut_after=2&retry=4000"))
    wait_for(lambda: c.stats.reconnects == 0 and c.state == "reconnecting")
    assert c.transport.retry_delay() == 4.0
    delays = [c._next_delay(0) for _ in range(20)]
    # the hint at least (WHATWG 9.2.3; issue 15.2: jitter used to cut it by up to
    # half), and jitter adds at most 10 %
    assert all(4.0 <= d <= 4.4 for d in delays)
    plain = rtnb.connect("sse", server.url_for("/sse/ticker?rate=100&seed=16"))
    plain.wait_open()
    plain.transport._retry_ms = None  # as from a server that sends no retry:
    assert max(plain._next_delay(0) for _ in range(20)) <= Backoff().initial


def test_send_is_refused_with_the_reason(server: Server) -> None:
    c = rtnb.connect("sse", server.url_for("/sse/clock"))
    with pytest.raises(SendNotSupported, match=r"one-way.*WebSocket"):
        c.send("hello")
    assert c.transport.can_send is False


# --- POST streams ------------------------------------------------------------------------


def test_post_stream_with_a_json_body(lab: str) -> None:
    c = rtnb.connect(
        "sse", f"{lab}/chat", method="POST", json={"prompt": "to be or not", "model": "m"}
    )
    tokens = [c.recv(timeout=10) for _ in range(5)]
    assert [m.json["token"] for m in tokens[:4]] == ["to", "be", "or", "not"]
    assert tokens[0].json["model"] == "m"
    assert (tokens[4].event, tokens[4].data) == ("done", "[DONE]")
    wait_for(lambda: c.state == "closed")
    assert c.reconnect is False
    assert "POST streams do not reconnect" in (c.stats.last_error or "")
    assert c.stats.reconnects == 0


def test_post_rejects_a_body_on_get_and_unknown_methods() -> None:
    with pytest.raises(ValueError, match="method='POST'"):
        rtnb.connect("sse", "http://127.0.0.1:1/x", json={"a": 1})
    with pytest.raises(ValueError, match="GET' or 'POST"):
        rtnb.connect("sse", "http://127.0.0.1:1/x", method="PUT")
    with pytest.raises(ValueError, match="http:// or https://"):
        rtnb.connect("sse", "ws://127.0.0.1:1/x")
    with pytest.raises(TypeError, match="subprotocols"):
        rtnb.connect("sse", "http://127.0.0.1:1/x", subprotocols=["a"])


# --- every error case ---------------------------------------------------------------------


def test_wrong_content_type_fails_at_once(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/json")
    with pytest.raises(
        ConnectError, match=r"expected Content-Type text/event-stream.*application/json"
    ):
        c.wait_open(timeout=10)
    assert c.state == "failed"
    assert "an event stream" in (c.stats.last_error or "")


def test_client_error_status_is_fatal_and_shows_the_body(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/status/403")
    with pytest.raises(ConnectError, match=r"HTTP 403 Forbidden: nope: reason 403"):
        c.wait_open(timeout=10)
    assert c.state == "failed"


def test_server_error_status_keeps_retrying(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/status/503", backoff=FAST)
    wait_for(lambda: c.stats.errors >= 3)
    assert c.state in ("reconnecting", "connecting")
    assert "HTTP 503" in (c.stats.last_error or "")


def test_204_stops_without_retrying(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/status/204", backoff=FAST)
    with pytest.raises(ConnectError, match="204 No Content"):
        c.wait_open(timeout=10)
    assert c.state == "failed" and c.stats.errors == 1


def test_event_over_max_event_size_is_an_error_and_is_skipped_on_resume(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/huge", max_event_size=10_000, backoff=FAST)
    assert [c.recv(timeout=10).data for _ in range(2)] == ["small", "after"]
    assert c.stats.errors == 1
    assert "max_event_size=10000" in (c.stats.last_error or "")
    assert "event id 2" in (c.stats.last_error or "")


def test_endless_line_fails_bounded(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/endless", max_event_size=100_000, reconnect=False)
    # it opens, then fails as soon as the line passes the bound (often before
    # a wait_open() could see "open"), so wait for the outcome only
    wait_for(lambda: c.state == "failed")
    assert "a line longer than max_event_size=100000" in (c.stats.last_error or "")


def test_malformed_lines_are_ignored_and_counted(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/malformed")
    m = c.recv(timeout=10)
    assert m.data == "ok"
    assert c.stats.received == 1  # the retry-only block is not a message
    assert c.stats.ignored_lines == 3
    assert c.stats.retry_ms == 250


def test_connection_refused_says_so() -> None:
    c = rtnb.connect("sse", f"http://127.0.0.1:{free_port()}/x", reconnect=False)
    with pytest.raises(ConnectError, match="connection refused"):
        c.wait_open(timeout=10)


def test_server_that_never_answers_times_out(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/silent", reconnect=False, open_timeout=0.3)
    with pytest.raises(ConnectError, match=r"open_timeout=0\.3"):
        c.wait_open(timeout=10)


def test_read_timeout_drops_a_silent_stream(lab: str) -> None:
    c = rtnb.connect("sse", f"{lab}/malformed", read_timeout=0.2, reconnect=False)
    wait_for(lambda: c.state == "failed")
    assert "read_timeout" in (c.stats.last_error or "")
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=1)
        c.recv(timeout=1)


def test_https_needs_a_trusted_certificate() -> None:
    srv = rtnb.serve(tls=True)
    try:
        url = srv.url_for("/sse/clock?interval=0.05")
        bad = rtnb.connect("sse", url)
        with pytest.raises(ConnectError, match=r"not trusted.*cafile="):
            bad.wait_open(timeout=10)
        good = rtnb.connect("sse", url, cafile=srv.cafile)
        assert "time" in good.recv(timeout=10).json
        with pytest.warns(UserWarning, match="verification is off"):
            loose = rtnb.connect("sse", url, verify=False)
        assert "time" in loose.recv(timeout=10).json
    finally:
        srv.stop()


def test_headers_and_params_are_sent(server: Server) -> None:
    srv = rtnb.serve(token="s3cret")
    try:
        url = srv.url_for("/sse/clock", token=False)
        denied = rtnb.connect("sse", url)
        with pytest.raises(ConnectError, match=r"HTTP 401.*missing token"):
            denied.wait_open(timeout=10)
        ok = rtnb.connect(
            "sse", url, headers={"Authorization": "Bearer s3cret"}, params={"interval": "0.05"}
        )
        assert "time" in ok.recv(timeout=10).json
    finally:
        srv.stop()


def test_transport_info_and_reconnect_defaults() -> None:
    get = SSETransport("http://127.0.0.1:1/x", lambda *a, **k: None, {})
    post = SSETransport(
        "http://127.0.0.1:1/x", lambda *a, **k: None, {"method": "post", "data": "x"}
    )
    assert get.reconnect_by_default and not post.reconnect_by_default
    assert post.info()["method"] == "POST"
    assert isinstance(get._timeout, httpx.Timeout) and get._timeout.read is None


def test_the_ca_store_is_loaded_in_the_callers_thread_not_on_the_loop() -> None:
    from rtnb.transports.tls import default_context

    default_context.cache_clear()
    transport = SSETransport("http://127.0.0.1:1/x", lambda *a, **k: None, {})
    # built by the constructor (the caller's thread): open() on the loop reuses it
    assert default_context.cache_info().currsize == 1
    assert transport._verify is default_context()


# --- a server not written in Python ---------------------------------------------------------


@pytest.fixture(scope="module")
def node_sse() -> Iterator[str]:
    node = require_node()
    proc = subprocess.Popen(
        [node, str(NODE_DIR / "sse_server.js")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = json.loads(proc.stdout.readline())["port"]
    yield f"http://127.0.0.1:{port}"
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_node_stream_resumes_across_cuts_and_ends_with_204(node_sse: str) -> None:
    c = rtnb.connect("sse", f"{node_sse}/events?count=40&cut_after=9", backoff=FAST)
    msgs = [c.recv(timeout=10) for _ in range(40)]
    assert [json.loads(m.data.splitlines()[-1])["i"] for m in msgs] == list(range(1, 41))
    assert [m.id for m in msgs] == [str(i) for i in range(1, 41)]
    assert msgs[4].event == "fifth" and msgs[0].event is None
    assert msgs[6].data.startswith("line one\n{")
    wait_for(lambda: c.state == "closed")
    assert "204" in (c.stats.last_error or "")
    assert c.stats.reconnects >= 3
    assert c.stats.retry_ms == 50


def test_node_post_stream(node_sse: str) -> None:
    c = rtnb.connect("sse", f"{node_sse}/chat", method="POST", json={"prompt": "hello from rtnb"})
    got = [c.recv(timeout=10) for _ in range(4)]
    assert [m.json["token"] for m in got[:3]] == ["hello", "from", "rtnb"]
    assert got[3].event == "done"
    wait_for(lambda: c.state == "closed")


def test_node_json_is_not_an_event_stream(node_sse: str) -> None:
    c = rtnb.connect("sse", f"{node_sse}/json")
    with pytest.raises(ConnectError, match="application/json"):
        c.wait_open(timeout=10)


def test_close_mid_stream_is_prompt_and_leaves_no_task(server: Server) -> None:
    from .conftest import loop_tasks

    before = loop_tasks()
    c = rtnb.connect("sse", server.url_for("/sse/ticker?rate=100&seed=17"), name="sse-close")
    c.recv(timeout=10)
    c.close()
    assert c.state == "closed"
    wait_for(lambda: not {t for t in loop_tasks() - before if "sse-close" in t})
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=1)
        while True:
            c.recv(timeout=1)
