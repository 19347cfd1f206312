"""The one paced-stream loop (rtnb/server/pacing.py), driven directly with in-memory sinks.

The endpoints that stream through it (/ws/ticker, /webrtc/bot, /lab/*) are tested
over loopback in test_server.py, test_webrtc.py and test_lab_handlers.py.
"""

from __future__ import annotations

import asyncio
import time

from rtnb.server.pacing import Step, stream_paced
from rtnb.ticker import Schedule


def test_a_finite_stream_sends_its_count_in_batches_and_yields_between() -> None:
    sent: list[int] = []
    pauses: list[float] = []

    async def send_next() -> Step:
        sent.append(len(sent))
        return "sent"

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    ending = asyncio.run(stream_paced(Schedule(0, 0.0, count=600, batch=256), send_next, pause))
    assert ending == "count" and sent == list(range(600))
    assert pauses == [0.0, 0.0]  # after each full batch, never after the last one


def test_stop_ends_at_once() -> None:
    calls = 0

    async def send_next() -> Step:
        nonlocal calls
        calls += 1
        return "stop" if calls == 3 else "sent"

    assert asyncio.run(stream_paced(Schedule(0, 0.0), send_next)) == "stopped"
    assert calls == 3


def test_nothing_to_send_gives_the_batch_back_until_there_is() -> None:
    ready = [False]
    sent = 0

    async def send_next() -> Step:
        nonlocal sent
        if not ready[0]:
            return "nothing"
        sent += 1
        return "sent"

    async def pause(seconds: float) -> None:
        ready[0] = True  # e.g. a subscribe arrived while waiting

    schedule = Schedule(0, 0.0, count=5, batch=4)
    assert asyncio.run(stream_paced(schedule, send_next, pause)) == "count"
    assert sent == 5 and schedule.sent == 5


def test_running_false_closes_and_a_paced_stream_waits_between_ticks() -> None:
    sent: list[float] = []

    async def send_next() -> Step:
        sent.append(time.monotonic())
        return "sent"

    deadline = time.monotonic() + 0.25
    schedule = Schedule(20, time.time())
    ending = asyncio.run(
        stream_paced(schedule, send_next, running=lambda: time.monotonic() < deadline)
    )
    assert ending == "closed"
    assert 2 <= len(sent) <= 7  # 20/s for a quarter second, not a flat-out burst
