"""The two ws engines (websockets, picows) and the batched ingest path they share.

The ws suites (test_connection, test_ws_conformance, test_ws_interop, test_tls,
test_faults) run on either engine with ``pytest --ws-engine=picows``; this
module checks what is particular to the choice and to batching.
"""

from __future__ import annotations

import importlib.util
import itertools

import pytest

import rtnb
from rtnb.connection import Connection
from rtnb.message import Message, MessageLog
from rtnb.server import Server
from rtnb.stats import Counters
from rtnb.transports.ws import WebSocketTransport, choose_engine

from .conftest import wait_for

HAS_PICOWS = importlib.util.find_spec("picows") is not None
needs_picows = pytest.mark.skipif(not HAS_PICOWS, reason="the fast extra (picows) is not installed")
ENGINES = ["websockets", pytest.param("picows", marks=needs_picows)]


def test_auto_picks_picows_only_when_the_wire_stays_the_same() -> None:
    assert choose_engine({}) == "websockets"  # compression="deflate" by default
    assert choose_engine({"compression": "deflate"}) == "websockets"
    assert choose_engine({"engine": "websockets", "compression": None}) == "websockets"
    fast = "picows" if HAS_PICOWS else "websockets"
    assert choose_engine({"compression": None}) == fast
    assert choose_engine({"engine": "auto", "compression": None}) == fast


def test_engine_mistakes_are_one_clear_sentence() -> None:
    with pytest.raises(ValueError, match="engine must be one of 'auto', 'websockets', 'picows'"):
        choose_engine({"engine": "fast"})
    if HAS_PICOWS:
        with pytest.raises(ValueError, match="no permessage-deflate: pass compression=None"):
            rtnb.connect("ws", "ws://127.0.0.1:1/", engine="picows", compression="deflate")
    else:
        with pytest.raises(ImportError, match=r"pip install 'rtnb\[fast\]'"):
            choose_engine({"engine": "picows"})


@needs_picows
def test_the_chosen_engine_is_the_transport_class(request: pytest.FixtureRequest) -> None:
    from rtnb.transports.fastws import PicowsTransport

    if request.config.getoption("--ws-engine"):
        pytest.skip("--ws-engine overrides what auto picks")

    fast = rtnb.connect("ws", "ws://127.0.0.1:1/", compression=None, reconnect=False)
    plain = rtnb.connect("ws", "ws://127.0.0.1:1/", reconnect=False)
    assert type(fast.transport) is PicowsTransport
    assert type(plain.transport) is WebSocketTransport


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_keeps_text_binary_sizes_and_order(server: Server, engine: str) -> None:
    c = rtnb.connect(
        "ws", server.url_for("/ws/echo"), engine=engine, compression=None, reconnect=False
    ).wait_open(10)
    sent: list[str | bytes] = []
    for i in range(300):
        payload: str | bytes = f"héllo {i}" if i % 3 else bytes([i % 256]) * (i + 1)
        sent.append(payload)
        c.send(payload)
    big = "x" * 200_000  # several reads, and over 64 KiB frames
    sent.append(big)
    c.send(big)
    got = [c.recv(timeout=10) for _ in sent]
    assert [m.data for m in got] == sent
    assert [type(m.data) for m in got] == [type(p) for p in sent]
    assert [m.seq for m in got] == sorted(m.seq for m in got)
    assert all(b.ts >= a.ts for a, b in itertools.pairwise(got))
    wire = sum(len(p.encode()) if isinstance(p, str) else len(p) for p in sent)
    s = c.stats
    assert s.received == len(sent) and s.bytes_in == wire == s.bytes_out


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_measures_the_ping_round_trip(server: Server, engine: str) -> None:
    c = rtnb.connect(
        "ws",
        server.url_for("/ws/echo"),
        engine=engine,
        compression=None,
        ping_interval=0.1,
        reconnect=False,
    ).wait_open(10)
    wait_for(lambda: c.stats.ping_rtt is not None, 10)
    assert 0 < c.stats.ping_rtt < 1


@pytest.mark.parametrize("engine", ENGINES)
def test_each_engine_gives_every_message_to_on_message(server: Server, engine: str) -> None:
    c = rtnb.connect(
        "ws", server.url_for("/ws/echo"), engine=engine, compression=None, reconnect=False
    )
    heard: list[Message] = []
    c.on_message(heard.append)
    c.wait_open(10)
    for i in range(200):
        c.send(str(i))
    wait_for(lambda: len(heard) == 200, 10)
    assert [m.data for m in heard] == [str(i) for i in range(200)]
    assert [m.seq for m in heard] == [m.seq for m in c.log if m.direction == "in"]


def _offline(**options: object) -> Connection:
    """A connection that is never started: its ingest is called directly."""
    return Connection("ws", "ws://127.0.0.1:1/", name="offline", **options)


def test_batch_ingest_stores_what_one_by_one_ingest_stores() -> None:
    items: list[str | bytes] = ['{"a": 1}', "héllo", b"\x00\xff", ""]
    nbytes = sum(len(i.encode()) if isinstance(i, str) else len(i) for i in items)
    one, many = _offline(), _offline()
    for data in items:
        one._ingest(data)
    many._ingest_many(list(items), nbytes)
    fields = ("seq", "direction", "data", "event", "id", "channel", "topic")
    for a, b in zip(one.log, many.log, strict=True):
        assert [getattr(a, f) for f in fields] == [getattr(b, f) for f in fields]
    assert len({m.ts for m in many.log}) == 1  # one read, one stamp
    assert many.log[1].json is None and many.log[0].json == {"a": 1}
    for key in ("received", "bytes_in", "rate"):
        assert one.stats[key] == many.stats[key], key


def test_batch_ingest_calls_each_listener_with_each_message() -> None:
    c = _offline()
    heard: list[str | bytes] = []
    c.on_message(lambda m: heard.append(m.data))
    c._ingest_many(["a", "b", "c"], 3)
    assert heard == ["a", "b", "c"] and c.stats.received == 3


def test_batch_ingest_respects_the_log_bound_and_wakes_readers() -> None:
    log = MessageLog(max_messages=3)
    cur = log.cursor(start=0)
    log.extend_received(["1", "2", "3", "4", "5"], ts=7.0)
    assert [m.data for m in log] == ["3", "4", "5"] and log.next_seq == 5 and log.dropped == 2
    assert [m.seq for m in log] == [2, 3, 4]
    with pytest.raises(rtnb.MessagesMissed):
        cur.poll()
    assert cur.poll() is log[0]


def test_message_received_is_the_message_the_constructor_builds() -> None:
    fast = Message.received("x", 5.0, "tick", "7", "dc", "t/1")
    slow = Message("x", ts=5.0, event="tick", id="7", channel="dc", topic="t/1")
    assert [getattr(fast, s) for s in Message.__slots__ if s != "_json"] == [
        getattr(slow, s) for s in Message.__slots__ if s != "_json"
    ]
    assert fast.json is None and Message.received("[1]", 1.0).json == [1]


def test_counters_count_a_batch_as_many_messages() -> None:
    c = Counters()
    c.count_in(100.1, 10, n=4)
    c.count_in(100.9, 2)
    assert (c.received, c.bytes_in, c.last_message_at) == (5, 12, 100.9)
    assert c.rx_rate.rate(now=101.5) == 5.0
