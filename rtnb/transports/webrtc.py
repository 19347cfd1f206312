"""WebRTC data-channel transport on ``aiortc``, negotiated over a signaling WebSocket.

The signaling messages are the article's JSON (see :mod:`rtnb.signaling`), so
the other peer can be rtnb, the server's ``/webrtc/bot`` or a browser page
running plain ``RTCPeerConnection`` code. Data channels are SCTP over DTLS over
ICE (RFC 8831); channels are opened in-band with DCEP (RFC 8832).

How ``role="auto"`` picks a side (the rule is documented in the README):

- an offer that arrives is answered;
- the bot says ``{"type": "hello", "role": "answer"}``: offer at once;
- the relay says ``{"type": "room", "peers": N}``: with N >= 1 the newcomer offers
  at once, alone it waits; ``{"type": "join"}`` (someone came) starts a short
  wait (``auto_wait``, 0.5 s) for their offer, then offers;
- from any other signaling server: offer after ``auto_wait``.

When both sides offer at once (glare) :func:`rtnb.signaling.local_offer_wins`
decides; the loser closes its peer connection (aiortc has no rollback) and
answers. A plain page's offer (no tie-break) always wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .. import localtrust, signaling
from ..errors import ConnectError, ProtocolError
from ..errors import ConnectionClosed as Closed
from ..signaling import IceCandidate, Signal
from .base import Ingest, Transport, check_options
from .tls import client_ssl_context
from .ws import _headers, _os_error_text

__all__ = [
    "CandidateQueue",
    "WebRTCTransport",
    "close_peer",
    "parse_ice_servers",
    "to_aiortc_candidate",
]

log = logging.getLogger("rtnb")

Role = Literal["auto", "offer", "answer"]

#: send() waits while more than this many bytes are queued on the channel ...
HIGH_WATER = 1024 * 1024
#: ... until the queue drains below this (the channel's bufferedAmountLowThreshold).
LOW_WATER = 256 * 1024
#: Candidates kept while no remote description is set yet.
MAX_PENDING_CANDIDATES = 64


def parse_ice_servers(value: Any) -> list[RTCIceServer]:
    """STUN/TURN servers from strings or ``{"urls", "username", "credential"}`` dicts.

    None or ``[]`` gives no servers: loopback and LAN peers need none.

    >>> [s.urls for s in parse_ice_servers(["stun:stun.example.org:3478"])]
    ['stun:stun.example.org:3478']

    Raises:
        TypeError: for anything else, naming the expected shapes.
    """
    if value is None:
        return []
    if isinstance(value, str | Mapping):
        value = [value]
    if not isinstance(value, Sequence):
        raise TypeError("ice_servers must be a list of URLs or {'urls': ...} dicts")
    out: list[RTCIceServer] = []
    for item in value:
        if isinstance(item, str):
            out.append(RTCIceServer(urls=item))
            continue
        if isinstance(item, RTCIceServer):
            out.append(item)
            continue
        if not isinstance(item, Mapping) or "urls" not in item:
            raise TypeError(
                "each ice server is a URL string like 'stun:host:3478' or a dict "
                "{'urls': ..., 'username': ..., 'credential': ...}"
            )
        urls = item["urls"]
        if not (isinstance(urls, str) or all(isinstance(u, str) for u in urls)):
            raise TypeError("ice server 'urls' must be a string or a list of strings")
        out.append(
            RTCIceServer(
                urls=urls if isinstance(urls, str) else list(urls),
                username=item.get("username"),
                credential=item.get("credential"),
            )
        )
    return out


def to_aiortc_candidate(cand: IceCandidate) -> RTCIceCandidate:
    """A browser's trickled candidate as aiortc's ``RTCIceCandidate``.

    Raises:
        ValueError: when the candidate line has bad numbers.
    """
    try:
        out = candidate_from_sdp(cand.sdp_value)
    except (AssertionError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed ICE candidate {cand.candidate[:60]!r}") from exc
    out.sdpMid = cand.sdp_mid
    out.sdpMLineIndex = cand.sdp_mline_index
    return out


class CandidateQueue:
    """Adds trickled remote candidates to a peer connection, in order, without blocking.

    Candidates that arrive before the remote description wait in a bounded list.
    An mDNS ``*.local`` candidate takes ~1 s to resolve, so it is added in a
    background task instead of stalling the signaling loop.
    """

    def __init__(self) -> None:
        self.pending: list[IceCandidate | None] = []
        self.tasks: set[asyncio.Task[None]] = set()

    async def add(self, pc: RTCPeerConnection, cand: IceCandidate | None, ready: bool) -> None:
        """Add ``cand`` (None = end of candidates) now if ``ready``, else keep it."""
        if not ready:
            if len(self.pending) >= MAX_PENDING_CANDIDATES:
                raise ValueError(f"more than {MAX_PENDING_CANDIDATES} early ICE candidates")
            self.pending.append(cand)
            return
        if cand is None:
            if self.tasks:  # end of candidates after the mDNS ones are in
                await asyncio.wait(set(self.tasks), timeout=5)
            with contextlib.suppress(ValueError):  # already ended by the SDP
                await pc.addIceCandidate(None)
            return
        ice = to_aiortc_candidate(cand)
        if ice.ip.endswith(".local"):
            task = asyncio.get_running_loop().create_task(
                _add_quietly(pc, ice), name="rtnb-webrtc-mdns-candidate"
            )
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        else:
            await pc.addIceCandidate(ice)

    async def flush(self, pc: RTCPeerConnection) -> None:
        """Add the candidates kept while the remote description was missing."""
        pending, self.pending = self.pending, []
        for cand in pending:
            await self.add(pc, cand, True)

    async def aclose(self) -> None:
        """Cancel candidate additions still running."""
        self.pending.clear()
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)


async def _add_quietly(pc: RTCPeerConnection, ice: RTCIceCandidate) -> None:
    try:
        await pc.addIceCandidate(ice)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("rtnb webrtc: candidate ignored: %r", exc)


async def close_peer(pc: RTCPeerConnection | None, timeout: float = 5.0) -> None:
    """Close a peer connection (ICE, DTLS, SCTP and their UDP sockets), quietly."""
    if pc is None:
        return
    try:
        await asyncio.wait_for(pc.close(), timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("rtnb webrtc: error while closing a peer connection: %r", exc)


class WebRTCTransport(Transport):
    """A data channel to a peer found through a signaling WebSocket.

    Options:
        channel: the data channel label (default ``"chat"``). An answerer takes
            every channel the peer opens; messages carry their channel's label.
        role: ``"auto"`` (default), ``"offer"`` or ``"answer"``.
        ordered: ordered delivery (default True).
        max_retransmits / max_packet_life_time: partial reliability (RFC 8831
            section 6.1); give at most one.
        ice_servers: STUN/TURN servers (none by default).
        auto_wait: seconds ``role="auto"`` waits for an offer before offering (0.5).
        headers / origin / verify / cafile: for the signaling WebSocket.

    Example:
        >>> c = rtnb.connect("webrtc", srv.url_for("/webrtc/bot"))  # doctest: +SKIP
        >>> c.wait_open().send("hello")                            # doctest: +SKIP
    """

    kind: ClassVar[str] = "webrtc"
    options: ClassVar[frozenset[str]] = frozenset(
        {
            "channel",
            "role",
            "ordered",
            "max_retransmits",
            "max_packet_life_time",
            "ice_servers",
            "auto_wait",
            "headers",
            "origin",
            "verify",
            "cafile",
        }
    )

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        check_options(self.kind, options, self.options)
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(
                "a WebRTC connection takes its signaling WebSocket URL "
                f"(ws://host:port/webrtc/bot or .../webrtc/signal?room=R), not {url!r}"
            )
        label = options.get("channel", "chat")
        if not isinstance(label, str) or len(label.encode()) > 65535:
            raise ValueError("channel must be a string label of at most 65535 bytes")
        role = options.get("role", "auto")
        if role not in ("auto", "offer", "answer"):
            raise ValueError(f"role must be 'auto', 'offer' or 'answer', not {role!r}")
        retransmits = options.get("max_retransmits")
        lifetime = options.get("max_packet_life_time")
        for name, val in (("max_retransmits", retransmits), ("max_packet_life_time", lifetime)):
            if val is not None and (isinstance(val, bool) or not isinstance(val, int) or val < 0):
                raise ValueError(f"{name} must be an integer >= 0 or None, not {val!r}")
        if retransmits is not None and lifetime is not None:
            raise ValueError("give max_retransmits or max_packet_life_time, not both")
        auto_wait = options.get("auto_wait", 0.5)
        if not isinstance(auto_wait, int | float) or auto_wait < 0:
            raise ValueError(f"auto_wait must be a number of seconds >= 0, not {auto_wait!r}")
        self.label: str = label
        self.role: Role = role
        self.ordered = bool(options.get("ordered", True))
        self.max_retransmits: int | None = retransmits
        self.max_packet_life_time: int | None = lifetime
        self.auto_wait = float(auto_wait)
        self.ice_servers = parse_ice_servers(options.get("ice_servers"))
        self._connect_kwargs: dict[str, Any] = {
            # security hook (issue 14): this process's key for its own servers
            "additional_headers": (_headers(options.get("headers")) or [])
            + list(localtrust.headers_for(url).items()),
            "open_timeout": None,
            "close_timeout": 2.0,
            "max_size": signaling.MAX_SIGNAL_SIZE,
            "proxy": None,
            "max_queue": 64,
        }
        if "origin" in options:
            self._connect_kwargs["origin"] = options["origin"]
        if parts.scheme == "wss":
            self._connect_kwargs["ssl"] = client_ssl_context(
                options.get("verify", True), options.get("cafile")
            )
        self._ws: ClientConnection | None = None
        self._pc: RTCPeerConnection | None = None
        self._channel: RTCDataChannel | None = None
        self._remote_set = False
        self._candidates = CandidateQueue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._opened: asyncio.Future[None] | None = None
        self._ended: asyncio.Future[str] | None = None
        self._drained = asyncio.Event()
        self._tiebreak = 0
        self._local_sdp = ""
        self.role_used: str | None = None
        self.waiting_for: str | None = None

    @property
    def reconnect_by_default(self) -> bool:
        """WebRTC connections do not reconnect unless asked (a peer may be gone)."""
        return False

    # --- open / serve / send / close ----------------------------------------------------

    async def open(self) -> None:
        await self.close()
        loop = asyncio.get_running_loop()
        self._opened = loop.create_future()
        self._ended = loop.create_future()
        self._lock = asyncio.Lock()
        self.waiting_for = "the signaling server"
        try:
            ws = await ws_connect(self.url, **self._connect_kwargs)
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = bytes(exc.response.body or b"")[:200].decode("utf-8", "replace").strip()
            raise ConnectError(
                f"signaling server refused the WebSocket: HTTP {status}"
                + (f" ({body})" if body else ""),
                fatal=400 <= status < 500 and status not in (408, 429),
            ) from exc
        except InvalidURI as exc:
            raise ConnectError(f"invalid signaling URL: {exc}", fatal=True) from exc
        except InvalidHandshake as exc:
            raise ConnectError(f"signaling WebSocket handshake failed: {exc}") from exc
        except OSError as exc:
            raise ConnectError(
                f"signaling server unreachable: {_os_error_text(exc, self.url)}"
            ) from exc
        self._ws = ws
        self.waiting_for = "an offer" if self.role == "answer" else "a peer to offer or answer"
        self._spawn(self._read_signaling(ws), "rtnb-webrtc-signaling")
        if self.role == "offer":
            self._spawn(self._offer(), "rtnb-webrtc-offer")
        elif self.role == "auto":
            self._arm_timer(self.auto_wait)
        await self._opened
        self.waiting_for = None

    async def serve(self) -> str:
        ended = self._ended
        if ended is None or self._channel is None:
            raise ProtocolError("serve() before open()")
        return await ended

    async def send(self, data: str | bytes) -> int:
        ch = self._channel
        if ch is None or ch.readyState != "open":
            raise ConnectionError("the data channel is not open")
        while ch.bufferedAmount > HIGH_WATER:
            self._drained.clear()
            ended = self._ended
            waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._drained.wait())]
            if ended is not None:
                waiters.append(ended)
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when this send is cancelled: leave no waiter behind
                waiters[0].cancel()
            if ch.readyState != "open":
                raise ConnectionError("the data channel closed while sending")
        try:
            ch.send(data)
        except ValueError as exc:  # over the peer's a=max-message-size (RFC 8841)
            raise ProtocolError(f"message refused: {exc}") from exc
        return len(data) if isinstance(data, bytes) or data.isascii() else len(data.encode())

    async def close(self) -> None:
        self._cancel_timer()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=3)
        await self._candidates.aclose()
        pc, self._pc = self._pc, None
        self._channel = None
        self._remote_set = False
        await close_peer(pc)
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2)
            except (asyncio.TimeoutError, OSError):
                ws.transport.abort()
        for fut in (self._opened, self._ended):
            if fut is None:
                continue
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # mark as retrieved: close() is not the place to raise it

    def info(self) -> dict[str, Any]:
        pc = self._pc
        ch = self._channel
        sctp = pc.sctp if pc is not None else None
        return {
            "role": self.role_used,
            "channel": ch.label if ch is not None else self.label,
            "channel_state": ch.readyState if ch is not None else None,
            "buffered_amount": ch.bufferedAmount if ch is not None else 0,
            "signaling_state": pc.signalingState if pc is not None else None,
            "ice_connection_state": pc.iceConnectionState if pc is not None else None,
            "ice_gathering_state": pc.iceGatheringState if pc is not None else None,
            "connection_state": pc.connectionState if pc is not None else None,
            "dtls_state": sctp.transport.state if sctp is not None else None,
            "waiting_for": self.waiting_for,
        }

    # --- signaling ----------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_signal(self, message: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.send(signaling.dumps(message))
        except ConnectionClosed as exc:
            self._fail(ConnectError(f"signaling closed while sending: {exc}"))

    async def _read_signaling(self, ws: ClientConnection) -> None:
        why = "the signaling server closed the WebSocket"
        try:
            async for raw in ws:
                try:
                    sig = signaling.parse(raw)
                except ValueError as exc:
                    log.info("rtnb webrtc: bad signaling message: %s", exc)
                    await self._send_signal(signaling.error(f"rtnb could not use that: {exc}"))
                    continue
                async with self._lock:
                    await self._handle(sig)
        except ConnectionClosed as exc:
            why = f"signaling closed: {exc}"
        except Exception as exc:  # a bug or an aiortc surprise: fail the open clearly
            log.exception("rtnb webrtc: signaling handler failed")
            self._fail(ConnectError(f"WebRTC negotiation failed: {exc!r}"))
            return
        self._fail(ConnectError(f"{why} before the data channel opened"))
        log.info("rtnb webrtc: %s", why)

    async def _handle(self, sig: Signal) -> None:
        kind = sig.type
        if kind == "offer":
            await self._on_offer(sig)
        elif kind == "answer":
            await self._on_answer(sig)
        elif kind == "candidate":
            pc = self._pc
            if pc is None:
                return  # candidates for an offer we did not take
            try:
                await self._candidates.add(pc, sig.candidate, self._remote_set)
            except ValueError as exc:
                await self._send_signal(signaling.error(str(exc)))
        elif kind == "hello":
            if sig.data.get("role") == "answer" and self.role == "answer":
                self._fail(
                    ConnectError(
                        "this peer only answers and so does rtnb with role='answer'; "
                        "use role='auto' or 'offer'",
                        fatal=True,
                    )
                )
            elif self.role == "auto" and self._pc is None:
                self._offer_now()
        elif kind == "room":
            peers = sig.data.get("peers")
            if self.role == "auto" and self._pc is None:
                if isinstance(peers, int) and peers >= 1:
                    self._offer_now()
                else:
                    self._cancel_timer()
                    self.waiting_for = "another peer to join the room"
        elif kind == "join":
            if self.role == "auto" and self._pc is None:
                self._arm_timer(self.auto_wait)
        elif kind == "bye":
            await self._on_bye()
        elif kind == "error":
            self._fail(ConnectError(f"signaling error: {sig.text}"))
        else:
            log.debug("rtnb webrtc: ignored signaling message of type %r", kind)

    def _offer_now(self) -> None:
        self._cancel_timer()
        self._spawn(self._offer(), "rtnb-webrtc-offer")

    def _arm_timer(self, delay: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay, self._offer_now)
        self.waiting_for = f"an offer ({delay} s, then rtnb offers)"

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.ice_servers)))
        self._pc = pc
        self._remote_set = False
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", lambda: self._on_pc_state(pc))
        return pc

    async def _drop_pc(self) -> None:
        pc, self._pc = self._pc, None
        self._channel = None
        self._remote_set = False
        await self._candidates.aclose()
        await close_peer(pc)

    async def _offer(self) -> None:
        async with self._lock:
            if self._pc is not None or self._opened is None or self._opened.done():
                return
            pc = self._new_pc()
            ch = pc.createDataChannel(
                self.label,
                ordered=self.ordered,
                maxRetransmits=self.max_retransmits,
                maxPacketLifeTime=self.max_packet_life_time,
            )
            self._watch(ch)
            try:
                await pc.setLocalDescription(await pc.createOffer())
            except Exception as exc:  # e.g. no usable network interface to gather on
                self._fail(ConnectError(f"could not create an offer: {_one_line(exc)}"))
                return
            self._local_sdp = pc.localDescription.sdp
            if not _has_candidates(self._local_sdp):
                self._fail(ConnectError(NO_CANDIDATES, fatal=True))
                return
            self._tiebreak = (
                signaling.TIEBREAK_MAX
                if self.role == "offer"
                else random.randint(0, signaling.TIEBREAK_MAX - 1)
            )
            self.role_used = "offer"
            self.waiting_for = "an answer to rtnb's offer"
            await self._send_signal(signaling.description("offer", self._local_sdp, self._tiebreak))

    async def _on_offer(self, sig: Signal) -> None:
        assert sig.sdp is not None
        pc = self._pc
        if pc is not None:
            if pc.signalingState == "have-local-offer" and not self._remote_set:
                if signaling.local_offer_wins(self._tiebreak, self._local_sdp, sig):
                    log.debug("rtnb webrtc: glare, our offer stands")
                    return
                log.debug("rtnb webrtc: glare, answering the peer's offer")
            elif self._opened is not None and self._opened.done():
                await self._send_signal(
                    signaling.error("renegotiation is not supported; close and reconnect")
                )
                return
            await self._drop_pc()
        self._cancel_timer()
        pc = self._new_pc()
        self.role_used = "answer"
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sig.sdp, type="offer"))
            self._remote_set = True
            await self._candidates.flush(pc)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            text = f"the peer's offer was refused: {_one_line(exc)}"
            await self._send_signal(signaling.error(text))
            self._fail(ProtocolError(text))
            return
        answer = pc.localDescription.sdp
        if not _has_candidates(answer):
            await self._send_signal(signaling.error("the answering peer has no ICE candidates"))
            self._fail(ConnectError(NO_CANDIDATES, fatal=True))
            return
        self.waiting_for = "ICE and DTLS to connect"
        await self._send_signal(signaling.description("answer", answer))

    async def _on_answer(self, sig: Signal) -> None:
        assert sig.sdp is not None
        pc = self._pc
        if pc is None or pc.signalingState != "have-local-offer":
            log.debug("rtnb webrtc: ignored an answer to no pending offer")
            return
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sig.sdp, type="answer"))
            self._remote_set = True
            await self._candidates.flush(pc)
        except Exception as exc:
            text = f"the peer's answer was refused: {_one_line(exc)}"
            await self._send_signal(signaling.error(text))
            self._fail(ProtocolError(text))
            return
        self.waiting_for = "ICE and DTLS to connect"

    async def _on_bye(self) -> None:
        opened = self._opened
        if opened is not None and opened.done():
            self._end("the peer left (bye)")
            return
        # The peer went away mid-negotiation: start over and wait for the next one.
        await self._drop_pc()
        if self.role == "offer":
            self._spawn(self._offer(), "rtnb-webrtc-offer")
        else:
            self.waiting_for = "another peer"

    # --- peer connection and channel events ---------------------------------------------

    def _on_pc_state(self, pc: RTCPeerConnection) -> None:
        if pc is not self._pc:
            return
        state = pc.connectionState
        if state == "failed":
            if pc.iceConnectionState == "failed":
                text = "ICE failed: no candidate pair between the peers worked"
            else:
                text = "DTLS handshake failed"
            self._fail(ConnectError(text))
            self._end(Closed(f"WebRTC connection failed ({text})"))
        elif state == "closed":
            self._end("the peer connection closed")

    def _on_datachannel(self, ch: RTCDataChannel) -> None:
        current = self._channel
        if current is None or (ch.label == self.label and current.label != self.label):
            self._watch(ch)
        else:
            label = ch.label
            ch.on("message", lambda data: self.ingest(data, channel=label))

    def _watch(self, ch: RTCDataChannel) -> None:
        self._channel = ch
        label = ch.label
        ingest = self.ingest
        ch.bufferedAmountLowThreshold = LOW_WATER
        ch.on("message", lambda data: ingest(data, channel=label))
        ch.on("bufferedamountlow", self._drained.set)
        ch.on("open", lambda: self._channel_opened(ch))
        ch.on("close", lambda: self._channel_closed(ch))
        if ch.readyState == "open":
            self._channel_opened(ch)

    def _channel_opened(self, ch: RTCDataChannel) -> None:
        if ch is not self._channel:
            return
        self._cancel_timer()
        opened = self._opened
        if opened is not None and not opened.done():
            opened.set_result(None)

    def _channel_closed(self, ch: RTCDataChannel) -> None:
        if ch is self._channel:
            self._end("the data channel was closed")

    def _fail(self, exc: Exception) -> None:
        opened = self._opened
        if opened is not None and not opened.done():
            opened.set_exception(exc)

    def _end(self, outcome: str | Exception) -> None:
        ended = self._ended
        opened = self._opened
        if ended is None or ended.done() or opened is None or not opened.done():
            return
        if isinstance(outcome, Exception):
            ended.set_exception(outcome)
        else:
            ended.set_result(outcome)


NO_CANDIDATES = (
    "no local ICE candidates: aiortc found no usable network address (it never uses "
    "127.0.0.1); connect this machine to a network, or on a loopback-only system add "
    "one with 'ip addr add 127.0.0.2/8 dev lo'"
)


def _has_candidates(sdp: str) -> bool:
    return "a=candidate:" in sdp


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
