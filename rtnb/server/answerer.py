"""A WebRTC peer inside the server that answers offers over one signaling socket.

The bot (``/webrtc/bot``) and the comparison lab's peer (``/lab/webrtc``) are
both this: they greet, answer each offer (browser or rtnb), take trickled
candidates, and differ only in what they do with a data channel
(:meth:`AnsweringPeer.on_channel`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web
from aiortc import RTCDataChannel, RTCPeerConnection

from .. import signaling
from ..rtc import Peer, one_line
from ..signaling import Signal
from .limits import MAX_ICE_CANDIDATES

__all__ = ["AnsweringPeer", "close_all"]

log = logging.getLogger("rtnb.server")


class AnsweringPeer:
    """Answers offers on one signaling socket; subclasses handle the data channels.

    Attributes:
        name: how the peer calls itself in ``hello`` and error messages.
        signal_bytes: signaling text sent and received (for the lab's overhead).
    """

    name = "peer"

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.peer: Peer | None = None
        self.signal_bytes = 0
        self.candidates_taken = 0

    @property
    def pc(self) -> RTCPeerConnection | None:
        """The current peer connection, if an offer was answered."""
        return self.peer.pc if self.peer is not None else None

    async def run(self) -> None:
        """Greet, then handle each signaling message until the socket closes."""
        try:
            await self.say({"type": "hello", "role": "answer", "peer": self.name})
            async for msg in self.ws:
                if msg.type == WSMsgType.BINARY:
                    await self.say(signaling.error("signaling messages are JSON text"))
                    continue
                if msg.type != WSMsgType.TEXT:
                    continue
                self.signal_bytes += len(msg.data)
                try:
                    sig = signaling.parse(msg.data)
                except ValueError as exc:
                    await self.say(signaling.error(str(exc)))
                    continue
                await self.handle(sig)
        except ConnectionResetError as exc:  # the client left, e.g. before our answer
            log.debug("webrtc %s: client gone: %r", self.name, exc)
        finally:
            await self.aclose()

    async def say(self, message: dict[str, Any]) -> None:
        """Send one signaling message (if the socket is still open)."""
        if not self.ws.closed:
            text = signaling.dumps(message)
            self.signal_bytes += len(text)
            await self.ws.send_str(text)

    async def handle(self, sig: Signal) -> None:
        """Act on one parsed signaling message."""
        if sig.type == "offer":
            await self.answer(sig)
        elif sig.type == "candidate":
            # a bounded number of candidates per offer (a peer needs a handful)
            self.candidates_taken += 1
            if self.candidates_taken > MAX_ICE_CANDIDATES:
                if self.candidates_taken == MAX_ICE_CANDIDATES + 1:
                    await self.say(
                        signaling.error(f"more than {MAX_ICE_CANDIDATES} ICE candidates: ignored")
                    )
            elif self.peer is not None:
                try:
                    await self.peer.add_candidate(sig.candidate)
                except ValueError as exc:
                    await self.say(signaling.error(str(exc)))
        elif sig.type == "answer":
            await self.say(signaling.error(f"the {self.name} only answers: send it an offer"))
        elif sig.type == "bye":
            await self.reset()

    async def answer(self, sig: Signal) -> None:
        """Replace any previous peer connection with one that answers ``sig``."""
        assert sig.sdp is not None
        await self.reset()
        peer = self.peer = Peer(on_channel=self.on_channel)
        try:
            sdp = await peer.answer(sig.sdp)
        except Exception as exc:
            log.info("webrtc %s: refused an offer: %r", self.name, exc)
            await self.reset()
            await self.say(signaling.error(f"the {self.name} refused the offer: {one_line(exc)}"))
            return
        await self.say(signaling.description("answer", sdp))

    def on_channel(self, ch: RTCDataChannel) -> None:
        """A data channel the offerer opened; subclasses decide what flows on it."""
        raise NotImplementedError

    async def reset(self) -> None:
        """Close the peer connection and forget pending candidates."""
        self.candidates_taken = 0
        peer, self.peer = self.peer, None
        if peer is not None:
            await peer.close()

    async def aclose(self) -> None:
        """Release everything (the signaling socket closed or the server stops)."""
        await self.reset()


async def close_all(running: set[Any]) -> None:
    """Close every peer in ``running`` (on server shutdown) and empty the set."""
    peers = list(running)
    running.clear()
    if peers:
        await asyncio.gather(*(p.aclose() for p in peers), return_exceptions=True)
