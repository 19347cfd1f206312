"""GraphQL over WebSocket (graphql-transport-ws): rtnb's client against its own /graphql, the
endpoint spoken to by hand, and both against the reference graphql-ws (JavaScript)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve
from websockets.typing import Subprotocol

import rtnb
from rtnb.options import GraphQLOptions, check_options
from rtnb.server import Server, graphql_handlers
from rtnb.transports.graphql import operation_of

from .conftest import node_peer, require_node, wait_for

NODE = Path(__file__).parent / "node"
TICKS = 'subscription { ticks(symbols: ["AAPL"], rate: 50) { symbol price } }'


def _gq(server: Server, **options: object) -> rtnb.Connection:
    return rtnb.connect("graphql", server.url_for("/graphql"), **options)


def _ended(conn: rtnb.Connection) -> bool:
    return conn.state in ("closed", "failed")


# --- rtnb's client against rtnb's endpoint -------------------------------------------------


def test_subscription_data_becomes_messages(server: Server) -> None:
    gq = _gq(server, query=TICKS, variables={})
    msgs = [gq.recv(timeout=5) for _ in range(3)]
    assert {m.event for m in msgs} == {"next"}
    assert msgs[0].json == {"ticks": {"symbol": "AAPL", "price": msgs[0].json["ticks"]["price"]}}
    assert isinstance(msgs[0].json["ticks"]["price"], float)
    assert gq.stats.extra["subprotocol"] == "graphql-transport-ws"
    assert gq.stats.extra["operation"] == "next"


def test_the_operation_name_is_the_event_and_variables_are_sent(server: Server) -> None:
    query = "subscription Ticks($s: [String!]) { ticks(symbols: $s, rate: 50) { t symbol } }"
    gq = _gq(server, query=query, variables={"s": ["MSFT"]}, operation_name="Ticks")
    m = gq.recv(timeout=5)
    assert m.event == "Ticks" and m.json["ticks"]["symbol"] == "MSFT"
    assert set(m.json["ticks"]) == {"t", "symbol"}


def test_a_finite_subscription_completes_cleanly(server: Server) -> None:
    gq = _gq(server, query="subscription { ticks(rate: 0, count: 3) { price } }")
    assert len([gq.recv(timeout=5) for _ in range(3)]) == 3
    wait_for(lambda: _ended(gq), 10)
    assert gq.state == "closed"
    assert gq.stats.last_error == "graphql: the subscription completed"
    with pytest.raises(rtnb.ConnectionClosed):
        gq.recv(timeout=1)


def test_a_query_as_the_operation_gives_one_message(server: Server) -> None:
    gq = _gq(server, query="query Hi { hello }")
    m = gq.recv(timeout=5)
    assert (m.event, m.json) == ("Hi", {"hello": "Hello, world!"})
    wait_for(lambda: _ended(gq), 10)
    assert gq.state == "closed"


def test_call_runs_queries_and_mutations(server: Server) -> None:
    gq = _gq(server).wait_open(10)
    assert gq.call("{ hello }", timeout=5) == {"hello": "Hello, world!"}
    mutation = "mutation M($t: String!) { echo(text: $t) }"
    assert gq.call(mutation, {"t": "hé"}, timeout=5) == {"echo": "hé"}
    out = [m for m in gq.log if m.direction == "out"]
    assert [m.event for m in out] == ["query", "M"]
    assert out[1].json["payload"] == {"query": mutation, "variables": {"t": "hé"}}
    with pytest.raises(rtnb.RPCError) as err:
        gq.call("{ nope }", timeout=5)
    assert str(err.value) == "graphql: Cannot query field 'nope' on type 'Query'."
    assert err.value.data[0]["locations"] == [{"line": 1, "column": 3}]
    with pytest.raises(ValueError, match="Syntax Error"):
        gq.call("{ hello", timeout=5)
    # a subscription through call: its first result, then the client stops it
    first = gq.call("subscription { ticks(rate: 50) { symbol } }", timeout=5)
    assert first == {"ticks": {"symbol": "AAPL"}}
    assert gq.state == "open" and gq.transport.info()["waiting_for"] is None


def test_a_document_that_does_not_validate_fails_with_its_reason(server: Server) -> None:
    gq = _gq(server, query="subscription { tiks { price } }")
    wait_for(lambda: _ended(gq), 10)
    assert gq.state == "failed"
    why = "graphql: Cannot query field 'tiks' on type 'Subscription'. Did you mean 'ticks'?"
    assert gq.stats.last_error == why
    (kept,) = [m for m in gq.log if m.event == "error"]  # the whole error is in the log
    assert kept.json["errors"][0]["locations"] == [{"line": 1, "column": 16}]


def test_a_syntax_error_is_refused_when_connecting() -> None:
    why = r"^GraphQL Syntax Error: Expected Name, found <EOF> \(line 1, column 23\)$"
    with pytest.raises(ValueError, match=why):
        rtnb.connect("graphql", "ws://127.0.0.1:9/graphql", query="subscription { ticks {")
    with pytest.raises(ValueError, match="no operation named 'B'"):
        rtnb.connect("graphql", "ws://127.0.0.1:9/g", query="query A { hello }", operation_name="B")
    with pytest.raises(ValueError, match="several operations"):
        rtnb.connect("graphql", "ws://127.0.0.1:9/g", query="query A { a } query B { b }")
    assert operation_of("query A { a } query B { b }", "B") == ("query", "B")


def test_execution_errors_are_kept_and_reported(server: Server) -> None:
    gq = _gq(server, query='subscription { ticks(symbols: ["no spaces"]) { price } }')
    m = gq.recv(timeout=5)
    assert m.event == "error" and "bad symbol" in m.json["errors"][0]["message"]
    wait_for(lambda: _ended(gq), 10)
    assert gq.state == "closed"  # the operation completed: an execution error is a result
    assert "after an error: bad symbol 'no spaces'" in (gq.stats.last_error or "")


def test_the_subscription_is_renewed_after_a_reconnect() -> None:
    srv = rtnb.serve()
    port = srv.port
    gq = rtnb.connect(
        "graphql", srv.url_for("/graphql"), query=TICKS, backoff={"initial": 0.05, "cap": 0.2}
    )
    try:
        gq.recv(timeout=10)
        srv.stop()
        wait_for(lambda: gq.state == "reconnecting", 10)
        srv = rtnb.serve(port=port)
        wait_for(lambda: gq.stats.reconnects == 1 and gq.state == "open", 15)
        back = max(m.seq for m in gq.log)
        wait_for(lambda: any(m.seq > back and m.event == "next" for m in gq.log), 10)
        # the protocol's own frames (init, subscribe) are the transport's, not the log's
        assert [m for m in gq.log if m.direction == "out"] == []
    finally:
        gq.close()
        srv.stop()


def test_options_and_flags() -> None:
    with pytest.raises(TypeError, match=r"querry \(did you mean query"):
        check_options("graphql", {"querry": "{ a }"}, GraphQLOptions)
    assert GraphQLOptions.names() >= {"query", "variables", "operation_name", "headers", "cafile"}
    import argparse

    from rtnb.flags import add_connect_arguments, connect_options
    from rtnb.transports import option_tables

    parser = argparse.ArgumentParser()
    add_connect_arguments(parser, option_tables())
    args = parser.parse_args(["--query", "{ hello }", "--variables", '{"n": 1}'])
    assert connect_options(args, option_tables()) == {"query": "{ hello }", "variables": {"n": 1}}
    with pytest.raises(ValueError, match="--variables must be a JSON object"):
        connect_options(parser.parse_args(["--variables", "[1]"]), option_tables())


def _peer(handler: Callable[[ServerConnection], None]) -> tuple[str, Any]:
    srv = ws_serve(handler, "127.0.0.1", 0, subprotocols=[Subprotocol("graphql-transport-ws")])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/", srv


def test_a_server_that_never_acks_is_named_in_the_timeout() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()  # connection_init, never acknowledged
        time.sleep(1.5)

    url, srv = _peer(handler)
    try:
        gq = rtnb.connect("graphql", url, open_timeout=0.5, reconnect=False)
        wait_for(lambda: _ended(gq), 10)
        assert gq.state == "failed"
        assert "was waiting for connection_ack" in (gq.stats.last_error or "")
    finally:
        srv.shutdown()


def test_a_refusal_before_the_ack_is_final() -> None:
    inits: list[str] = []

    def handler(ws: ServerConnection) -> None:
        inits.append(ws.recv())
        ws.close(4403, "Forbidden")

    url, srv = _peer(handler)
    try:
        gq = rtnb.connect("graphql", url, connection_params={"token": "t"})
        wait_for(lambda: _ended(gq), 10)
        assert gq.state == "failed" and len(inits) == 1  # no retry: trying again cannot help
        assert gq.stats.last_error == (
            "graphql: server closed before connection_ack (code 4403: Forbidden)"
        )
        assert json.loads(inits[0]) == {"type": "connection_init", "payload": {"token": "t"}}
    finally:
        srv.shutdown()


# --- the endpoint spoken to by hand --------------------------------------------------------


def _open(server: Server, protocol: str | None = "graphql-transport-ws") -> ClientConnection:
    protocols = [Subprotocol(protocol)] if protocol else None
    return ws_connect(server.url_for("/graphql"), subprotocols=protocols, open_timeout=5)


def _recv(ws: ClientConnection) -> dict[str, object]:
    return dict(json.loads(ws.recv(timeout=5)))


def _close_code(ws: ClientConnection) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as closed:
        for _ in range(100):
            ws.recv(timeout=5)
    frame = closed.value.rcvd
    assert frame is not None
    return frame.code, frame.reason


def test_endpoint_speaks_the_protocol(server: Server) -> None:
    with _open(server) as ws:
        assert ws.subprotocol == "graphql-transport-ws"
        ws.send('{"type": "connection_init", "payload": {"token": "x"}}')
        assert _recv(ws) == {"type": "connection_ack"}
        ws.send('{"type": "ping"}')
        assert _recv(ws) == {"type": "pong"}
        sub = {"query": "subscription { ticks(rate: 100) { symbol } }"}
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": sub}))
        first = _recv(ws)
        assert first == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"ticks": {"symbol": "AAPL"}}},
        }
        ws.send('{"id": "1", "type": "complete"}')  # the client stops it
        ws.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "{ hello }"}}))
        mine: list[dict[str, object]] = []
        while len(mine) < 2:  # ticks of "1" sent before it was stopped may come first
            m = _recv(ws)
            if m.get("id") == "2":
                mine.append(m)
        assert mine == [
            {"id": "2", "type": "next", "payload": {"data": {"hello": "Hello, world!"}}},
            {"id": "2", "type": "complete"},
        ]
        ws.send(json.dumps({"id": "3", "type": "subscribe", "payload": {"query": "{ hello"}}))
        err = _recv(ws)
        while err.get("id") != "3":
            err = _recv(ws)
        assert err["type"] == "error"
        assert "Syntax Error" in err["payload"][0]["message"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("frames", "code", "words"),
    [
        (['{"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}}'], 4401, "Unauth"),
        (['{"type": "connection_init"}', '{"type": "connection_init"}'], 4429, "Too many"),
        (["not json"], 4400, "Invalid message"),
        (['{"type": "connection_init"}', '{"type": "what"}'], 4400, "Invalid message type"),
        (
            [
                '{"type": "connection_init"}',
                '{"id": "a", "type": "subscribe", "payload": {"query": "subscription '
                '{ ticks(rate: 1) { t } }"}}',
                '{"id": "a", "type": "subscribe", "payload": {"query": "{ hello }"}}',
            ],
            4409,
            "Subscriber for a already exists",
        ),
    ],
)
def test_endpoint_closes_on_protocol_errors(
    server: Server, frames: list[str], code: int, words: str
) -> None:
    with _open(server) as ws:
        for frame in frames:
            ws.send(frame)
        assert (got := _close_code(ws))[0] == code and words in got[1], got


def test_endpoint_wants_the_subprotocol_and_an_init_in_time(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _open(server, None) as ws:
        assert _close_code(ws) == (4406, "Subprotocol not acceptable")
    monkeypatch.setattr(graphql_handlers, "INIT_TIMEOUT", 0.3)
    with _open(server) as ws:
        assert _close_code(ws) == (4408, "Connection initialisation timeout")


def test_endpoint_is_listed(server: Server) -> None:
    assert {ep.path: ep.kind for ep in server.endpoints}["/graphql"] == "graphql"
    assert server.url_for("/graphql", token=False).startswith("ws://")


# --- interop with the reference implementation (graphql-ws, JavaScript) ----------------------


@pytest.fixture(scope="module")
def node_graphql() -> Iterator[str]:
    with node_peer("graphql_ws_server.js") as port:
        yield f"ws://127.0.0.1:{port}/graphql"


def test_client_against_graphql_ws_server(node_graphql: str) -> None:
    gq = rtnb.connect("graphql", node_graphql, query="subscription C { count(to: 3) }")
    assert [gq.recv(timeout=5).json for _ in range(3)] == [{"count": n} for n in (1, 2, 3)]
    wait_for(lambda: _ended(gq), 10)
    assert gq.state == "closed"
    calls = rtnb.connect("graphql", node_graphql).wait_open(10)
    assert calls.call("{ hello }", timeout=5) == {"hello": "world"}
    with pytest.raises(rtnb.RPCError, match="Cannot query field"):
        calls.call("{ nope }", timeout=5)
    assert calls.call("subscription { forever }", timeout=5) == {"forever": 0}
    assert calls.state == "open"


def test_errors_from_graphql_ws_server_reach_stats_and_log(node_graphql: str) -> None:
    gq = rtnb.connect("graphql", node_graphql, query="subscription { broken }")
    wait_for(lambda: any(m.event == "error" for m in gq.log), 10)
    data, err = [m for m in gq.log if m.direction == "in"][:2]
    assert data.json == {"broken": None} and err.json["errors"][0]["message"] == (
        "the resolver broke"
    )
    wait_for(lambda: _ended(gq), 10)
    assert gq.stats.last_error == (
        "graphql: the subscription completed (after an error: the resolver broke)"
    )
    bad = rtnb.connect("graphql", node_graphql, query="subscription { nope }")
    wait_for(lambda: _ended(bad), 10)
    assert bad.state == "failed"
    assert bad.stats.last_error == 'graphql: Cannot query field "nope" on type "Subscription".'


def test_graphql_ws_client_against_the_endpoint(server: Server) -> None:
    node = require_node()
    p = subprocess.run(
        [node, str(NODE / "graphql_ws_client.js"), server.url_for("/graphql")],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=NODE,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    out = [json.loads(line) for line in p.stdout.splitlines()]
    assert out[:2] == [
        {"op": "hello", "next": {"data": {"hello": "Hello, node!"}}},
        {"op": "hello", "complete": True},
    ]
    ticks = [o for o in out if o["op"] == "ticks"]
    assert [t["next"]["data"]["ticks"]["symbol"] for t in ticks[:3]] == ["MSFT"] * 3
    assert ticks[3] == {"op": "ticks", "complete": True}
    (bad,) = [o for o in out if o["op"] == "bad"]
    assert bad["error"][0]["message"] == "Cannot query field 'nope' on type 'Tick'."


def test_a_recording_replays_with_its_events(server: Server, tmp_path: Path) -> None:
    gq = _gq(server, query="subscription T { ticks(rate: 0, count: 5) { symbol price } }")
    path = tmp_path / "gq.jsonl"
    rec = gq.record(str(path), include_existing=True)
    wait_for(lambda: _ended(gq), 10)
    rec.stop()
    live = [(m.event, m.json) for m in gq.log if m.direction == "in"]
    r = rtnb.replay(str(path), speed=0)
    played = [r.recv(timeout=5) for _ in range(5)]
    assert [(m.event, m.json) for m in played] == live


def test_tail_subscribes_with_query_and_variables(server: Server) -> None:
    from .test_cli import run

    query = "subscription S($n: Int) { ticks(rate: 0, count: $n) { symbol } }"
    p = run(
        "tail", "graphql", server.url_for("/graphql"), "--query", query, "--variables", '{"n": 2}'
    )
    assert p.returncode == 0, p.stderr
    assert [json.loads(line) for line in p.stdout.splitlines()] == [
        {"ticks": {"symbol": "AAPL"}}
    ] * 2
