"""Interop with a WebSocket server not written in Python (Node's `ws`)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtnb

from .conftest import free_port, require_node

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
