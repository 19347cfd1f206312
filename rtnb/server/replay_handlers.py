"""Recordings served live: /ws/replay?name=X and /sse/replay?name=X.

Only recordings registered with :meth:`rtnb.server.Server.add_recording` are
served, by name; a file path is never taken from the query string. Each
client gets its own playback from the top, paced like the original
(``speed`` query, 0 = as fast as possible; ``loop=1`` starts again at the end).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from aiohttp import WSCloseCode, web

from ..playback import check_speed, play
from ..recordfmt import Record, RecordFormatError, decode_line
from .common import cors_headers, open_ws
from .config import Endpoint, ServerConfig, config_of
from .limits import claim_unpaced

__all__ = ["RECORDINGS", "add_recording", "check_recording", "setup"]

RECORDINGS = web.AppKey("rtnb_recordings", dict[str, Path])

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")
#: How often an SSE replay checks that its client is still there (seconds).
CLIENT_CHECK = 0.5
#: Fastest playback a client may ask for (``speed=0`` means no pacing at all).
MAX_SPEED = 1000.0


def check_recording(path: str | os.PathLike[str]) -> Path:
    """The resolved path of a readable rtnb recording.

    Raises:
        ValueError: when the file is missing, unreadable or not a recording.
    """
    p = Path(path).expanduser().resolve()
    try:
        with open(p, encoding="utf-8") as f:
            first = f.readline()
    except OSError as exc:
        raise ValueError(f"cannot read the recording {str(path)!r}: {exc.strerror}") from None
    try:
        if first.strip():
            decode_line(first, 1)
    except (RecordFormatError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not an rtnb recording: {exc}") from None
    return p


async def add_recording(
    app: web.Application, name: str, path: str | os.PathLike[str], endpoints: list[Endpoint]
) -> str:
    """Register ``path`` under ``name`` (on the server's loop); returns the WebSocket path.

    Raises:
        ValueError: for a bad name or a file that is not a recording.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"a recording name is 1-64 letters, digits, '_', '.', '-', not {name!r}")
    resolved = await asyncio.to_thread(check_recording, path)
    recordings = app[RECORDINGS]
    new = name not in recordings
    recordings[name] = resolved
    if new:
        endpoints.append(
            Endpoint("/ws/replay", "ws", f"replays the recording {name!r}", f"?name={name}")
        )
        endpoints.append(
            Endpoint("/sse/replay", "sse", f"replays the recording {name!r}", f"?name={name}")
        )
    return f"/ws/replay?name={name}"


def _lookup(request: web.Request) -> tuple[Path, float, bool]:
    name = request.query.get("name", "")
    recordings = request.app[RECORDINGS]
    path = recordings.get(name)
    if path is None:
        known = ", ".join(sorted(recordings)) or "none (register one with srv.add_recording)"
        raise web.HTTPNotFound(text=f"no recording named {name!r}; known: {known}")
    try:
        speed = check_speed(float(request.query.get("speed", "1")))
    except ValueError:
        raise web.HTTPBadRequest(text="speed must be a number >= 0") from None
    speed = min(speed, MAX_SPEED)
    loop = request.query.get("loop", "") in ("1", "true", "yes")
    if speed == 0:
        claim_unpaced(request)  # security hook (issue 14): bounded flat-out streams
    return path, speed, loop


async def replay_ws(request: web.Request) -> web.WebSocketResponse:
    """Each received message of the recording as a frame (text stays text, binary stays binary)."""
    path, speed, loop = _lookup(request)
    ws = await open_ws(request)

    async def drain() -> None:
        async for _ in ws:  # answer pings and notice the client's close
            pass

    async def send_all() -> None:
        async with _opened(path) as f:
            while True:
                async with contextlib.aclosing(play(f, speed)) as records:
                    async for _, rec in records:
                        if isinstance(rec.data, str):
                            await ws.send_str(rec.data)
                        else:
                            await ws.send_bytes(rec.data)
                if not loop:
                    return
                f.seek(0)

    loop_ = asyncio.get_running_loop()
    reader = loop_.create_task(drain())
    sender = loop_.create_task(send_all())
    try:
        # Whichever ends first: the recording, or the client (which may leave
        # in the middle of a long gap between two recorded messages).
        await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done() and not ws.closed:
            exc = sender.exception()
            if isinstance(exc, RecordFormatError | UnicodeDecodeError):
                await ws.close(code=WSCloseCode.INTERNAL_ERROR, message=str(exc)[:100].encode())
            else:
                await ws.close(code=WSCloseCode.OK, message=b"end of recording")
    finally:
        for task in (sender, reader):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return ws


@contextlib.asynccontextmanager
async def _opened(path: Path) -> AsyncIterator[IO[str]]:
    """The recording opened on a worker thread (no blocking open on the loop)."""
    f = await asyncio.to_thread(open, path, encoding="utf-8")
    try:
        yield f
    finally:
        f.close()


def sse_block(rec: Record) -> bytes:
    """One SSE event for a record (WHATWG HTML, 9.2.6): binary payloads go base64 as ``binary``.

    >>> sse_block(Record(ts=0, data="a\\nb", event="tick", id="7"))
    b'event: tick\\nid: 7\\ndata: a\\ndata: b\\n\\n'
    """
    lines = []
    event = rec.event
    if isinstance(rec.data, str):
        data = rec.data
    else:
        data = base64.b64encode(bytes(rec.data)).decode("ascii")
        event = event or "binary"
    if event:
        lines.append(f"event: {_one_line(event)}")
    if rec.id is not None:
        lines.append(f"id: {_one_line(rec.id)}")
    lines.extend(f"data: {part}" for part in data.replace("\r\n", "\n").split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def _one_line(text: str) -> str:
    return text.replace("\r", " ").replace("\n", " ")


async def replay_sse(request: web.Request) -> web.StreamResponse:
    """Each received message of the recording as an SSE event (with its event type and id)."""
    path, speed, loop = _lookup(request)
    config = config_of(request)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            **cors_headers(request, config),
        }
    )
    await resp.prepare(request)

    async def send_all() -> None:
        async with _opened(path) as f:
            while True:
                try:
                    async with contextlib.aclosing(play(f, speed)) as records:
                        async for _, rec in records:
                            await resp.write(sse_block(rec))
                except (RecordFormatError, UnicodeDecodeError) as exc:
                    await resp.write(f"event: error\ndata: {_one_line(str(exc))}\n\n".encode())
                    return
                if not loop:
                    return
                f.seek(0)

    async def client_gone() -> None:
        # aiohttp does not cancel a handler when its client leaves; notice it
        # even during a long gap between two recorded messages.
        while request.transport is not None and not request.transport.is_closing():  # noqa: ASYNC110
            await asyncio.sleep(CLIENT_CHECK)

    loop_ = asyncio.get_running_loop()
    sender = loop_.create_task(send_all())
    watcher = loop_.create_task(client_gone())
    try:
        await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done() and sender.exception() is None:
            await resp.write_eof()
    except ConnectionResetError:  # the client went away
        pass
    finally:
        for task in (sender, watcher):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    return resp


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the replay routes (recordings are added later with ``Server.add_recording``)."""
    app[RECORDINGS] = {}
    app.router.add_get("/ws/replay", replay_ws)
    app.router.add_get("/sse/replay", replay_sse)
