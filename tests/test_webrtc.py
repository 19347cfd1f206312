"""WebRTC data channels over loopback: rtnb clients, the relay, the bot, failures, leaks.

Run inside the loopback-only namespace (aioice never offers 127.0.0.1):
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_webrtc.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import subprocess
import sys
import time
from typing import Any

import psutil
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

import rtnb
from rtnb import signaling
from rtnb.errors import ConnectError
from rtnb.runtime import get_runtime, run
from rtnb.server import Server
from rtnb.server.webrtc_handlers import BOTS, ROOMS
from rtnb.transports.webrtc import WebRTCTransport

from .conftest import free_port, loop_tasks

webrtc = pytest.mark.webrtc
_rooms = itertools.count(1)


def room_url(server: Server, room: str | None = None) -> str:
    return server.url_for(f"/webrtc/signal?room={room or f't{next(_rooms)}'}")


def raw_peer(url: str) -> ClientConnection:
    """A plain signaling socket, for playing a misbehaving or simple peer."""
    return ws_connect(url, open_timeout=5, close_timeout=2)


def recv_json(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    data = json.loads(ws.recv(timeout=timeout))
    assert isinstance(data, dict)
    return data


def recv_type(ws: ClientConnection, kind: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        msg = recv_json(ws, max(0.1, deadline - time.monotonic()))
        if msg["type"] == kind:
            return msg


def udp_sockets() -> int:
    return len(psutil.Process().net_connections(kind="udp"))


def pair(server: Server, role_a: str, role_b: str, **opts: Any) -> tuple[Any, Any]:
    url = room_url(server)
    a = rtnb.connect("webrtc", url, role=role_a, **opts)
    b = rtnb.connect("webrtc", url, role=role_b, **opts)
    return a.wait_open(15), b.wait_open(15)


def exchange(a: Any, b: Any) -> None:
    a.send("ping from a")
    assert b.recv(5).data == "ping from a"
    b.send(b"\x00bytes from b")
    got = a.recv(5)
    assert got.data == b"\x00bytes from b" and got.channel == "chat"


# --- options (no network) -------------------------------------------------------------


def test_options_are_checked_with_clear_errors() -> None:
    def make(url: str = "ws://127.0.0.1:1/webrtc/bot", **opts: Any) -> WebRTCTransport:
        return WebRTCTransport(url, lambda *a, **k: None, opts)

    with pytest.raises(ValueError, match="signaling WebSocket URL"):
        make("http://127.0.0.1/webrtc/bot")
    with pytest.raises(ValueError, match="role must be"):
        make(role="caller")
    with pytest.raises(ValueError, match="not both"):
        make(max_retransmits=1, max_packet_life_time=100)
    with pytest.raises(ValueError, match="max_retransmits"):
        make(max_retransmits=-1)
    with pytest.raises(TypeError, match="unknown option"):
        make(chanel="x")
    with pytest.raises(TypeError, match="ice server"):
        make(ice_servers=[42])
    t = make(channel="data", role="answer", ordered=False, max_retransmits=0)
    assert (t.label, t.role, t.ordered, t.max_retransmits) == ("data", "answer", False, 0)
    assert make().ice_servers == [] and not make().reconnect_by_default


# --- the bot --------------------------------------------------------------------------


@webrtc
def test_bot_echoes_text_as_text_and_bytes_as_bytes(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    c.send("héllo")
    c.send(b"\x00\xffbin")
    c.send({"type": "note", "n": 1})
    got = [c.recv(5) for _ in range(3)]
    assert [m.data for m in got] == ["héllo", b"\x00\xffbin", '{"type":"note","n":1}']
    assert all(m.channel == "chat" for m in got)
    assert c.stats.extra["role"] == "offer"
    assert c.stats.sent == 3 and c.stats.received == 3


@webrtc
def test_bot_streams_ticks_after_subscribe_and_stops_after_unsubscribe(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), channel="ticks").wait_open(15)
    c.send({"type": "subscribe", "symbols": ["aapl", "MSFT"], "rate": 100})
    ack = c.recv(5).json
    assert ack == {"type": "subscribed", "symbols": ["AAPL", "MSFT"], "rate": 100.0}
    ticks = [c.recv(5).json for _ in range(6)]
    assert [t["symbol"] for t in ticks] == ["AAPL", "MSFT"] * 3
    assert all(set(t) == {"t", "symbol", "price"} for t in ticks)
    assert all(m.channel == "ticks" for m in c.messages.tail(3))
    c.send({"type": "unsubscribe"})
    deadline = time.monotonic() + 5
    while c.recv(5).json.get("type") != "unsubscribed":
        assert time.monotonic() < deadline
    c.send("after")
    while (m := c.recv(5)).data != "after":
        assert m.json is not None and "symbol" in m.json  # ticks already in flight


@webrtc
def test_bot_subscribe_with_count_and_bad_rate(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    c.send({"type": "subscribe", "symbols": "AAPL", "rate": -1})
    assert "rate" in c.recv(5).json["error"]
    c.send({"type": "subscribe", "symbols": "AAPL", "rate": 0, "count": 50})
    assert c.recv(5).json["type"] == "subscribed"
    prices = [c.recv(5).json["price"] for _ in range(50)]
    assert len(prices) == 50
    c.send("done")
    assert c.recv(5).data == "done"  # exactly 50 ticks came before the echo


@webrtc
def test_bot_takes_the_tickers_channel_spelling(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    c.send({"type": "subscribe", "channel": "tsla", "rate": 0, "count": 3})
    assert c.recv(5).json == {"type": "subscribed", "symbols": ["TSLA"], "rate": 0.0}
    assert [c.recv(5).json["symbol"] for _ in range(3)] == ["TSLA"] * 3
    c.send({"type": "subscribe", "channel": "<bad>"})
    assert "bad symbol" in c.recv(5).json["error"]
    c.send('{"type": "note"}')  # JSON that is no command is echoed
    assert c.recv(5).data == '{"type": "note"}'


@webrtc
def test_repeated_subscribes_leave_one_stream_and_no_stale_listeners(
    fresh_server: Server,
) -> None:
    server = fresh_server
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), channel="ticks").wait_open(15)
    for _ in range(30):
        c.send({"type": "subscribe", "symbols": "AAPL", "rate": 1})
    c.send("mark")
    while c.recv(5).data != "mark":
        pass

    async def listeners() -> list[int]:
        await asyncio.sleep(0.05)  # the cancelled streams finish
        return [
            len(ch.listeners("bufferedamountlow"))
            for bot in server._app[BOTS]  # type: ignore[index]
            for ch in bot.streams
        ]

    assert run(listeners(), timeout=5) == [1]


@webrtc
def test_unordered_partially_reliable_channel_to_the_bot(server: Server) -> None:
    c = rtnb.connect(
        "webrtc", server.url_for("/webrtc/bot"), ordered=False, max_retransmits=0
    ).wait_open(15)
    c.send("u")
    assert c.recv(5).data == "u"
    ch = c.transport._channel  # type: ignore[attr-defined]
    assert (ch.ordered, ch.maxRetransmits) == (False, 0)


@webrtc
def test_message_over_the_peers_size_limit_is_refused_clearly(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    big = b"x" * 300_000  # aiortc peers announce a=max-message-size:262144
    with pytest.raises(rtnb.ProtocolError, match=r"message refused: .*262144 bytes"):
        c.send(big)
    c.send(b"y" * 200_000)
    assert c.recv(5).data == b"y" * 200_000
    assert c.state == "open"


@webrtc
def test_a_send_cancelled_while_the_channel_is_full_leaves_no_waiter(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    transport = c.transport
    chunk = b"z" * 65_536

    def waiters() -> set[asyncio.Task[object]]:
        return {
            t
            for t in asyncio.all_tasks()
            if not t.done() and t.get_coro().__qualname__ == "Event.wait"
        }

    async def fill_then_cancel() -> list[str]:
        # the channel only queues until the loop runs: 20 chunks pass the 1 MiB high water
        channel = transport._channel
        assert channel is not None
        before = waiters()  # other servers' waits (Socket.IO's ping loop) are not ours
        for _ in range(20):
            channel.send(chunk)
        blocked = asyncio.ensure_future(transport.send(chunk))
        await asyncio.sleep(0)
        assert not blocked.done()  # waiting for the channel to drain
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        return [repr(t) for t in waiters() - before]

    assert run(fill_then_cancel(), timeout=15) == []
    c.close()


@webrtc
def test_stats_expose_ice_dtls_and_signaling_state(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    extra = c.stats.extra
    assert extra["ice_connection_state"] == "completed"
    assert extra["connection_state"] == "connected"
    assert extra["dtls_state"] == "connected"
    assert extra["signaling_state"] == "stable"
    assert extra["channel_state"] == "open"
    c.close()
    assert c.state == "closed" and c.stats.extra["connection_state"] is None


@webrtc
def test_bot_replies_with_errors_to_bad_signaling_and_keeps_going(server: Server) -> None:
    with raw_peer(server.url_for("/webrtc/bot")) as ws:
        assert recv_json(ws) == {"type": "hello", "role": "answer", "peer": "bot"}
        ws.send("{oops")
        assert "not JSON" in recv_json(ws)["error"]
        ws.send(b"\x01")
        assert "JSON text" in recv_json(ws)["error"]
        ws.send(json.dumps({"type": "offer", "sdp": {"type": "offer", "sdp": "nonsense"}}))
        assert "v=0" in recv_json(ws)["error"]
        bad_sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 X\r\n"
        ws.send(json.dumps(signaling.description("offer", bad_sdp)))
        assert "bot refused the offer" in recv_json(ws)["error"]
        ws.send(json.dumps(signaling.description("answer", bad_sdp)))
        assert "only answers" in recv_json(ws)["error"]
    # the bot still serves others
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    c.send("still here")
    assert c.recv(5).data == "still here"


@webrtc
def test_client_leaving_before_the_answer_is_not_logged_as_an_error(
    fresh_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    from websockets.asyncio.client import connect as async_connect

    async def offer_and_vanish() -> None:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("x")
        await pc.setLocalDescription(await pc.createOffer())
        async with async_connect(fresh_server.url_for("/webrtc/bot")) as ws:
            await ws.recv()  # hello
            offer = {"type": "offer", "sdp": {"type": "offer", "sdp": pc.localDescription.sdp}}
            await ws.send(json.dumps(offer))
            ws.transport.abort()  # gone before the bot can answer
        await pc.close()

    caplog.set_level(logging.ERROR)
    asyncio.run(offer_and_vanish())
    bots = fresh_server._app[BOTS]  # type: ignore[index]
    deadline = time.monotonic() + 10
    while bots and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the handler's last log line, if any
    assert not bots
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@webrtc
def test_server_stop_closes_every_bot_peer(fresh_server: Server) -> None:
    c = rtnb.connect("webrtc", fresh_server.url_for("/webrtc/bot")).wait_open(15)
    app = fresh_server._app
    assert app is not None and len(app[BOTS]) == 1
    fresh_server.stop()
    assert len(app[BOTS]) == 0
    deadline = time.monotonic() + 30
    while c.state == "open":
        assert time.monotonic() < deadline, "the client never saw the bot go away"
        time.sleep(0.05)
    assert c.state in ("closed", "failed")


@webrtc
def test_bots_are_bounded_by_max_bots() -> None:
    srv = rtnb.serve(max_bots=1)
    try:
        first = rtnb.connect("webrtc", srv.url_for("/webrtc/bot")).wait_open(15)
        second = rtnb.connect("webrtc", srv.url_for("/webrtc/bot"))
        with pytest.raises(ConnectError, match="server busy: 1 bots"):
            second.wait_open(15)
        first.send("x")
        assert first.recv(5).data == "x"
    finally:
        srv.stop()


# --- the relay ------------------------------------------------------------------------


@webrtc
def test_two_clients_through_the_relay_with_explicit_roles(server: Server) -> None:
    a, b = pair(server, "offer", "answer")
    assert (a.stats.extra["role"], b.stats.extra["role"]) == ("offer", "answer")
    exchange(a, b)


@webrtc
def test_answerer_first_then_offerer(server: Server) -> None:
    url = room_url(server)
    b = rtnb.connect("webrtc", url, role="answer")
    time.sleep(0.3)
    a = rtnb.connect("webrtc", url, role="offer")
    exchange(a.wait_open(15), b.wait_open(15))


@webrtc
def test_two_auto_clients_through_the_relay(server: Server) -> None:
    a, b = pair(server, "auto", "auto")
    assert {a.stats.extra["role"], b.stats.extra["role"]} == {"offer", "answer"}
    exchange(a, b)


@webrtc
def test_auto_clients_that_offer_at_once_resolve_glare(server: Server) -> None:
    # Two explicit offerers and zero-wait auto pairs, started together: whatever
    # order the offers cross in, exactly one side answers and both open.
    for roles in (("offer", "offer"), ("auto", "auto"), ("auto", "offer")):
        a, b = pair(server, *roles, auto_wait=0)
        assert {a.stats.extra["role"], b.stats.extra["role"]} == {"offer", "answer"}
        exchange(a, b)
        a.close()
        b.close()


@webrtc
def test_glare_with_a_browser_style_offer_makes_rtnb_answer(server: Server) -> None:
    url = room_url(server)
    c = rtnb.connect("webrtc", url, role="offer")

    async def browser_like() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            ch = pc.createDataChannel("chat")
            opened = asyncio.get_running_loop().create_future()
            got: asyncio.Queue[str] = asyncio.Queue()
            ch.on("open", lambda: opened.set_result(None))
            ch.on("message", got.put_nowait)
            from websockets.asyncio.client import connect

            async with connect(url) as ws:
                # rtnb's offer is waiting for us: we offer anyway (glare), with no tie-break
                while json.loads(await ws.recv())["type"] != "offer":
                    pass
                await pc.setLocalDescription(await pc.createOffer())
                await ws.send(
                    signaling.dumps(signaling.description("offer", pc.localDescription.sdp))
                )
                while (msg := signaling.parse(await ws.recv())).type != "answer":
                    pass
                assert msg.sdp is not None
                await pc.setRemoteDescription(RTCSessionDescription(msg.sdp, "answer"))
                await asyncio.wait_for(opened, 10)
                ch.send("from the page")
                return await asyncio.wait_for(got.get(), 10)
        finally:
            await pc.close()

    fut = get_runtime().submit(browser_like())
    c.wait_open(15)
    assert c.stats.extra["role"] == "answer"
    assert c.recv(5).data == "from the page"
    c.send("from rtnb")
    assert fut.result(15) == "from rtnb"


@webrtc
def test_relay_refuses_a_third_peer(server: Server) -> None:
    url = room_url(server)
    with raw_peer(url) as one, raw_peer(url) as two:
        assert recv_type(one, "room")["peers"] == 0
        assert recv_type(two, "room")["peers"] == 1
        assert recv_type(one, "join")["peers"] == 1
        with raw_peer(url) as three:
            err = recv_json(three)
            assert err["type"] == "error" and "is full (2 peers)" in err["error"]
            with pytest.raises(Exception) as info:
                three.recv(timeout=5)
            assert getattr(info.value, "rcvd", None) is not None
            assert info.value.rcvd.code == 1008  # type: ignore[attr-defined]
        c = rtnb.connect("webrtc", url)
        with pytest.raises(ConnectError, match="is full"):
            c.wait_open(10)
        assert c.state == "failed"


@webrtc
def test_relay_forwards_messages_and_says_bye(server: Server) -> None:
    url = room_url(server)
    with raw_peer(url) as one:
        recv_type(one, "room")
        one.send(json.dumps({"type": "note", "n": 1}))  # held until someone joins
        with raw_peer(url) as two:
            assert recv_json(two) == {"type": "note", "n": 1}
            assert recv_type(two, "room")["peers"] == 1
            two.send(json.dumps({"type": "note", "n": 2}))
            assert recv_type(one, "note")["n"] == 2
        assert recv_type(one, "bye") == {"type": "bye"}
    deadline = time.monotonic() + 5
    app = server._app
    assert app is not None
    while any(name == url.rsplit("=", 1)[1] for name in app[ROOMS]):
        assert time.monotonic() < deadline, "an empty room was kept"
        time.sleep(0.05)


@webrtc
def test_relay_answers_invalid_json_with_an_error_and_survives(server: Server) -> None:
    url = room_url(server)
    with raw_peer(url) as one, raw_peer(url) as two:
        recv_type(one, "join")
        recv_type(two, "room")
        one.send("{not json")
        assert "not JSON" in recv_type(one, "error")["error"]
        one.send(json.dumps({"type": "offer", "sdp": {"type": "offer", "sdp": 5}}))
        assert 'needs "sdp"' in recv_type(one, "error")["error"]
        one.send(json.dumps({"type": "candidate", "candidate": {"candidate": "x", "sdpMid": "0"}}))
        assert "malformed ICE candidate" in recv_type(one, "error")["error"]
        one.send(b"\x00")
        assert "JSON text" in recv_type(one, "error")["error"]
        one.send(json.dumps({"type": "note"}))
        assert recv_json(two) == {"type": "note"}  # nothing invalid was relayed


@webrtc
def test_relay_bounds_rooms(fresh_server: Server) -> None:
    fresh_server.config.max_rooms = 1
    with raw_peer(room_url(fresh_server, "a")) as one:
        recv_type(one, "room")
        with raw_peer(room_url(fresh_server, "b")) as two:
            assert "too many rooms (1)" in recv_json(two)["error"]


@webrtc
def test_peer_leaving_ends_the_other_connection(server: Server) -> None:
    a, b = pair(server, "offer", "answer")
    a.close()
    deadline = time.monotonic() + 30
    while b.state == "open":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert b.state == "closed"
    assert b.stats.last_error in ("the peer left (bye)", "the data channel was closed")


@webrtc
def test_reconnecting_client_meets_the_next_peer(server: Server) -> None:
    url = room_url(server)
    a = rtnb.connect("webrtc", url, reconnect=True, backoff={"initial": 0.05, "cap": 0.2})
    b = rtnb.connect("webrtc", url).wait_open(15)
    exchange(a.wait_open(15), b)
    b.close()
    deadline = time.monotonic() + 30
    while a.stats.reconnects == 0 and a.state != "reconnecting":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    c = rtnb.connect("webrtc", url).wait_open(15)
    a.wait_open(15)
    c.send("new peer")
    deadline = time.monotonic() + 10
    while a.recv(5).data != "new peer":
        assert time.monotonic() < deadline
    assert a.stats.reconnects == 1


def test_index_lists_the_webrtc_endpoints_and_demo(server: Server) -> None:
    paths = {ep.path for ep in server.endpoints}
    assert {"/webrtc/signal", "/webrtc/bot", "/demo/webrtc"} <= paths
    import urllib.request

    with urllib.request.urlopen(server.url + "/", timeout=5) as resp:
        index = resp.read().decode()
    assert "/webrtc/signal?room=demo" in index and "/demo/webrtc" in index
    with urllib.request.urlopen(server.url + "/demo/webrtc.js", timeout=5) as resp:
        assert b"RTCPeerConnection" in resp.read()


# --- failures -------------------------------------------------------------------------


@webrtc
def test_unreachable_signaling_fails_promptly() -> None:
    c = rtnb.connect("webrtc", f"ws://127.0.0.1:{free_port()}/webrtc/bot")
    with pytest.raises(ConnectError, match="signaling server unreachable: connection refused"):
        c.wait_open(10)
    assert c.state == "failed"


@webrtc
def test_answer_role_to_the_bot_fails_at_once_with_advice(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), role="answer")
    with pytest.raises(ConnectError, match="use role='auto' or 'offer'"):
        c.wait_open(10)


NO_ADDRESS_SCRIPT = """
import rtnb
srv = rtnb.serve()
c = rtnb.connect("webrtc", srv.url_for("/webrtc/bot"))
try:
    c.wait_open(10)
except rtnb.ConnectError as exc:
    print("ConnectError:", exc)
srv.stop()
"""


@webrtc
def test_machine_with_only_127_0_0_1_gets_a_clear_error() -> None:
    # A fresh namespace whose lo has only 127.0.0.1: aioice finds no address at all.
    unshare = ["unshare", "--net"] if os.getuid() == 0 else ["unshare", "-Urn"]
    inner = f"ip link set lo up && exec {sys.executable} -c '{NO_ADDRESS_SCRIPT}'"
    proc = subprocess.run(
        [*unshare, "bash", "-c", inner], capture_output=True, text=True, timeout=60
    )
    assert "ConnectError:" in proc.stdout, proc.stdout + proc.stderr
    assert "no local ICE candidates" in proc.stdout
    assert "ip addr add 127.0.0.2/8 dev lo" in proc.stdout
    assert "Traceback" not in proc.stderr


@webrtc
def test_wrong_signaling_path_fails_with_the_http_status(server: Server) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/nowhere"))
    with pytest.raises(ConnectError, match="HTTP 404"):
        c.wait_open(10)


@webrtc
def test_peer_that_never_answers_times_out(server: Server) -> None:
    url = room_url(server)
    with raw_peer(url) as silent:
        c = rtnb.connect("webrtc", url, role="offer", open_timeout=1.5)
        with pytest.raises(
            ConnectError, match=r"open_timeout=1\.5 s \(was waiting for an answer to rtnb"
        ):
            c.wait_open(10)
        assert c.state == "failed"
        assert recv_type(silent, "offer")["tiebreak"] == signaling.TIEBREAK_MAX


def _answer_without_candidates(offer_sdp: str) -> str:
    async def make() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            sdp: str = pc.localDescription.sdp
        finally:
            await pc.close()
        return "".join(line for line in sdp.splitlines(True) if "a=candidate" not in line)

    return run(make(), timeout=10)


@webrtc
def test_ice_failure_is_reported(server: Server) -> None:
    url = room_url(server)
    with raw_peer(url) as peer:
        c = rtnb.connect("webrtc", url, role="offer")
        offer = signaling.parse(recv_type(peer, "offer"))
        assert offer.sdp is not None
        answer = _answer_without_candidates(offer.sdp)
        assert "a=end-of-candidates" in answer
        peer.send(signaling.dumps(signaling.description("answer", answer)))
        with pytest.raises(ConnectError, match="ICE failed"):
            c.wait_open(20)


@webrtc
def test_invalid_answer_is_refused_clearly(server: Server) -> None:
    url = room_url(server)
    with raw_peer(url) as peer:
        c = rtnb.connect("webrtc", url, role="offer")
        recv_type(peer, "offer")
        bad = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 X\r\n"
        peer.send(signaling.dumps(signaling.description("answer", bad)))
        with pytest.raises(ConnectError, match="answer was refused"):
            c.wait_open(10)
        assert "answer was refused" in recv_type(peer, "error")["error"]


# --- teardown -------------------------------------------------------------------------


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@webrtc
@pytest.mark.slow
def test_twenty_connect_close_cycles_leave_nothing_behind(server: Server) -> None:
    warm = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
    warm.close()
    time.sleep(0.3)
    tasks, udp, fds = loop_tasks(), udp_sockets(), _open_fds()
    for i in range(20):
        if i % 2:
            c = rtnb.connect("webrtc", server.url_for("/webrtc/bot")).wait_open(15)
            c.send(f"n{i}")
            assert c.recv(5).data == f"n{i}"
            c.close()
        else:
            a, b = pair(server, "auto", "auto")
            a.close()
            b.close()
    app = server._app
    assert app is not None
    deadline = time.monotonic() + 10
    while True:
        now = (loop_tasks(), udp_sockets(), _open_fds(), len(app[BOTS]), len(app[ROOMS]))
        if now[0] <= tasks and now[1:] == (udp, fds, 0, 0):
            break
        assert time.monotonic() < deadline, f"leftovers: {now} vs {(tasks, udp, fds, 0, 0)}"
        time.sleep(0.1)


@webrtc
def test_signaling_log_shows_offer_answer_and_states_in_order(server: Server) -> None:
    bot = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), name="logged").wait_open(30)
    events = bot.stats.signaling_log
    kinds = [(e.direction, e.type) for e in events]
    assert ("out", "offer") in kinds and ("in", "answer") in kinds
    assert kinds.index(("out", "offer")) < kinds.index(("in", "answer"))
    offer = next(e for e in events if e.type == "offer")
    assert "candidate(s)" in offer.summary and "host udp 127.0.0.2:" in offer.summary
    states = [e.summary for e in events if e.type == "ice"]
    assert states[0] == "new" and ("completed" in states or "connected" in states)
    assert ("state", "dtls") in kinds and events[-1].type == "data channel"
    times = [e.t for e in events]
    assert times == sorted(times)
    assert "+0.000 s" in repr(events) and "rtnb-signaling-log" in events._repr_html_()
    bot.close()


@webrtc
def test_signaling_log_keeps_each_whole_message_and_the_states_to_the_close(
    server: Server,
) -> None:
    bot = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), name="detailed").wait_open(30)
    book = bot._transport.signals
    offer = next(e for e in book.snapshot() if e.type == "offer")
    answer = next(e for e in book.snapshot() if e.type == "answer")
    for event in (offer, answer):  # the SDP itself, one line per line
        lines = event.detail.splitlines()
        assert lines[0] == "v=0" and any(ln.startswith("a=candidate:") for ln in lines)
        assert any(ln.startswith("a=fingerprint:sha-256") for ln in lines)
    signaling_states = [e.summary for e in book.snapshot() if e.type == "signaling"]
    assert signaling_states == ["stable", "have-local-offer", "stable"]
    dtls = [e.summary for e in book.snapshot() if e.type == "dtls"]
    assert dtls[:3] == ["new", "connecting", "connected"]  # DTLS's own events, not only the pc's
    assert book.states["connection"] == "connected"
    before = book.version
    bot.close()  # the final states reach the book before close() returns
    ended = [(e.type, e.summary) for e in book.since(before)]
    assert {("signaling", "closed"), ("dtls", "closed"), ("ice", "closed")} <= set(ended)
    assert ("connection", "closed") in ended, ended
    assert {k: book.states[k] for k in ("signaling", "ice", "dtls", "connection")} == dict.fromkeys(
        ("signaling", "ice", "dtls", "connection"), "closed"
    )
