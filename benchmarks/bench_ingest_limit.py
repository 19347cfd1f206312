"""Ingest at the library's limit: rtnb against bare loops that only store each frame.

The comparison in bench_ws_ingest (a loop that also runs ``json.loads``) hides
rtnb's own per-message cost, since rtnb parses lazily. Here every bare loop does
the least a recorder can: append each frame to a bounded ``deque`` (10,000, the
size of rtnb's default log). Clients, alternating within each run:

- ``websockets``: ``async for`` over a ``websockets`` client, ``deque.append``;
- rtnb ws: ``rtnb.connect("ws", ..., engine="websockets")`` (the default transport);
- ``picows`` (when installed): a bare ``WSListener`` whose ``on_ws_frame``
  appends the frame's text to a deque;
- rtnb ws fast: ``rtnb.connect("ws", ..., engine="picows")``;
- ``httpx-sse``: ``aiter_sse()`` appending each event to a deque;
- rtnb sse: ``rtnb.connect("sse", ...)``.

WebSocket streams come from benchmarks/blaster.py (a separate process writing
pre-encoded ~60-byte and ~4 KB JSON text frames in bulk: unlike the Node
blaster it outruns every client here); SSE from an ``rtnb serve`` process
replaying a finite ticker from its history. Rates are messages/s, medians
of the runs; ratios are the median of each run's ratio (the two loops ran
back to back in that run).

    python -m benchmarks.bench_ingest_limit            # ~2 minutes
    python -m benchmarks.bench_ingest_limit --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from httpx_sse import aconnect_sse
from websockets.asyncio.client import connect as ws_connect

from ._common import ROOT, free_port, machine, median, table
from .bench_sse_ingest import server_process

KEEP = 10_000

try:
    import picows
except ImportError:  # the fast extra is not installed
    picows = None


async def bare_websockets(url: str, n: int) -> float:
    """Seconds from the first to the last of ``n`` frames, stored in a deque."""
    kept: deque[str | bytes] = deque(maxlen=KEEP)
    count = 0
    first = 0.0
    last = 0.0
    async with ws_connect(url, max_size=None, compression=None) as ws:
        async for data in ws:
            kept.append(data)
            count += 1
            if count == 1:
                first = time.perf_counter()
            last = time.perf_counter()
    assert count == n, f"websockets loop got {count} of {n}"
    return last - first


async def bare_picows(url: str, n: int) -> float:
    """The same with a bare picows listener (frames are whole messages here)."""
    assert picows is not None
    kept: deque[str | bytes] = deque(maxlen=KEEP)
    stamps = [0.0, 0.0]

    class Listener(picows.WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == picows.WSMsgType.TEXT:
                kept.append(frame.get_payload_as_utf8_text())
                if len(kept) == 1:
                    stamps[0] = time.perf_counter()
                stamps[1] = time.perf_counter()
            elif frame.msg_type == picows.WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code())
                transport.disconnect()

    transport, _ = await picows.ws_connect(Listener, url, max_frame_size=2**24)
    await transport.wait_disconnected()
    return stamps[1] - stamps[0]


async def bare_sse(url: str, n: int) -> float:
    """Seconds from the first to the last of ``n`` SSE events, stored in a deque."""
    kept: deque[Any] = deque(maxlen=KEEP)
    count = 0
    first = last = 0.0
    async with (
        httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as client,
        aconnect_sse(client, "GET", url) as source,
    ):
        async for sse in source.aiter_sse():
            if not sse.data:
                continue  # the retry-only block comes as an empty event
            kept.append(sse)
            count += 1
            if count == 1:
                first = time.perf_counter()
            last = time.perf_counter()
    assert count == n, f"httpx-sse loop got {count} of {n}"
    return last - first


def rtnb_seconds(kind: str, url: str, n: int, **options: Any) -> float:
    """Seconds from the first to the last of ``n`` messages through ``rtnb.connect``.

    The first message's stamp comes from an ``on_message`` callback that
    unsubscribes itself, so the rest of the stream runs with no listener; the
    last one's from the log. Both are the receive stamps rtnb gives anyway.
    """
    import rtnb

    done = threading.Event()
    first: list[float] = []
    c = rtnb.connect(kind, url, reconnect=False, name=f"limit-{kind}", max_messages=KEEP, **options)

    def on_first(m: rtnb.Message) -> None:
        first.append(m.ts)
        unsubscribe()

    unsubscribe = c.on_message(on_first)
    c.on_state(lambda _c, s: done.set() if s in ("closed", "failed") else None)
    done.wait(300)
    received = c.stats.received
    last = c.log[-1].ts
    c.close()
    assert received == n, f"rtnb got {received} of {n} ({c.stats.last_error})"
    return last - first[0]


def _rtnb(kind: str, **options: Any) -> Callable[[str, int], float]:
    def run(url: str, n: int) -> float:
        return rtnb_seconds(kind, url, n, **options)

    return run


@contextmanager
def blaster() -> Iterator[str]:
    """benchmarks/blaster.py in its own process; yields its ws:// base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.blaster", str(port)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            sys.exit("the blaster did not start")
        yield f"ws://127.0.0.1:{port}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(15)


def _bare(fn: Callable[[str, int], Any]) -> Callable[[str, int], float]:
    def run(url: str, n: int) -> float:
        return float(asyncio.run(fn(url, n)))

    return run


def compare(
    clients: dict[str, Callable[[str, int], float]], url: str, n: int, runs: int
) -> dict[str, list[float]]:
    """Messages/s of each client, ``runs`` times, the clients alternating in each run."""
    rates: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(runs):
        for name, run in clients.items():
            rates[name].append(n / run(url, n))
    return rates


def ratio(rates: dict[str, list[float]], a: str, b: str) -> str:
    """The median over runs of ``a / b`` in the same run."""
    if a not in rates or b not in rates:
        return "-"
    return f"{median([x / y for x, y in zip(rates[a], rates[b], strict=True)]):.2f}x"


def load() -> str:
    """The 1-minute load average, to print beside the figures."""
    return f"{os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", choices=("ws", "sse"), default=None)
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    runs = 1 if args.quick else args.runs
    rows = []
    loads = [load()]
    from rtnb.options import WSOptions

    engines = "engine" in WSOptions.names()  # False for an rtnb from before the option
    ws_clients: dict[str, Callable[[str, int], float]] = {
        "websockets": _bare(bare_websockets),
        "rtnb ws": _rtnb("ws", compression=None, **({"engine": "websockets"} if engines else {})),
    }
    if picows is not None and engines:
        ws_clients["picows"] = _bare(bare_picows)
        ws_clients["rtnb ws fast"] = _rtnb("ws", compression=None, engine="picows")
    if args.only in (None, "ws"):
        with blaster() as base:
            for size in (60, 4096):
                count = n if size == 60 else n // 4
                rates = compare(ws_clients, f"{base}/blast?n={count}&size={size}", count, runs)
                loads.append(load())
                rows.append(
                    [
                        f"ws ~{size} B",
                        count,
                        *(
                            f"{median(rates[k]):,.0f}" if k in rates else "-"
                            for k in ("websockets", "rtnb ws", "picows", "rtnb ws fast")
                        ),
                        ratio(rates, "rtnb ws", "websockets"),
                        ratio(rates, "rtnb ws fast", "websockets"),
                        ratio(rates, "rtnb ws fast", "picows"),
                    ]
                )
    sse_row: list[Any] = []
    if args.only in (None, "sse"):
        with server_process(history=n) as base:
            url = f"{base}/sse/ticker?symbols=AAPL,MSFT,GOOG&rate=0&seed=7&count={n}"
            asyncio.run(bare_sse(url, n))  # warm-up: the server generates and keeps all n
            rates = compare({"httpx-sse": _bare(bare_sse), "rtnb sse": _rtnb("sse")}, url, n, runs)
            loads.append(load())
            sse_row = [
                "sse ~75 B",
                n,
                f"{median(rates['httpx-sse']):,.0f}",
                f"{median(rates['rtnb sse']):,.0f}",
                ratio(rates, "rtnb sse", "httpx-sse"),
            ]
    print(
        f"Ingest at the limit, messages/s (median of {runs}, alternating); {machine()}; "
        f"load average (1 min) along the run: {', '.join(loads)}"
    )
    if rows:
        print(
            table(
                [
                    "stream",
                    "messages",
                    "bare websockets",
                    "rtnb ws",
                    "bare picows",
                    "rtnb ws fast",
                    "rtnb/websockets",
                    "fast/websockets",
                    "fast/picows",
                ],
                rows,
            )
        )
    if sse_row:
        print()
        print(
            table(["stream", "events", "bare httpx-sse", "rtnb sse", "rtnb/httpx-sse"], [sse_row])
        )


if __name__ == "__main__":
    main()
