"""A real Chromium page (plain RTCPeerConnection code) against the bot and an rtnb client.

Run inside the loopback-only namespace:
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_webrtc_browser.py``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import rtnb
from rtnb.server import Server

from .conftest import CHROMIUM, CHROMIUM_FLAGS, require_netns

pytestmark = [pytest.mark.webrtc, pytest.mark.browser]

FLAGS = [
    *CHROMIUM_FLAGS,
    # Gather loopback host candidates (with the camera/microphone grant below).
    "--allow-loopback-in-peer-connection",
]
_rooms = itertools.count(1)

# The article's browser code, made runnable: one peer that offers a data channel
# called "chat" over a signaling WebSocket, iceServers: [] (no STUN on loopback).
ARTICLE_OFFERER = """
async ([signalingUrl, outgoing]) => {
  const peerConnection = new RTCPeerConnection({ iceServers: [] });
  const signaling = new WebSocket(signalingUrl);
  const received = [];
  const done = new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("no echo within 15 s: " + JSON.stringify(received))), 15000);
    signaling.onmessage = async (event) => {
      const data = JSON.parse(event.data);
      if (data.type === "offer") {
        await peerConnection.setRemoteDescription(data.sdp);
        const answer = await peerConnection.createAnswer();
        await peerConnection.setLocalDescription(answer);
        signaling.send(JSON.stringify({ type: "answer", sdp: answer }));
      } else if (data.type === "answer") {
        await peerConnection.setRemoteDescription(data.sdp);
      } else if (data.type === "candidate") {
        if (data.candidate) await peerConnection.addIceCandidate(data.candidate);
      }
    };
    const dataChannel = peerConnection.createDataChannel("chat");
    dataChannel.binaryType = "arraybuffer";
    dataChannel.onopen = () => {
      dataChannel.send(outgoing);
      dataChannel.send(new Uint8Array([0, 1, 2, 255]));
    };
    dataChannel.onmessage = (event) => {
      const data = event.data;
      received.push(typeof data === "string" ? data : Array.from(new Uint8Array(data)));
      if (received.length === 2) resolve();
    };
    peerConnection.onicecandidate = (event) => {
      signaling.send(JSON.stringify({ type: "candidate", candidate: event.candidate }));
    };
  });
  await new Promise((resolve) => (signaling.onopen = resolve));
  const offer = await peerConnection.createOffer();
  await peerConnection.setLocalDescription(offer);
  signaling.send(JSON.stringify({ type: "offer", sdp: peerConnection.localDescription }));
  await done;
  const sent = [];
  for (const line of peerConnection.localDescription.sdp.split("\\r\\n")) {
    if (line.startsWith("a=candidate")) sent.push(line);
  }
  peerConnection.close();
  signaling.close();
  return { received, state: peerConnection.connectionState, candidatesInSdp: sent.length };
}
"""


@contextmanager
def chromium(profile: Path, permissions: list[str]) -> Iterator[Any]:
    require_netns()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            permissions=permissions,
        )
        try:
            yield ctx
        finally:
            ctx.close()


@pytest.fixture
def context(tmp_path: Path) -> Iterator[Any]:
    with chromium(tmp_path / "profile", ["camera", "microphone"]) as ctx:
        yield ctx


def wait_for(page: Any, expression: str, timeout: float = 15) -> Any:
    page.wait_for_function(expression, timeout=timeout * 1000)
    return page.evaluate(expression)


def test_article_style_page_offers_to_the_bot(context: Any, server: Server) -> None:
    page = context.new_page()
    page.goto(server.url_for("/demo/webrtc", ws=False))  # same origin for the WebSocket
    result = page.evaluate(ARTICLE_OFFERER, [server.url_for("/webrtc/bot"), "Hello Peer"])
    assert result["received"] == ["Hello Peer", [0, 1, 2, 255]]
    # The page trickled its loopback candidate (its offer went out before gathering).
    assert result["candidatesInSdp"] >= 1


def test_demo_page_subscribes_to_bot_ticks(context: Any, server: Server) -> None:
    page = context.new_page()
    page.goto(server.url_for("/demo/webrtc?mode=bot&autostart=1", ws=False))
    wait_for(page, "window.rtnbDemo.state === 'open'")
    page.click("#subscribe")
    wait_for(page, "window.rtnbDemo.received.length >= 4")
    received = [json.loads(m) for m in page.evaluate("window.rtnbDemo.received")]
    assert received[0]["type"] == "subscribed"
    assert {t["symbol"] for t in received[1:4]} <= {"AAPL", "MSFT"}
    page.fill("#text", "echo me")
    page.click("#send")
    wait_for(page, "window.rtnbDemo.received.includes('echo me')")
    assert page.evaluate("window.rtnbDemo.errors") == []


def test_demo_page_keeps_bounded_logs_on_a_long_stream(context: Any, server: Server) -> None:
    page = context.new_page()
    page.goto(server.url_for("/demo/webrtc?mode=bot&autostart=1", ws=False))
    wait_for(page, "window.rtnbDemo.state === 'open'")
    page.evaluate("window.seen = 0; dataChannel.addEventListener('message', () => window.seen++)")
    sub = json.dumps({"type": "subscribe", "symbols": "AAPL", "rate": 0, "count": 2500})
    page.evaluate("(text) => window.rtnbDemo.send(text)", sub)
    wait_for(page, "window.seen >= 2501", timeout=30)  # the ack and every tick
    assert page.evaluate("window.rtnbDemo.received.length") <= 1000
    assert page.evaluate("window.rtnbDemo.log.length") <= 1000
    assert page.locator("#log div").count() <= 500


def test_demo_page_reconnect_is_not_disturbed_by_the_old_session(
    context: Any, server: Server
) -> None:
    page = context.new_page()
    page.goto(server.url_for("/demo/webrtc?mode=bot&autostart=1", ws=False))
    wait_for(page, "window.rtnbDemo.state === 'open'")
    page.click("#connect")  # hang up and connect again
    wait_for(page, "window.rtnbDemo.state === 'open'")
    page.fill("#text", "second session")
    page.click("#send")
    wait_for(page, "window.rtnbDemo.received.includes('second session')")
    log = page.evaluate("window.rtnbDemo.log")
    # the first session's channel was detached before it was closed: its late
    # close event did not reset the state or the buttons of the second
    assert "sys: data channel closed" not in log
    assert page.evaluate("window.rtnbDemo.errors") == []


def test_demo_page_works_on_a_server_with_a_token(context: Any) -> None:
    # the page's <script src="webrtc.js"> cannot carry the token
    srv = rtnb.serve(token="demo-token")
    try:
        page = context.new_page()
        page.goto(srv.url_for("/demo/webrtc?mode=bot&autostart=1", ws=False))
        wait_for(page, "window.rtnbDemo && window.rtnbDemo.state === 'open'")
        page.fill("#text", "with a token")
        page.click("#send")
        wait_for(page, "window.rtnbDemo.received.includes('with a token')")
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("page_role", "page_first"), [("offer", False), ("offer", True), ("answer", False)]
)
def test_page_and_rtnb_client_talk_through_the_relay(
    context: Any, server: Server, page_role: str, page_first: bool
) -> None:
    room = f"browser{next(_rooms)}"
    page = context.new_page()
    page_url = server.url_for(
        f"/demo/webrtc?mode=room&room={room}&role={page_role}&autostart=1", ws=False
    )
    url = server.url_for(f"/webrtc/signal?room={room}")
    if page_first:
        page.goto(page_url)
        wait_for(page, "window.rtnbDemo.log.some(l => l.includes('offer sent'))")
        c = rtnb.connect("webrtc", url)  # auto: finds the page's held offer and answers
    else:
        c = rtnb.connect("webrtc", url)
        time.sleep(0.2)
        page.goto(page_url)
    c.wait_open(20)
    assert c.stats.extra["role"] == ("answer" if page_role == "offer" else "offer")
    wait_for(page, "window.rtnbDemo.state === 'open'")
    assert page.evaluate("window.rtnbDemo.send('from the page')")
    assert c.recv(10).data == "from the page"
    c.send("from rtnb")
    c.send(b"\x00\x01")
    wait_for(page, "window.rtnbDemo.received.length >= 2")
    assert page.evaluate("window.rtnbDemo.received") == ["from rtnb", "<2 bytes>"]
    # The notebook side leaves: the page hears "bye" and is ready for the next peer.
    c.close()
    wait_for(page, "window.rtnbDemo.log.some(l => l.includes('the peer left'))")
    assert page.evaluate("window.rtnbDemo.errors") == []
