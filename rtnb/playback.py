"""Playing a recording back at its recorded pace: the loop both replay sides share.

The client's ``replay`` kind and the server's ``/ws/replay`` and ``/sse/replay``
endpoints read a JSON Lines recording (:mod:`rtnb.recordfmt`) in batches on a
worker thread (bounded memory for any file size) and hand each message on at
its recorded offset from the first one, divided by ``speed``. Deadlines are
absolute (loop time at start + offset), so sleeping late never accumulates.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from typing import IO, Any

from .recordfmt import Record, RecordFormatError, decode_line

__all__ = ["BATCH_LINES", "YIELD_EVERY", "check_speed", "play", "read_records"]

#: Lines read per trip to the worker thread.
BATCH_LINES = 1000
#: At speed 0, yield to the loop after this many messages.
YIELD_EVERY = 500


def check_speed(speed: Any) -> float:
    """``speed`` as a float >= 0, or a ValueError that says what is allowed.

    >>> check_speed(2)
    2.0
    """
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not speed >= 0:
        raise ValueError(
            f"speed must be a number >= 0 (1 = real time, 0 = as fast as possible), not {speed!r}"
        )
    if speed == float("inf"):
        return 0.0
    return float(speed)


def read_records(
    f: IO[str], limit: int, start_line: int
) -> tuple[list[Record], int, bool, RecordFormatError | None]:
    """Read up to ``limit`` lines of ``f``.

    Returns ``(message records, lines read, end reached, error)``: headers and
    blank lines are skipped; a bad line ends the batch and comes back as
    ``error`` (naming its line number) after the good records before it.
    """
    out: list[Record] = []
    n = 0
    for n in range(1, limit + 1):
        line = f.readline()
        if not line:
            return out, n - 1, True, None
        try:
            got = decode_line(line, start_line + n)
        except RecordFormatError as exc:
            return out, n, True, exc
        if isinstance(got, Record):
            out.append(got)
    return out, n, False, None


async def play(
    f: IO[str],
    speed: float,
    directions: tuple[str, ...] = ("in",),
    loop: asyncio.AbstractEventLoop | None = None,
) -> AsyncGenerator[tuple[float, Record], None]:
    """Yield ``(offset, record)`` from ``f`` at the recorded pace divided by ``speed``.

    ``offset`` is seconds since the first played record in recording time.
    Lines are read in batches on a worker thread; ``speed == 0`` never waits.

    Raises:
        RecordFormatError: for a bad line (naming its number).
    """
    loop = loop or asyncio.get_running_loop()
    line_no = 0
    t0: float | None = None
    start = loop.time()
    count = 0
    done = False
    while not done:
        batch, n, done, error = await asyncio.to_thread(read_records, f, BATCH_LINES, line_no)
        line_no += n
        for rec in _playable(batch, directions):
            if t0 is None:
                t0 = rec.ts
                start = loop.time()
            offset = max(0.0, rec.ts - t0)
            if speed > 0:
                delay = start + offset / speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif count % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
            count += 1
            yield offset, rec
        if error is not None:
            raise error


def _playable(batch: list[Record], directions: tuple[str, ...]) -> Iterator[Record]:
    return (r for r in batch if r.direction in directions)
