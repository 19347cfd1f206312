"""A TCP proxy on loopback that misbehaves on demand, for fault-injection tests.

It runs its own asyncio loop in its own thread (so it is never one of the
tasks counted on rtnb's loop) and sits between a client and a server::

    with FaultProxy(server.port) as proxy:
        c = rtnb.connect("ws", f"ws://127.0.0.1:{proxy.port}/ws/echo")
        proxy.cut()           # RST to the client, no FIN, no close frame
        proxy.stall()         # stop forwarding (both ways); sockets stay open
        proxy.resume()
        proxy.delay = 0.2     # seconds added to every chunk, both ways
        proxy.corrupt_next(b"\\xff", offset=2)   # overwrite bytes of the next chunk down
        proxy.mode = "accept_close"              # accept, then close at once

Every control method is thread-safe and takes effect before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["FaultProxy"]

Mode = Literal["forward", "accept_close", "accept_rst", "blackhole"]


class _Pair:
    """One proxied connection: the client's side and the upstream side."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream = upstream
        self.tasks: list[asyncio.Task[None]] = []


def _rst(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer sees a reset, never a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """Forward 127.0.0.1:``port`` to ``upstream_host``:``upstream_port`` with faults.

    Attributes:
        port: where clients connect.
        mode: ``"forward"`` (default), ``"accept_close"`` (accept, then close with a
            FIN at once), ``"accept_rst"`` (accept, then reset at once),
            ``"blackhole"`` (accept and never answer).
        delay: seconds added before each forwarded chunk (both directions).
        accepted: connections accepted so far.
        bytes_down: bytes forwarded from server to client.
        bytes_up: bytes forwarded from client to server.
    """

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode: Mode = "forward"
        self.delay = 0.0
        self.accepted = 0
        self.bytes_down = 0
        self.bytes_up = 0
        self.port = 0
        self._pairs: set[_Pair] = set()
        self._idle: set[asyncio.StreamWriter] = set()
        self._mangle: list[Callable[[bytes], bytes]] = []
        self._loop = asyncio.new_event_loop()
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy")
        self._thread.daemon = True

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Listen on a free loopback port (``self.port``)."""
        self._thread.start()
        self._call(self._start())
        return self

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        """Stop listening, reset every live connection, stop the thread."""
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self._cut_all()
        for writer in list(self._idle):
            _rst(writer)
        self._idle.clear()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    # --- faults -----------------------------------------------------------------------

    @property
    def live(self) -> int:
        """Connections being forwarded right now."""
        return len(self._pairs)

    def cut(self) -> int:
        """Reset every live connection (RST both ways, no FIN); returns how many."""
        return int(self._call(self._cut_all()))

    async def _cut_all(self) -> int:
        pairs = list(self._pairs)
        for pair in pairs:
            _rst(pair.client)
            _rst(pair.upstream)
            for task in pair.tasks:
                task.cancel()
        self._pairs.clear()
        return len(pairs)

    def stall(self) -> None:
        """Stop forwarding in both directions; connections stay open and silent."""
        self._call(self._set_flowing(False))

    def resume(self) -> None:
        """Forward again after :meth:`stall`."""
        self._call(self._set_flowing(True))

    async def _set_flowing(self, on: bool) -> None:
        assert self._flowing is not None
        if on:
            self._flowing.set()
        else:
            self._flowing.clear()

    def corrupt_next(self, replacement: bytes, offset: int = 0) -> None:
        """Overwrite bytes at ``offset`` of the next chunk sent to the client."""

        def mangle(chunk: bytes) -> bytes:
            end = min(len(chunk), offset + len(replacement))
            return chunk[:offset] + replacement[: end - offset] + chunk[end:]

        self._mangle.append(mangle)

    def inject(self, data: bytes) -> None:
        """Send raw ``data`` to every live client as if the server had sent it."""
        self._call(self._inject(data))

    async def _inject(self, data: bytes) -> None:
        for pair in list(self._pairs):
            pair.client.write(data)
            with contextlib.suppress(ConnectionError):
                await pair.client.drain()

    # --- forwarding -------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        mode = self.mode
        if mode == "accept_close":
            writer.close()
            return
        if mode == "accept_rst":
            _rst(writer)
            return
        if mode == "blackhole":
            self._idle.add(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            _rst(writer)
            return
        pair = _Pair(writer, up_writer)
        self._pairs.add(pair)
        loop = asyncio.get_running_loop()
        pair.tasks = [
            loop.create_task(self._pump(reader, up_writer, pair, up=True)),
            loop.create_task(self._pump(up_reader, writer, pair, up=False)),
        ]

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: _Pair, up: bool
    ) -> None:
        flowing = self._flowing
        assert flowing is not None
        try:
            while True:
                await flowing.wait()
                data = await reader.read(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                if self.delay:
                    await asyncio.sleep(self.delay)
                await flowing.wait()
                if not up and self._mangle:
                    data = self._mangle.pop(0)(data)
                writer.write(data)
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                await writer.drain()
        except (ConnectionError, OSError):
            _rst(pair.client)
            _rst(pair.upstream)
            self._pairs.discard(pair)
        except asyncio.CancelledError:
            pass
