"""WebRTC data channel: rtnb.connect("webrtc", ...) vs raw aiortc on the same loopback link.

Everything runs in one process on rtnb's loop, inside the loopback-only
namespace (aioice needs 127.0.0.2). The far end is always a raw aiortc peer.

- raw: two aiortc peer connections wired directly (SDP handed over in memory);
  the receiver counts messages in an ``on("message")`` callback, the sender
  calls ``channel.send`` and waits on ``bufferedAmount`` like rtnb does.
- rtnb: ``rtnb.connect("webrtc", relay_url)`` meets the raw peer through the
  in-kernel server's signaling relay; received messages go into the log
  (Message, counters, rate meter) and are counted by an ``on_message``
  callback; sends use ``await c.asend(...)`` on the loop and, separately, the
  blocking ``c.send(...)`` from the main thread (a thread hop per message).

Connect time: raw is offer to open data channel with no signaling at all;
rtnb is ``connect()`` to ``wait_open()`` through the relay (WebSocket +
room + offer/answer + ICE + DTLS + SCTP), and to the bot.

    scripts/test-netns .venv/bin/python -m benchmarks.bench_webrtc          # ~1 minute
    scripts/test-netns .venv/bin/python -m benchmarks.bench_webrtc --quick  # a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from websockets.asyncio.client import connect as ws_connect

import rtnb
from rtnb import signaling
from rtnb.runtime import get_runtime

from ._common import ROOT, machine, median, table

HIGH = 1024 * 1024
LOW = 256 * 1024


async def _send_all(ch: RTCDataChannel, n: int, payload: str) -> None:
    """Send ``n`` messages as fast as the channel's buffer allows, yielding to the loop
    after each (a burst without yielding makes aiortc's SCTP flush crawl)."""
    drained = asyncio.Event()
    ch.bufferedAmountLowThreshold = LOW
    ch.on("bufferedamountlow", drained.set)
    for _ in range(n):
        if ch.bufferedAmount > HIGH:
            drained.clear()
            await drained.wait()
        ch.send(payload)
        await asyncio.sleep(0)


class Counter:
    """Counts messages; ``done`` resolves at ``n``."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.count = 0
        self.done: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def __call__(self, _msg: Any) -> None:
        self.count += 1
        if self.count == self.n and not self.done.done():
            self.done.set_result(time.perf_counter())


async def _raw_pair() -> tuple[RTCPeerConnection, RTCPeerConnection, RTCDataChannel, Any, float]:
    a = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    b = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    t0 = time.perf_counter()
    ch_a = a.createDataChannel("chat")
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    remote: asyncio.Future[RTCDataChannel] = asyncio.get_running_loop().create_future()
    ch_a.on("open", lambda: opened.done() or opened.set_result(None))
    b.on("datachannel", lambda ch: remote.done() or remote.set_result(ch))
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(RTCSessionDescription(a.localDescription.sdp, "offer"))
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(RTCSessionDescription(b.localDescription.sdp, "answer"))
    await opened
    ch_b = await remote
    return a, b, ch_a, ch_b, time.perf_counter() - t0


async def raw_connect_time() -> float:
    a, b, _, _, took = await _raw_pair()
    await a.close()
    await b.close()
    return took


async def raw_throughput(n: int, payload: str) -> float:
    """Messages/s from one raw aiortc peer to another."""
    a, b, ch_a, ch_b, _ = await _raw_pair()
    try:
        counter = Counter(n)
        ch_b.on("message", counter)
        t0 = time.perf_counter()
        await _send_all(ch_a, n, payload)
        t1 = await asyncio.wait_for(counter.done, 120)
        return n / (t1 - t0)
    finally:
        await a.close()
        await b.close()


class RawPeer:
    """A raw aiortc peer that joins a relay room and answers rtnb's offer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel: asyncio.Future[RTCDataChannel] = asyncio.get_running_loop().create_future()
        self.pc.on("datachannel", lambda ch: self.channel.done() or self.channel.set_result(ch))
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async with ws_connect(self.url) as ws:
            async for raw in ws:
                sig = signaling.parse(raw)
                if sig.type == "offer" and sig.sdp is not None:
                    await self.pc.setRemoteDescription(RTCSessionDescription(sig.sdp, "offer"))
                    await self.pc.setLocalDescription(await self.pc.createAnswer())
                    answer = signaling.description("answer", self.pc.localDescription.sdp)
                    await ws.send(signaling.dumps(answer))

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.pc.close()


class RawOfferer:
    """A raw aiortc peer that joins a relay room and offers, as rtnb does (the baseline)."""

    @classmethod
    async def join(cls, url: str) -> RawOfferer:
        self = cls()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("chat")
        opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.channel.on("open", lambda: opened.done() or opened.set_result(None))
        self.ws = await ws_connect(url)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = signaling.description("offer", self.pc.localDescription.sdp)
        await self.ws.send(signaling.dumps(offer))
        while (sig := signaling.parse(await self.ws.recv())).type != "answer":
            pass
        assert sig.sdp is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sig.sdp, "answer"))
        await opened
        return self

    async def aclose(self) -> None:
        await self.pc.close()
        await self.ws.close()


async def _meet(srv: Any, room: str) -> tuple[str, RawPeer]:
    url = srv.url_for(f"/webrtc/signal?room={room}")
    peer = RawPeer(url)
    await asyncio.sleep(0.05)  # the answering peer is in the room first
    return url, peer


async def raw_relay(srv: Any, room: str, n: int, payload: str, receive: bool) -> float:
    """Messages/s between two raw aiortc peers that met through the relay."""
    url, peer = await _meet(srv, room)
    me = await RawOfferer.join(url)
    try:
        far = await peer.channel
        counter = Counter(n)
        t0 = time.perf_counter()
        if receive:
            me.channel.on("message", counter)
            await _send_all(far, n, payload)
        else:
            far.on("message", counter)
            await _send_all(me.channel, n, payload)
        t1 = await asyncio.wait_for(counter.done, 120)
        return n / (t1 - t0)
    finally:
        await me.aclose()
        await peer.aclose()


async def rtnb_pair(srv: Any, room: str) -> tuple[rtnb.Connection, RawPeer, float]:
    url, peer = await _meet(srv, room)
    t0 = time.perf_counter()
    c = rtnb.connect("webrtc", url, name=f"bench-{room}", max_messages=1_000_000)
    while c.state != "open":
        if c.state in ("failed", "closed"):
            raise RuntimeError(c.summary())
        await asyncio.sleep(0.001)
    return c, peer, time.perf_counter() - t0


async def rtnb_receive(srv: Any, room: str, n: int, payload: str) -> float:
    """Messages/s from a raw peer into an rtnb connection's log."""
    c, peer, _ = await rtnb_pair(srv, room)
    try:
        counter = Counter(n)
        c.on_message(counter)
        ch = await peer.channel
        t0 = time.perf_counter()
        await _send_all(ch, n, payload)
        t1 = await asyncio.wait_for(counter.done, 120)
        assert c.stats.received == n
        return n / (t1 - t0)
    finally:
        await c.aclose()
        await peer.aclose()


async def rtnb_send(srv: Any, room: str, n: int, payload: str) -> float:
    """Messages/s from ``await c.asend`` (yielding like the raw sender) to a raw peer."""
    c, peer, _ = await rtnb_pair(srv, room)
    try:
        counter = Counter(n)
        (await peer.channel).on("message", counter)
        t0 = time.perf_counter()
        for _ in range(n):
            await c.asend(payload)
            await asyncio.sleep(0)
        t1 = await asyncio.wait_for(counter.done, 120)
        return n / (t1 - t0)
    finally:
        await c.aclose()
        await peer.aclose()


def rtnb_send_sync(srv: Any, room: str, n: int, payload: str) -> float:
    """Messages/s from the blocking ``c.send`` on the main thread to a raw peer."""
    rt = get_runtime()

    async def setup() -> tuple[rtnb.Connection, RawPeer, Counter]:
        c, peer, _ = await rtnb_pair(srv, room)
        counter = Counter(n)
        (await peer.channel).on("message", counter)
        return c, peer, counter

    c, peer, counter = rt.run(setup(), 30)
    try:
        t0 = time.perf_counter()
        for _ in range(n):
            c.send(payload)
        t1 = rt.run(asyncio.wait_for(asyncio.shield(counter.done), 120), 130)
        return n / (t1 - t0)
    finally:
        rt.run(c.aclose(), 10)
        rt.run(peer.aclose(), 10)


async def call_costs(srv: Any, room: str, n: int, payload: str) -> tuple[float, float]:
    """Microseconds per call on the loop: ``await c.asend`` vs the raw ``channel.send``.

    Sends are not yielded between, so this is only the caller's cost (the
    network work happens afterwards, the same for both).
    """
    c, peer, _ = await rtnb_pair(srv, room)
    try:
        counter = Counter(2 * n)
        (await peer.channel).on("message", counter)
        ch = c.transport._channel  # type: ignore[attr-defined]
        t0 = time.perf_counter()
        for _ in range(n):
            await c.asend(payload)
        t1 = time.perf_counter()
        for _ in range(n):
            ch.send(payload)
        t2 = time.perf_counter()
        await asyncio.wait_for(counter.done, 120)
        return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6
    finally:
        await c.aclose()
        await peer.aclose()


async def rtnb_connect_time(srv: Any, room: str) -> float:
    c, peer, took = await rtnb_pair(srv, room)
    await c.aclose()
    await peer.aclose()
    return took


async def bot_connect_time(srv: Any) -> float:
    t0 = time.perf_counter()
    c = rtnb.connect("webrtc", srv.url_for("/webrtc/bot"), name="bench-bot")
    while c.state != "open":
        if c.state in ("failed", "closed"):
            raise RuntimeError(c.summary())
        await asyncio.sleep(0.001)
    took = time.perf_counter() - t0
    await c.aclose()
    return took


def main() -> None:
    if os.environ.get("RTNB_IN_NETNS") != "1":
        netns = str(ROOT / "scripts" / "test-netns")
        os.execv(netns, [netns, sys.executable, "-m", "benchmarks.bench_webrtc", *sys.argv[1:]])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    n = 500 if args.quick else 5000
    runs = 1 if args.quick else args.runs
    payload = "x" * 100
    rt = get_runtime()
    srv = rtnb.serve()
    rooms = iter(range(10_000))
    # Each run measures the raw baseline and rtnb back to back (in alternating
    # order) and the ratio is taken within the run, so load from other processes
    # on a shared machine mostly cancels out.
    paths = ["pair", "raw_recv", "recv", "raw_send", "asend", "send"]
    rates: dict[str, list[float]] = {p: [] for p in paths}
    t_raw, t_rtnb, t_bot = [], [], []
    costs: list[tuple[float, float]] = []
    try:
        rt.run(raw_throughput(200, payload), 60)  # warm up imports and code paths
        for i in range(runs):

            def room(prefix: str) -> str:
                return f"{prefix}{next(rooms)}"

            rates["pair"].append(rt.run(raw_throughput(n, payload), 180))
            recv_pair = [
                ("raw_recv", lambda: rt.run(raw_relay(srv, room("a"), n, payload, True), 180)),
                ("recv", lambda: rt.run(rtnb_receive(srv, room("b"), n, payload), 180)),
            ]
            send_pair = [
                ("raw_send", lambda: rt.run(raw_relay(srv, room("c"), n, payload, False), 180)),
                ("asend", lambda: rt.run(rtnb_send(srv, room("d"), n, payload), 180)),
            ]
            for pair in (recv_pair, send_pair):
                for name, fn in pair if i % 2 == 0 else pair[::-1]:
                    rates[name].append(fn())
            rates["send"].append(rtnb_send_sync(srv, room("e"), n, payload))
            costs.append(rt.run(call_costs(srv, room("f"), min(n, 2000), payload), 180))
        for _ in range(3 if args.quick else 10):
            t_raw.append(rt.run(raw_connect_time(), 30))
            t_rtnb.append(rt.run(rtnb_connect_time(srv, f"c{next(rooms)}"), 30))
            t_bot.append(rt.run(bot_connect_time(srv), 30))
    finally:
        srv.stop()

    baseline = {"pair": "pair", "raw_recv": "raw_recv", "recv": "raw_recv"}
    baseline.update({"raw_send": "raw_send", "asend": "raw_send", "send": "raw_send"})

    def ratio(path: str) -> str:
        base = rates[baseline[path]]
        per_run = [r / b for r, b in zip(rates[path], base, strict=True)]
        return f"{median(per_run):.2f} ({min(per_run):.2f}-{max(per_run):.2f})"

    print(f"WebRTC data channel, {n} messages of {len(payload)} B, {runs} runs; {machine()}")
    print()
    names = {
        "pair": "raw aiortc pair, SDP in memory (reference)",
        "raw_recv": "receive baseline: raw aiortc -> raw aiortc via relay",
        "recv": "receive: raw aiortc -> rtnb (into the log)",
        "raw_send": "send baseline: raw aiortc -> raw aiortc via relay",
        "asend": "send: rtnb await asend -> raw aiortc",
        "send": "send: rtnb send() from the main thread -> raw aiortc",
    }
    rows = [[names[p], f"{median(rates[p]):,.0f}", ratio(p)] for p in paths]
    print(table(["path", "median msgs/s", "vs its baseline, same run: median (range)"], rows))
    print()
    rows = [
        ["raw aiortc pair, no signaling", f"{median(t_raw) * 1000:.0f}"],
        ["rtnb through /webrtc/signal relay", f"{median(t_rtnb) * 1000:.0f}"],
        ["rtnb to /webrtc/bot", f"{median(t_bot) * 1000:.0f}"],
    ]
    print(table(["connect (to open data channel)", "median ms"], rows))
    print()
    asend_us = median([a for a, _ in costs])
    raw_us = median([b for _, b in costs])
    rows = [
        ["raw channel.send", f"{raw_us:.1f}"],
        ["rtnb await c.asend (logged, counted)", f"{asend_us:.1f}"],
    ]
    print(table(["caller's cost per send on the loop", "median us"], rows))


if __name__ == "__main__":
    main()
