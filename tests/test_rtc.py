"""The aiortc glue shared by the client transport and the server's peers (rtnb/rtc.py).

Tests that open real peer connections need the loopback-only namespace (aioice
never offers 127.0.0.1): ``scripts/test-netns ... pytest tests/test_rtc.py``.
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection

from rtnb import signaling
from rtnb.rtc import (
    MAX_PENDING_CANDIDATES,
    CandidateQueue,
    Peer,
    one_line,
    parse_ice_servers,
    to_aiortc_candidate,
)
from rtnb.runtime import run

webrtc = pytest.mark.webrtc


def test_ice_servers_accept_urls_and_dicts() -> None:
    servers = parse_ice_servers(
        ["stun:a:3478", {"urls": ["turn:b:3478"], "username": "u", "credential": "p"}]
    )
    assert [s.urls for s in servers] == ["stun:a:3478", ["turn:b:3478"]]
    assert (servers[1].username, servers[1].credential) == ("u", "p")
    assert parse_ice_servers(None) == [] and parse_ice_servers("stun:x")[0].urls == "stun:x"


def test_browser_candidate_converts_to_aiortc() -> None:
    cand = signaling.parse(
        {
            "type": "candidate",
            "candidate": {
                "candidate": "candidate:9 1 udp 2122 127.0.0.2 5000 typ host generation 0",
                "sdpMid": "0",
                "sdpMLineIndex": 0,
            },
        }
    ).candidate
    assert cand is not None
    ice = to_aiortc_candidate(cand)
    assert (ice.ip, ice.port, ice.type, ice.sdpMid, ice.sdpMLineIndex) == (
        "127.0.0.2",
        5000,
        "host",
        "0",
        0,
    )
    with pytest.raises(ValueError, match="malformed"):
        to_aiortc_candidate(signaling.IceCandidate("candidate:1 1 udp x 1.2.3.4 y typ host", "0"))


@webrtc
def test_mdns_candidates_resolve_in_the_background() -> None:
    # A *.local candidate takes ~1 s to resolve: adding it must not hold up the
    # signaling loop, and closing cancels the resolution.
    async def check() -> tuple[int, bool, int]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        queue = CandidateQueue()
        try:
            cand = signaling.IceCandidate(
                "candidate:1 1 udp 2122260223 4b1f7c1e-0d4b-4c6e-a1b2-1234567890ab.local 54321 "
                "typ host",
                "0",
                0,
            )
            await queue.add(pc, cand, ready=True)
            pending = list(queue.tasks)
            running = bool(pending) and not pending[0].done()
            await queue.aclose()
            return len(pending), running, len(queue.tasks)
        finally:
            await pc.close()

    assert run(check(), timeout=10) == (1, True, 0)


def test_one_line_error_text() -> None:
    assert one_line(ValueError("bad sdp\nmore detail")) == "ValueError: bad sdp"
    assert one_line(RuntimeError()) == "RuntimeError"


@webrtc
def test_two_peers_meet_through_offer_and_answer_with_early_candidates() -> None:
    async def scenario() -> tuple[int, int, str]:
        offerer, answerer = Peer(), Peer()
        got: asyncio.Queue[str] = asyncio.Queue()

        def on_channel(ch: RTCDataChannel) -> None:
            ch.on("message", lambda m: ch.send(f"echo {m}"))

        answerer.pc.on("datachannel", on_channel)
        try:
            ch = offerer.pc.createDataChannel("chat")
            ch.on("message", got.put_nowait)
            offer_sdp = await offerer.offer()
            # a trickled candidate before the remote description waits ...
            line = next(x for x in offer_sdp.splitlines() if x.startswith("a=candidate:"))
            early = signaling.IceCandidate(line[2:], "0", 0)
            await answerer.add_candidate(early)
            waiting = len(answerer.candidates.pending)
            answer_sdp = await answerer.answer(offer_sdp)
            flushed = len(answerer.candidates.pending)  # ... and goes in with it
            await offerer.accept(answer_sdp)
            opened = asyncio.get_running_loop().create_future()
            ch.on("open", lambda: opened.done() or opened.set_result(None))
            if ch.readyState != "open":
                await asyncio.wait_for(opened, 10)
            ch.send("hi")
            return waiting, flushed, await asyncio.wait_for(got.get(), 10)
        finally:
            await offerer.close()
            await answerer.close()

    assert run(scenario(), timeout=30) == (1, 0, "echo hi")


@webrtc
def test_a_bad_offer_raises_and_early_candidates_are_bounded() -> None:
    async def scenario() -> None:
        peer = Peer()
        try:
            bad = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 X\r\n"
            with pytest.raises(Exception):  # noqa: B017 - whatever aiortc raises
                await peer.answer(bad)
            cand = signaling.IceCandidate("candidate:1 1 udp 1 127.0.0.2 5000 typ host", "0", 0)
            fresh = Peer()
            for _ in range(MAX_PENDING_CANDIDATES):
                await fresh.add_candidate(cand)
            with pytest.raises(ValueError, match="early ICE candidates"):
                await fresh.add_candidate(cand)
            await fresh.close()
            assert fresh.candidates.pending == []
        finally:
            await peer.close()

    run(scenario(), timeout=30)
