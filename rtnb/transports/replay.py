"""Replay transport: a recorded JSON Lines file played back as a read-only connection.

The file is read lazily in batches on a worker thread (bounded memory for any
file size) and each received message is handed to the connection at its
recorded offset from the first one, divided by ``speed``. Deadlines are
absolute (loop time at start + offset), so sleeping late never accumulates.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import IO, Any, ClassVar

from ..errors import ConnectError, ProtocolError
from ..options import ReplayOptions
from ..recordfmt import Header, Record, RecordFormatError, decode_line
from .base import Ingest, Transport, check_options

__all__ = ["ReplayTransport", "check_speed", "play", "read_records"]

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


class ReplayTransport(Transport):
    """Plays back a recording made by :class:`rtnb.record.Recorder`.

    The URL is the file's path (``file://`` prefix allowed). Read-only.

    Options:
        speed: playback speed factor (1 = real time, 2 = twice as fast, 0 = no waiting).
        loop: start again from the top after the last message.
        direction: which recorded messages to play: ``"in"`` (received, the
            default), ``"out"`` or ``"both"``.
    """

    kind: ClassVar[str] = "replay"
    can_send: ClassVar[bool] = False
    send_refusal: ClassVar[str] = (
        "a replay connection is read-only: it plays back a recording and cannot send"
    )
    options: ClassVar[frozenset[str]] = ReplayOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        check_options(self.kind, options, self.options)
        path = url[len("file://") :] if url.startswith("file://") else url
        self.path = os.path.expanduser(path)
        self.speed = check_speed(options.get("speed", 1.0))
        self.loop = bool(options.get("loop", False))
        direction = options.get("direction", "in")
        if direction not in ("in", "out", "both"):
            raise ValueError(f"direction must be 'in', 'out' or 'both', not {direction!r}")
        self.directions = ("in", "out") if direction == "both" else (direction,)
        self.header: Header | None = None
        self.played = 0
        self.position = 0.0
        self._file: IO[str] | None = None

    @property
    def reconnect_by_default(self) -> bool:
        """A replay does not start again when it ends (use ``loop=True``)."""
        return False

    async def open(self) -> None:
        try:
            f = await asyncio.to_thread(open, self.path, encoding="utf-8")
        except FileNotFoundError:
            raise ConnectError(f"no recording at {self.path!r}", fatal=True) from None
        except OSError as exc:
            raise ConnectError(
                f"cannot read the recording {self.path!r}: {exc.strerror or exc}", fatal=True
            ) from None
        try:
            first = await asyncio.to_thread(_first_line, f)
            got = decode_line(first, 1) if first else None
        except (RecordFormatError, UnicodeDecodeError) as exc:
            f.close()
            raise ConnectError(f"{self.path} is not an rtnb recording: {exc}", fatal=True) from None
        if isinstance(got, Header):
            self.header = got
        f.seek(0)
        self._file = f

    async def serve(self) -> str:
        f = self._file
        if f is None:
            raise ProtocolError("serve() before open()")
        loop = asyncio.get_running_loop()
        while True:
            count = await self._play(f, loop)
            if not self.loop or count == 0:
                return f"end of recording: {count} message(s) played"
            f.seek(0)

    async def _play(self, f: IO[str], loop: asyncio.AbstractEventLoop) -> int:
        ingest = self.ingest
        count = 0
        try:
            async for offset, rec in play(f, self.speed, self.directions, loop):
                self.position = offset
                ingest(rec.data, event=rec.event, id=rec.id, channel=rec.channel, topic=rec.topic)
                count += 1
                self.played += 1
        except (RecordFormatError, UnicodeDecodeError) as exc:
            raise ProtocolError(f"{self.path}: {exc}") from None
        return count

    async def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.close()

    def info(self) -> dict[str, Any]:
        h = self.header
        return {
            "speed": self.speed,
            "played": self.played,
            "position": round(self.position, 3),
            "source_kind": h.kind if h else None,
            "source_url": h.url if h else None,
        }


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


def _first_line(f: IO[str]) -> str:
    return f.readline()


def _playable(batch: list[Record], directions: tuple[str, ...]) -> Iterator[Record]:
    return (r for r in batch if r.direction in directions)
