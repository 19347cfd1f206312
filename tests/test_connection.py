"""Connections over real loopback WebSockets: contract, reconnect, stats, cleanup."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import rtnb
from rtnb.connection import Connection
from rtnb.errors import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    MessagesMissed,
    RecvTimeout,
)
from rtnb.message import Message, MessageLog
from rtnb.server import Server

from .conftest import free_port, loop_tasks, thread_names, wait_for


def test_echo_keeps_text_as_text_and_binary_as_binary(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"), name="echo").wait_open(10)
    c.send("hi")
    c.send(b"\x00\x01\xff")
    c.send({"a": [1, 2]})
    first, second, third = (c.recv(timeout=5) for _ in range(3))
    assert first.data == "hi" and isinstance(first.data, str)
    assert second.data == b"\x00\x01\xff" and second.is_binary
    assert third.json == {"a": [1, 2]} and isinstance(third.data, str)
    s = c.stats
    assert s.sent == 3 and s.received == 3
    assert s.bytes_out == 2 + 3 + len('{"a":[1,2]}') == s.bytes_in
    directions = [m.direction for m in c.messages]
    assert directions.count("out") == 3 and directions.count("in") == 3


def test_send_then_recv_never_loses_the_reply(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    for i in range(200):
        c.send(str(i))
        time.sleep(0) if i % 50 else time.sleep(0.01)
        assert c.recv(timeout=5).data == str(i)


def test_send_before_open_waits_for_the_connection(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"))
    c.send("early")
    assert c.recv(timeout=5).data == "early"


def test_contract_state_and_registry(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"), name="reg")
    assert c.state in ("connecting", "open")
    c.wait_open(10)
    assert c.state == "open"
    assert rtnb.connections()["reg"] is c
    assert rtnb.get_connection("reg") is c
    replacement = rtnb.connect("ws", server.url_for("/ws/echo"), name="reg")
    assert c.state == "closed"
    assert rtnb.get_connection("reg") is replacement
    replacement.close()
    replacement.close()  # idempotent
    assert replacement.state == "closed"
    with pytest.raises(KeyError, match="no connection named 'reg'"):
        rtnb.get_connection("reg")


def test_default_names_count_per_kind(server: Server) -> None:
    a = rtnb.connect("ws", server.url_for("/ws/echo"))
    b = rtnb.connect("ws", server.url_for("/ws/echo"))
    assert a.name.startswith("ws") and b.name.startswith("ws") and a.name != b.name


def test_ticker_respects_symbols_and_rate(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=AAPL,TSLA&rate=20")).wait_open(10)
    time.sleep(2.0)
    ticks = [m.json for m in list(c.messages)]
    assert {t["symbol"] for t in ticks} == {"AAPL", "TSLA"}
    assert all(set(t) == {"t", "symbol", "price"} for t in ticks)
    # 2 symbols x 20/s x ~2 s, with slack for scheduling on a busy machine
    assert 40 <= len(ticks) <= 100
    assert c.stats.rate > 0


def test_ticker_subscribe_adds_a_channel(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=&rate=50")).wait_open(10)
    with pytest.raises(RecvTimeout):
        c.recv(timeout=0.3)
    c.send({"type": "subscribe", "channel": "NVDA"})
    ack = c.recv(timeout=5).json
    assert ack == {"type": "subscribed", "channel": "NVDA", "symbols": ["NVDA"]}
    assert c.recv(timeout=5).json["symbol"] == "NVDA"
    c.send("not json")
    wait_for(lambda: any((m.json or {}).get("type") == "error" for m in c.messages))


def test_send_on_open_is_sent_after_every_open(fresh_server: Server) -> None:
    url = fresh_server.url_for("/ws/ticker?symbols=&rate=50")
    sub = {"type": "subscribe", "channel": "AMD"}
    c = rtnb.connect("ws", url, send_on_open=[sub]).wait_open(10)
    assert c.recv(timeout=5).json["type"] == "subscribed"
    assert c.stats.sent == 1


def test_log_stays_bounded(server: Server) -> None:
    url = server.url_for("/ws/ticker?symbols=AAPL&rate=0&count=30000")
    c = rtnb.connect("ws", url, max_messages=1000, reconnect=False)
    wait_for(lambda: c.state == "closed", timeout=60)
    assert c.stats.received == 30000
    assert len(c.messages) == 1000
    assert c.messages[-1].seq == 29999
    with pytest.raises(MessagesMissed, match="29000 message"):
        c.recv(timeout=1)


def test_reconnect_after_server_restart_on_the_same_port() -> None:
    port = free_port()
    srv = rtnb.serve(port=port)
    c = rtnb.connect(
        "ws",
        srv.url_for("/ws/echo"),
        backoff={"initial": 0.05, "cap": 0.3},
    ).wait_open(10)
    states: list[str] = []
    c.on_state(lambda _c, s: states.append(s))
    srv.stop()
    wait_for(lambda: c.state == "reconnecting")
    assert "connection" in (c.stats.last_error or "") or "closed" in (c.stats.last_error or "")
    srv2 = rtnb.serve(port=port)
    try:
        c.wait_open(10)
        assert c.stats.reconnects == 1
        assert "reconnecting" in states and states[-1] == "open"
        c.send("back")
        assert c.recv(timeout=5).data == "back"
    finally:
        srv2.stop()


def test_first_connect_failure_without_reconnect_fails_at_once() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/echo"
    c = rtnb.connect("ws", url, reconnect=False)
    t0 = time.monotonic()
    with pytest.raises(ConnectError, match="refused"):
        c.wait_open(10)
    assert time.monotonic() - t0 < 5
    assert c.state == "failed"
    with pytest.raises(ConnectionClosed):
        c.recv(timeout=1)
    with pytest.raises(ConnectionClosed):
        c.send("x", timeout=1)


def test_send_waiting_to_open_ends_when_the_connection_closes() -> None:
    import asyncio

    from rtnb.runtime import get_runtime

    url = f"ws://127.0.0.1:{free_port()}/ws/echo"
    c = rtnb.connect("ws", url, backoff={"initial": 0.05, "cap": 0.1})

    async def scenario() -> None:
        sending = asyncio.ensure_future(c.asend("never", timeout=5))
        await asyncio.sleep(0.2)  # the send is now waiting for an open that never comes
        assert not sending.done()
        await c.aclose()
        with pytest.raises(ConnectionClosed, match="closed"):
            await sending

    get_runtime().run(scenario(), timeout=20)


def test_send_that_cannot_open_in_time_says_so() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/echo"
    c = rtnb.connect("ws", url, backoff={"initial": 0.05, "cap": 0.1})
    with pytest.raises(ConnectTimeout, match=r"cannot send: .* \(waited 0.3 s to open\)"):
        c.send("x", timeout=0.3)


def test_dead_server_means_reconnecting_not_a_traceback() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/echo"
    c = rtnb.connect("ws", url, backoff={"initial": 0.05, "cap": 0.1})
    wait_for(lambda: c.stats.errors >= 3)
    assert c.state in ("reconnecting", "connecting")
    with pytest.raises(ConnectTimeout, match="not open after"):
        c.wait_open(0.2)
    assert "refused" in (c.stats.last_error or "")


def test_http_404_is_fatal_with_the_status(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/nothing-here"))
    with pytest.raises(ConnectError, match="HTTP 404"):
        c.wait_open(10)
    assert c.state == "failed"


def test_subprotocol_refused_is_fatal(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"), subprotocols=["graphql-ws"])
    with pytest.raises(ConnectError, match="subprotocol"):
        c.wait_open(10)


def test_max_size_refuses_a_big_message_with_a_clear_error(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"), max_size=1000, reconnect=False)
    c.wait_open(10)
    c.send("x" * 5000)
    wait_for(lambda: c.state in ("failed", "closed"))
    assert "1009" in (c.stats.last_error or "") and "max_size" in (c.stats.last_error or "")


def test_bad_arguments_are_clear() -> None:
    with pytest.raises(ValueError, match="unknown connection kind 'carrier-pigeon'"):
        rtnb.connect("carrier-pigeon", "ws://x")
    with pytest.raises(ValueError, match="ws:// or wss://"):
        rtnb.connect("ws", "http://127.0.0.1/")
    with pytest.raises(TypeError, match="unknown option"):
        rtnb.connect("ws", "ws://127.0.0.1:1/", colour="blue")
    with pytest.raises(ValueError, match="max_messages"):
        rtnb.connect("ws", "ws://127.0.0.1:1/", max_messages=0)


def test_send_on_open_is_refused_for_kinds_that_cannot_send(server: Server) -> None:
    with pytest.raises(rtnb.SendNotSupported, match="send_on_open cannot be used: SSE is one-way"):
        rtnb.connect("sse", server.url_for("/sse/clock"), send_on_open={"type": "hi"})


def test_send_rejects_unsendable_values(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    with pytest.raises(TypeError, match="str"):
        c.send(object())


def test_async_twins(server: Server) -> None:
    import asyncio

    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)

    async def main() -> str:
        await c.asend("twin")
        m = await c.arecv(timeout=5)
        await c.aclose()
        return m.text

    assert asyncio.run(main()) == "twin"
    assert c.state == "closed"


def test_await_open_holds_no_thread_and_can_be_cancelled() -> None:
    import asyncio
    import threading

    url = f"ws://127.0.0.1:{free_port()}/ws/echo"
    c = rtnb.connect("ws", url, backoff={"initial": 0.05, "cap": 0.1})

    async def main() -> None:
        with pytest.raises(ConnectTimeout, match=r"not open after 0\.2 s"):
            await c.await_open(0.2)
        waiting = asyncio.ensure_future(c.await_open(None))
        await asyncio.sleep(0.1)
        waiting.cancel()

    # asyncio.run waits for its executor threads at exit: a thread stuck in a
    # blocking wait_open(None) would hang it until the connection ends.
    runner = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    runner.start()
    runner.join(10)
    hung = runner.is_alive()
    c.close()
    assert not hung


def test_await_open_on_a_loop_closed_under_it_logs_no_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import asyncio

    c = rtnb.connect("ws", f"ws://127.0.0.1:{free_port()}/ws/echo", backoff={"initial": 0.05})
    loop = asyncio.new_event_loop()
    waiting = loop.create_task(c.await_open(None))
    loop.run_until_complete(asyncio.sleep(0.01))
    loop.close()
    with caplog.at_level("ERROR", logger="rtnb"):
        c.close()
    assert not waiting.done()
    assert not [r for r in caplog.records if "state listener failed" in r.getMessage()]


def test_await_open_returns_on_open_and_raises_on_failure(server: Server) -> None:
    import asyncio

    ok = rtnb.connect("ws", server.url_for("/ws/echo"))
    bad = rtnb.connect("ws", server.url_for("/ws/nothing-here"))

    async def main() -> None:
        assert await ok.await_open(10) is ok
        with pytest.raises(ConnectError, match="404"):
            await bad.await_open(10)

    asyncio.run(main())


def test_on_message_callback_sees_each_message(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    seen: list[str] = []
    unsubscribe = c.on_message(lambda m: seen.append(m.text))
    c.send("a")
    c.send("b")
    wait_for(lambda: len(seen) == 2)
    unsubscribe()
    c.send("c")
    c.recv(timeout=5)
    c.recv(timeout=5)
    c.recv(timeout=5)
    assert seen == ["a", "b"]


def test_unsubscribing_twice_is_harmless(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"))
    states: list[str] = []
    unsubscribe = c.on_state(lambda _c, s: states.append(s))
    c.wait_open(10)
    unsubscribe()
    unsubscribe()
    c.on_message(lambda m: None)()
    c.close()
    assert "closed" not in states


def test_bytes_in_counts_any_text_the_transport_hands_over(tmp_path: Path) -> None:
    # json.loads turns "\\ud800" into a lone surrogate; a replayed (or any) str
    # payload like that is counted, not a UnicodeEncodeError that ends the stream.
    path = tmp_path / "odd.jsonl"
    path.write_text(
        '{"ts": 1.0, "direction": "in", "data": "caf\\u00e9"}\n'
        '{"ts": 1.1, "direction": "in", "data": "x\\ud800y"}\n',
        encoding="utf-8",
    )
    c = rtnb.replay(path, speed=0)
    got = [c.recv(timeout=5), c.recv(timeout=5)]
    wait_for(lambda: c.state in ("closed", "failed"))
    assert c.state == "closed" and c.stats.errors == 0
    assert [m.size for m in got] == [5, 5]
    assert c.stats.bytes_in == 10


def test_blocking_calls_in_a_callback_refuse_instead_of_freezing_the_loop(
    server: Server,
) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    got: list[str] = []

    def greedy(_m: rtnb.Message) -> None:
        got.append(c.recv(timeout=2).text)  # the message being ingested: returned
        c.recv(timeout=2)  # nothing more can arrive while the loop is here

    c.on_message(greedy)
    c.send("x")
    wait_for(lambda: c.stats.errors)
    assert got == ["x"]
    assert "recv would block the rtnb loop thread" in (c.stats.last_error or "")

    dead = rtnb.connect("ws", f"ws://127.0.0.1:{free_port()}/ws/echo", backoff={"initial": 0.05})
    seen: list[BaseException] = []

    def impatient(conn: rtnb.Connection, state: str) -> None:
        if state == "reconnecting" and not seen:
            try:
                conn.wait_open(2)
            except Exception as exc:
                seen.append(exc)

    dead.on_state(impatient)
    wait_for(lambda: seen)
    assert isinstance(seen[0], RuntimeError) and "await_open" in str(seen[0])


def test_close_after_the_stream_ended_by_itself_still_unregisters_and_stops_views(
    tmp_path: Path,
) -> None:
    path = tmp_path / "short.jsonl"
    path.write_text('{"ts": 1.0, "direction": "in", "data": "only"}\n', encoding="utf-8")
    c = rtnb.replay(path, speed=0, name="short")
    assert c.recv(timeout=5).data == "only"
    wait_for(lambda: c.state == "closed")  # the replay ended: closed, nobody called close()
    rec = c.record(tmp_path / "copy.jsonl")
    assert "short" in rtnb.connections()
    c.close()
    assert "short" not in rtnb.connections()
    assert not rec.running
    c.close()  # still idempotent


def test_failing_callback_is_counted_not_fatal(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)

    def bad(_m: rtnb.Message) -> None:
        raise ValueError("user bug")

    c.on_message(bad)
    c.send("x")
    assert c.recv(timeout=5).data == "x"
    assert c.stats.errors == 1 and "user bug" in (c.stats.last_error or "")
    assert c.state == "open"


def test_closing_leaves_no_task_or_thread_behind(server: Server) -> None:
    before_tasks = loop_tasks()
    before_threads = thread_names()
    conns = [
        rtnb.connect("ws", server.url_for("/ws/ticker?rate=100")).wait_open(10) for _ in range(5)
    ]
    for c in conns:
        c.recv(timeout=5)
        c.close()
        assert c.state == "closed"
    time.sleep(0.3)
    leftover = {t for t in loop_tasks() - before_tasks if "connection" in t}
    assert not leftover
    assert thread_names() <= before_threads | {"rtnb-loop"}


def test_repr_and_html_summary(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"), name="shown").wait_open(10)
    c.send("<b>hi</b>")
    c.recv(timeout=5)
    assert "shown: ws" in repr(c) and "[open]" in repr(c)
    html = c._repr_html_()
    assert "&lt;b&gt;hi&lt;/b&gt;" in html and "shown" in html


def test_to_pandas_from_a_connection(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=AAPL&rate=100")).wait_open(10)
    wait_for(lambda: c.stats.received >= 5)
    df = c.to_pandas()
    assert {"price", "symbol", "t"} <= set(df.columns)
    assert (df["symbol"] == "AAPL").all()


# --- the public surface views and tools use -----------------------------------------------


def test_close_that_meets_a_completing_open_still_closes(server: Server) -> None:
    # Python 3.11's asyncio.wait_for hands back an open that completes in the pass
    # where close() cancels it; the connection served on and close() hung (what made
    # test_default_names_count_per_kind error at teardown on a loaded machine).
    import asyncio

    c = Connection("ws", server.url_for("/ws/echo"), name="race")
    real_open = c.transport.open
    closing: list[asyncio.Task[None]] = []

    async def open_then_close() -> None:
        await real_open()
        closing.append(asyncio.get_running_loop().create_task(c.aclose()))

    c.transport.open = open_then_close  # type: ignore[method-assign]
    c.start()
    wait_for(lambda: closing and closing[0].done(), timeout=10)
    assert c.state == "closed"
    assert "rtnb-connection-race" not in loop_tasks()


def test_the_final_closed_reaches_listeners_from_the_closing_call(server: Server) -> None:
    import contextvars

    cell = contextvars.ContextVar("cell", default="none")
    cell.set("connecting cell")
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    heard: list[tuple[str, str, bool]] = []
    c.on_state(lambda conn, state: heard.append((state, cell.get(), conn.closing)))
    cell.set("closing cell")
    c.close()
    assert heard == [("closed", "closing cell", True)]


def test_close_after_the_stream_ended_announces_closed_once_more(tmp_path: Path) -> None:
    path = tmp_path / "one.jsonl"
    path.write_text('{"ts": 1.0, "direction": "in", "data": "only"}\n', encoding="utf-8")
    c = Connection("replay", str(path), name="ended", speed=0)
    heard: list[tuple[str, bool]] = []
    c.on_state(lambda conn, state: heard.append((state, conn.closing)))
    c.start()
    wait_for(lambda: c.state == "closed")
    c.close()
    assert heard == [("connecting", False), ("open", False), ("closed", False), ("closed", True)]


def test_cursors_end_by_themselves_when_the_connection_does(server: Server) -> None:
    import asyncio

    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    mine, theirs = c.cursor(), c.cursor()
    c.send("last")
    wait_for(lambda: c.stats.received == 1)
    c.close()
    assert mine.next(timeout=1).data == "last"  # what is left is still read
    with pytest.raises(ConnectionClosed, match=r"ws connection '.*' to ws://.* is closed"):
        mine.next(timeout=5)
    assert asyncio.run(theirs.anext(timeout=1)).data == "last"
    with pytest.raises(ConnectionClosed):
        asyncio.run(theirs.anext(timeout=5))
    stored = c.cursor(from_start=True)
    assert stored.next(timeout=1).data == "last"
    with pytest.raises(ConnectionClosed):
        stored.next(timeout=5)


def test_a_waiting_cursor_wakes_when_the_connection_fails() -> None:
    c = rtnb.connect("ws", f"ws://127.0.0.1:{free_port()}/ws/echo", backoff={"initial": 0.05})
    cursor = c.cursor()
    t0 = time.monotonic()
    c.reconnect = False  # the next refused attempt ends it
    with pytest.raises(ConnectionClosed, match=r"is failed: .*refused"):
        cursor.next(timeout=10)
    assert time.monotonic() - t0 < 5 and c.state == "failed"
    assert c.describe_state().startswith(f"ws connection {c.name!r} to ws://127.0.0.1:")


def test_a_log_marked_closed_gives_what_is_left_then_raises() -> None:
    log = MessageLog(10)
    cursor = log.cursor()
    log.append(Message("a"))
    log.end("it is over")
    assert log.ended == "it is over"
    assert cursor.next(timeout=1).data == "a"
    with pytest.raises(ConnectionClosed, match="it is over"):
        cursor.next(timeout=None)  # no wait for ever


def test_can_send_and_why_not(server: Server) -> None:
    ws = rtnb.connect("ws", server.url_for("/ws/echo"))
    sse = rtnb.connect("sse", server.url_for("/sse/clock"))
    assert ws.can_send and ws.send_refusal == ""
    assert not sse.can_send and "one-way" in sse.send_refusal
    with pytest.raises(rtnb.SendNotSupported) as refused:
        sse.send("x")
    assert str(refused.value) == sse.send_refusal


def test_closing_says_close_was_asked_for(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    assert not c.closing and c.reconnect
    c.close()
    assert c.closing and c.state == "closed"


def test_latest_returns_the_newest_and_leaves_recv_at_the_first(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    with pytest.raises(RecvTimeout):
        c.latest(timeout=0.2)
    for i in range(5):
        c.send(f"m{i}")
    wait_for(lambda: c.stats.received == 5)
    assert c.latest().data == "m4"
    assert c.recv(timeout=5).data == "m0"  # recv's cursor did not move
    c.send("m5")
    wait_for(lambda: c.stats.received == 6)
    assert c.latest(timeout=0).data == "m5"
