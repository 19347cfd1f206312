"""Helpers shared by the benchmarks: medians, tables, the Node test peers."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "tests" / "node"


def machine() -> str:
    """One line naming the machine the figures come from."""
    return (
        f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return statistics.median(values)


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (readable in a terminal too)."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    lines.insert(1, "| " + " | ".join("-" * w for w in widths) + " |")
    return "\n".join(lines)


def rtnb_ingest_seconds(kind: str, url: str, n: int, parse: bool, **options: object) -> float:
    """Seconds from the first to the last of ``n`` messages read through ``rtnb.connect``.

    The stream must end by itself after ``n`` messages. With ``parse``, every
    message's JSON is read on the loop (an ``on_message`` callback), the same
    work as a raw loop's ``json.loads``. Receive stamps of the messages still in
    the log give the per-message time, scaled to all ``n``.
    """
    import threading

    import rtnb

    done = threading.Event()
    c = rtnb.connect(kind, url, reconnect=False, name=f"bench-{kind}", **options)
    if parse:
        c.on_message(lambda m: m.json)
    c.on_state(lambda _c, s: done.set() if s in ("closed", "failed") else None)
    done.wait(300)
    received = c.stats.received
    msgs = c.log.tail(len(c.log))
    c.close()
    assert received == n, f"rtnb got {received} of {n} ({c.stats.last_error})"
    per_msg = (msgs[-1].ts - msgs[0].ts) / max(1, len(msgs) - 1)
    return per_msg * (n - 1)


@contextmanager
def node_ws_server(script: str = "ws_server.js") -> Iterator[str]:
    """Start a Node WebSocket peer from tests/node (``ws_server.js``); yield its ws:// base URL."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules").is_dir():
        sys.exit("needs Node.js and tests/node/node_modules (run scripts/test once)")
    port = free_port()
    proc = subprocess.Popen(
        [node, script, str(port)], cwd=NODE_DIR, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
