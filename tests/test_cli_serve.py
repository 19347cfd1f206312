"""`rtnb serve` runs the same server in a terminal until interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

import rtnb

from .conftest import free_port


def test_rtnb_serve_in_a_terminal() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtnb.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"running at http://127.0.0.1:{port}" in first
        c = rtnb.connect("ws", f"ws://127.0.0.1:{port}/ws/echo").wait_open(10)
        c.send("cli")
        assert c.recv(timeout=5).data == "cli"
        c.close()
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_rtnb_serve_reports_a_busy_port() -> None:
    srv = rtnb.serve()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "rtnb.cli", "serve", "--port", str(srv.port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        srv.stop()
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr and "Traceback" not in proc.stderr


def test_rtnb_serve_limits_from_the_command_line() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtnb.cli", "serve", "--port", str(port), "--max-per-client", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        url = f"ws://127.0.0.1:{port}/ws/echo"
        first = rtnb.connect("ws", url).wait_open(10)
        second = rtnb.connect("ws", url, reconnect=False)
        with pytest.raises(rtnb.ConnectError, match="429"):
            second.wait_open(10)
        first.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
