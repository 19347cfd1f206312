"""Replay transport: a recorded JSON Lines file played back as a read-only connection.

The file is read lazily in batches on a worker thread (bounded memory for any
file size) and each received message is handed to the connection at its
recorded offset from the first one, divided by ``speed``. Deadlines are
absolute (loop time at start + offset), so sleeping late never accumulates.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import IO, Any, ClassVar

from ..errors import ConnectError, ProtocolError
from ..options import ReplayOptions
from ..playback import check_speed, play
from ..recordfmt import Header, RecordFormatError, decode_line
from .base import Ingest, Transport, check_options

__all__ = ["ReplayTransport"]


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


def _first_line(f: IO[str]) -> str:
    return f.readline()
