"""Soak the in-kernel server with the attacks of issue 14 while clients keep using it.

A server runs in its own process (optionally under a low file-descriptor limit,
as on a small container). While it runs, this process, on loopback only:

- asks for ``/`` with a foreign ``Host`` (DNS rebinding),
- holds slow-header connections that send one byte every few seconds,
- opens WebSockets that never read (``/ws/ticker?rate=0`` and ``/ws/chat``, with
  a chat sender flooding them), and
- holds idle WebSockets from this one process.

Meanwhile two legitimate clients measure how they are served: the notebook's
own client (an ``rtnb.connect`` echo round trip inside the server's process) and
another client (an HTTP GET from the source address 127.0.0.2). The server's
resident memory and open descriptors are sampled before, during and after; the
attackers then leave, except the non-reading sockets, which the server must cut
itself within twice its heartbeat. Every count and duration is bounded.

    python benchmarks/soak_attacks.py                 # the issue's figures (about 60 s)
    python benchmarks/soak_attacks.py --quick         # a few seconds (tests/test_soak_attacks.py)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import connect as ws_connect

SERVER = textwrap.dedent(
    """
    import json, sys, threading, time
    import rtnb
    srv = rtnb.serve(**json.loads(sys.argv[1]))
    print(json.dumps({"port": srv.port}), flush=True)

    def own_client():  # the notebook's own connections, every half second
        reconnect = json.loads(sys.argv[2])
        while True:
            t = time.perf_counter()
            try:
                c = rtnb.connect("ws", srv.url_for("/ws/echo"), reconnect=reconnect, name="own")
                c.wait_open(10).send("p")
                c.recv(timeout=10)
                c.close()
                print(json.dumps({"own": time.perf_counter() - t}), flush=True)
            except Exception as exc:
                print(json.dumps({"own_error": str(exc)[:160]}), flush=True)
            time.sleep(0.5)

    threading.Thread(target=own_client, daemon=True).start()
    sys.stdin.read()
    srv.stop()
    """
)

UPGRADE = (
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
)


@dataclass
class Plan:
    """What the soak does (counts are connections; durations seconds)."""

    seconds: float = 20.0
    slow: int = 300
    tickers: int = 60
    chats: int = 20
    idle: int = 200
    nofile: int = 256
    heartbeat: float = 15.0
    #: whether the notebook's client reconnects (rtnb's default) or counts a failure
    reconnect: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass
class Tally:
    """What was seen."""

    own: list[float] = field(default_factory=list)
    own_errors: list[str] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    other_errors: list[str] = field(default_factory=list)
    rebinding: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    fds: dict[str, int] = field(default_factory=dict)
    recovered_after: float | None = None


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def http_get(port: int, host: str, source: str = "127.0.0.1") -> int:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 5
    )
    try:
        writer.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 5)
        return int(line.split()[1]) if line else 0
    finally:
        writer.transport.abort()


async def silent_ws(port: int, path: str, refused: dict[str, int]) -> asyncio.StreamWriter | None:
    """A handshake, then never a read again (a tiny receive buffer fills at once)."""
    import socket

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), 5
        )
        reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{UPGRADE}\r\n".encode())
        line = await asyncio.wait_for(reader.readline(), 5)
    except (TimeoutError, OSError) as exc:
        refused[type(exc).__name__] = refused.get(type(exc).__name__, 0) + 1
        sock.close()
        return None
    status = line.split(b" ")[1].decode() if line.count(b" ") else "?"
    if status != "101":
        refused[status] = refused.get(status, 0) + 1
        writer.transport.abort()
        return None
    reader._transport.pause_reading()  # type: ignore[attr-defined]  # never read again
    return writer


async def slow_headers(port: int, n: int, until: float, refused: dict[str, int]) -> None:
    """``n`` connections sending their headers one byte every 2 s; reopened when cut."""

    async def one() -> None:
        while time.monotonic() < until:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 5
                )
            except (TimeoutError, OSError):
                refused["slow-connect"] = refused.get("slow-connect", 0) + 1
                await asyncio.sleep(1)
                continue
            try:
                writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                while time.monotonic() < until and not reader.at_eof():
                    writer.write(b"a")
                    await writer.drain()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(reader.read(1), 2)
                refused["slow-cut"] = refused.get("slow-cut", 0) + reader.at_eof()
            except (OSError, ConnectionError):
                refused["slow-cut"] = refused.get("slow-cut", 0) + 1
            finally:
                writer.transport.abort()

    await asyncio.gather(*(one() for _ in range(n)))


async def idle_websockets(port: int, n: int, until: float, refused: dict[str, int]) -> None:
    async def one() -> None:
        try:
            async with ws_connect(f"ws://127.0.0.1:{port}/ws/echo", open_timeout=5):
                await asyncio.sleep(max(0.0, until - time.monotonic()))
        except Exception as exc:
            key = f"idle {type(exc).__name__}"
            refused[key] = refused.get(key, 0) + 1

    await asyncio.gather(*(one() for _ in range(n)))


async def chat_flood(port: int, until: float) -> None:
    with contextlib.suppress(Exception):
        async with ws_connect(f"ws://127.0.0.1:{port}/ws/chat", open_timeout=5) as ws:
            while time.monotonic() < until:
                await ws.send("x" * 64_000)
                await asyncio.sleep(0.05)


async def soak(plan: Plan, pid: int, port: int, lines: asyncio.Queue[str]) -> Tally:
    tally = Tally()
    loop = asyncio.get_running_loop()
    await asyncio.sleep(3.0)  # the server and the notebook's client warm up
    tally.rss["before"], tally.fds["before"] = rss_mb(pid), fd_count(pid)
    peak_rss, peak_fds = tally.rss["before"], tally.fds["before"]

    async def other_client() -> None:
        while True:
            t = time.perf_counter()
            try:
                status = await http_get(port, "127.0.0.1", source="127.0.0.2")
                if status == 200:
                    tally.other.append(time.perf_counter() - t)
                else:
                    tally.other_errors.append(str(status))
            except (TimeoutError, OSError) as exc:
                tally.other_errors.append(type(exc).__name__)
            await asyncio.sleep(0.5)

    async def rebinding() -> None:
        while time.monotonic() < until:
            with contextlib.suppress(OSError, asyncio.TimeoutError, ValueError):
                status = str(await http_get(port, f"evil.example:{port}"))
                tally.rebinding[status] = tally.rebinding.get(status, 0) + 1
            await asyncio.sleep(0.2)

    async def own_lines() -> None:
        while True:
            got = json.loads(await lines.get())
            if "own" in got:
                tally.own.append(got["own"])
            elif "own_error" in got:
                tally.own_errors.append(got["own_error"])

    probes = [loop.create_task(other_client()), loop.create_task(own_lines())]
    paths = ["/ws/ticker?rate=0"] * plan.tickers + ["/ws/chat"] * plan.chats
    opened = await asyncio.gather(*(silent_ws(port, p, tally.refused) for p in paths))
    silent = [w for w in opened if w is not None]
    tally.refused["silent open"] = len(silent)
    until = time.monotonic() + plan.seconds
    attacks = [
        loop.create_task(rebinding()),
        loop.create_task(slow_headers(port, plan.slow, until, tally.refused)),
        loop.create_task(idle_websockets(port, plan.idle, until, tally.refused)),
        loop.create_task(chat_flood(port, until)),
    ]
    while time.monotonic() < until:
        await asyncio.sleep(0.5)
        peak_rss, peak_fds = max(peak_rss, rss_mb(pid)), max(peak_fds, fd_count(pid))
    await asyncio.gather(*attacks, return_exceptions=True)
    tally.rss["during"], tally.fds["during"] = peak_rss, peak_fds
    # the attackers leave, except the non-reading sockets: the server must cut those
    left = time.monotonic()
    deadline = left + 2 * plan.heartbeat + 2
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        if tally.recovered_after is None and fd_count(pid) <= tally.fds["before"] + 2:
            tally.recovered_after = time.monotonic() - left
    tally.rss["after"], tally.fds["after"] = rss_mb(pid), fd_count(pid)
    for w in silent:
        w.transport.abort()
    for p in probes:
        p.cancel()
    return tally


def run(plan: Plan) -> Tally:
    """Start the server process, soak it, stop it; returns what was seen."""
    settings = {"heartbeat": plan.heartbeat, **plan.settings}

    def limit() -> None:
        if plan.nofile:
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (plan.nofile, hard))

    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, json.dumps(settings), json.dumps(plan.reconnect)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=limit,
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        port = json.loads(proc.stdout.readline())["port"]

        async def main() -> Tally:
            lines: asyncio.Queue[str] = asyncio.Queue()
            loop = asyncio.get_running_loop()
            stdout = proc.stdout
            assert stdout is not None

            def pump() -> None:
                for line in stdout:
                    loop.call_soon_threadsafe(lines.put_nowait, line)

            # a daemon thread, not the executor: asyncio.run would wait for it
            threading.Thread(target=pump, daemon=True).start()
            return await soak(plan, proc.pid, port, lines)

        return asyncio.run(main())
    finally:
        proc.stdin.close()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _ms(values: list[float]) -> str:
    if not values:
        return "none served"
    return (
        f"{len(values)} served, median {statistics.median(values) * 1000:.1f} ms, "
        f"max {max(values) * 1000:.1f} ms"
    )


def report(plan: Plan, t: Tally) -> str:
    """The figures, one per line."""
    return "\n".join(
        [
            f"attacks for {plan.seconds:.0f} s: {plan.slow} slow-header, {plan.tickers} + "
            f"{plan.chats} non-reading ws, {plan.idle} idle ws; fd limit {plan.nofile or 'none'}",
            f"notebook's own client{' (reconnect on)' if plan.reconnect else ''}: "
            f"{_ms(t.own)}; failed {len(t.own_errors)}"
            + (f" ({t.own_errors[0]})" if t.own_errors else ""),
            f"other client (127.0.0.2): {_ms(t.other)}; failed {len(t.other_errors)}"
            + (f" ({sorted(set(t.other_errors))})" if t.other_errors else ""),
            f"rebinding requests by status: {t.rebinding}",
            f"refusals and cuts seen by attackers: {t.refused}",
            "server RSS MB before/during/after: "
            + " / ".join(f"{t.rss.get(k, 0):.0f}" for k in ("before", "during", "after")),
            "server descriptors before/during/after: "
            + " / ".join(str(t.fds.get(k, 0)) for k in ("before", "during", "after")),
            "descriptors back to baseline after the attackers left: "
            + (f"{t.recovered_after:.1f} s" if t.recovered_after is not None else "never"),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds, small counts")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--nofile", type=int, help="the server's descriptor limit (0: unchanged)")
    ap.add_argument("--heartbeat", type=float)
    ap.add_argument(
        "--reconnect", action="store_true", help="the notebook's client retries (the default)"
    )
    ap.add_argument("--set", action="append", default=[], help="a server setting, KEY=JSON")
    args = ap.parse_args(argv)
    plan = (
        Plan(seconds=4, slow=30, tickers=6, chats=4, idle=20, heartbeat=1.0)
        if args.quick
        else Plan()
    )
    if args.seconds is not None:
        plan.seconds = args.seconds
    if args.nofile is not None:
        plan.nofile = args.nofile
    if args.heartbeat is not None:
        plan.heartbeat = args.heartbeat
    plan.reconnect = args.reconnect
    for item in args.set:
        key, _, value = item.partition("=")
        plan.settings[key] = json.loads(value)
    print(report(plan, run(plan)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
