"""rtnb.verbs: call / notify / emit / publish on kinds that do not have them refuse clearly."""

from __future__ import annotations

import asyncio

import pytest

import rtnb
from rtnb.server import Server


@pytest.mark.parametrize(
    ("verb", "args", "kinds"),
    [
        ("call", ("add", [1, 2]), "jsonrpc and socketio"),
        ("notify", ("log", {"msg": "hi"}), "jsonrpc"),
        ("emit", ("chat", {"text": "hi"}), "socketio"),
        ("publish", ("ticks/AAPL", {"price": 1.0}), "mqtt"),
    ],
)
def test_a_ws_connection_refuses_protocol_verbs(
    server: Server, verb: str, args: tuple[object, ...], kinds: str
) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(timeout=10)
    with pytest.raises(rtnb.SendNotSupported, match=f"no {verb}\\(\\); it belongs to {kinds}"):
        getattr(c, verb)(*args, timeout=5)
    assert c.stats.sent == 0 and len(c.messages) == 0  # nothing went out, nothing logged
    c.send("still fine")
    assert c.recv(timeout=5).data == "still fine"


def test_the_async_twins_refuse_the_same_way(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"))

    async def use() -> None:
        await c.await_open(timeout=10)
        with pytest.raises(rtnb.SendNotSupported, match="no publish"):
            await c.apublish("t", "x")
        with pytest.raises(rtnb.SendNotSupported, match="no call"):
            await c.acall("m")

    asyncio.run(use())


def test_rpc_error_carries_code_message_and_data() -> None:
    err = rtnb.RPCError(-32602, "Invalid params", {"expected": "list"})
    assert (err.code, err.message, err.data) == (-32602, "Invalid params", {"expected": "list"})
    assert isinstance(err, rtnb.RTError)
    assert str(err) == "Invalid params (code -32602)"
    assert str(rtnb.RPCError(None, "ack refused")) == "ack refused"
