"""Interop with a WebSocket server not written in Python (Node's `ws`)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtnb

from .conftest import CHROMIUM, CHROMIUM_FLAGS, free_port, require_netns, require_node

SERVER_JS = Path(__file__).parent / "node" / "ws_server.js"


@pytest.fixture(scope="module")
def node_ws() -> Iterator[str]:
    node = require_node()
    port = free_port()
    proc = subprocess.Popen(
        [node, str(SERVER_JS), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=SERVER_JS.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening"), proc.stderr.read() if proc.stderr else line
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_echo_through_node_keeps_frame_types(node_ws: str) -> None:
    c = rtnb.connect("ws", node_ws + "/echo").wait_open(10)
    c.send("text")
    c.send(b"\x00\xffbin")
    c.send({"k": "v"})
    a, b, j = (c.recv(timeout=5) for _ in range(3))
    assert a.data == "text"
    assert b.data == b"\x00\xffbin"
    assert j.json == {"k": "v"} and isinstance(j.data, str)


def test_text_forwarded_as_binary_is_still_readable_json(node_ws: str) -> None:
    sender = rtnb.connect("ws", node_ws + "/broadcast").wait_open(10)
    receiver = rtnb.connect("ws", node_ws + "/broadcast").wait_open(10)
    time.sleep(0.1)
    sender.send({"type": "chat", "text": "héllo"})
    m = receiver.recv(timeout=5)
    assert m.is_binary, "Node's ws re-sends the Buffer as a binary frame"
    assert m.json == {"type": "chat", "text": "héllo"}
    assert m.text == '{"type":"chat","text":"héllo"}'


def test_burst_then_normal_close_from_node(node_ws: str) -> None:
    c = rtnb.connect("ws", node_ws + "/push", reconnect=False)
    got = [c.recv(timeout=5).json["n"] for _ in range(100)]
    assert got == list(range(100))
    deadline = time.monotonic() + 10
    while c.state != "closed" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.state == "closed"
    assert "code 1000" in (c.stats.last_error or "") and "done" in (c.stats.last_error or "")


def test_policy_close_from_node_is_reported(node_ws: str) -> None:
    c = rtnb.connect("ws", node_ws + "/other", reconnect=False)
    deadline = time.monotonic() + 10
    while c.state not in ("closed", "failed") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.state == "failed"
    assert "1008" in (c.stats.last_error or "") and "unknown path" in (c.stats.last_error or "")


BROWSER_SESSION = """async (url) => {
  const out = [];
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  await new Promise((resolve) => { ws.onopen = resolve; });
  const next = () => new Promise((resolve) => { ws.onmessage = (e) => resolve(e.data); });
  ws.send("héllo"); out.push(await next());
  ws.send("x".repeat(1000)); out.push((await next()).length);
  ws.send(new Uint8Array([0, 1, 255]).buffer); out.push(Array.from(new Uint8Array(await next())));
  const closed = new Promise((resolve) => { ws.onclose = (e) => resolve(e.code); });
  ws.send("x".repeat(1001)); out.push(await closed);
  out.push(ws.extensions);
  return out;
}"""


@pytest.mark.browser
def test_chromium_websocket_against_rtnbs_server_and_its_exact_limit() -> None:
    # Interop with the reference client: Chromium masks, compresses
    # (permessage-deflate) and reads close codes as browsers do. A message of
    # exactly max_message_size is echoed; one byte more closes with 1009.
    require_netns()
    from playwright.sync_api import sync_playwright

    srv = rtnb.serve(max_message_size=1000)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_FLAGS]
            )
            try:
                page = browser.new_page()
                page.goto(srv.url + "/")
                got = page.evaluate(BROWSER_SESSION, srv.url_for("/ws/echo"))
            finally:
                browser.close()
    finally:
        srv.stop()
    assert got[:4] == ["héllo", 1000, [0, 1, 255], 1009]
    assert "permessage-deflate" in got[4]
