"""WebSocket ingest: rtnb.connect(...) into the log vs a plain websockets loop.

Both read the same stream from the same Node `ws` server (a separate process
that sends pre-built JSON frames as fast as the socket takes them), so the
figure is the client's cost per message. Three clients:

- raw: ``async for`` over ``websockets`` + ``json.loads`` per message (and the
  same loop with ``orjson.loads``, to separate the parser's share);
- rtnb lazy: ``rtnb.connect("ws", ...)`` into the log (on websockets, the
  same library as the raw loop; bench_ingest_limit has the picows engine), JSON left unparsed
  (what ingest does by default: parsing happens when a view or you ask);
- rtnb parsed: the same plus ``m.json`` read for every message on the loop
  (the same work as the raw loop).

    python benchmarks/bench_ws_ingest.py            # ~1 minute
    python benchmarks/bench_ws_ingest.py --quick    # a smoke run of a second or two
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

from websockets.asyncio.client import connect as ws_connect

from rtnb import jsonfast

from ._common import machine, median, node_ws_server, rtnb_ingest_seconds, table


async def raw_loop(url: str, n: int, loads: Callable[[str | bytes], object] = json.loads) -> float:
    """Seconds from the first to the last of ``n`` messages with a plain loop."""
    count = 0
    first = last = 0.0
    async with ws_connect(url, max_size=None, compression=None) as ws:
        async for data in ws:
            loads(data)
            count += 1
            if count == 1:
                first = time.perf_counter()
            last = time.perf_counter()
    assert count == n, f"raw loop got {count} of {n}"
    return last - first


def rtnb_run(url: str, n: int, parse: bool) -> float:
    """Seconds from the first to the last of ``n`` messages through rtnb."""
    return rtnb_ingest_seconds(
        "ws", url, n, parse, max_messages=10_000, compression=None, engine="websockets"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = 20_000 if args.quick else 200_000
    runs = 1 if args.quick else args.runs
    rows = []
    with node_ws_server() as base:
        for size in (60, 4096):
            count = n if size == 60 else n // 4
            url = f"{base}/blast?n={count}&size={size}"
            raw, raw_or, lazy, parsed = [], [], [], []
            for _ in range(runs):
                raw.append(count / asyncio.run(raw_loop(url, count)))
                raw_or.append(count / asyncio.run(raw_loop(url, count, jsonfast.loads)))
                lazy.append(count / rtnb_run(url, count, parse=False))
                parsed.append(count / rtnb_run(url, count, parse=True))
            r, ro, lz, p = median(raw), median(raw_or), median(lazy), median(parsed)
            rows.append(
                [
                    f"~{size} B",
                    count,
                    f"{r:,.0f}",
                    f"{ro:,.0f}",
                    f"{lz:,.0f}",
                    f"{p:,.0f}",
                    f"{lz / r:.2f}x",
                    f"{p / r:.2f}x",
                    f"{p / ro:.2f}x",
                ]
            )
    print(f"WebSocket ingest, messages/s (median of {runs}); {machine()}; JSON: {jsonfast.BACKEND}")
    print(
        table(
            [
                "payload",
                "messages",
                "raw websockets+json",
                f"raw+{jsonfast.BACKEND}",
                "rtnb lazy",
                "rtnb parsed",
                "lazy/raw",
                "parsed/raw",
                f"parsed/raw+{jsonfast.BACKEND}",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
