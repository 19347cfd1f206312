"""aiortc glue shared by the WebRTC client transport and the server's own peers.

Both sides make peer connections, apply remote descriptions, take trickled
candidates and close quietly in the same way; they differ only in who decides
what (see :mod:`rtnb.negotiator` for the client, :mod:`rtnb.server.answerer`
for the server). Facts this relies on (measured with aiortc 1.16):

- aiortc gathers every candidate during ``setLocalDescription`` and puts them
  in the SDP; it never trickles its own.
- A browser's ``{candidate, sdpMid, sdpMLineIndex}`` becomes an aiortc
  candidate through ``candidate_from_sdp`` plus the two fields; a null one ends
  the candidates. An mDNS ``*.local`` candidate takes ~1 s to resolve, so it is
  added in the background, never awaited in the signaling loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceCandidate,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from .signaling import IceCandidate

__all__ = [
    "HIGH_WATER",
    "LOW_WATER",
    "MAX_PENDING_CANDIDATES",
    "CandidateQueue",
    "Peer",
    "close_peer",
    "one_line",
    "parse_ice_servers",
    "to_aiortc_candidate",
]

log = logging.getLogger("rtnb")

#: A sender waits while more than this many bytes are queued on a channel ...
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
        """Add ``cand`` (None = end of candidates) now if ``ready``, else keep it.

        Raises:
            ValueError: for a malformed candidate or too many early ones.
        """
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


class Peer:
    """One ``RTCPeerConnection`` with its trickled remote candidates.

    Candidates given before the remote description wait until it is set
    (:class:`CandidateQueue`). Every method may raise what aiortc raises; the
    caller turns it into a signaling error.

    Args:
        ice_servers: STUN/TURN servers (none on loopback).
        on_channel: called with each data channel the remote side opens.

    Example:
        >>> peer = Peer(on_channel=print)                    # doctest: +SKIP
        >>> answer_sdp = await peer.answer(offer_sdp)          # doctest: +SKIP
    """

    def __init__(
        self,
        ice_servers: Sequence[RTCIceServer] = (),
        on_channel: Callable[[RTCDataChannel], None] | None = None,
    ) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=list(ice_servers)))
        self.candidates = CandidateQueue()
        self.remote_set = False
        if on_channel is not None:
            self.pc.on("datachannel", on_channel)

    async def offer(self) -> str:
        """Create and apply the local offer (gathering every candidate); its SDP."""
        pc = self.pc
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)

    async def answer(self, offer_sdp: str) -> str:
        """Apply a remote offer, add the candidates that waited, answer it; the answer's SDP."""
        pc = self.pc
        await self.accept(offer_sdp, "offer")
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def accept(self, sdp: str, kind: str = "answer") -> None:
        """Apply a remote description (``kind`` "offer" or "answer") and the waiting candidates."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
        self.remote_set = True
        await self.candidates.flush(self.pc)

    async def add_candidate(self, cand: IceCandidate | None) -> None:
        """Add a trickled candidate (None ends them), or keep it until the remote description.

        Raises:
            ValueError: for a malformed candidate or too many early ones.
        """
        await self.candidates.add(self.pc, cand, self.remote_set)

    async def close(self) -> None:
        """Forget waiting candidates and close the connection, quietly."""
        await self.candidates.aclose()
        await close_peer(self.pc)


def one_line(exc: BaseException) -> str:
    """``"TypeName: first line of the message"``, for a one-line signaling error.

    >>> one_line(ValueError("bad\\nthings"))
    'ValueError: bad'
    """
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
