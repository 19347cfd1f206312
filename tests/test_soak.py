"""Soak: WebSocket and SSE streams through a proxy that cuts and stalls them, over and over.

The suite runs it for 30 seconds (marked ``slow``); the long run is the same
code for about ten minutes::

    RTNB_SOAK_SECONDS=600 python -m pytest tests/test_soak.py -m slow -s
    python tests/test_soak.py 600          # the same, from the command line

It asserts that memory stays within the message logs' bound (traced Python
memory after warm-up does not grow), that no task or socket is left behind,
that both streams come back after every fault, and that SSE loses no event
(ids stay consecutive across every reconnect, thanks to ``Last-Event-ID``).
"""

from __future__ import annotations

import gc
import logging
import os
import statistics
import sys
import time
import tracemalloc

import psutil
import pytest

import rtnb
import rtnb.runtime
from rtnb.server.app import SOCKETS, TASKS

from .conftest import loop_tasks, wait_for
from .faultproxy import FaultProxy

SOAK_SECONDS = float(os.environ.get("RTNB_SOAK_SECONDS", "30"))
#: One fault every this many seconds, alternating a cut (RST) and a stall.
CYCLE = 2.0
#: The log bound of each connection.
LOG_BOUND = 500
#: Traced memory may wobble by this much after warm-up; a leak grows past it.
MEMORY_SLACK = 4 * 1024 * 1024


class _IdWatch:
    """Counts SSE ids that do not follow the previous one (O(1) memory)."""

    def __init__(self) -> None:
        self.last: int | None = None
        self.jumps = 0
        self.gap_events = 0
        self.seen = 0

    def __call__(self, msg: rtnb.Message) -> None:
        if msg.event == "gap":
            self.gap_events += 1
            return
        if msg.id is None:
            return
        n = int(msg.id)
        if self.last is not None and n != self.last + 1:
            self.jumps += 1
        self.last = n
        self.seen += 1


def _open_fds() -> int:
    return psutil.Process().num_fds()


@pytest.mark.slow
@pytest.mark.timeout(int(SOAK_SECONDS * 2 + 120))
def test_soak_through_cuts_and_stalls(caplog: pytest.LogCaptureFixture) -> None:
    rtnb.runtime.get_runtime()  # the loop's own descriptors belong to the baseline
    time.sleep(0.2)
    tasks_before = loop_tasks()
    fds_before = _open_fds()
    srv = rtnb.serve(heartbeat=2.0)
    proxy = FaultProxy(srv.port).start()
    base = f"127.0.0.1:{proxy.port}"
    ws = rtnb.connect(
        "ws",
        f"ws://{base}/ws/ticker?symbols=AAPL,MSFT&rate=100",
        max_messages=LOG_BOUND,
        backoff={"initial": 0.05, "cap": 0.5},
        ping_interval=0.5,
        ping_timeout=0.5,
        open_timeout=3,
    )
    sse = rtnb.connect(
        "sse",
        f"http://{base}/sse/ticker?symbols=AAPL&rate=100&retry=50",
        max_messages=LOG_BOUND,
        backoff={"initial": 0.05, "cap": 0.5},
        read_timeout=1.0,
        timeout=3.0,
    )
    ids = _IdWatch()
    sse.on_message(ids)
    app = srv._app
    assert app is not None
    warmup = max(6.0, SOAK_SECONDS * 0.2)
    samples: list[tuple[float, int]] = []
    rss: list[int] = []
    faults = 0
    stuck: list[str] = []
    try:
        ws.wait_open(10)
        sse.wait_open(10)
        start = time.monotonic()
        traced = False
        cycle = 0
        while time.monotonic() - start < SOAK_SECONDS:
            received = (ws.stats.received, sse.stats.received)
            time.sleep(CYCLE / 2)
            if cycle % 2 == 0:
                proxy.cut()
            else:
                proxy.stall()
                time.sleep(1.2)  # past the ws ping timeout and the SSE read timeout
                proxy.resume()
            faults += 1
            cycle += 1
            # both streams come back after every fault
            try:
                wait_for(lambda r=received: ws.stats.received > r[0] and sse.stats.received > r[1])
            except AssertionError:
                stuck.append(f"cycle {cycle}: ws {ws.state}, sse {sse.state}")
                break
            assert len(app[TASKS]) <= 8, "server handler tasks pile up"
            elapsed = time.monotonic() - start
            if not traced and elapsed >= warmup:
                tracemalloc.start()
                traced = True
            elif traced:
                gc.collect()  # count what is kept, not what awaits the cycle collector
                samples.append((elapsed, tracemalloc.get_traced_memory()[0]))
            rss.append(psutil.Process().memory_info().rss)
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        ws_stats, sse_stats = ws.stats, sse.stats
        ws.close()
        sse.close()
        proxy.close()
        srv.stop()

    print(
        f"\nsoak {SOAK_SECONDS:.0f} s: {faults} faults; ws {ws_stats.received} msgs, "
        f"{ws_stats.reconnects} reconnects, down {ws_stats.down_seconds:.1f} s; "
        f"sse {sse_stats.received} events, {sse_stats.reconnects} reconnects, "
        f"{ids.jumps} id jumps; rss {min(rss) >> 20}-{max(rss) >> 20} MiB; traced "
        + ", ".join(f"{b >> 10} KiB@{t:.0f}s" for t, b in samples[:: max(1, len(samples) // 6)])
    )
    assert not stuck, stuck
    # a client vanishing is routine: no logged error or traceback, on either side
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert faults >= 3
    # every fault dropped the WebSocket (a stall is caught by the ping timeout)
    assert ws_stats.reconnects >= faults - 1 and ws_stats.gaps == ws_stats.reconnects
    assert sse_stats.reconnects >= faults // 2
    # SSE resumes after Last-Event-ID: nothing lost, across every reconnect
    assert ids.jumps == 0 and ids.gap_events == 0 and ids.seen > 100
    # the logs hold their bound; memory after warm-up does not grow beyond it
    assert len(ws.messages) <= LOG_BOUND and len(sse.messages) <= LOG_BOUND
    assert len(samples) >= 2
    early = statistics.median(b for _, b in samples[: max(1, len(samples) // 3)])
    assert samples[-1][1] - early < MEMORY_SLACK, samples
    # nothing left behind: tasks on rtnb's loop, server handlers, sockets
    wait_for(lambda: not (loop_tasks() - tasks_before), timeout=10)
    assert not app[TASKS]
    assert all(s.closed for s, _ in list(app[SOCKETS].values()))
    wait_for(lambda: _open_fds() <= fds_before, timeout=10)


if __name__ == "__main__":
    seconds = sys.argv[1] if len(sys.argv) > 1 else "600"
    os.environ["RTNB_SOAK_SECONDS"] = seconds
    sys.exit(pytest.main([__file__, "-m", "slow", "-s", "-q", "-p", "no:cacheprovider"]))
