"""The protocol lab's endpoints: timestamped streams over ws, sse and a WebRTC data channel.

What they send and how to ask is the lab's wire format, :mod:`rtnb.lab.wire`
(the query :class:`~rtnb.lab.wire.LabPlan`, the messages
:func:`~rtnb.lab.wire.lab_payload`, the closing :class:`~rtnb.lab.wire.Summary`),
shared with the client that measures them (:mod:`rtnb.lab.run`). This module
adds what only the server knows: the bytes its socket carried (Linux TCP
counters for ws/sse, the DTLS transport's counter for WebRTC), the transport
it saw, cutting a connection once per ``session``, and echoing every message a
ws or WebRTC client sends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCDataChannel, RTCIceCandidate, RTCPeerConnection

from .. import signaling
from ..lab.wire import PATHS, SSE_RETRY_MS, SUMMARY_EVENT, LabPlan, Summary, lab_payload
from ..rtc import HIGH_WATER
from ..sse_format import encode_event, encode_retry, parse_event_id
from ..ticker import Schedule
from .answerer import AnsweringPeer, close_all
from .common import cut, open_ws
from .config import Endpoint, ServerConfig, config_of
from .pacing import Step, stream_paced

__all__ = ["ice_pair", "setup", "tcp_counters"]

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


def _plan(request: web.Request) -> LabPlan:
    """The plan a request's query asks for.

    Raises:
        web.HTTPBadRequest: for a value that is not a number, naming it.
    """
    try:
        return LabPlan.from_query(request.query)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


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


def _tcp_bytes(
    opened: tuple[int, int] | None, after: tuple[int, int] | None
) -> tuple[int | None, int | None]:
    """(wire bytes of the stream, handshake bytes) from (acked, received) before and after it."""
    wire = None if opened is None or after is None else after[0] - opened[0]
    return wire, None if opened is None else opened[0] + opened[1]


# --- /lab/ws ----------------------------------------------------------------------------


async def lab_ws(request: web.Request) -> web.WebSocketResponse:
    """Stream lab messages over a WebSocket (no compression); echo what the client sends."""
    plan = _plan(request)
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
        wire, handshake = _tcp_bytes(opened, await _settled_tcp(sock))
        summary = Summary(0, sent, plan.size, plan.binary, "TCP", wire, handshake)
        await ws.send_str(summary.encode())
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
    plan = _plan(request)
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
        await resp.write(encode_retry(SSE_RETRY_MS).encode())
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
        wire, handshake = _tcp_bytes(opened, await _settled_tcp(sock))
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        chunked = resp.headers.get("Transfer-Encoding", "") == "chunked"
        carrier = f"{version} over TCP" + (", chunked" if chunked else "")
        summary = Summary(
            start, sent, plan.size, plan.binary, carrier, wire, handshake, last or None
        )
        event = encode_event(summary.encode(), event=SUMMARY_EVENT)
        await resp.write(b"\n\n" + event.encode())
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
        except (TimeoutError, ConnectionResetError) as exc:
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
        summary = Summary(
            0,
            sent,
            plan.size,
            plan.binary,
            transport=_ice_pair(pc),
            wire_bytes=None if opened is None or after is None else after[0] - opened[0],
            handshake_bytes=None if opened is None else sig_bytes + sum(opened),
            ordered=ch.ordered,
            max_retransmits=ch.maxRetransmits,
        ).encode()
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
    """What carries the data channel, like ``UDP (ICE host pair)``.

    Read from the ICE transport's public candidate lists (RTCIceTransport in
    the W3C WebRTC spec; aiortc offers no getSelectedCandidatePair): when each
    side has candidates of one type only, the selected pair is of those types.
    """
    sctp = pc.sctp
    if sctp is None:
        return UNSEEN_PAIR
    ice = sctp.transport.transport
    return ice_pair(ice.iceGatherer.getLocalCandidates(), ice.getRemoteCandidates())


#: What :func:`ice_pair` says when no transport is common to both sides.
UNSEEN_PAIR = "UDP or TCP (ICE pair not visible)"


def ice_pair(local: Iterable[RTCIceCandidate], remote: Iterable[RTCIceCandidate]) -> str:
    """Describe the ICE pair that can carry a connection with these candidates.

    ``UDP (ICE host pair)`` on loopback; ``UDP (ICE srflx/host pair)`` when
    each side has one candidate type; the types on each side otherwise.
    """
    local, remote = list(local), list(remote)
    common = {c.protocol.upper() for c in local} & {c.protocol.upper() for c in remote}
    if not common:
        return UNSEEN_PAIR
    carrier = " or ".join(sorted(common))
    mine = sorted({c.type for c in local})
    theirs = sorted({c.type for c in remote})
    if mine == theirs == ["host"]:
        return f"{carrier} (ICE host pair)"
    if len(mine) == len(theirs) == 1:
        return f"{carrier} (ICE {mine[0]}/{theirs[0]} pair)"
    return f"{carrier} (ICE pair of local {'/'.join(mine)} and remote {'/'.join(theirs)})"


async def lab_webrtc(request: web.Request) -> web.WebSocketResponse:
    """Signaling to a lab peer: it answers, then streams lab messages on each data channel."""
    config = config_of(request)
    plan = _plan(request)
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
    app.router.add_get(PATHS["ws"], lab_ws)
    app.router.add_get(PATHS["sse"], lab_sse)
    app.router.add_get(PATHS["webrtc"], lab_webrtc)
    app.on_shutdown.append(_close_peers)
    example = "?count=100&rate=50&size=64"
    endpoints += [
        Endpoint(PATHS["ws"], "ws", "protocol lab: timestamped messages, echo", example),
        Endpoint(PATHS["sse"], "sse", "protocol lab: timestamped events", example),
        Endpoint(PATHS["webrtc"], "webrtc", "protocol lab: timestamped data-channel messages"),
    ]
