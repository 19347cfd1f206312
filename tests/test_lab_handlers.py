"""The lab endpoints seen by plain clients (httpx, websockets), not through rtnb.compare."""

from __future__ import annotations

import json
import socket
import time

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from rtnb.comparestats import lab_payload, parse_header
from rtnb.server import Server
from rtnb.server.lab_handlers import tcp_counters


def test_sse_lab_streams_events_then_a_summary(server: Server) -> None:
    url = server.url_for("/lab/sse?count=3&rate=0&size=40&ids=1")
    with httpx.stream("GET", url, timeout=10) as r:
        assert r.headers["content-type"] == "text/event-stream"
        body = ""
        for chunk in r.iter_text():
            body += chunk
            if "event: done" in body and body.endswith("\n\n"):
                break
    assert body.startswith("retry: 100\n")
    events = [b for b in body.split("\n\n") if b.startswith("id: ")]
    assert [e.split("\n")[0] for e in events] == ["id: 0", "id: 1", "id: 2"]
    assert all(len(e.split("data: ", 1)[1]) == 40 for e in events)
    summary = json.loads(body.split("event: done\ndata: ", 1)[1])
    assert summary["done"] and summary["sent"] == 3 and summary["first"] == 0
    assert summary["transport"].startswith("HTTP/1.1 over TCP")


def test_sse_lab_resumes_after_last_event_id(server: Server) -> None:
    url = server.url_for("/lab/sse?count=5&rate=0&ids=1")
    with httpx.stream("GET", url, headers={"Last-Event-ID": "2"}, timeout=10) as r:
        body = ""
        for chunk in r.iter_text():
            body += chunk
            if "event: done" in body and body.endswith("\n\n"):
                break
    summary = json.loads(body.split("event: done\ndata: ", 1)[1])
    assert summary["first"] == 3 and summary["sent"] == 2 and summary["last_event_id"] == "2"


@pytest.mark.parametrize("last", ["\u00b2", "9" * 5000])
def test_sse_lab_starts_over_after_a_last_event_id_that_is_no_number(
    server: Server, last: str
) -> None:
    url = server.url_for("/lab/sse?count=3&rate=0&ids=1")
    # "\u00b2" passes str.isdigit() but not int(); 5000 digits exceed int()'s limit
    headers = {"Last-Event-ID": last.encode()}
    with httpx.stream("GET", url, headers=headers, timeout=10) as r:
        assert r.status_code == 200
        body = ""
        for chunk in r.iter_text():
            body += chunk
            if "event: done" in body and body.endswith("\n\n"):
                break
    summary = json.loads(body.split("event: done\ndata: ", 1)[1])
    assert summary["first"] == 0 and summary["sent"] == 3


def test_ws_lab_streams_binary_and_echoes(server: Server) -> None:
    with ws_connect(server.url_for("/lab/ws?count=2&rate=0&size=300&binary=1", ws=True)) as ws:
        first, second, summary = ws.recv(5), ws.recv(5), json.loads(ws.recv(5))
        assert isinstance(first, bytes) and len(first) == 300
        assert first[29:] == lab_payload(0, 0, 300, binary=True)[29:]
        assert parse_header(second) is not None and parse_header(second)[0] == 1  # type: ignore[index]
        assert summary["sent"] == 2 and summary["transport"] == "TCP"
        if hasattr(socket, "TCP_INFO"):
            # 300-byte payloads: 2 header bytes + 2 of extended length (RFC 6455 5.2)
            assert summary["wire_bytes"] == 2 * 304
        ws.send(b"\x00\xff")
        assert ws.recv(5) == b"\x00\xff"


def test_lab_refuses_bad_numbers(server: Server) -> None:
    r = httpx.get(server.url_for("/lab/sse?count=many"), timeout=10)
    assert r.status_code == 400 and "count" in r.text


def test_tcp_counters_count_what_a_socket_carried() -> None:
    if not hasattr(socket, "TCP_INFO"):
        pytest.fail("TCP_INFO is Linux-only; this project's CI runs on Linux")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        a = socket.create_connection(listener.getsockname())
        b, _ = listener.accept()
        with a, b:
            before = tcp_counters(a)
            a.sendall(b"x" * 1000)
            assert b.recv(1000, socket.MSG_WAITALL) == b"x" * 1000
            for _ in range(200):  # until the peer's ACK is in (bounded: 2 s)
                after = tcp_counters(a)
                if after is None or after[2] == 0:
                    break
                time.sleep(0.01)
            got = tcp_counters(b)
    assert before is not None and after is not None and got is not None
    assert after[0] - before[0] == 1000 and got[1] == 1000
    assert tcp_counters(None) is None
