"""JSON-RPC notifications and GraphQL ``next`` messages: rtnb vs a bare websockets loop.

Both clients read the same stream from the same Node peer (tests/node/protocol_blast.js,
a separate process that sends pre-built frames as fast as the socket takes them):
N JSON-RPC 2.0 notifications, or N graphql-transport-ws ``next`` messages after
the init/subscribe handshake. So the figure is the client's cost per event.

- raw: ``async for`` over ``websockets``, each frame parsed (``json.loads``, and
  again with rtnb's parser, orjson when installed), its envelope checked
  (``method`` / ``type`` and ``id``) and its params or data appended to a
  bounded ``deque`` (the same work as rtnb's routing into its bounded log);
- rtnb: ``rtnb.connect("jsonrpc" | "graphql", ...)`` into the log (the transport
  parses the envelope and keeps params or data as the message);
- rtnb parsed: the same plus ``m.json`` read for every message on the loop.

Runs alternate (raw, rtnb, rtnb parsed, raw, ...) and the median of each is shown.

    python -m benchmarks.bench_jsonrpc_graphql            # ~1 minute
    python -m benchmarks.bench_jsonrpc_graphql --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager

from websockets.asyncio.client import connect as ws_connect
from websockets.typing import Subprotocol

from rtnb import jsonfast

from ._common import machine, median, node_ws_server, rtnb_ingest_seconds, table

Loads = Callable[[str | bytes], object]


def blast_server() -> AbstractContextManager[str]:
    """Start tests/node/protocol_blast.js; yield its ws:// base URL."""
    return node_ws_server("protocol_blast.js")


async def raw_jsonrpc(url: str, n: int, loads: Loads) -> float:
    """Seconds from the first to the last of ``n`` notifications with a bare loop."""
    kept: deque[object] = deque(maxlen=10_000)
    count = 0
    first = last = 0.0
    async with ws_connect(url, max_size=None, compression=None) as ws:
        async for frame in ws:
            msg = loads(frame)
            if isinstance(msg, dict) and msg.get("jsonrpc") == "2.0" and "method" in msg:
                kept.append((msg["method"], msg.get("params")))
            count += 1
            if count == 1:
                first = time.perf_counter()
            last = time.perf_counter()
    assert count == n, f"raw loop got {count} of {n}"
    return last - first


async def raw_graphql(url: str, n: int, loads: Loads) -> float:
    """The same for graphql-transport-ws: init, subscribe, then ``n`` ``next`` messages."""
    kept: deque[object] = deque(maxlen=10_000)
    count = 0
    first = last = 0.0
    protocols = [Subprotocol("graphql-transport-ws")]
    async with ws_connect(url, max_size=None, compression=None, subprotocols=protocols) as ws:
        await ws.send('{"type":"connection_init"}')
        ack = loads(await ws.recv())
        assert isinstance(ack, dict) and ack.get("type") == "connection_ack", ack
        query = {"query": "subscription { ticks { t symbol price } }", "variables": {}}
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
        async for frame in ws:
            msg = loads(frame)
            if not isinstance(msg, dict) or msg.get("id") != "1":
                continue
            if msg.get("type") == "complete":
                break
            if msg.get("type") == "next":
                kept.append(msg["payload"].get("data"))
                count += 1
                if count == 1:
                    first = time.perf_counter()
                last = time.perf_counter()
    assert count == n, f"raw loop got {count} of {n}"
    return last - first


def rtnb_run(kind: str, url: str, n: int, parse: bool) -> float:
    """Seconds from the first to the last of ``n`` events through rtnb."""
    extra = {"query": "subscription { ticks { t symbol price } }"} if kind == "graphql" else {}
    return rtnb_ingest_seconds(kind, url, n, parse, max_messages=10_000, compression=None, **extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    runs = 1 if args.quick else args.runs
    load_before = os.getloadavg()[0]
    rows = []
    with blast_server() as base:
        for kind, raw in (("jsonrpc", raw_jsonrpc), ("graphql", raw_graphql)):
            url = f"{base}/{kind}?n={n}"
            raw_std: list[float] = []
            raw_fast: list[float] = []
            lazy: list[float] = []
            parsed: list[float] = []
            for _ in range(runs):
                raw_std.append(n / asyncio.run(raw(url, n, json.loads)))
                raw_fast.append(n / asyncio.run(raw(url, n, jsonfast.loads)))
                lazy.append(n / rtnb_run(kind, url, n, parse=False))
                parsed.append(n / rtnb_run(kind, url, n, parse=True))
            rs, rf, lz, p = median(raw_std), median(raw_fast), median(lazy), median(parsed)
            rows.append(
                [
                    kind,
                    n,
                    f"{rs:,.0f}",
                    f"{rf:,.0f}",
                    f"{lz:,.0f}",
                    f"{p:,.0f}",
                    f"{lz / rf:.2f}x",
                    f"{p / rf:.2f}x",
                ]
            )
    load_after = os.getloadavg()[0]
    print(
        f"Application-protocol ingest, events/s (median of {runs}); {machine()}; "
        f"JSON: {jsonfast.BACKEND}; 1-min load average {load_before:.1f} -> {load_after:.1f}"
    )
    print(
        table(
            [
                "kind",
                "events",
                "raw websockets+json",
                f"raw+{jsonfast.BACKEND}",
                "rtnb",
                "rtnb parsed",
                f"rtnb/raw+{jsonfast.BACKEND}",
                f"parsed/raw+{jsonfast.BACKEND}",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
