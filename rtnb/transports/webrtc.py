"""WebRTC data-channel transport on ``aiortc``, negotiated over a signaling WebSocket.

The signaling messages are the article's JSON (see :mod:`rtnb.signaling`), so
the other peer can be rtnb, the server's ``/webrtc/bot`` or a browser page
running plain ``RTCPeerConnection`` code. Data channels are SCTP over DTLS over
ICE (RFC 8831); channels are opened in-band with DCEP (RFC 8832).

Who offers and who answers (``role="auto"`` and glare) is decided by the pure
:class:`rtnb.negotiator.Negotiator`; this module does the I/O it asks for,
with the aiortc glue of :mod:`rtnb.rtc`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

from aiortc import RTCDataChannel, RTCDtlsTransport
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from .. import localtrust, signaling
from ..errors import ConnectError, ProtocolError
from ..errors import ConnectionClosed as Closed
from ..negotiator import (
    AcceptAnswer,
    Action,
    AddCandidate,
    AnswerOffer,
    ArmTimer,
    CancelTimer,
    DropPeer,
    End,
    Fail,
    MakeOffer,
    Negotiator,
    Note,
    Role,
    Send,
    StartOffer,
)
from ..options import WebRTCOptions
from ..rtc import HIGH_WATER, LOW_WATER, Peer, one_line, parse_ice_servers
from ..signallog import SignalBook, describe, summarise
from .base import Ingest, Transport, check_options
from .tls import client_ssl_context
from .ws import _headers, _os_error_text

__all__ = ["HIGH_WATER", "LOW_WATER", "WebRTCTransport"]

log = logging.getLogger("rtnb")


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
    options: ClassVar[frozenset[str]] = WebRTCOptions.names()

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
        self._peer: Peer | None = None
        self._channel: RTCDataChannel | None = None
        self._negotiator = Negotiator(role, self.auto_wait)
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._opened: asyncio.Future[None] | None = None
        self._ended: asyncio.Future[str] | None = None
        self._drained = asyncio.Event()
        #: Offer, answer, candidates and state changes, bounded (``stats.signaling_log``).
        self.signals = SignalBook()
        self._noted: Peer | None = None  # the peer whose states the book follows, to its close
        self._dtls_watched: RTCDtlsTransport | None = None

    @property
    def role_used(self) -> str | None:
        """``"offer"`` or ``"answer"``: the side this connection took (None before)."""
        return self._negotiator.role_used

    @property
    def waiting_for(self) -> str | None:
        """What the connection waits for while it opens (None once open)."""
        return self._negotiator.waiting_for

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
        self._negotiator = Negotiator(self.role, self.auto_wait)
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
        self._spawn(self._read_signaling(ws), "rtnb-webrtc-signaling")
        self._act_all_now(self._negotiator.start())
        await self._opened

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
        await self._drop_peer(final=True)
        ws, self._ws = self._ws, None
        if ws is not None:
            try:
                await asyncio.wait_for(ws.close(), 2)
            except (TimeoutError, OSError):
                ws.transport.abort()
        for fut in (self._opened, self._ended):
            if fut is None:
                continue
            if not fut.done():
                fut.cancel()
            elif not fut.cancelled():
                fut.exception()  # mark as retrieved: close() is not the place to raise it

    def info(self) -> dict[str, Any]:
        pc = self._peer.pc if self._peer is not None else None
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
            "signaling_log": self.signals.snapshot(),
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
            return
        self.signals.note("out", *summarise(message), now=time.time(), detail=describe(message))

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
                self.signals.note(
                    "in", *summarise(sig.data), now=time.time(), detail=describe(sig.data)
                )
                async with self._lock:
                    await self._perform(self._negotiator.received(sig))
        except ConnectionClosed as exc:
            why = f"signaling closed: {exc}"
        except Exception as exc:  # a bug or an aiortc surprise: fail the open clearly
            log.exception("rtnb webrtc: signaling handler failed")
            self._fail(ConnectError(f"WebRTC negotiation failed: {exc!r}"))
            return
        self._fail(ConnectError(f"{why} before the data channel opened"))
        log.info("rtnb webrtc: %s", why)

    async def _perform(self, actions: list[Action]) -> None:
        """Do what the negotiator asks, in order, holding the signaling lock."""
        for action in actions:
            if self._act_now(action):
                continue
            if isinstance(action, Send):
                await self._send_signal(action.message)
            elif isinstance(action, AddCandidate):
                peer = self._peer
                if peer is None:
                    continue
                try:
                    await peer.add_candidate(action.candidate)
                except ValueError as exc:
                    await self._send_signal(signaling.error(str(exc)))
            elif isinstance(action, MakeOffer):
                await self._perform(await self._make_offer())
            elif isinstance(action, AnswerOffer):
                await self._perform(await self._answer(action.sdp))
            elif isinstance(action, AcceptAnswer):
                await self._perform(await self._accept(action.sdp))
            elif isinstance(action, DropPeer):
                await self._drop_peer()

    def _act_now(self, action: Action) -> bool:
        """Do an action that needs no waiting (timers, starting tasks, outcomes); else False."""
        if isinstance(action, ArmTimer):
            self._cancel_timer()
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(action.delay, self._timer_fired)
        elif isinstance(action, CancelTimer):
            self._cancel_timer()
        elif isinstance(action, StartOffer):
            self._spawn(self._offer_turn(), "rtnb-webrtc-offer")
        elif isinstance(action, Fail):
            failure: Exception = (
                ProtocolError(action.text)
                if action.refused
                else ConnectError(action.text, fatal=action.fatal)
            )
            self._fail(failure)
        elif isinstance(action, End):
            self._end(action.reason)
        elif isinstance(action, Note):
            log.debug("rtnb webrtc: %s", action.text)
        else:
            return False
        return True

    def _act_all_now(self, actions: list[Action]) -> None:
        """Do actions outside the signaling lock (start, timer, channel open): none awaits."""
        for action in actions:
            if not self._act_now(action):
                raise AssertionError(f"{action} needs the signaling lock")

    def _timer_fired(self) -> None:
        self._timer = None
        self._act_all_now(self._negotiator.timer_fired())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _offer_turn(self) -> None:
        async with self._lock:
            if self._opened is None or self._opened.done():
                return
            await self._perform(self._negotiator.offer_turn())

    def _new_peer(self) -> Peer:
        peer = self._peer = self._noted = Peer(self.ice_servers, self._on_datachannel)
        pc = peer.pc
        pc.on("connectionstatechange", lambda: self._on_pc_state(peer))
        for event in (
            "signalingstatechange",
            "iceconnectionstatechange",
            "icegatheringstatechange",
        ):
            pc.on(event, lambda: self._note_states(peer))
        self._note_states(peer)  # where it starts: stable, new, ...
        return peer

    def _note_states(self, peer: Peer) -> None:
        """Log signaling, ICE, DTLS and connection states as they change (the signaling log).

        aiortc tells the peer connection's changes by its events; DTLS has its own
        ``statechange`` (its "connecting" need not change the connection's state),
        watched once the data channel's DTLS transport exists. The states go on
        while the connection closes (each one ends "closed"), but not for a peer
        dropped during negotiation (glare): its end is not this connection's.
        """
        if peer is not self._noted:
            return
        pc, now, book = peer.pc, time.time(), self.signals
        book.state("signaling", pc.signalingState, now)
        book.state("ice gathering", pc.iceGatheringState, now)
        book.state("ice", pc.iceConnectionState, now)
        sctp = pc.sctp
        if sctp is not None:
            dtls = sctp.transport
            if dtls is not self._dtls_watched:
                self._dtls_watched = dtls
                dtls.on("statechange", lambda: self._note_states(peer))
            book.state("dtls", dtls.state, now)
        book.state("connection", pc.connectionState, now)

    async def _drop_peer(self, final: bool = False) -> None:
        peer, self._peer = self._peer, None
        self._channel = None
        if not final:
            self._noted = None
        if peer is not None:
            await peer.close()

    async def _make_offer(self) -> list[Action]:
        peer = self._new_peer()
        ch = peer.pc.createDataChannel(
            self.label,
            ordered=self.ordered,
            maxRetransmits=self.max_retransmits,
            maxPacketLifeTime=self.max_packet_life_time,
        )
        self._watch(ch)
        try:
            sdp = await peer.offer()
        except Exception as exc:  # e.g. no usable network interface to gather on
            return self._negotiator.offer_failed(one_line(exc))
        return self._negotiator.offer_made(sdp)

    async def _answer(self, offer_sdp: str) -> list[Action]:
        peer = self._new_peer()
        try:
            sdp = await peer.answer(offer_sdp)
        except Exception as exc:
            return self._negotiator.answer_failed(one_line(exc))
        return self._negotiator.answer_made(sdp)

    async def _accept(self, answer_sdp: str) -> list[Action]:
        peer = self._peer
        if peer is None:
            return []
        try:
            await peer.accept(answer_sdp)
        except Exception as exc:
            return self._negotiator.answer_refused(one_line(exc))
        return self._negotiator.answer_accepted()

    # --- peer connection and channel events ---------------------------------------------

    def _on_pc_state(self, peer: Peer) -> None:
        self._note_states(peer)  # also while it closes (it is no longer self._peer then)
        if peer is not self._peer:
            return
        pc = peer.pc
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
        self.signals.note("state", "data channel", f"{ch.label!r} open", now=time.time())
        if ch is not self._channel:
            return
        self._act_all_now(self._negotiator.channel_opened())
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
