"""Socket.IO and MQTT ingest: rtnb.connect(...) into the log vs the raw library doing the same.

Socket.IO: the JavaScript Socket.IO v4 server (tests/node/socketio_server.js,
its own process) emits N ``tick`` events of ~60 bytes as fast as its socket
takes them (``blast``), over the WebSocket transport. Clients:

- raw: python-socketio's ``AsyncClient`` with a ``tick`` handler appending the
  decoded argument to a ``deque(maxlen=10_000)``;
- rtnb: ``rtnb.connect("socketio", url, transports=["websocket"])``, one
  Message per event into the log (bounded at 10,000 too).

MQTT: Debian's mosquitto (its own process, websockets listener) holds a backlog
of N QoS 0 messages of ~60 bytes for a persistent session (published before
the client comes back, ``queue_qos0_messages``), then delivers it as fast as
the client reads. Clients:

- raw: aiomqtt ``async for m in client.messages`` appending ``m.payload`` to a
  ``deque(maxlen=10_000)``;
- rtnb: ``rtnb.connect("mqtt", url, topics=[...], clean_start=False)``.

Runs alternate raw/rtnb; each figure is the median of 5 (1 with --quick).

    python -m benchmarks.bench_sio_mqtt            # ~1-2 minutes
    python -m benchmarks.bench_sio_mqtt --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import socketio

import rtnb

from ._common import NODE_DIR, free_port, machine, median, table

MOSQUITTO = "/usr/sbin/mosquitto"
KEEP = 10_000

PUBLISHER = """
import sys, paho.mqtt.client as mqtt
port, topic, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
c.max_queued_messages_set(0)
c.connect("127.0.0.1", port)
c.loop_start()
body = b'{"symbol":"AAPL","price":187.25,"t":1764088200.125,"seq":%d}'
for i in range(n):
    c.publish(topic, body % i, qos=0)
c.publish("marker/end", b"", qos=1).wait_for_publish(60)  # everything before it is queued
c.disconnect()
c.loop_stop()
"""


# --- Socket.IO ----------------------------------------------------------------------------


@contextmanager
def node_socketio() -> Iterator[str]:
    """The JavaScript Socket.IO server in its own process; yields its URL."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules").is_dir():
        sys.exit("needs Node.js and tests/node/node_modules (run scripts/test once)")
    port = free_port()
    proc = subprocess.Popen(
        [node, "socketio_server.js", str(port)], cwd=NODE_DIR, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def _raw_sio(url: str, n: int) -> float:
    client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    kept: collections.deque[Any] = collections.deque(maxlen=KEEP)
    stamps: list[float] = []
    done = asyncio.Event()

    def on_tick(data: Any) -> None:
        kept.append(data)
        if len(stamps) < 1 or len(kept) == KEEP or data["i"] == n - 1:
            stamps.append(time.perf_counter())
        if data["i"] == n - 1:
            done.set()

    client.on("tick", on_tick)
    await client.connect(url, transports=["websocket"])
    await client.emit("blast", {"n": n, "size": 60})
    await asyncio.wait_for(done.wait(), 300)
    await client.disconnect()
    return stamps[-1] - stamps[0]


def raw_sio(url: str, n: int) -> float:
    """Seconds from the first to the last of ``n`` events through python-socketio."""
    return asyncio.run(_raw_sio(url, n))


def _rtnb_rate(c: rtnb.Connection, n: int, start: Any) -> float:
    """Messages/s from the first message the callback sees to the ``n``-th received."""
    seen: list[tuple[float, int]] = []
    done = threading.Event()

    def on_message(m: rtnb.Message) -> None:
        received = c.stats.received
        if not seen:  # the backlog may start before the callback is in place
            seen.append((time.perf_counter(), received))
        if received >= n:
            seen.append((time.perf_counter(), received))
            done.set()

    c.on_message(on_message)
    start()
    if not done.wait(120):
        raise SystemExit(f"rtnb got {c.stats.received} of {n} ({c.stats.last_error})")
    c.close()
    (t0, r0), (t1, r1) = seen[0], seen[-1]
    return (r1 - r0) / (t1 - t0)


def rtnb_sio(url: str, n: int) -> float:
    """Messages/s through ``rtnb.connect("socketio", ...)``."""
    c = rtnb.connect(
        "socketio", url, transports=["websocket"], reconnect=False, max_messages=KEEP
    ).wait_open(10)
    return _rtnb_rate(c, n, lambda: c.emit("blast", {"n": n, "size": 60}))


# --- MQTT ---------------------------------------------------------------------------------


@contextmanager
def mosquitto_broker() -> Iterator[tuple[str, int]]:
    """mosquitto with a loopback websockets listener; yields (ws URL, TCP port)."""
    if not Path(MOSQUITTO).exists():
        sys.exit("needs mosquitto: apt-get install mosquitto")
    port, tcp = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "mosquitto.conf"
        conf.write_text(
            f"listener {tcp} 127.0.0.1\nlistener {port} lo\nprotocol websockets\n"
            "allow_anonymous true\npersistence false\nqueue_qos0_messages true\n"
            "max_queued_messages 0\nmax_queued_bytes 0\n"
        )
        proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(0.5)
            yield f"ws://127.0.0.1:{port}/mqtt", tcp
        finally:
            proc.terminate()
            proc.wait(10)


def publish_backlog(tcp: int, topic: str, n: int) -> None:
    """Publish ``n`` messages on ``topic`` from another process and wait until queued."""
    subprocess.run([sys.executable, "-c", PUBLISHER, str(tcp), topic, str(n)], check=True)


async def _raw_mqtt(url: str, tcp: int, n: int) -> float:
    port = int(url.split(":")[2].split("/")[0])
    ident = f"raw-{uuid.uuid4().hex[:8]}"
    topic = f"bench/{ident}"

    def client() -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1",
            port,
            transport="websockets",
            websocket_path="/mqtt",
            identifier=ident,
            clean_session=False,
        )

    async with client() as c:
        await c.subscribe(topic, qos=0)
    await asyncio.to_thread(publish_backlog, tcp, topic, n)
    kept: collections.deque[Any] = collections.deque(maxlen=KEEP)
    count = 0
    async with client() as c:
        async for m in c.messages:
            if count == 0:
                t0 = time.perf_counter()
            kept.append(m.payload)
            count += 1
            if count == n:
                break
        t1 = time.perf_counter()
    return t1 - t0


def raw_mqtt(url: str, tcp: int, n: int) -> float:
    """Seconds from the first to the last of ``n`` PUBLISHes through aiomqtt."""
    return asyncio.run(_raw_mqtt(url, tcp, n))


def rtnb_mqtt(url: str, tcp: int, n: int) -> float:
    """Messages/s through ``rtnb.connect("mqtt", ...)``."""
    ident = f"rtnb-{uuid.uuid4().hex[:8]}"
    topic = f"bench/{ident}"
    opts: dict[str, Any] = {
        "topics": [topic],
        "client_id": ident,
        "clean_start": False,
        "reconnect": False,
        "max_messages": KEEP,
    }
    rtnb.connect("mqtt", url, **opts).wait_open(10).close()
    publish_backlog(tcp, topic, n)
    c = rtnb.connect("mqtt", url, **opts)
    return _rtnb_rate(c, n, lambda: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n_sio = 5_000 if args.quick else 30_000
    n_mqtt = 5_000 if args.quick else 50_000
    runs = 1 if args.quick else args.runs
    sio_raw: list[float] = []
    sio_rtnb: list[float] = []
    mq_raw: list[float] = []
    mq_rtnb: list[float] = []
    with node_socketio() as url:
        raw_sio(url, 1000)  # warm both paths up
        rtnb_sio(url, 1000)
        for _ in range(runs):
            sio_raw.append(n_sio / raw_sio(url, n_sio))
            sio_rtnb.append(rtnb_sio(url, n_sio))
    with mosquitto_broker() as (url, tcp):
        for _ in range(runs):
            mq_raw.append(n_mqtt / raw_mqtt(url, tcp, n_mqtt))
            mq_rtnb.append(rtnb_mqtt(url, tcp, n_mqtt))
    print(f"Socket.IO and MQTT ingest, messages/s (median of {runs}); {machine()}")
    rows = [
        ("socketio (node server)", n_sio, median(sio_raw), median(sio_rtnb)),
        ("mqtt (mosquitto)", n_mqtt, median(mq_raw), median(mq_rtnb)),
    ]
    print(
        table(
            ["kind", "messages", "raw library", "rtnb", "rtnb/raw"],
            [(k, n, f"{r:,.0f}", f"{t:,.0f}", f"{t / r:.2f}x") for k, n, r, t in rows],
        )
    )


if __name__ == "__main__":
    main()
