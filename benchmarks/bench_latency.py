"""One-way latency on loopback at a moderate rate: rtnb vs the raw library.

The rtnb server runs in its own process and stamps each tick with its send time
``t``; the client's receive time minus ``t`` is the one-way latency (one clock,
one machine). Each kind is read once through ``rtnb.connect`` (receive time =
``Message.ts``) and once with the raw library's own loop.

    python -m benchmarks.bench_latency           # 5 s per client
    python -m benchmarks.bench_latency --quick   # 1 s per client
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

from websockets.asyncio.client import connect as ws_connect

import rtnb
from rtnb import jsonfast

from ._common import free_port, machine, table

RATE = 200  # messages per second


def percentiles(values: list[float]) -> tuple[float, float]:
    values = sorted(values)
    return values[len(values) // 2] * 1000, values[int(len(values) * 0.99)] * 1000


def rtnb_latencies(kind: str, url: str, seconds: float) -> list[float]:
    c = rtnb.connect(kind, url, name=f"lat-{kind}").wait_open(30)
    time.sleep(seconds)
    out = [m.ts - m.json["t"] for m in list(c.messages) if m.json and "t" in m.json]
    c.close()
    return out


async def raw_ws(url: str, seconds: float) -> list[float]:
    out: list[float] = []
    async with ws_connect(url) as ws:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            data = await ws.recv()
            out.append(time.time() - jsonfast.loads(data)["t"])
    return out


async def raw_sse(url: str, seconds: float) -> list[float]:
    import httpx
    from httpx_sse import aconnect_sse

    out: list[float] = []
    async with (
        httpx.AsyncClient(timeout=None) as client,
        aconnect_sse(client, "GET", url) as source,
    ):
        end = time.monotonic() + seconds
        async for event in source.aiter_sse():
            if event.data:
                out.append(time.time() - jsonfast.loads(event.data)["t"])
            if time.monotonic() > end:
                break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 1.0 if args.quick else 5.0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rtnb.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    rows = []
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        query = f"?symbols=AAPL&rate={RATE}"
        kinds: list[tuple[str, str, Callable[[str, float], object]]] = [
            ("ws", f"ws://127.0.0.1:{port}/ws/ticker{query}", raw_ws),
            ("sse", f"http://127.0.0.1:{port}/sse/ticker{query}", raw_sse),
        ]
        for kind, url, raw in kinds:
            ours = percentiles(rtnb_latencies(kind, url, seconds))
            theirs = percentiles(asyncio.run(raw(url, seconds)))  # type: ignore[arg-type]
            rows.append(
                [kind, f"{ours[0]:.2f}", f"{ours[1]:.2f}", f"{theirs[0]:.2f}", f"{theirs[1]:.2f}"]
            )
    finally:
        proc.terminate()
        proc.wait(10)
    print(f"One-way latency at {RATE} msg/s, ms; {machine()}")
    print(table(["kind", "rtnb p50", "rtnb p99", "raw p50", "raw p99"], rows))
    print("WebRTC latency: see bench_webrtc (it must run in the loopback namespace).")


if __name__ == "__main__":
    main()
