"""Memory: process RSS after 10k and after 1M messages with the default log bound.

One rtnb WebSocket connection reads a Node blaster (a separate process); RSS is
read after 10k messages and again after 1M. With the log bounded at 10,000
messages the growth must stay small (target: under 50 MB). Then the same with
the fast transport (``engine="picows"``, when installed) on its batched path.

    python -m benchmarks.bench_memory           # 1M messages
    python -m benchmarks.bench_memory --quick   # 100k messages
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import time

import psutil

import rtnb

from ._common import machine, node_ws_server, table


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 100_000 if args.quick else 1_000_000
    checkpoints = [10_000, total // 2, total]
    rows = []
    runs = [("websockets", {}, True)]
    if importlib.util.find_spec("picows") is not None:
        # the fast transport's batched path: no per-message listener
        runs.append(("picows", {"engine": "picows", "compression": None}, False))
    with node_ws_server() as base:
        for engine, options, parse in runs:
            url = f"{base}/blast?n={total}&size=60"
            c = rtnb.connect("ws", url, reconnect=False, name=f"mem-{engine}", **options)
            if parse:
                c.on_message(lambda m: m.json)  # parse every message, as a view would
            baseline = None
            for point in checkpoints:
                while c.stats.received < point and c.state not in ("closed", "failed"):
                    time.sleep(0.01)
                mb = rss_mb()
                baseline = mb if baseline is None else baseline
                rows.append(
                    [
                        engine + (" (parsed)" if parse else ""),
                        f"{point:,}",
                        f"{len(c.messages):,}",
                        f"{mb:.1f}",
                        f"{mb - baseline:+.1f}",
                    ]
                )
            c.close()
    print(f"RSS with the default log bound (10,000); {machine()}")
    headers = ["engine", "messages received", "kept in log", "RSS MB", "growth since 10k MB"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
