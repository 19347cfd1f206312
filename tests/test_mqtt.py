"""The mqtt kind and the in-kernel broker: the pure codec, rtnb's client against rtnb's
/mqtt and against Debian's mosquitto (websockets listener), and the magics/CLI."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

import rtnb
from rtnb import mqttwire as w
from rtnb.errors import SendNotSupported
from rtnb.recordfmt import Record, decode_line
from rtnb.server import Server
from rtnb.transports.mqtt import payload_data, refused_topics

from .conftest import free_port, wait_for
from .test_magics_terminal import ipython

MOSQUITTO = "/usr/sbin/mosquitto"


# --- the codec (pure) -------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 124, 125, 16_380, 16_381, 2_097_148, 2_097_149])
def test_remaining_length_round_trips_at_every_width(n: int) -> None:
    # body = 3 bytes of topic + n of payload: lengths 127/128, 16383/16384, 2097151/2097152
    frame = w.publish("t", b"x" * n)
    reader = w.PacketReader()
    got: list[w.Packet] = []
    for i in range(0, len(frame), 4096):  # arrives in pieces
        got += reader.feed(frame[i : i + 4096])
    assert len(got) == 1 and len(got[0].body) == n + 3
    assert w.parse_publish(got[0].flags, got[0].body) == w.Publish("t", b"x" * n)


def test_reader_splits_joined_packets_and_waits_for_partial_ones() -> None:
    r = w.PacketReader()
    both = w.pingreq() + w.publish("a/b", b"hi", qos=1, pid=7)
    assert [p.type for p in r.feed(both[:3])] == [w.PINGREQ]
    (pkt,) = r.feed(both[3:])
    assert w.parse_publish(pkt.flags, pkt.body) == w.Publish("a/b", b"hi", 1, False, False, 7)


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00\x00", "reserved"),
        (b"\xf0\x00", "reserved"),
        (b"\x80\x00", "flags"),  # SUBSCRIBE must carry flags 2
        (b"\x30\xff\xff\xff\xff\x01", "four bytes"),
        (b"\x36\x03\x00\x01a", "QoS 3"),
    ],
)
def test_malformed_packets_say_what_is_wrong(data: bytes, why: str) -> None:
    with pytest.raises(w.MQTTWireError, match=why):
        for p in w.PacketReader().feed(data):
            w.parse_publish(p.flags, p.body)


def test_reader_refuses_packets_over_its_limit() -> None:
    with pytest.raises(w.MQTTWireError, match="over the limit"):
        w.PacketReader(max_size=10).feed(w.publish("t", b"x" * 20))


def test_connect_with_will_user_and_password() -> None:
    body = (
        b"\x00\x04MQTT\x04"
        + bytes([0x80 | 0x40 | 0x20 | 0x08 | 0x04 | 0x02])
        + b"\x00\x3c"
        + b"\x00\x02id\x00\x04will\x00\x03bye\x00\x01u\x00\x02pw"
    )
    c = w.parse_connect(body)
    assert (c.client_id, c.keepalive, c.clean_session, c.username, c.password) == (
        "id",
        60,
        True,
        "u",
        b"pw",
    )
    assert c.will == w.Publish("will", b"bye", 1, True)
    assert w.parse_connect(b"\x00\x04MQTT\x05\x02\x00\x00\x00\x00").level == 5
    with pytest.raises(w.MQTTWireError, match="protocol"):
        w.parse_connect(b"\x00\x04HTTP\x04")
    with pytest.raises(w.MQTTWireError, match="reserved"):
        w.parse_connect(b"\x00\x04MQTT\x04\x01\x00\x00\x00\x00")


def test_publish_subscribe_and_topic_rules() -> None:
    with pytest.raises(w.MQTTWireError, match="wildcards"):
        w.parse_publish(0, b"\x00\x03a/#")
    with pytest.raises(w.MQTTWireError, match="packet id 0"):
        w.parse_publish(2, b"\x00\x01a\x00\x00")
    assert w.parse_subscribe(b"\x00\x05\x00\x03a/#\x01") == (5, [("a/#", 1)])
    with pytest.raises(w.MQTTWireError, match="QoS 3"):
        w.parse_subscribe(b"\x00\x05\x00\x01a\x03")
    with pytest.raises(w.MQTTWireError, match="no topic"):
        w.parse_unsubscribe(b"\x00\x05")
    assert w.suback(5, [0, w.SUBSCRIBE_FAILURE]) == b"\x90\x04\x00\x05\x00\x80"
    assert w.with_id(w.PUBREL, 9) == b"\x62\x02\x00\x09"
    assert w.connack(0) == b"\x20\x02\x00\x00"
    cases = [
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("+/+", "/x", True),
        ("#", "$SYS/x", False),
        ("$SYS/#", "$SYS/x", True),
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
    ]
    for filt, topic, expected in cases:
        assert w.topic_matches(filt, topic) is expected, (filt, topic)
    assert [w.valid_filter(f) for f in ("#", "a/#/b", "a+", "", "+/x")] == [
        True,
        False,
        False,
        False,
        True,
    ]


def test_transport_helpers() -> None:
    assert payload_data(b"\xe2\x82\xac") == "€"
    assert payload_data(b"\xff") == b"\xff"
    assert refused_topics(["a", "b", "c"], [0, 0x80, 1]) == ["b"]


# --- rtnb's broker ----------------------------------------------------------------------


def test_publish_subscribe_retain_and_qos(server: Server) -> None:
    url = server.mqtt_url
    pub = rtnb.connect("mqtt", url).wait_open(10)
    pub.publish("room/kept", {"hello": 1}, qos=1, retain=True)
    sub = rtnb.connect("mqtt", url, topics=["room/#"], qos=1).wait_open(10)
    m = sub.recv(timeout=5)
    assert (m.topic, m.json) == ("room/kept", {"hello": 1})  # the retained one
    pub.publish("room/a", b"\x00\xff", qos=1)
    pub.publish("other/x", "not for sub")
    pub.publish("room/b", "text", qos=2)
    got = [sub.recv(timeout=5) for _ in range(2)]
    assert [(m.topic, m.data) for m in got] == [("room/a", b"\x00\xff"), ("room/b", "text")]
    out = [m for m in pub.log if m.direction == "out"]
    assert [m.topic for m in out] == ["room/kept", "room/a", "other/x", "room/b"]
    pub.publish("room/kept", b"", retain=True)  # clears it
    late = rtnb.connect("mqtt", url, topics=["room/kept"]).wait_open(10)
    with pytest.raises(rtnb.RecvTimeout):
        late.recv(timeout=0.5)
    with pytest.raises(ValueError, match="wildcards"):
        pub.publish("room/#", "x")


def test_ticks_flow_while_someone_subscribes(server: Server) -> None:
    mq = rtnb.connect("mqtt", server.mqtt_url, topics=["ticks/MSFT"]).wait_open(10)
    ticks = [mq.recv(timeout=5) for _ in range(2)]
    assert {(m.topic, m.json["symbol"]) for m in ticks} == {("ticks/MSFT", "MSFT")}
    df = mq.to_pandas()
    assert {"topic", "price"} <= set(df.columns), df.columns


def test_refused_subscription_names_the_topic(server: Server) -> None:
    c = rtnb.connect("mqtt", server.mqtt_url, topics=["ok/#", "$SYS/#"])
    wait_for(lambda: c.state == "failed", 10)
    assert "broker refused the subscription to '$SYS/#'" in c.describe_state()
    bad = rtnb.connect("mqtt", server.mqtt_url, topics=["a/#/b"])
    wait_for(lambda: bad.state == "failed", 10)
    assert "'a/#/b'" in bad.describe_state()


def test_send_needs_the_topic_option(server: Server) -> None:
    c = rtnb.connect("mqtt", server.mqtt_url, topics=["s/#"], topic="s/1").wait_open(10)
    c.send({"v": 1})
    m = c.recv(timeout=5)
    assert (m.topic, m.json) == ("s/1", {"v": 1})
    assert [m.topic for m in c.log if m.direction == "out"] == ["s/1"]
    no_topic = rtnb.connect("mqtt", server.mqtt_url).wait_open(10)
    assert not no_topic.can_send and "topic option" in no_topic.send_refusal
    with pytest.raises(SendNotSupported, match="publish"):
        no_topic.send("x")
    with pytest.raises(SendNotSupported, match="topic option"):
        rtnb.connect("mqtt", server.mqtt_url, send_on_open="x")


def test_token_rules_and_mqtt_5_refusal() -> None:
    srv = rtnb.serve(token="s3cret")
    try:
        c = rtnb.connect("mqtt", srv.url_for("/mqtt", token=False))
        wait_for(lambda: c.state == "failed", 10)
        assert "HTTP 401" in c.describe_state() and "token" in c.describe_state()
        v5 = rtnb.connect("mqtt", srv.mqtt_url, mqtt_version="5")
        wait_for(lambda: v5.state == "failed", 10)
        assert "protocol version (MQTT 5 was offered; try mqtt_version='3.1.1')" in (
            v5.describe_state()
        )
        assert rtnb.connect("mqtt", srv.mqtt_url).wait_open(10).state == "open"
    finally:
        srv.stop()


def test_broker_survives_malformed_packets_and_speaks_qos2(server: Server) -> None:
    sub = rtnb.connect("mqtt", server.mqtt_url, topics=["q2/#"], qos=1).wait_open(10)
    connect = w._packet(w.CONNECT, 0, b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x02rw")

    async def raw() -> list[bytes]:
        async with ws_connect(server.mqtt_url, subprotocols=["mqtt"]) as ws:  # type: ignore[list-item]
            await ws.send(connect + w.publish("q2/x", b"two", qos=2, pid=3))
            frames = [await ws.recv() for _ in range(2)]
            await ws.send(w.with_id(w.PUBREL, 3))
            frames.append(await ws.recv())
        async with ws_connect(server.mqtt_url, subprotocols=["mqtt"]) as ws:  # type: ignore[list-item]
            await ws.send(b"\xf0\x00")  # reserved packet type: the broker closes
            await asyncio.wait_for(ws.wait_closed(), 5)
        return [bytes(f) for f in frames]  # type: ignore[arg-type]

    frames = asyncio.run(raw())
    assert frames == [w.connack(0), w.with_id(w.PUBREC, 3), w.with_id(w.PUBCOMP, 3)]
    m = sub.recv(timeout=5)
    assert (m.topic, m.data) == ("q2/x", "two")
    assert sub.state == "open"


def test_reconnect_renews_subscriptions_and_record_keeps_topics(tmp_path: Path) -> None:
    port = free_port()
    srv = rtnb.serve(port=port)
    path = tmp_path / "mq.jsonl"
    try:
        sub = rtnb.connect(
            "mqtt", srv.mqtt_url, topics=["r/#"], backoff={"initial": 0.1, "cap": 0.3}
        )
        rec = sub.record(str(path))
        sub.wait_open(10)
        rtnb.connect("mqtt", srv.mqtt_url).wait_open(10).publish("r/1", "one")
        assert sub.recv(timeout=5).topic == "r/1"
        srv.stop()
        wait_for(lambda: sub.state != "open", 10)
        srv = rtnb.serve(port=port)
        wait_for(lambda: sub.state == "open", 15)
        rtnb.connect("mqtt", srv.mqtt_url).wait_open(10).publish("r/2", "two")
        m = sub.recv(timeout=5)
        assert (m.topic, m.data, sub.stats.reconnects) == ("r/2", "two", 1)
        rec.stop()
    finally:
        srv.stop()
    recs = [decode_line(line) for line in path.read_text().splitlines()]
    assert [r.topic for r in recs if isinstance(r, Record)] == ["r/1", "r/2"]
    back = rtnb.connect("replay", str(path), speed=0)
    assert [back.recv(timeout=5).topic for _ in range(2)] == ["r/1", "r/2"]


def test_every_packet_of_a_frame_arrives_at_once() -> None:
    """A broker may pack several PUBLISHes into one WebSocket frame (mosquitto does)."""
    ready = threading.Event()
    stop: list[asyncio.AbstractEventLoop] = []
    port = free_port()

    async def broker(ws: ServerConnection) -> None:
        reader = w.PacketReader()
        async for frame in ws:
            for pkt in reader.feed(bytes(frame)):  # type: ignore[arg-type]
                if pkt.type == w.CONNECT:
                    await ws.send(w.connack(0))
                elif pkt.type == w.SUBSCRIBE:
                    pid, _ = w.parse_subscribe(pkt.body)
                    await ws.send(w.suback(pid, [0]))
                    await ws.send(b"".join(w.publish("f/x", str(i).encode()) for i in range(3)))

    async def main() -> None:
        stop.append(asyncio.get_running_loop())
        done = asyncio.Event()
        stop.append(done)  # type: ignore[arg-type]
        async with ws_serve(broker, "127.0.0.1", port, subprotocols=["mqtt"]):  # type: ignore[list-item]
            ready.set()
            await done.wait()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        c = rtnb.connect("mqtt", f"ws://127.0.0.1:{port}/mqtt", topics=["f/#"])
        got = [c.recv(timeout=3).data for _ in range(3)]  # not a keepalive (60 s) later
        assert got == ["0", "1", "2"]
    finally:
        rtnb.close_all()
        loop, done = stop
        loop.call_soon_threadsafe(done.set)  # type: ignore[attr-defined]
        thread.join(10)


# --- Debian's mosquitto -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is needed: apt-get install mosquitto (scripts/test does)")
    tmp = tmp_path_factory.mktemp("mosquitto")
    port, tcp_port = free_port(), free_port()
    conf = tmp / "mosquitto.conf"
    # mosquitto 2.0.11 starts a websockets listener only beside a plain one; "lo"
    # binds it to loopback (an address alone is ignored by libwebsockets)
    conf.write_text(
        f"listener {tcp_port} 127.0.0.1\n"
        f"listener {port} lo\nprotocol websockets\n"
        "allow_anonymous true\npersistence false\n"
        "queue_qos0_messages true\nmax_queued_messages 0\nmax_queued_bytes 0\n"
    )
    proc = subprocess.Popen(
        [MOSQUITTO, "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        url = f"ws://127.0.0.1:{port}/mqtt"
        probe = rtnb.connect("mqtt", url, backoff={"initial": 0.1, "cap": 0.2})
        probe.wait_open(10)
        probe.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_mosquitto_pub_sub_retain_binary(mosquitto: str, version: str) -> None:
    pub = rtnb.connect("mqtt", mosquitto, mqtt_version=version).wait_open(10)
    pub.publish(f"rt{version}/kept", {"k": 1}, qos=1, retain=True)
    sub = rtnb.connect(
        "mqtt", mosquitto, topics=[f"rt{version}/#"], qos=1, mqtt_version=version
    ).wait_open(10)
    assert (sub.recv(timeout=5).topic, pub.state) == (f"rt{version}/kept", "open")
    pub.publish(f"rt{version}/bin", b"\x00\xff", qos=1)
    pub.publish(f"rt{version}/txt", "héllo")
    got = [sub.recv(timeout=5) for _ in range(2)]
    assert [(m.topic, m.data) for m in got] == [
        (f"rt{version}/bin", b"\x00\xff"),
        (f"rt{version}/txt", "héllo"),
    ]
    pub.publish(f"rt{version}/kept", b"", retain=True)


def test_mosquitto_backlog_arrives_whole_and_in_order(mosquitto: str) -> None:
    """A persistent session's backlog comes as fast as the broker sends: nothing dropped."""
    n = 30_000
    opts = {"topics": ["backlog/#"], "client_id": "rtnb-backlog", "clean_start": False}
    rtnb.connect("mqtt", mosquitto, **opts).wait_open(10).close()

    async def publish() -> None:
        port = int(mosquitto.split(":")[2].split("/")[0])
        async with aiomqtt.Client(
            "127.0.0.1", port, transport="websockets", websocket_path="/mqtt"
        ) as c:
            for i in range(n):
                await c.publish("backlog/x", str(i).encode())
            await c.publish("marker", b"", qos=1)  # the broker has queued all before it

    asyncio.run(publish())
    sub = rtnb.connect("mqtt", mosquitto, **opts, max_messages=n)
    wait_for(lambda: sub.stats.received >= n, 30)
    assert [m.data for m in sub.log.tail(n)] == [str(i) for i in range(n)]


# --- magics and the command line --------------------------------------------------------


def test_cli_tail_reads_mqtt(server: Server) -> None:
    args = ["tail", "mqtt", server.mqtt_url, "--topic", "ticks/AAPL", "--count", "2", "--json"]
    p = subprocess.run(
        [sys.executable, "-m", "rtnb.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    recs = [decode_line(line) for line in p.stdout.splitlines()]
    assert [getattr(r, "topic", None) for r in recs] == ["ticks/AAPL"] * 2


def test_magics_connect_and_send_both_kinds(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_serve",
            "%rt_connect socketio / --name s --transport websocket",
            '%rt_send s {"a": 1}',
            "m = s.recv(timeout=5); print('sio', m.event, m.json)",
            "%rt_connect mqtt /mqtt --topic 'demo/#' --send-topic demo/x --qos 1 --name q",
            "%rt_send q hello",
            "m = q.recv(timeout=5); print('mqtt', m.topic, m.data)",
            "%rt_close --all",
            "%rt_stop",
        ]
    )
    p = ipython(code, tmp_path)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    assert "sio message {'a': 1}" in p.stdout
    assert "mqtt demo/x hello" in p.stdout
