"""rtnb.server.lab_handlers: the lab endpoints seen by plain clients (httpx, websockets)."""

from __future__ import annotations

import ast
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
from aiortc import RTCIceCandidate
from websockets.sync.client import connect as ws_connect

from rtnb.lab.wire import Summary, lab_payload, parse_header
from rtnb.server import Server
from rtnb.server.lab_handlers import ice_pair, tcp_counters


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
    assert r.text == "query count='many' is not a number"


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


def test_ws_lab_summary_is_the_shared_wire_format(server: Server) -> None:
    with ws_connect(server.url_for("/lab/ws?count=1&rate=0&size=40", ws=True)) as ws:
        assert parse_header(ws.recv(5)) is not None
        summary = Summary.decode(ws.recv(5))  # type: ignore[arg-type]
    assert summary is not None and summary.sent == 1 and summary.size == 40
    assert summary.transport == "TCP" and summary.last_event_id is None


def _candidate(kind: str, protocol: str = "udp") -> RTCIceCandidate:
    return RTCIceCandidate(1, "f", "127.0.0.1", 9, 1, protocol, kind)


def test_ice_pair_is_read_from_the_public_candidate_lists() -> None:
    host, srflx = _candidate("host"), _candidate("srflx")
    assert ice_pair([host], [host, host]) == "UDP (ICE host pair)"
    assert ice_pair([srflx], [host]) == "UDP (ICE srflx/host pair)"
    assert ice_pair([host, srflx], [host]) == "UDP (ICE pair of local host/srflx and remote host)"
    assert ice_pair([host], [_candidate("host", "tcp")]) == "UDP or TCP (ICE pair not visible)"
    assert ice_pair([], []) == "UDP or TCP (ICE pair not visible)"


RTNB = Path(__file__).resolve().parent.parent / "rtnb"


def _loads(module: str) -> set[str]:
    """The rtnb modules ``module`` (dotted, under rtnb) imports when it loads.

    Module-level relative imports only: what an ``if TYPE_CHECKING:`` block or
    a function body imports is not loaded with it.
    """
    path = RTNB.joinpath(*module.split("."))
    is_package = path.is_dir()
    tree = ast.parse((path / "__init__.py" if is_package else path.with_suffix(".py")).read_text())
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - node.level + 1]
            names = [node.module] if node.module else [a.name for a in node.names]
            found |= {".".join([*base, name]) for name in names}
    return found


def test_the_server_loads_the_lab_wire_format_and_no_client_code() -> None:
    seen: set[str] = set()
    todo = ["server.lab_handlers"]
    while todo:
        module = todo.pop()
        if module in seen or not module.startswith(("lab", "server.lab")):
            continue
        seen.add(module)
        todo += ["lab"] if module.startswith("lab.") else []  # its package loads first
        todo += _loads(module)
    assert {"lab", "lab.wire"} <= seen
    assert not seen & {"lab.run", "lab.plot"}, sorted(seen)
