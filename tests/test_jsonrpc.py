"""JSON-RPC 2.0: rtnb's client against its own /ws/jsonrpc and hand-written peers, and the
endpoint against a raw websockets client speaking JSON-RPC by hand."""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

import rtnb
from rtnb.options import JSONRPCOptions, check_options
from rtnb.sendtext import parse_call_line
from rtnb.server import Server

from .conftest import wait_for
from .test_magics_terminal import ipython

Handler = Callable[[ServerConnection], None]


@pytest.fixture
def peer() -> Iterator[Callable[[Handler], str]]:
    """A hand-written WebSocket peer on loopback: ``url = peer(handler)``."""
    servers = []

    def start(handler: Handler) -> str:
        srv = ws_serve(handler, "127.0.0.1", 0)
        servers.append(srv)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        return f"ws://127.0.0.1:{srv.socket.getsockname()[1]}/"

    yield start
    for srv in servers:
        srv.shutdown()


def _rpc(server: Server, **options: object) -> rtnb.Connection:
    return rtnb.connect("jsonrpc", server.url_for("/ws/jsonrpc"), **options).wait_open(10)


# --- rtnb's client against rtnb's endpoint -------------------------------------------------


def test_call_returns_the_result_and_logs_the_request(server: Server) -> None:
    rpc = _rpc(server)
    assert rpc.call("add", [1, 2], timeout=5) == 3
    assert rpc.call("add", {"a": 1.5, "b": 2}, timeout=5) == 3.5
    assert rpc.call("echo", {"x": [1, "é"]}, timeout=5) == {"x": [1, "é"]}
    out = [m for m in rpc.log if m.direction == "out"]
    assert [m.event for m in out] == ["add", "add", "echo"]
    assert out[0].json == {"jsonrpc": "2.0", "method": "add", "id": 1, "params": [1, 2]}
    assert [m for m in rpc.log if m.direction == "in"] == []  # answers go to the caller
    assert rpc.stats.sent == 3


def test_error_answers_raise_rpc_error(server: Server) -> None:
    rpc = _rpc(server)
    with pytest.raises(rtnb.RPCError) as err:
        rpc.call("nope", [1], timeout=5)
    assert (err.value.code, err.value.message) == (-32601, "Method not found")
    assert err.value.data == {"method": "nope"}
    assert str(err.value) == "Method not found (code -32601)"
    with pytest.raises(rtnb.RPCError) as err:
        rpc.call("add", ["x"], timeout=5)
    assert err.value.code == -32602
    assert rpc.state == "open" and rpc.call("add", [2, 2], timeout=5) == 4


def test_notify_gets_no_answer(server: Server) -> None:
    rpc = _rpc(server)
    sent = rpc.notify("log", {"msg": "hi"})
    assert sent.direction == "out" and sent.event == "log"
    assert sent.json == {"jsonrpc": "2.0", "method": "log", "params": {"msg": "hi"}}
    rpc.notify("nope")  # an unknown method in a notification: still no answer
    assert rpc.call("echo", ["after"], timeout=5) == ["after"]
    assert [m for m in rpc.log if m.direction == "in"] == []


def test_a_batch_answers_in_order_with_errors_in_place(server: Server) -> None:
    rpc = _rpc(server)
    got = rpc.call([("add", [1, 2]), ("nope", None), ("echo", {"x": 1})], timeout=5)
    assert got[0] == 3 and got[2] == {"x": 1}
    assert isinstance(got[1], rtnb.RPCError) and got[1].code == -32601
    (out,) = [m for m in rpc.log if m.direction == "out"]
    assert out.event == "batch" and [r["method"] for r in out.json] == ["add", "nope", "echo"]
    with pytest.raises(ValueError, match="at least one"):
        rpc.call([], timeout=5)


def test_subscribe_pushes_notifications_into_the_log(server: Server) -> None:
    rpc = _rpc(server)
    answer = rpc.call("subscribe", {"symbols": ["AAPL", "MSFT"], "rate": 50}, timeout=5)
    assert answer == {"symbols": ["AAPL", "MSFT"]}
    ticks = [rpc.recv(timeout=5) for _ in range(4)]
    assert {m.event for m in ticks} == {"tick"}
    assert {m.json["symbol"] for m in ticks} == {"AAPL", "MSFT"}
    assert set(ticks[0].json) == {"t", "symbol", "price"}
    assert rpc.to_pandas()["price"].notna().sum() >= 4  # the fields reach the views directly
    rpc.call("unsubscribe", {"symbols": ["AAPL", "MSFT"]}, timeout=5)


def test_a_finished_count_can_be_subscribed_again(server: Server) -> None:
    rpc = _rpc(server)
    for _ in range(2):
        rpc.call("subscribe", {"symbols": "IBM", "rate": 0, "count": 2}, timeout=5)
        assert [rpc.recv(timeout=5).json["symbol"] for _ in range(2)] == ["IBM", "IBM"]
        with pytest.raises(rtnb.RecvTimeout):
            rpc.recv(timeout=0.3)  # the count is the end of that stream
        rpc.call("unsubscribe", {"symbols": "IBM"}, timeout=5)


def test_send_on_open_renews_a_subscription_after_a_reconnect() -> None:
    srv = rtnb.serve()
    port = srv.port
    sub = {"jsonrpc": "2.0", "id": "sub", "method": "subscribe", "params": {"rate": 50}}
    rpc = rtnb.connect(
        "jsonrpc",
        srv.url_for("/ws/jsonrpc"),
        send_on_open=[json.dumps(sub)],
        backoff={"initial": 0.05, "cap": 0.2},
    )
    try:
        first = rpc.recv(timeout=10)
        # the hand-sent request's answer is logged under its method
        assert first.event == "subscribe" and first.json["result"] == {"symbols": ["AAPL"]}
        assert rpc.recv(timeout=5).event == "tick"
        srv.stop()
        wait_for(lambda: rpc.state == "reconnecting", 10)
        srv = rtnb.serve(port=port)
        wait_for(lambda: rpc.stats.reconnects == 1 and rpc.state == "open", 15)

        def answers() -> list[rtnb.Message]:
            return [m for m in rpc.log if m.direction == "in" and m.event == "subscribe"]

        wait_for(lambda: len(answers()) == 2, 10)  # the request went out again and was answered
        renewed = answers()[1].seq
        wait_for(lambda: any(m.event == "tick" and m.seq > renewed for m in rpc.log), 10)
        assert len([m for m in rpc.log if m.direction == "out"]) == 2
    finally:
        rpc.close()
        srv.stop()


# --- rtnb's client against hand-written peers ----------------------------------------------


def test_malformed_frames_are_kept_and_reported(peer: Callable[[Handler], str]) -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("not json")
        ws.send('{"foo": 1}')
        ws.send("[1, 2]")
        ws.send('{"jsonrpc": "2.0", "method": "hello", "params": [1]}')
        ws.recv()

    rpc = rtnb.connect("jsonrpc", peer(handler))
    got = [rpc.recv(timeout=5) for _ in range(5)]
    assert [m.data for m in got[:4]] == ["not json", '{"foo": 1}', "1", "2"]  # a batch's items
    assert [m.event for m in got] == [None, None, None, None, "hello"]
    assert got[4].json == [1]
    assert rpc.stats.errors == 4 and rpc.state == "open"
    assert rpc.stats.last_error == "jsonrpc: a frame that is not a JSON-RPC 2.0 object: '2'"


def test_a_late_answer_goes_to_the_log_under_its_method(peer: Callable[[Handler], str]) -> None:
    def handler(ws: ServerConnection) -> None:
        req = json.loads(ws.recv())
        time.sleep(0.5)
        ws.send(json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": "late"}))
        ws.send(json.dumps({"jsonrpc": "2.0", "id": 999, "result": "stray"}))
        ws.recv()

    rpc = rtnb.connect("jsonrpc", peer(handler)).wait_open(10)
    with pytest.raises(TimeoutError, match=r"no answer to slow within 0\.2 s"):
        rpc.call("slow", timeout=0.2)
    late, stray = rpc.recv(timeout=5), rpc.recv(timeout=5)
    assert (late.event, late.json["result"]) == ("slow", "late")
    assert (stray.event, stray.json["result"]) == ("response", "stray")
    assert rpc.transport.info()["pending_calls"] == 0


def test_pending_calls_are_bounded_and_fail_when_the_peer_leaves(
    peer: Callable[[Handler], str],
) -> None:
    release = threading.Event()

    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.recv()
        release.wait(10)  # then leave without answering

    rpc = rtnb.connect("jsonrpc", peer(handler), max_pending=2, reconnect=False).wait_open(10)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        calls = [pool.submit(rpc.call, "wait", [i], 10) for i in range(2)]
        wait_for(lambda: rpc.transport.info()["pending_calls"] == 2, 5)
        with pytest.raises(rtnb.RTError, match="max_pending=2"):
            rpc.call("third", timeout=5)
        release.set()
        for call in calls:
            with pytest.raises(rtnb.ConnectionClosed, match="dropped before the answer"):
                call.result(10)


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match=r"max_pendng \(did you mean max_pending"):
        check_options("jsonrpc", {"max_pendng": 3}, JSONRPCOptions)
    with pytest.raises(ValueError, match="max_pending must be at least 1"):
        rtnb.connect("jsonrpc", "ws://127.0.0.1:9/", max_pending=0)
    with pytest.raises(ValueError, match="ws:// or wss://"):
        rtnb.connect("jsonrpc", "http://127.0.0.1:9/")
    assert JSONRPCOptions.names() >= {"headers", "verify", "cafile", "max_pending"}


def test_params_must_be_a_list_or_an_object(server: Server) -> None:
    rpc = _rpc(server)
    with pytest.raises(TypeError, match="list or a dict"):
        rpc.call("echo", "text", timeout=5)
    with pytest.raises(TypeError, match="list or a dict"):
        rpc.notify("log", 3)


# --- the endpoint against a client speaking JSON-RPC by hand --------------------------------


def test_endpoint_follows_the_specification(server: Server) -> None:
    with ws_connect(server.url_for("/ws/jsonrpc"), open_timeout=5) as ws:

        def ask(text: str) -> object:
            ws.send(text)
            return json.loads(ws.recv(timeout=5))

        assert ask('{"jsonrpc": "2.0", "method": "add", "params": [4, 5], "id": "a"}') == {
            "jsonrpc": "2.0",
            "result": 9,
            "id": "a",
        }
        parse = ask('{"jsonrpc": "2.0", "method": "add", "params": [1, 2')
        assert parse["error"] == {"code": -32700, "message": "Parse error"}
        assert parse["id"] is None
        assert ask('{"method": "add", "id": 1}')["error"]["code"] == -32600
        assert ask('{"jsonrpc": "2.0", "method": 1, "id": 2}')["error"]["code"] == -32600
        assert ask("[]")["error"]["code"] == -32600
        nope = ask('{"jsonrpc": "2.0", "method": "nope", "id": 3}')
        assert nope["error"]["code"] == -32601 and nope["id"] == 3
        batch = ask(
            '[{"jsonrpc": "2.0", "method": "echo", "params": ["x"], "id": 1},'
            ' {"jsonrpc": "2.0", "method": "log", "params": {"m": 1}},'
            ' {"bad": true},'
            ' {"jsonrpc": "2.0", "method": "add", "params": [1, 1], "id": 2}]'
        )
        got = [a.get("result", a.get("error", {}).get("code")) for a in batch]
        assert got == [["x"], -32600, 2]
        ws.send('{"jsonrpc": "2.0", "method": "log", "params": {"m": 1}}')  # no answer
        ws.send(b"\x00binary")
        assert json.loads(ws.recv(timeout=5))["error"]["code"] == -32700
        sub = ask(
            '{"jsonrpc":"2.0","method":"subscribe","params":{"symbols":"tsla","rate":50},"id":9}'
        )
        assert sub["result"] == {"symbols": ["TSLA"]}
        push = json.loads(ws.recv(timeout=5))
        assert push["jsonrpc"] == "2.0" and push["method"] == "tick" and "id" not in push
        assert push["params"]["symbol"] == "TSLA"
        bad = ask('{"jsonrpc": "2.0", "method": "subscribe", "params": {"rate": -1}, "id": 10}')
        while "id" not in bad:  # ticks may come first
            bad = json.loads(ws.recv(timeout=5))
        assert bad["error"]["code"] == -32602 and "rate" in bad["error"]["data"]


def test_endpoint_is_listed(server: Server) -> None:
    paths = {ep.path: ep.kind for ep in server.endpoints}
    assert paths["/ws/jsonrpc"] == "jsonrpc"
    assert "%rt_connect jsonrpc /ws/jsonrpc" in server.describe()


# --- %rt_call, its line, and rtnb tail -----------------------------------------------------


def test_call_line_parsing() -> None:
    assert parse_call_line('rpc1 echo {"a": [1, 2]}') == ("rpc1", "echo", {"a": [1, 2]})
    assert parse_call_line("g 'query { hello }'") == ("g", "query { hello }", None)
    for bad, words in [
        ("rpc1", "name the connection and the method"),
        ("g 'query { hello }", "closing ' is missing"),
        ("rpc1 add [1,", "PARAMS is not valid JSON"),
    ]:
        with pytest.raises(ValueError, match=words):
            parse_call_line(bad)


def test_rt_call_prints_the_answer_or_one_line(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_serve",
            "%rt_connect jsonrpc /ws/jsonrpc --name rpc",
            "%rt_call rpc add [1, 2]",
            '%rt_call rpc echo {"text": "{not expanded}"}',
            "%rt_call rpc nope",
            "%rt_connect graphql /graphql --name gq",
            "%rt_call gq 'query { hello(name: \"magic\") }'",
            "%rt_stop",
        ]
    )
    p = ipython(code, tmp_path)
    out = p.stdout.splitlines()
    assert "3" in out
    assert '{"text": "{not expanded}"}' in out
    assert '{"hello": "Hello, magic!"}' in out
    assert "rt_call: Method not found (code -32601)\n" in p.stderr
    assert "usage" not in p.stderr  # the call was right: only the answer's line
    assert "Traceback" not in p.stderr + p.stdout


def test_tail_takes_the_new_kinds(server: Server) -> None:
    from .test_cli import run

    p = run(
        "tail",
        "jsonrpc",
        server.url_for("/ws/jsonrpc"),
        "--send-on-open",
        '{"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"rate": 50}}',
        "--count",
        "3",
    )
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert json.loads(lines[0])["result"] == {"symbols": ["AAPL"]}  # the answer to the request
    assert [json.loads(line)["symbol"] for line in lines[1:]] == ["AAPL", "AAPL"]
