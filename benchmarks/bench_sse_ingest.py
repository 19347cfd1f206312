"""SSE ingest: rtnb.connect("sse", ...) into the log vs a plain httpx-sse loop.

Both read the same stream from the same rtnb server, run in a separate process
so only the client is measured: a finite ``/sse/ticker`` stream (ids 1..N,
~75-byte JSON ticks) that the server holds fully in its history after a warm-up
read, so every later client gets the same pre-encoded events as fast as the
socket takes them. Clients:

- raw: ``httpx_sse.aconnect_sse`` + ``aiter_sse`` + ``json.loads`` per event
  (and the same loop with ``orjson.loads``, to separate the parser's share);
- rtnb lazy: ``rtnb.connect("sse", ...)`` into the log, JSON left unparsed
  (what ingest does by default);
- rtnb parsed: the same plus ``m.json`` read for every event on the loop.

    python -m benchmarks.bench_sse_ingest            # ~1 minute
    python -m benchmarks.bench_sse_ingest --quick    # a smoke run of a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
from httpx_sse import aconnect_sse

from rtnb import jsonfast

from ._common import free_port, machine, median, rtnb_ingest_seconds, table

SERVER = """
import sys, time, rtnb
srv = rtnb.serve(port=int(sys.argv[1]), sse_history=int(sys.argv[2]))
print("ready", flush=True)
sys.stdin.read()
srv.stop()
"""


@contextmanager
def server_process(history: int) -> Iterator[str]:
    """An rtnb server in its own process; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(history)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            sys.exit("the benchmark server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(15)


async def raw_loop(url: str, n: int, loads: Callable[[str], object] = json.loads) -> float:
    """Seconds from the first to the last of ``n`` events with a plain httpx-sse loop."""
    count = 0
    first = last = 0.0
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        aconnect_sse(client, "GET", url) as source,
    ):
        async for sse in source.aiter_sse():
            if not sse.data:
                continue  # httpx-sse yields the retry-only block as an empty event
            loads(sse.data)
            count += 1
            if count == 1:
                first = time.perf_counter()
            last = time.perf_counter()
    assert count == n, f"raw loop got {count} of {n}"
    return last - first


def rtnb_run(url: str, n: int, parse: bool) -> float:
    """Seconds from the first to the last of ``n`` events through rtnb."""
    return rtnb_ingest_seconds("sse", url, n, parse, max_messages=n)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    runs = 1 if args.quick else args.runs
    raw, raw_or, lazy, parsed = [], [], [], []
    with server_process(history=n) as base:
        url = f"{base}/sse/ticker?symbols=AAPL,MSFT,GOOG&rate=0&seed=7&count={n}"
        asyncio.run(raw_loop(url, n))  # warm-up: the server generates and keeps all n
        for _ in range(runs):
            raw.append(n / asyncio.run(raw_loop(url, n)))
            raw_or.append(n / asyncio.run(raw_loop(url, n, jsonfast.loads)))
            lazy.append(n / rtnb_run(url, n, parse=False))
            parsed.append(n / rtnb_run(url, n, parse=True))
    r, ro, lz, p = median(raw), median(raw_or), median(lazy), median(parsed)
    print(f"SSE ingest, events/s (median of {runs}); {machine()}; JSON: {jsonfast.BACKEND}")
    print(
        table(
            [
                "events",
                "raw httpx-sse+json",
                f"raw+{jsonfast.BACKEND}",
                "rtnb lazy",
                "rtnb parsed",
                "lazy/raw",
                "parsed/raw",
                f"parsed/raw+{jsonfast.BACKEND}",
            ],
            [
                [
                    n,
                    f"{r:,.0f}",
                    f"{ro:,.0f}",
                    f"{lz:,.0f}",
                    f"{p:,.0f}",
                    f"{lz / r:.2f}x",
                    f"{p / r:.2f}x",
                    f"{p / ro:.2f}x",
                ]
            ],
        )
    )


if __name__ == "__main__":
    main()
