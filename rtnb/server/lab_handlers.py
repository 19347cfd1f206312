"""The protocol lab's endpoints: timestamped streams over ws, sse and a WebRTC data channel.

Each endpoint streams lab messages (``SEQ TIME padding``, see
:func:`rtnb.comparestats.lab_payload`) with the server's send time inside, so a
client on the same machine measures one-way latency with the same clock. The
query says what to send:

=========  ===========================================================================
count      messages to stream (default 100)
rate       messages per second; 0 = as fast as the transport drains (default 100)
seconds    stop streaming after this long, whatever ``count`` says (0 = no limit)
size       payload bytes per message (32-65536, default 64)
binary     1 = binary messages (on SSE the raw bytes go into ``data:``)
cut        abort the connection after this many messages, once per ``session``
session    names the client across reconnects (for ``cut``)
ids        SSE: ``id:`` lines and ``retry: 100``, resuming after ``Last-Event-ID``
=========  ===========================================================================

When the stream ends the server sends one JSON message ``{"done": true, ...}``
(an SSE event of type ``done``) with what it counted: messages sent, the bytes
its socket carried for them (``wire_bytes``; Linux TCP counters for ws/sse,
the DTLS transport's counter for WebRTC), the handshake bytes and the transport
it saw. Every message a ws or WebRTC client sends is echoed as it came.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCDataChannel, RTCPeerConnection

from .. import jsonfast, signaling
from ..comparestats import PAYLOAD_LIMITS, lab_payload
from ..rtc import HIGH_WATER
from ..sse_format import encode_event, encode_retry, parse_event_id
from ..ticker import Schedule
from .answerer import AnsweringPeer, close_all
from .common import cut, open_ws, query_float
from .config import Endpoint, ServerConfig, config_of
from .pacing import Step, stream_paced

__all__ = ["LabPlan", "setup", "tcp_counters"]

log = logging.getLogger("rtnb.server")

CUTS: web.AppKey[collections.OrderedDict[str, float]] = web.AppKey("rtnb_lab_cuts")
PEERS = web.AppKey("rtnb_lab_peers", set["_LabPeer"])

#: Sessions remembered for ``cut`` (oldest forgotten first).
MAX_SESSIONS = 256
#: How long a finished SSE stream stays open for its client to read the summary.
LINGER = 30.0
#: Messages written before yielding to the loop when streaming flat out.
BATCH = 64
#: A lab data channel's send queue is kept under this many bytes. Lower than
#: the transport's own mark: aiortc abandons unreliable chunks one by one with
#: a scan of its sent queue, so a long queue collapses the unreliable channel.
LAB_HIGH_WATER = 64 * 1024


@dataclass(frozen=True)
class LabPlan:
    """What one lab stream sends (parsed from the query)."""

    count: int = 100
    rate: float = 100.0
    seconds: float = 0.0
    size: int = 64
    binary: bool = False
    cut: int = 0
    session: str = ""
    ids: bool = False

    @classmethod
    def from_request(cls, request: web.Request) -> LabPlan:
        """Read and bound the query.

        Raises:
            web.HTTPBadRequest: for a value that is not a number.
        """
        session = request.query.get("session", "")[:64]
        return cls(
            count=int(query_float(request, "count", 100, 0, 1_000_000)),
            rate=query_float(request, "rate", 100.0, 0.0, 100_000.0),
            seconds=query_float(request, "seconds", 0.0, 0.0, 60.0),
            size=int(query_float(request, "size", 64, *PAYLOAD_LIMITS)),
            binary=request.query.get("binary", "0") in ("1", "true", "yes"),
            cut=int(query_float(request, "cut", 0, 0, 1_000_000)),
            session=session,
            ids=request.query.get("ids", "0") in ("1", "true", "yes"),
        )


def _cut_now(request: web.Request, plan: LabPlan) -> int:
    """How many messages this connection sends before it is cut (0 = never)."""
    if not plan.cut:
        return 0
    cuts = request.app[CUTS]
    if plan.session and plan.session in cuts:
        return 0
    if plan.session:
        cuts[plan.session] = time.time()
        while len(cuts) > MAX_SESSIONS:
            cuts.popitem(last=False)
    return plan.cut


async def _stream(
    plan: LabPlan,
    start: int,
    send: Callable[[str | bytes], Awaitable[None]],
    cut_after: int = 0,
    wait: Callable[[], Awaitable[None]] | None = None,
) -> tuple[int, bool]:
    """Send lab messages ``start..plan.count-1`` at ``plan.rate``; return (sent, was_cut)."""
    if plan.count <= start:
        return 0, False
    deadline = time.monotonic() + plan.seconds if plan.seconds else None
    sent = 0

    async def send_next() -> Step:
        nonlocal sent
        if cut_after and sent >= cut_after:
            return "stop"  # cut where the next message would go
        await send(lab_payload(start + sent, time.time(), plan.size, plan.binary))
        sent += 1
        return "sent"

    async def pause(seconds: float) -> None:
        if wait is not None:
            await wait()
        await asyncio.sleep(seconds)  # 0 at rate=0: let readers on this loop run

    ending = await stream_paced(
        Schedule(plan.rate, time.time(), plan.count - start, batch=BATCH),
        send_next,
        pause,
        lambda: deadline is None or time.monotonic() < deadline,
    )
    return sent, ending == "stopped"


# --- byte counting at the socket ------------------------------------------------------

#: ``struct tcp_info`` (linux/tcp.h): tcpi_unacked at 24, tcpi_bytes_acked at 120,
#: tcpi_bytes_received at 128, tcpi_notsent_bytes at 144 (Linux 4.6 and later).
_TCP_INFO_SIZE = 148


def tcp_counters(sock: Any) -> tuple[int, int, int] | None:
    """(bytes acked by the peer, bytes received, bytes not yet acked or sent) of a TCP socket.

    Read from the kernel's ``TCP_INFO`` (Linux); None where it is not available.
    """
    opt = getattr(socket, "TCP_INFO", None)
    if sock is None or opt is None:
        return None
    try:
        raw = sock.getsockopt(socket.IPPROTO_TCP, opt, 256)
    except OSError:
        return None
    if len(raw) < _TCP_INFO_SIZE:
        return None
    (unacked,) = struct.unpack_from("I", raw, 24)
    acked, received = struct.unpack_from("QQ", raw, 120)
    (notsent,) = struct.unpack_from("I", raw, 144)
    return acked, received, unacked + notsent


async def _settled_tcp(sock: Any, timeout: float = 2.0) -> tuple[int, int] | None:
    """(acked, received) once everything written has been acked (or after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        c = tcp_counters(sock)
        if c is None:
            return None
        if c[2] == 0 or time.monotonic() >= deadline:
            return c[0], c[1]
        await asyncio.sleep(0.002)


def _socket(request: web.Request) -> Any:
    transport = request.transport
    return None if transport is None else transport.get_extra_info("socket")


def _summary(plan: LabPlan, start: int, sent: int, **extra: Any) -> str:
    return jsonfast.dumps(
        {"done": True, "first": start, "sent": sent, "size": plan.size, "binary": plan.binary}
        | extra
    )


# --- /lab/ws ----------------------------------------------------------------------------


async def lab_ws(request: web.Request) -> web.WebSocketResponse:
    """Stream lab messages over a WebSocket (no compression); echo what the client sends."""
    plan = LabPlan.from_request(request)
    ws = await open_ws(request, compress=False)
    sock = _socket(request)
    opened = await _settled_tcp(sock)

    async def echo() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type == WSMsgType.BINARY:
                await ws.send_bytes(msg.data)

    reader = asyncio.get_running_loop().create_task(echo(), name="rtnb-lab-ws-echo")

    async def send(data: str | bytes) -> None:
        if isinstance(data, bytes):
            await ws.send_bytes(data)
        else:
            await ws.send_str(data)

    try:
        sent, was_cut = await _stream(plan, 0, send, _cut_now(request, plan))
        if was_cut:
            cut(request)
            return ws
        after = await _settled_tcp(sock)
        await ws.send_str(
            _summary(
                plan,
                0,
                sent,
                transport="TCP",
                wire_bytes=None if opened is None or after is None else after[0] - opened[0],
                handshake_bytes=None if opened is None else opened[0] + opened[1],
            )
        )
        await asyncio.wait({reader})
    except (ConnectionResetError, RuntimeError) as exc:  # the client went away
        log.debug("lab ws: %r", exc)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
    return ws


# --- /lab/sse ---------------------------------------------------------------------------


async def lab_sse(request: web.Request) -> web.StreamResponse:
    """Stream lab messages as SSE events; ``ids=1`` adds ids and resumes after Last-Event-ID."""
    plan = LabPlan.from_request(request)
    start = 0
    last = request.headers.get("Last-Event-ID", "")
    last_id = parse_event_id(last) if plan.ids else None
    if last_id is not None:
        start = min(last_id + 1, plan.count)
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
    )
    await resp.prepare(request)
    if plan.ids:
        await resp.write(encode_retry(100).encode())
    sock = _socket(request)
    opened = await _settled_tcp(sock)

    async def send(data: str | bytes) -> None:
        if isinstance(data, bytes):  # SSE is text: the raw bytes go in as they are
            head = b"id: %d\n" % int(data[:10]) if plan.ids else b""
            await resp.write(head + b"data: " + data + b"\n\n")
        else:
            eid = int(data[:10]) if plan.ids else None
            await resp.write(encode_event(data, id=eid).encode())

    try:
        sent, was_cut = await _stream(plan, start, send, _cut_now(request, plan))
        if was_cut:
            cut(request)
            return resp
        after = await _settled_tcp(sock)
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        chunked = resp.headers.get("Transfer-Encoding", "") == "chunked"
        summary = _summary(
            plan,
            start,
            sent,
            transport=f"{version} over TCP" + (", chunked" if chunked else ""),
            wire_bytes=None if opened is None or after is None else after[0] - opened[0],
            handshake_bytes=None if opened is None else opened[0] + opened[1],
            last_event_id=last or None,
        )
        await resp.write(b"\n\n" + encode_event(summary, event="done").encode())
        deadline = time.monotonic() + LINGER
        transport = request.transport
        while transport is not None and not transport.is_closing():
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
    except (ConnectionResetError, RuntimeError) as exc:
        log.debug("lab sse: %r", exc)
    return resp


# --- /lab/webrtc ------------------------------------------------------------------------


class _LabPeer(AnsweringPeer):
    """The server's peer for one signaling socket: answers, streams on the channel, echoes."""

    name = "lab"

    def __init__(self, request: web.Request, ws: web.WebSocketResponse, plan: LabPlan) -> None:
        super().__init__(ws)
        self.request = request
        self.plan = plan
        self.tasks: set[asyncio.Task[None]] = set()

    def on_channel(self, ch: RTCDataChannel) -> None:
        ch.bufferedAmountLowThreshold = LAB_HIGH_WATER // 4

        def echo(data: str | bytes) -> None:
            if ch.readyState == "open" and ch.bufferedAmount <= HIGH_WATER:
                ch.send(data)

        ch.on("message", echo)
        task = asyncio.get_running_loop().create_task(self.stream(ch), name="rtnb-lab-webrtc")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def stream(self, ch: RTCDataChannel) -> None:
        pc = self.pc
        if pc is None:
            return
        plan = self.plan
        drained = asyncio.Event()
        ch.on("bufferedamountlow", drained.set)

        async def send(data: str | bytes) -> None:
            if ch.readyState != "open":
                raise ConnectionResetError("data channel closed")
            ch.send(data)

        async def wait() -> None:
            while ch.bufferedAmount > LAB_HIGH_WATER and ch.readyState == "open":
                drained.clear()
                await asyncio.wait_for(drained.wait(), 10)

        opened = await _dtls_bytes(pc)
        tcp = tcp_counters(_socket(self.request))  # the signaling socket, upgrade included
        sig_bytes = self.signal_bytes if tcp is None else tcp[0] + tcp[1]
        try:
            sent, was_cut = await _stream(plan, 0, send, _cut_now(self.request, plan), wait)
        except (ConnectionResetError, asyncio.TimeoutError) as exc:
            log.debug("lab webrtc: %r", exc)
            return
        if was_cut:
            await self.reset()
            return
        for _ in range(1000):  # the channel's queue empties (bounded: 2 s)
            if not ch.bufferedAmount:
                break
            await asyncio.sleep(0.002)
        after = await _dtls_bytes(pc, settle=True)
        summary = _summary(
            plan,
            0,
            sent,
            transport=_ice_pair(pc),
            ordered=ch.ordered,
            max_retransmits=ch.maxRetransmits,
            wire_bytes=None if opened is None or after is None else after[0] - opened[0],
            handshake_bytes=None if opened is None else sig_bytes + sum(opened),
        )
        # An unreliable channel may lose a message: say it three times.
        for _ in range(1 if ch.ordered and ch.maxRetransmits is None else 3):
            if ch.readyState != "open":
                break
            ch.send(summary)
            await asyncio.sleep(0.02)

    async def reset(self) -> None:
        for task in [t for t in self.tasks if t is not asyncio.current_task()]:
            task.cancel()
        await super().reset()


async def _dtls_bytes(pc: RTCPeerConnection, settle: bool = False) -> tuple[int, int] | None:
    """(bytes sent, bytes received) by the peer connection's DTLS transport.

    These are the UDP payloads (DTLS records) and so include the SCTP and DTLS
    headers; aiortc's ``getStats()`` leaves the data-channel transport out, so
    the DTLS transport's own report is read.
    """
    sctp = pc.sctp
    get = getattr(sctp.transport, "_get_stats", None) if sctp is not None else None
    if get is None:
        return None
    last: tuple[int, int] | None = None
    for _ in range(50 if settle else 1):
        now = None
        for stat in get().values():
            if getattr(stat, "type", None) == "transport":
                now = (int(stat.bytesSent), int(stat.bytesReceived))
        if now is None or not settle or now == last:
            return now
        last = now
        await asyncio.sleep(0.01)
    return last


def _ice_pair(pc: RTCPeerConnection) -> str:
    """The selected ICE candidate pair, like ``UDP (ICE host pair)``."""
    try:
        sctp = pc.sctp
        assert sctp is not None
        conn = sctp.transport.transport._connection  # aioice, no public accessor
        pair = next(iter(conn._nominated.values()))
        local = pair.local_candidate
        remote = pair.remote_candidate
        kinds = "host" if local.type == remote.type == "host" else f"{local.type}/{remote.type}"
        return f"{local.transport.upper()} (ICE {kinds} pair)"
    except Exception:
        return "UDP or TCP (ICE pair not visible)"


async def lab_webrtc(request: web.Request) -> web.WebSocketResponse:
    """Signaling to a lab peer: it answers, then streams lab messages on each data channel."""
    config = config_of(request)
    plan = LabPlan.from_request(request)
    peers = request.app[PEERS]
    ws = await open_ws(request)
    if len(peers) >= config.max_bots:
        await ws.send_str(signaling.dumps(signaling.error("server busy: too many lab peers")))
        await ws.close()
        return ws
    me = _LabPeer(request, ws, plan)
    peers.add(me)
    try:
        await me.run()
    finally:
        peers.discard(me)
    return ws


async def _close_peers(app: web.Application) -> None:
    await close_all(app[PEERS])


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the lab routes (used by :func:`rtnb.compare`)."""
    app[CUTS] = collections.OrderedDict()
    app[PEERS] = set()
    app.router.add_get("/lab/ws", lab_ws)
    app.router.add_get("/lab/sse", lab_sse)
    app.router.add_get("/lab/webrtc", lab_webrtc)
    app.on_shutdown.append(_close_peers)
    example = "?count=100&rate=50&size=64"
    endpoints += [
        Endpoint("/lab/ws", "ws", "protocol lab: timestamped messages, echo", example),
        Endpoint("/lab/sse", "sse", "protocol lab: timestamped events", example),
        Endpoint("/lab/webrtc", "webrtc", "protocol lab: timestamped data-channel messages"),
    ]
