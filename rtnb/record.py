"""Record a connection's messages to JSON Lines, and replay a recording as a connection.

    >>> with c.record("ticks.jsonl"):                 # doctest: +SKIP
    ...     time.sleep(5)
    >>> r = rtnb.replay("ticks.jsonl", speed=2.0)    # doctest: +SKIP
    >>> r.plot("price", by="symbol")                  # doctest: +SKIP

The recorder never writes on the ingest path: a flusher on the runtime loop
pulls what is new from the connection's log every ``interval`` seconds (a
cursor, like the views) and hands the batch to a worker thread that encodes
and appends it. Memory is bounded by the log itself: a message that falls off
the log before the next flush is counted in :attr:`Recorder.missed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .message import Message
from .recordfmt import Header, encode_header, from_message_record
from .runtime import get_runtime, in_loop_thread

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Recorder", "recorders", "start_recorder", "stop_recorder"]

log = logging.getLogger("rtnb")


class Recorder:
    """Writes every message of a connection (both directions) to a JSON Lines file.

    Made by :meth:`rtnb.Connection.record` or ``%rt_record NAME FILE``; runs
    until :meth:`stop` (or the connection closes). Also a context manager.

    Args:
        conn: the connection to record.
        path: the file to write (created or truncated; ``append=True`` appends).
        include_existing: also write what is already in the log.
        interval: seconds between flushes (default 0.2).
        append: append to ``path`` instead of truncating it.
        header: write a first line naming the kind and URL (default True).

    Attributes:
        path: the file written.
        written: messages written so far.
        missed: messages that fell off the log before they could be written.
        error: why recording stopped on its own (a write failed), else ``None``.

    Example:
        >>> rec = c.record("ticks.jsonl")     # doctest: +SKIP
        >>> rec.stop().written                 # doctest: +SKIP
        57
    """

    def __init__(
        self,
        conn: Connection,
        path: str | os.PathLike[str],
        *,
        include_existing: bool = False,
        interval: float = 0.2,
        append: bool = False,
        header: bool = True,
    ) -> None:
        if not isinstance(interval, int | float) or not 0.01 <= interval <= 60:
            raise ValueError(f"interval must be between 0.01 and 60 seconds, not {interval!r}")
        self.conn = conn
        self.path = Path(path)
        self.interval = float(interval)
        self.written = 0
        self.missed = 0
        self._pos = conn.log.first_seq if include_existing else conn.log.next_seq
        try:
            self._file: IO[str] | None = open(  # noqa: SIM115 - closed by stop()
                self.path, "a" if append else "w", encoding="utf-8", newline="\n"
            )
        except OSError as exc:
            raise ValueError(f"cannot write the recording {str(path)!r}: {exc.strerror}") from None
        if header:
            self._file.write(
                encode_header(Header(kind=conn.kind, url=conn.url, started=time.time())) + "\n"
            )
        self._write_lock = threading.Lock()
        self._next_write = self._pos
        self._inflight: list[Message] = []
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self.error: str | None = None
        self.started = time.time()
        rt = get_runtime()
        rt.register(self)
        conn._attach_view(self)
        if in_loop_thread():
            self._start_on_loop()
        else:
            rt.call_soon(self._start_on_loop)

    # --- the flusher ------------------------------------------------------------------

    def _start_on_loop(self) -> None:
        if self._stopped:
            return
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"rtnb-recorder-{self.conn.name}"
        )

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self._flush()
            except Exception as exc:  # disk full, file gone: stop and say why
                self._fail(exc)
                return

    def _fail(self, exc: Exception) -> None:
        self.error = f"{type(exc).__name__}: {exc}"
        log.warning("rtnb: recording of %s stopped: %s", self.conn.name, self.error)
        self._stopped = True
        with self._write_lock:
            f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError, ValueError):  # its buffer cannot be written either
                f.close()
        self.conn._detach_view(self)

    def _take(self) -> list[Message]:
        log = self.conn.log
        msgs, _ = log.since(self._pos)
        end = msgs[-1].seq + 1 if msgs else max(self._pos, log.first_seq)
        self.missed += end - self._pos - len(msgs)
        self._pos = end
        return msgs

    async def _flush(self) -> None:
        msgs = self._take()
        if msgs:
            self._inflight = msgs
            try:
                await asyncio.to_thread(self._write, msgs)
            finally:
                self._inflight = []

    def _write(self, msgs: list[Message]) -> None:
        with self._write_lock:
            if self._file is None:
                return
            fresh = [m for m in msgs if m.seq >= self._next_write]
            if not fresh:
                return
            self._file.write("".join(from_message_record(m.to_record()) + "\n" for m in fresh))
            self._file.flush()
            self._next_write = fresh[-1].seq + 1
            self.written += len(fresh)

    # --- stopping ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True until :meth:`stop`."""
        return not self._stopped

    async def astop(self) -> Recorder:
        """The async twin of :meth:`stop`."""
        if in_loop_thread():
            await self._stop_on_loop()
        else:
            await get_runtime().arun(self._stop_on_loop())
        return self

    async def _stop_on_loop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await self._flush()
        finally:
            self._finish()

    def _stop_now(self) -> None:
        """Stop from the loop thread without awaiting (a connection closing its views).

        The last batch is written right here, so the file is complete when the
        connection's ``close()`` returns; a batch still being written by the
        flusher is included (``_write`` skips what was already written).
        """
        if self._stopped:
            return
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
        try:
            self._write([*self._inflight, *self._take()])
        finally:
            self._finish()

    def _finish(self) -> None:
        with self._write_lock:
            f, self._file = self._file, None
        if f is not None:
            f.close()
        self.conn._detach_view(self)

    def stop(self, timeout: float = 15.0) -> Recorder:
        """Write what is left, close the file and stop; returns the recorder. Idempotent."""
        if self._stopped:
            return self
        if in_loop_thread():
            self._stop_now()
            return self
        get_runtime().run(self._stop_on_loop(), timeout)
        return self

    def close(self) -> None:
        """Same as :meth:`stop` (called when the connection closes)."""
        self.stop()

    async def _aclose_at_exit(self) -> None:
        await self._stop_on_loop()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def summary(self) -> str:
        """One line: what is recorded where, and how much."""
        state = "recording" if self.running else "stopped"
        line = f"{state} {self.conn.name} -> {self.path}: {self.written} message(s) written"
        line += f", {self.missed} missed" if self.missed else ""
        return line + (f" (failed: {self.error})" if self.error else "")

    def __repr__(self) -> str:
        return f"<rtnb.Recorder {self.summary()}>"


# --- recorders by connection name (%rt_record, %rt_list, %rt_close) -------------------------

#: The recorder started by name for each connection; kept across extension reloads.
_by_name: dict[str, Recorder] = {}
_by_name_lock = threading.Lock()


def recorders() -> dict[str, Recorder]:
    """The recorders started with :func:`start_recorder`, by connection name (a copy)."""
    with _by_name_lock:
        return dict(_by_name)


def start_recorder(conn: Connection, path: str | os.PathLike[str], **options: Any) -> Recorder:
    """Record ``conn`` to ``path`` under its name, so it can be listed and stopped by name.

    Args:
        conn: the connection.
        path: the JSON Lines file to write.
        **options: :class:`Recorder` options (``include_existing``, ...).

    Raises:
        ValueError: when ``conn`` is already being recorded by name, or the file
            cannot be written.
    """
    with _by_name_lock:
        old = _by_name.get(conn.name)
        if old is not None and old.running:
            raise ValueError(
                f"{conn.name} is already being recorded to {old.path}; "
                f"stop that first (%rt_record --stop {conn.name})"
            )
        rec = Recorder(conn, path, **options)
        _by_name[conn.name] = rec
        return rec


def stop_recorder(name: str) -> Recorder | None:
    """Stop and forget the recorder of connection ``name``; it, or None when there is none."""
    with _by_name_lock:
        rec = _by_name.pop(name, None)
    if rec is not None:
        rec.stop()
    return rec
