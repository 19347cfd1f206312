"""The server's SSE endpoints seen on the wire: headers, retry, heartbeats, CORS, gaps, limits."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

import rtnb
from rtnb.server import Server
from rtnb.server.app import CLIENTS
from rtnb.sse_format import SSEEvent, SSEParser


def read_events(
    url: str, n: int, headers: dict[str, str] | None = None, timeout: float = 10.0
) -> tuple[httpx.Response, list[SSEEvent], list[str], SSEParser]:
    """The first ``n`` events of a stream, plus its raw lines and the parser."""
    parser = SSEParser()
    events: list[SSEEvent] = []
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    with httpx.stream("GET", url, headers=headers, timeout=timeout) as resp:
        if resp.status_code != 200:
            return resp, events, lines, parser
        for line in resp.iter_lines():
            lines.append(line)
            events += parser.feed(line + "\n")
            if len(events) >= n or time.monotonic() > deadline:
                break
    return resp, events, lines, parser


def test_event_stream_headers_and_retry_first(server: Server) -> None:
    resp, events, lines, parser = read_events(server.url_for("/sse/ticker?rate=50&seed=21"), 2)
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["cache-control"] == "no-cache"
    assert lines[0] == "retry: 1000"
    assert parser.retry == 1000
    assert int(events[1].id or 0) == int(events[0].id or 0) + 1
    tick = json.loads(events[0].data)
    assert set(tick) == {"t", "symbol", "price"}


def test_retry_query_sets_the_hint(server: Server) -> None:
    _, _, lines, _ = read_events(server.url_for("/sse/clock?retry=2500&interval=0.05"), 1)
    assert lines[0] == "retry: 2500"


def test_clock_events_are_iso_times(server: Server) -> None:
    _, events, _, _ = read_events(server.url_for("/sse/clock?interval=0.05"), 2)
    stamps = [json.loads(e.data)["time"] for e in events]
    assert stamps[0].endswith("+00:00") and stamps[0] < stamps[1]
    assert all(e.id is None and e.event is None for e in events)


def test_ticker_matches_the_websocket_ticker_prices(server: Server) -> None:
    _, events, _, _ = read_events(
        server.url_for("/sse/ticker?symbols=AAPL,MSFT&rate=0&seed=22&count=4"), 4
    )
    ws = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=AAPL,MSFT&rate=0&seed=22&count=4"))
    ws_ticks = [ws.recv(timeout=10).json for _ in range(4)]
    sse_ticks = [json.loads(e.data) for e in events]
    assert [(t["symbol"], t["price"]) for t in sse_ticks] == [
        (t["symbol"], t["price"]) for t in ws_ticks
    ]
    assert [e.id for e in events] == ["1", "2", "3", "4"]


def test_last_event_id_header_resumes(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=0&seed=23&count=30")
    _, first, _, _ = read_events(url, 30)
    _, again, _, _ = read_events(url, 5, headers={"Last-Event-ID": "12"})
    assert [e.id for e in again] == ["13", "14", "15", "16", "17"]
    assert [e.data for e in again] == [e.data for e in first[12:17]]


def test_unknown_last_event_id_gets_a_gap_event(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=50&seed=24")
    _, events, _, _ = read_events(url, 2, headers={"Last-Event-ID": "999999"})
    assert events[0].event == "gap"
    assert "newer than" in json.loads(events[0].data)["reason"]
    assert events[1].event is None and events[1].id is not None


def test_finished_stream_answers_204(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=0&seed=25&count=3")
    resp, _, _, _ = read_events(url, 1, headers={"Last-Event-ID": "3"})
    assert resp.status_code == 204


def test_cut_after_aborts_the_connection(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=200&seed=26&cut_after=3")
    parser = SSEParser()
    events: list[SSEEvent] = []
    with pytest.raises(httpx.RemoteProtocolError), httpx.stream("GET", url, timeout=10) as resp:
        for chunk in resp.iter_text():
            events += parser.feed(chunk)
    assert len(events) == 3


def test_heartbeat_comments_on_an_idle_stream() -> None:
    srv = rtnb.serve(heartbeat=0.1)
    try:
        url = srv.url_for("/sse/ticker?symbols=AAPL&rate=0.001&seed=27")
        seen: list[str] = []
        with httpx.stream("GET", url, timeout=10) as resp:
            for line in resp.iter_lines():
                seen.append(line)
                if seen.count(": heartbeat") >= 2:
                    break
        assert sum(1 for line in seen if line.startswith("data:")) == 1
        assert sum(1 for line in seen if line == ": heartbeat") >= 2
    finally:
        srv.stop()


def test_clock_sends_heartbeats_between_slow_events() -> None:
    srv = rtnb.serve(heartbeat=0.1)
    try:
        url = srv.url_for("/sse/clock?interval=3600")
        seen: list[str] = []
        with httpx.stream("GET", url, timeout=10) as resp:
            for line in resp.iter_lines():
                seen.append(line)
                if seen.count(": heartbeat") >= 2:
                    break
        assert sum(1 for line in seen if line.startswith("data:")) == 1
    finally:
        srv.stop()


def test_clock_client_that_leaves_frees_its_slot_before_the_next_event() -> None:
    srv = rtnb.serve()
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /sse/clock?interval=3600 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(10)
        got = b""
        while b"data:" not in got:
            got += s.recv(4096)
        clients = srv._app[CLIENTS]  # type: ignore[index]
        assert sum(clients.values()) == 1
        s.close()
        deadline = time.monotonic() + 10
        while clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not clients  # the handler ended, not an hour later
    finally:
        srv.stop()


def test_slow_ticker_client_that_leaves_frees_its_slot_before_the_next_tick() -> None:
    srv = rtnb.serve(heartbeat=0)
    try:
        s = socket.create_connection(("127.0.0.1", srv.port))
        s.sendall(b"GET /sse/ticker?symbols=AAPL&rate=0.001 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(10)
        got = b""
        while b"data:" not in got:
            got += s.recv(4096)
        clients = srv._app[CLIENTS]  # type: ignore[index]
        s.close()
        deadline = time.monotonic() + 10
        while clients and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not clients  # the handler ended, not at the next tick 1000 s later
    finally:
        srv.stop()


@pytest.mark.parametrize("origin", ["http://localhost:8888", "http://127.0.0.1:5000"])
def test_cors_granted_to_local_origins(server: Server, origin: str) -> None:
    resp, _, _, _ = read_events(server.url_for("/sse/clock?interval=0.05"), 1, {"Origin": origin})
    assert resp.headers["access-control-allow-origin"] == origin
    assert "Origin" in resp.headers["vary"]


def test_cors_not_granted_to_other_origins(server: Server) -> None:
    resp, _, _, _ = read_events(
        server.url_for("/sse/clock?interval=0.05"), 1, {"Origin": "https://evil.example"}
    )
    assert resp.status_code == 200
    assert not any(h.startswith("access-control-") for h in resp.headers)


def test_cors_allowlist_and_preflight() -> None:
    srv = rtnb.serve(allowed_origins=["https://app.example"])
    try:
        url = srv.url_for("/sse/ticker?rate=50")
        resp, _, _, _ = read_events(url, 1, {"Origin": "https://app.example"})
        assert resp.headers["access-control-allow-origin"] == "https://app.example"
        pre = httpx.options(url, headers={"Origin": "https://app.example"})
        assert pre.status_code == 204
        assert "Last-Event-ID" in pre.headers["access-control-allow-headers"]
        denied = httpx.options(url, headers={"Origin": "https://other.example"})
        assert "access-control-allow-origin" not in denied.headers
    finally:
        srv.stop()


@pytest.mark.parametrize(
    "query", ["symbols=A%20B", "rate=fast", "cut_after=0", "drop=2", "interval=x"]
)
def test_bad_queries_are_400_with_a_reason(server: Server, query: str) -> None:
    path = "/sse/clock" if query.startswith("interval") else "/sse/ticker"
    resp = httpx.get(server.url_for(f"{path}?{query}"), timeout=10)
    assert resp.status_code == 400
    assert resp.text


def test_index_lists_the_sse_endpoints(server: Server) -> None:
    paths = {ep.path: ep.kind for ep in server.endpoints}
    assert paths["/sse/clock"] == "sse" and paths["/sse/ticker"] == "sse"
    assert "/demo/sse" in paths
    page = httpx.get(server.url_for("/"), timeout=10).text
    assert "/sse/ticker" in page and "%rt_connect sse /sse/ticker" in page


@pytest.fixture
def small_history() -> Iterator[Server]:
    srv = rtnb.serve(sse_history=50)
    yield srv
    srv.stop()


def test_slow_reader_gets_a_gap_event_not_a_growing_buffer(small_history: Server) -> None:
    """A reader that stops reading holds only its socket buffers; then it hears of the gap."""
    url = small_history.url_for("/sse/ticker?symbols=AAPL&rate=0&seed=28")
    host, port = small_history.host, small_history.port
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((host, port))
    path = url.split(str(port), 1)[1]
    slow.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    slow.settimeout(10)
    slow.recv(512)  # the headers and the first ticks; then it stops reading
    fast = rtnb.connect("sse", url, max_messages=1000)
    deadline = time.monotonic() + 60
    while fast.stats.received < 200_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    fast.close()
    parser = SSEParser()
    events: list[SSEEvent] = []
    with slow:
        while not any(e.event == "gap" for e in events):
            chunk = slow.recv(65536)
            assert chunk, "stream ended without a gap event"
            body = chunk.decode("utf-8", "replace")
            events += parser.feed(body)
    gap = next(e for e in events if e.event == "gap")
    info = json.loads(gap.data)
    assert info["missed"] > 0
    assert info["resumed_at"] == info["after"] + info["missed"] + 1
