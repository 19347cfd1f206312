"""The one loop that sends a paced stream over a server connection (ticks, lab messages).

What to send and how comes from the caller (``send_next`` makes and sends one
message, ``pause`` waits between batches: a plain sleep, or one that also waits
for a slow reader or a subscribe); how many go out when comes from a pure
:class:`rtnb.ticker.Schedule`. The WebSocket ticker, the WebRTC bot and the
protocol lab stream through it; the SSE ticker shares the same Schedule.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from ..ticker import Schedule

__all__ = ["Ending", "Step", "stream_paced"]

Step = Literal["sent", "nothing", "stop"]
"""What ``send_next`` did: ``sent`` a message; had ``nothing`` to send for now
(the rest of the batch stays due); or the stream must ``stop`` at once (a fault
plan's ``cut_after`` was reached, the lab cuts the connection)."""

Ending = Literal["count", "stopped", "closed"]
"""Why a stream ended: its ``count`` was sent, ``send`` asked to stop, or it was
no longer ``running`` (the client left, a deadline passed)."""


def _forever() -> bool:
    return True


async def stream_paced(
    schedule: Schedule,
    send_next: Callable[[], Awaitable[Step]],
    pause: Callable[[float], Awaitable[object]] = asyncio.sleep,
    running: Callable[[], bool] = _forever,
) -> Ending:
    """Send messages as fast as ``schedule`` allows, until it is done or told to stop.

    Args:
        schedule: the rate, the batch and the count (it counts what is sent).
        send_next: makes and sends the next message (see :data:`Step`).
        pause: waits between batches, given the seconds until the next message
            is due (0 at ``rate=0``: just let the loop run).
        running: checked before every batch; False ends the stream.

    Returns:
        Why the stream ended (see :data:`Ending`).

    Example:
        >>> sent = []
        >>> async def send_next(): sent.append("x"); return "sent"
        >>> asyncio.run(stream_paced(Schedule(0, 0.0, count=3), send_next))
        'count'
        >>> sent
        ['x', 'x', 'x']
    """
    while running():
        n = schedule.take(time.time())
        for i in range(n):
            step = await send_next()
            if step == "nothing":
                schedule.give_back(n - i)
                break
            if step == "stop":
                return "stopped"
        if schedule.done:
            return "count"
        await pause(schedule.wait(time.time()))
    return "closed"
