"""Live views under a fast stream, in a real kernel: comm traffic, kernel CPU, cell latency.

    python -m benchmarks.bench_views            # ~50k msg/s offered, 10 s per case
    python -m benchmarks.bench_views --quick    # briefly, as the test suite does

The rtnb server runs in its own process and offers ticks at a fixed rate; a
real ipykernel connects to it. For each case the same stream runs with no
views (the baseline), then with views displayed; a second client on the
kernel's iopub channel counts comm messages and bytes (what the Jupyter
server and the browser would receive), the kernel reports its own CPU time,
and a trivial cell (``1 + 1``) is timed from request to reply while the
stream and the views run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from typing import Any

from jupyter_client.manager import KernelManager

from ._common import ROOT, free_port, machine, median, table

SYMBOLS = "AAPL,MSFT,GOOG,AMZN"

CASES = [
    ("no views (baseline)", ""),
    ("table", "v = [c.table()]\nfor x in v: display(x)"),
    (
        "table + matplotlib plot",
        "v = [c.table(), c.plot('price', by='symbol')]\nfor x in v: display(x)",
    ),
    (
        "table + canvas plot",
        "v = [c.table(), c.plot('price', by='symbol', backend='canvas')]\nfor x in v: display(x)",
    ),
    (
        "panel + table + both plots",
        "v = [c.panel(), c.plot('price', by='symbol'), "
        "c.plot('price', by='symbol', backend='canvas')]\nfor x in v: display(x)",
    ),
]


class Iopub:
    """A second client on the kernel's iopub channel, counting comm traffic."""

    def __init__(self, km: KernelManager) -> None:
        self.kc = km.client()
        self.kc.start_channels(shell=False, stdin=False, hb=False, control=False)
        self.lock = threading.Lock()
        self.count = 0
        self.bytes = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except Exception:
                continue
            if msg["msg_type"] == "comm_msg":
                size = len(json.dumps(msg["content"])) + sum(len(b) for b in msg["buffers"])
                with self.lock:
                    self.count += 1
                    self.bytes += size

    def snapshot(self) -> tuple[int, int]:
        with self.lock:
            return self.count, self.bytes

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.kc.stop_channels()


def run_cell(kc: Any, code: str, timeout: float = 60) -> str:
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("ERROR " + msg["content"]["evalue"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    text = "".join(out)
    if reply["content"]["status"] != "ok" or "ERROR" in text:
        raise RuntimeError(f"cell failed: {code!r}: {text}")
    return text


def measure(kc: Any, iopub: Iopub, seconds: float) -> dict[str, float]:
    before = json.loads(run_cell(kc, "print(json.dumps([c.stats.received, time.process_time()]))"))
    c0, b0 = iopub.snapshot()
    t0 = time.monotonic()
    latencies = []
    while time.monotonic() - t0 < seconds:
        time.sleep(0.4)
        s = time.perf_counter()
        run_cell(kc, "1 + 1")
        latencies.append(time.perf_counter() - s)
    elapsed = time.monotonic() - t0
    c1, b1 = iopub.snapshot()
    after = json.loads(run_cell(kc, "print(json.dumps([c.stats.received, time.process_time()]))"))
    return {
        "stream": (after[0] - before[0]) / elapsed,
        "cpu": (after[1] - before[1]) / elapsed,
        "comm": (c1 - c0) / elapsed,
        "kib": (b1 - b0) / elapsed / 1024,
        "cell_ms": median(latencies) * 1000,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rate", type=float, default=50_000, help="messages/s offered")
    args = parser.parse_args()
    seconds = 2.5 if args.quick else 10.0
    rates = [args.rate] if args.quick else [args.rate, 500.0]
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import rtnb, time; s = rtnb.serve(port={port}); print(s.url, flush=True); "
            "time.sleep(1e6)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT))
    kc = km.client()
    kc.start_channels()
    iopub = Iopub(km)
    rows = []
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip().replace("http://", "ws://")
        kc.wait_for_ready(timeout=60)
        run_cell(kc, "import json, time, rtnb\nfrom IPython.display import display")
        for rate in rates:
            per_symbol = rate / len(SYMBOLS.split(","))
            url = f"{base}/ws/ticker?symbols={SYMBOLS}&rate={per_symbol:g}"
            base_cpu = None
            for name, code in CASES:
                run_cell(
                    kc,
                    f"c = rtnb.connect('ws', {url!r}, max_messages=20_000)\nc.wait_open(10)\n"
                    + (code or "v = []"),
                )
                time.sleep(1.0)  # warm up: the first flushes, the first frames
                m = measure(kc, iopub, seconds)
                run_cell(kc, "c.close()\nfor x in v: x.close()\ntime.sleep(0.3)")
                if base_cpu is None:
                    base_cpu = m["cpu"]
                rows.append(
                    [
                        f"{rate:,.0f}",
                        name,
                        f"{m['stream']:,.0f}",
                        f"{m['comm']:.1f}",
                        f"{m['kib']:,.1f}",
                        f"{m['cpu'] * 100:.0f}%",
                        f"{(m['cpu'] - base_cpu) * 100:+.0f}%",
                        f"{m['cell_ms']:.1f}",
                    ]
                )
                print(" | ".join(rows[-1]), flush=True)
    finally:
        iopub.close()
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        server.terminate()
        server.wait(10)
    print(f"\nbench_views: {machine()}; {seconds:g} s per case\n")
    print(
        table(
            [
                "offered msg/s",
                "views",
                "received msg/s",
                "comm msg/s",
                "comm KiB/s",
                "kernel CPU",
                "CPU for views",
                "trivial cell ms (median)",
            ],
            rows,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
