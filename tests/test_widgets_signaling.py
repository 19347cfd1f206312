"""LiveSignaling against real WebRTC negotiations on loopback (in-process, no front-end).

WebRTC needs the loopback-only namespace:
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_widgets_signaling.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

import rtnb
from rtnb import signaling
from rtnb.runtime import run
from rtnb.server import Server
from rtnb.widgets import LiveSignaling

from .conftest import wait_for
from .test_webrtc import raw_peer, recv_type, room_url

webrtc = pytest.mark.webrtc


def recorded(view: LiveSignaling) -> list[dict[str, Any]]:
    """The custom messages the view sends from now on (each still goes to its comm)."""
    sent: list[dict[str, Any]] = []
    send = view.send

    def record(content: dict[str, Any], buffers: Any = None) -> None:
        sent.append(content)
        send(content, buffers)

    view.send = record
    return sent


def answer_to(offer_sdp: str) -> tuple[RTCPeerConnection, str]:
    """A plain aiortc peer that answers ``offer_sdp`` (candidates inside its SDP)."""

    async def make() -> tuple[RTCPeerConnection, str]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return pc, str(pc.localDescription.sdp)

    return run(make(), timeout=10)


def kinds(view: LiveSignaling) -> list[tuple[str, str]]:
    return [(e["dir"], e["type"]) for e in view.events]


@webrtc
def test_view_fills_in_as_offer_answer_and_states_arrive_then_shows_the_end(
    server: Server,
) -> None:
    url = room_url(server)
    with raw_peer(url) as peer:
        c = rtnb.connect("webrtc", url, role="offer", name="caller")
        view = c.signaling()
        sent = recorded(view)
        assert isinstance(view, LiveSignaling) and view.name == "caller" and view.ended == ""
        offer = signaling.parse(recv_type(peer, "offer"))
        assert offer.sdp is not None
        # the offer shows while the answer has not been written yet
        wait_for(lambda: ("out", "offer") in kinds(view))
        assert ("in", "answer") not in kinds(view)
        assert view.states["signaling"] == "have-local-offer"
        shown = next(e for e in view.events if e["type"] == "offer")
        assert shown["detail"].splitlines()[0] == "v=0" and "a=setup:actpass" in shown["detail"]
        first_batch = len(sent)
        assert first_batch >= 1 and all(m["type"] == "events" for m in sent)

        pc, answer = answer_to(offer.sdp)
        try:
            peer.send(signaling.dumps(signaling.description("answer", answer)))
            c.wait_open(15)
            wait_for(lambda: view.states.get("dtls") == "connected")
            wait_for(lambda: view.events[-1]["type"] == "data channel")
            assert view.states["ice"] in ("completed", "connected")
            assert view.states["connection"] == "connected"
            assert view.states["signaling"] == "stable"
            # later batches carry only what is new: each event is sent once, in order
            later = [e for m in sent[first_batch:] for e in m["events"]]
            assert ("in", "answer") in [(e["dir"], e["type"]) for e in later]
            every = [e["n"] for m in sent for e in m["events"]]
            assert every == sorted(set(every)) == [e["n"] for e in view.events][-len(every) :]
            assert len(sent) < 20  # batched by the flusher, not one message per event
            times = [e["t"] for e in view.events]
            assert times == sorted(times) and view.t0 == times[0]

            c.close()  # its final update shows the badge and the states it closed with
            assert view.ended == "closed" and "closed" in view.ended_detail
            assert not view.running
            for key in ("signaling", "ice", "dtls", "connection"):
                assert view.states[key] == "closed", (key, view.states)
            assert ("state", "connection") in kinds(view)[-5:]
            bundle = view._repr_mimebundle_()
            assert bundle["text/plain"].startswith("<LiveSignaling caller: ")
            assert "closed" in bundle["text/plain"]
            assert "rtnb-signaling-log" in bundle["text/html"] and "answer" in bundle["text/html"]
        finally:
            run(pc.close(), timeout=10)


@webrtc
def test_view_of_a_closed_connection_shows_all_it_took_at_once(server: Server) -> None:
    bot = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), name="late").wait_open(30)
    bot.close()
    view = bot.signaling(height=120)
    assert not view.running and view.ended == "closed" and view.height == 120
    assert [k for k in kinds(view) if k[1] in ("offer", "answer")] == [
        ("out", "offer"),
        ("in", "answer"),
    ]
    assert view.states["connection"] == "closed"
    assert len(view.events) == len(view.log) and view.log[0].type == view.events[0]["type"]


def test_signaling_of_a_connection_without_signaling_says_so_in_one_line(
    server: Server,
) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo").replace("http", "ws"), name="echo")
    try:
        with pytest.raises(TypeError) as err:
            c.signaling()
        assert str(err.value) == (
            "signaling() shows a WebRTC connection's signaling; 'echo' is a ws connection"
        )
    finally:
        c.close()


@pytest.mark.parametrize(
    ("options", "match"),
    [({"height": 10}, "height must be at least 60"), ({"rate": 0}, "rate must be between")],
)
def test_bad_options_are_refused(server: Server, options: dict[str, Any], match: str) -> None:
    c = rtnb.connect("webrtc", server.url_for("/webrtc/bot"), reconnect=False)
    try:
        with pytest.raises(ValueError, match=match):
            c.signaling(**options)
    finally:
        c.close()
