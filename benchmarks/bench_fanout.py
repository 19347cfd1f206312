"""Fan-out of the in-kernel server: N clients on /ws/ticker at 10 Hz each.

The server runs in its own process (``rtnb serve``); N plain ``websockets``
clients in this process count what arrives and the delivery latency (server
stamp ``t`` to receive time, same clock). A plain aiohttp broadcast loop in
another process is measured the same way in the same run.

    python -m benchmarks.bench_fanout            # 10, 100 and 500 clients
    python -m benchmarks.bench_fanout --quick    # 10 clients, 1 second
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

from websockets.asyncio.client import connect as ws_connect

from rtnb import jsonfast

from ._common import free_port, machine, table

RATE = 10.0


@contextlib.contextmanager
def process(args: list[str]) -> Iterator[None]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        yield
    finally:
        proc.terminate()
        proc.wait(10)


async def measure(url: str, clients: int, seconds: float) -> tuple[float, float, float]:
    """(delivered/expected, p50 ms, p99 ms) for ``clients`` readers over ``seconds``."""
    latencies: list[float] = []
    counts = [0] * clients
    start_at = 0.0
    stop_at = 0.0

    async def reader(i: int) -> None:
        async with ws_connect(url, max_size=None, compression=None, open_timeout=60) as ws:
            ready.set_result(None) if i == clients - 1 and not ready.done() else None
            while True:
                data = await ws.recv()
                now = time.time()
                if start_at <= now < stop_at:
                    counts[i] += 1
                    latencies.append(now - jsonfast.loads(data)["t"])

    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    tasks = []
    for i in range(clients):
        tasks.append(asyncio.create_task(reader(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(ready, 60)
    await asyncio.sleep(1.0)  # every client settled
    start_at = time.time()
    stop_at = start_at + seconds
    await asyncio.sleep(seconds + 0.5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    expected = clients * RATE * seconds
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
    return sum(counts) / expected, p50, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    sizes = [10] if args.quick else [10, 100, 500]
    seconds = 1.0 if args.quick else args.seconds
    rows = []
    rtnb_port, base_port = free_port(), free_port()
    rtnb_cmd = [sys.executable, "-m", "rtnb.cli", "serve", "--port", str(rtnb_port)]
    rtnb_cmd += ["--max-connections", "2000", "--max-per-client", "2000"]  # all from 127.0.0.1
    base_cmd = [sys.executable, "-m", "benchmarks.baseline_broadcast", str(base_port), str(RATE)]
    with process(rtnb_cmd), process(base_cmd):
        for n in sizes:
            rtnb_url = f"ws://127.0.0.1:{rtnb_port}/ws/ticker?symbols=AAPL&rate={RATE}"
            base_url = f"ws://127.0.0.1:{base_port}/ws"
            r = asyncio.run(measure(rtnb_url, n, seconds))
            b = asyncio.run(measure(base_url, n, seconds))
            rows.append(
                [
                    n,
                    f"{r[0]:.3f}",
                    f"{r[1]:.2f}",
                    f"{r[2]:.2f}",
                    f"{b[0]:.3f}",
                    f"{b[1]:.2f}",
                    f"{b[2]:.2f}",
                ]
            )
    print(f"Fan-out at {RATE:g} Hz per client over {seconds:g} s; {machine()}")
    print(
        table(
            [
                "clients",
                "rtnb delivered",
                "rtnb p50 ms",
                "rtnb p99 ms",
                "aiohttp loop delivered",
                "loop p50 ms",
                "loop p99 ms",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
