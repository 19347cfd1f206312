"""Shared fixtures: a real in-kernel server on loopback, and leak checks."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import rtnb
from rtnb.server import Server

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "tests" / "node" / "node_modules"
CHROMIUM = "/usr/bin/chromium"
#: Flags that let Debian's Chromium run headless here without reaching outside.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
IN_NETNS = os.environ.get("RTNB_IN_NETNS") == "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ws-engine",
        choices=("websockets", "picows"),
        default=None,
        help="run every ws connection that leaves engine= unset on this library "
        "(the same suites against the fast transport: pytest --ws-engine=picows ...)",
    )


@pytest.fixture(autouse=True)
def _ws_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    forced = request.config.getoption("--ws-engine")
    if forced is None:
        return
    from rtnb.transports import ws

    choose = ws.choose_engine

    def chosen(options: dict[str, object]) -> str:
        if options.get("engine", "auto") != "auto":
            return choose(options)
        return str(forced)

    monkeypatch.setattr(ws, "choose_engine", chosen)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One in-kernel server for the whole session (loopback, free port)."""
    srv = rtnb.serve()
    yield srv
    srv.stop()


@pytest.fixture
def fresh_server() -> Iterator[Server]:
    """A server of its own for tests that stop, restart or overload it."""
    srv = rtnb.serve()
    yield srv
    srv.stop()


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    rtnb.close_all()


def wait_for(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"condition not reached within {timeout} s")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def loop_tasks() -> set[str]:
    """Names of the tasks alive on rtnb's loop (for leak checks)."""
    import asyncio

    from rtnb.runtime import run

    async def names() -> set[str]:
        me = asyncio.current_task()
        # an unnamed task says what it runs, so a leak report names its code
        return {
            t.get_name()
            if not t.get_name().startswith("Task-")
            else f"{t.get_name()} ({getattr(t.get_coro(), '__qualname__', '?')})"
            for t in asyncio.all_tasks()
            if t is not me and not t.done() and not _engineio_task(t)
        }

    return run(names(), timeout=5)


def _engineio_task(task: Any) -> bool:
    """A task of the in-kernel Socket.IO server (python-engineio), which keeps a departed
    client's ping task until its ping timeout: it belongs to no test that checks leaks."""
    code = getattr(task.get_coro(), "cr_code", None)
    filename = code.co_filename if code is not None else ""
    return "/engineio/" in filename or "/socketio/" in filename


def thread_names() -> set[str]:
    """Names of live threads."""
    return {t.name for t in threading.enumerate()}


def require_node() -> str:
    """The node binary and installed test peers, or a failing (not skipped) test."""
    node = shutil.which("node")
    if node is None or not NODE_MODULES.is_dir():
        pytest.fail("Node.js and tests/node/node_modules are needed: run scripts/test")
    return node


@contextlib.contextmanager
def node_peer(script: str) -> Iterator[int]:
    """Run ``tests/node/SCRIPT PORT`` until it prints ``listening``; yield its port."""
    node = require_node()
    port = free_port()
    proc = subprocess.Popen(
        [node, str(NODE_MODULES.parent / script), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=NODE_MODULES.parent,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening"), proc.stderr.read() if proc.stderr else line
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def require_netns() -> None:
    """WebRTC and browser tests must run in the loopback-only namespace."""
    if not IN_NETNS:
        pytest.fail(
            "run this test inside the loopback-only namespace: scripts/test-netns pytest ..."
        )


@pytest.fixture(autouse=True)
def _webrtc_needs_netns(request: pytest.FixtureRequest) -> None:
    """A test marked ``webrtc`` fails at once outside the namespace (aiortc would use the
    machine's external interface)."""
    if request.node.get_closest_marker("webrtc"):
        require_netns()
