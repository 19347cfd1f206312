"""WebRTC endpoints of the in-kernel server: the signaling relay and the bot peer.

``/webrtc/signal?room=R`` relays each JSON message to the other peers in room R.
A room holds ``config.room_size`` peers (2); one more gets
``{"type": "error", "error": "room 'R' is full ..."}`` and the socket closes with
code 1008 (policy violation), so a browser page can show why. Messages sent
while a peer is alone are held (bounded) and handed to the next peer to join,
so the order in which two peers arrive does not matter. Joining peers get
``{"type": "room", "peers": N}``, the others ``{"type": "join", "peers": N}``;
when a peer leaves the others get ``{"type": "bye"}``.

``/webrtc/bot`` is an aiortc peer inside the server: it says
``{"type": "hello", "role": "answer"}``, answers offers (trickled browser
candidates included), echoes every data-channel message (text stays text, bytes
stay bytes) and streams ticks after ``{"type": "subscribe", "symbols": "AAPL,MSFT",
"rate": 5}`` (or ``"channel"``, see :func:`rtnb.ticker.parse_tick_command`) on a
channel, until ``{"type": "unsubscribe"}``. Its peer connection
is closed when its signaling socket closes or the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time

from aiohttp import WSCloseCode, WSMsgType, web
from aiortc import RTCDataChannel

from .. import jsonfast, signaling
from ..rtc import HIGH_WATER, LOW_WATER
from ..ticker import (
    NotATickCommand,
    Schedule,
    TickCommand,
    TickGenerator,
    parse_symbols,
    parse_tick_command,
)
from .answerer import AnsweringPeer, close_all
from .common import Outbox, open_ws
from .config import Endpoint, ServerConfig, config_of
from .pacing import Step, stream_paced

__all__ = ["setup"]

log = logging.getLogger("rtnb.server")

ROOMS = web.AppKey("rtnb_rooms", dict[str, "_Room"])
BOTS = web.AppKey("rtnb_bots", set["_Bot"])

_ROOM_NAME = re.compile(r"^[A-Za-z0-9_.~-]{1,64}$")
#: Messages (and bytes) held for a peer that has not joined yet.
HELD_MESSAGES = 64
HELD_BYTES = 512 * 1024


class _Peer(Outbox):
    """One signaling socket's bounded outbox; a peer that cannot keep up is closed."""

    def offer(self, data: str | bytes) -> bool:
        """Queue a message; False when the peer cannot keep up (it is then closed)."""
        if super().offer(data):
            return True
        self.drop()
        return False


class _Room:
    """The peers in one relay room and what a lone peer said before anyone came."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.peers: list[_Peer] = []
        self.held: list[str] = []
        self.held_bytes = 0

    def hold(self, text: str) -> bool:
        """Keep a message for the next peer; False when the bound is reached."""
        if len(self.held) >= HELD_MESSAGES or self.held_bytes + len(text) > HELD_BYTES:
            return False
        self.held.append(text)
        self.held_bytes += len(text)
        return True

    def join(self, peer: _Peer) -> None:
        """Add ``peer``: it gets the held messages, then who is here; the others learn."""
        held, self.held, self.held_bytes = self.held, [], 0
        others = len(self.peers)
        for other in self.peers:
            other.offer(signaling.dumps({"type": "join", "peers": others}))
        self.peers.append(peer)
        for text in held:
            peer.offer(text)
        peer.offer(signaling.dumps({"type": "room", "room": self.name, "peers": others}))

    def leave(self, peer: _Peer) -> None:
        """Remove ``peer``; the others get ``bye``."""
        with contextlib.suppress(ValueError):
            self.peers.remove(peer)
        if not self.peers:
            self.held.clear()
            self.held_bytes = 0
        for other in self.peers:
            other.offer(signaling.dumps(signaling.bye()))


async def _refuse(ws: web.WebSocketResponse, text: str, code: int) -> web.WebSocketResponse:
    await ws.send_str(signaling.dumps(signaling.error(text)))
    await ws.close(code=code, message=text[:120].encode())
    return ws


async def relay(request: web.Request) -> web.WebSocketResponse:
    """GET /webrtc/signal?room=R : relay JSON signaling messages between the room's peers."""
    config = config_of(request)
    name = request.query.get("room", "default")
    if not _ROOM_NAME.match(name):
        raise web.HTTPBadRequest(text="room must be 1-64 letters, digits or _.~-")
    rooms = request.app[ROOMS]
    ws = await open_ws(request)
    room = rooms.get(name)
    if room is None:
        if len(rooms) >= config.max_rooms:
            return await _refuse(
                ws,
                f"too many rooms ({config.max_rooms}); join an existing one or try later",
                WSCloseCode.TRY_AGAIN_LATER,
            )
        room = rooms[name] = _Room(name)
    if len(room.peers) >= config.room_size:
        return await _refuse(
            ws,
            f"room {name!r} is full ({config.room_size} peers); pick another room",
            WSCloseCode.POLICY_VIOLATION,
        )
    me = _Peer(
        ws, request, config.send_queue, config.send_queue_bytes, name="rtnb-webrtc-relay-writer"
    )
    room.join(me)
    try:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                me.offer(signaling.dumps(signaling.error("signaling messages are JSON text")))
                continue
            if msg.type != WSMsgType.TEXT:
                continue
            text: str = msg.data
            try:
                signaling.parse(text)
            except ValueError as exc:
                me.offer(signaling.dumps(signaling.error(str(exc))))
                continue
            others = [p for p in room.peers if p is not me]
            if not others and not room.hold(text):
                me.offer(
                    signaling.dumps(
                        signaling.error(
                            f"nobody else is in room {name!r} and {len(room.held)} "
                            "messages already wait for them"
                        )
                    )
                )
            for other in others:
                other.offer(text)
    finally:
        room.leave(me)
        if not room.peers and rooms.get(name) is room:
            del rooms[name]
        await me.aclose()
    return ws


class _Bot(AnsweringPeer):
    """The server's own peer for one signaling socket: answers, echoes, streams ticks."""

    name = "bot"

    def __init__(self, ws: web.WebSocketResponse, config: ServerConfig) -> None:
        super().__init__(ws)
        self.config = config
        self.streams: dict[RTCDataChannel, asyncio.Task[None]] = {}
        self.skipped = 0

    def on_channel(self, ch: RTCDataChannel) -> None:
        ch.bufferedAmountLowThreshold = LOW_WATER
        ch.on("message", lambda data: self.on_message(ch, data))
        ch.on("close", lambda: self.stop_stream(ch))

    def on_message(self, ch: RTCDataChannel, data: str | bytes) -> None:
        if ch.readyState != "open":
            return
        if isinstance(data, str) and data.startswith("{"):
            try:
                self.command(ch, parse_tick_command(data))
                return
            except NotATickCommand:
                pass  # any other JSON is echoed
            except ValueError as exc:  # a bad command stops the stream, as a good one would
                self.stop_stream(ch)
                ch.send(jsonfast.dumps({"type": "error", "error": str(exc)}))
                return
        if ch.bufferedAmount > HIGH_WATER:
            self.skipped += 1  # the peer does not read: don't queue without bound
            return
        ch.send(data)

    def command(self, ch: RTCDataChannel, cmd: TickCommand) -> None:
        self.stop_stream(ch)
        if cmd.action == "unsubscribe":
            ch.send(jsonfast.dumps({"type": "unsubscribed"}))
            return
        symbols = parse_symbols(None) if cmd.symbols is None else cmd.symbols
        rate = 2.0 if cmd.rate is None else cmd.rate
        ch.send(jsonfast.dumps({"type": "subscribed", "symbols": symbols, "rate": rate}))
        if symbols:
            self.streams[ch] = asyncio.get_running_loop().create_task(
                self.stream(ch, symbols, rate, cmd.count or 0), name="rtnb-webrtc-bot-ticks"
            )

    def stop_stream(self, ch: RTCDataChannel) -> None:
        task = self.streams.pop(ch, None)
        if task is not None:
            task.cancel()

    async def stream(self, ch: RTCDataChannel, symbols: list[str], rate: float, count: int) -> None:
        gen = TickGenerator(symbols, seed=self.config.seed)
        drained = asyncio.Event()
        ch.on("bufferedamountlow", drained.set)

        async def send_next() -> Step:
            ch.send(jsonfast.dumps(gen.next(time.time())))
            return "sent"

        async def pause(seconds: float) -> None:
            if ch.bufferedAmount > HIGH_WATER:
                drained.clear()
                await drained.wait()
            else:
                await asyncio.sleep(seconds)

        schedule = Schedule(rate * len(symbols), time.time(), count)
        try:
            await stream_paced(schedule, send_next, pause, lambda: ch.readyState == "open")
        finally:
            # each subscribe starts a stream: don't let their listeners pile up
            ch.remove_listener("bufferedamountlow", drained.set)

    async def reset(self) -> None:
        for ch in list(self.streams):
            self.stop_stream(ch)
        await super().reset()

    async def aclose(self) -> None:
        tasks = list(self.streams.values())
        await self.reset()
        if tasks:
            await asyncio.wait(tasks, timeout=2)


async def bot(request: web.Request) -> web.WebSocketResponse:
    """GET /webrtc/bot : signaling to the server's own peer (answers offers)."""
    config = config_of(request)
    bots = request.app[BOTS]
    ws = await open_ws(request)
    if len(bots) >= config.max_bots:
        return await _refuse(
            ws, f"server busy: {config.max_bots} bots already running", WSCloseCode.TRY_AGAIN_LATER
        )
    me = _Bot(ws, config)
    bots.add(me)
    try:
        await me.run()
    finally:
        bots.discard(me)
    return ws


async def _close_bots(app: web.Application) -> None:
    await close_all(app[BOTS])


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the WebRTC routes."""
    app[ROOMS] = {}
    app[BOTS] = set()
    app.router.add_get("/webrtc/signal", relay)
    app.router.add_get("/webrtc/bot", bot)
    app.on_shutdown.append(_close_bots)
    endpoints += [
        Endpoint(
            "/webrtc/signal",
            "webrtc",
            f"signaling relay: each JSON message goes to the other peer in the room "
            f"({config.room_size} peers a room)",
            "?room=demo",
        ),
        Endpoint(
            "/webrtc/bot",
            "webrtc",
            "a peer in the server: answers offers, echoes data-channel messages, "
            'streams ticks after {"type":"subscribe"}',
        ),
    ]
