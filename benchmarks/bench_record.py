"""Record and replay: throughput and pacing vs plain JSON Lines loops.

Three measurements, each with a raw baseline in the same run:

- replay at speed 0 (as fast as possible) of N recorded messages into a
  connection's log, vs a plain loop that reads the file and ``json.loads``
  each line (the least a replay must do);
- the same replay with a :class:`~rtnb.record.Recorder` attached, writing
  every message to a second file (what recording costs a busy stream), vs a
  plain loop that reads, decodes, re-encodes and writes each line;
- pacing at speed 1: how late each message arrives against its recorded
  offset (p50/p99), vs a plain ``asyncio.sleep`` loop doing the same pacing.

    python -m benchmarks.bench_record            # ~30 s
    python -m benchmarks.bench_record --quick    # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import rtnb
from rtnb.errors import ConnectionClosed
from rtnb.recordfmt import Header, Record, encode, encode_header

from ._common import machine, median, table


def make_recording(path: Path, n: int, spacing: float) -> None:
    with open(path, "w") as f:
        f.write(encode_header(Header(kind="ws", url="ws://bench", started=0.0)) + "\n")
        for i in range(n):
            data = json.dumps({"t": i * spacing, "symbol": "AAPL", "price": 100 + i % 7})
            f.write(encode(Record(ts=1000.0 + i * spacing, data=data, seq=i)) + "\n")


def raw_read(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path) as f:
        for line in f:
            json.loads(line)
    return time.perf_counter() - t0


def raw_copy(path: Path, out: Path) -> float:
    t0 = time.perf_counter()
    with open(path) as f, open(out, "w") as g:
        for line in f:
            g.write(json.dumps(json.loads(line), separators=(",", ":")) + "\n")
    return time.perf_counter() - t0


def rtnb_replay(path: Path, n: int, record_to: Path | None) -> float:
    t0 = time.perf_counter()
    c = rtnb.replay(path, speed=0, max_messages=n + 1, name="bench")
    rec = c.record(record_to, include_existing=True) if record_to is not None else None
    while c.state not in ("closed", "failed"):
        time.sleep(0.001)
    if rec is not None:
        rec.stop()
        assert rec.written == n, (rec.written, n)
    took = time.perf_counter() - t0
    assert c.stats.received == n
    c.close()
    return took


def rtnb_lateness(path: Path, spacing: float) -> list[float]:
    c = rtnb.replay(path, speed=1.0, name="pace")
    late = []
    first: float | None = None
    i = 0
    while True:
        try:
            m = c.recv(timeout=10)
        except ConnectionClosed:
            break
        if first is None:
            first = m.ts
        late.append(m.ts - first - i * spacing)
        i += 1
    return late


async def raw_lateness(n: int, spacing: float) -> list[float]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    late = []
    for i in range(n):
        delay = start + i * spacing - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append(loop.time() - start - i * spacing)
    return late


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 2_000 if args.quick else 50_000
    runs = 1 if args.quick else 5
    paced_n, spacing = (20, 0.01) if args.quick else (300, 0.01)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src.jsonl"
        make_recording(src, n, 0.001)
        results = {
            "raw read + json.loads": [raw_read(src) for _ in range(runs)],
            "rtnb.replay(speed=0)": [rtnb_replay(src, n, None) for _ in range(runs)],
            "raw read + loads + dumps + write": [
                raw_copy(src, Path(tmp) / "copy.jsonl") for _ in range(runs)
            ],
            "rtnb.replay(speed=0) + Recorder": [
                rtnb_replay(src, n, Path(tmp) / "rec.jsonl") for _ in range(runs)
            ],
        }
        paced = Path(tmp) / "paced.jsonl"
        make_recording(paced, paced_n, spacing)
        ours = rtnb_lateness(paced, spacing)
        raw = asyncio.run(raw_lateness(paced_n, spacing))
    print(f"bench_record: {n} messages x {runs} runs; {machine()}")
    base = {
        "rtnb.replay(speed=0)": "raw read + json.loads",
        "rtnb.replay(speed=0) + Recorder": "raw read + loads + dumps + write",
    }
    rows = []
    for name, times in results.items():
        med = median(times)
        ratio = f"{med / median(results[base[name]]):.2f}x" if name in base else "1.00x"
        rows.append([name, f"{med * 1000:.0f} ms", f"{n / med:,.0f} msg/s", ratio])
    print(table(["what", "median", "throughput", "vs raw"], rows))
    print()
    print(f"pacing at speed 1: {paced_n} messages {spacing * 1000:.0f} ms apart")
    print(
        table(
            ["what", "p50 late", "p99 late"],
            [
                [
                    "rtnb.replay(speed=1)",
                    f"{pct(ours, 0.5) * 1000:.2f} ms",
                    f"{pct(ours, 0.99) * 1000:.2f} ms",
                ],
                [
                    "raw asyncio.sleep loop",
                    f"{pct(raw, 0.5) * 1000:.2f} ms",
                    f"{pct(raw, 0.99) * 1000:.2f} ms",
                ],
            ],
        )
    )


if __name__ == "__main__":
    main()
