"""Record a connection's messages to JSON Lines, and replay a recording as a connection.

    >>> with c.record("ticks.jsonl"):                 # doctest: +SKIP
    ...     time.sleep(5)
    >>> r = rtnb.replay("ticks.jsonl", speed=2.0)    # doctest: +SKIP
    >>> r.plot("price", by="symbol")                  # doctest: +SKIP

The recorder is a reader of the log like the views (:class:`~rtnb.reader.Reader`)
with a file for its render step: it never writes on the ingest path. Every
``interval`` seconds its flusher takes what is new from its cursor and hands
the batch to a worker thread that encodes and appends it; the next batch waits
until that write is done. Memory is bounded by the log itself: a message that
falls off the log before the next flush is counted in :attr:`Recorder.missed`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .message import Batch, Message
from .reader import Reader
from .recordfmt import Header, encode_header, from_message_record
from .runtime import get_runtime, in_loop_thread

if TYPE_CHECKING:
    from .source import Source

__all__ = ["Recorder", "recorders", "start_recorder", "stop_recorder"]

log = logging.getLogger("rtnb")


class Recorder(Reader):
    """Writes every message of a connection (both directions) to a JSON Lines file.

    Made by :meth:`rtnb.Connection.record` or ``%rt_record NAME FILE``; runs
    until :meth:`stop` (or the connection closes, or is closed already: then
    it writes what it was asked to and stops at once). Also a context manager.

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
        conn: Source,
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
        self.error: str | None = None
        try:
            self._file: IO[str] | None = open(  # noqa: SIM115 - closed by _finished()
                self.path, "a" if append else "w", encoding="utf-8", newline="\n"
            )
        except OSError as exc:
            raise ValueError(f"cannot write the recording {str(path)!r}: {exc.strerror}") from None
        if header:
            self._file.write(
                encode_header(Header(kind=conn.kind, url=conn.url, started=time.time())) + "\n"
            )
        self._write_lock = threading.Lock()
        self._inflight: list[Message] = []
        self._writing: asyncio.Future[None] | None = None
        self.started = time.time()
        self._open(conn, from_start=include_existing)
        self._next_write = self._cursor.pos
        get_runtime().register(self)
        self._start(1.0 / self.interval, max_rate=100.0)

    # --- the render step: a batch to the writer thread (runtime loop) ------------------

    def _changed(self) -> bool:
        return self._writing is None and self._cursor.pending

    def _render(self, batch: Batch) -> None:
        self.missed += batch.missed
        if not batch.messages:
            return
        self._inflight = batch.messages
        writing = asyncio.ensure_future(asyncio.to_thread(self._write, batch.messages))
        self._writing = writing
        writing.add_done_callback(self._written)

    def _written(self, writing: asyncio.Future[None]) -> None:
        if writing is self._writing:
            self._writing = None
            self._inflight = []
        if not writing.cancelled() and (exc := writing.exception()) is not None:
            self._fail(exc)  # disk full, file gone: stop and say why

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

    def _fail(self, exc: BaseException) -> None:
        """Stop on a failed write (disk full, file gone) and say why; no final update."""
        if self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"
            log.warning("rtnb: recording of %s stopped: %s", self.conn.name, self.error)
        self._begin_stop()
        self._close_file()

    def _close_file(self) -> None:
        with self._write_lock:
            f, self._file = self._file, None
        if f is None:
            return
        try:
            f.close()
        except (OSError, ValueError) as exc:  # what it still buffered could not be written
            self._fail(exc)

    # --- stopping ---------------------------------------------------------------------

    def _final_update(self) -> None:
        """Write what is left right here (a connection closing: the file is complete
        when its ``close()`` returns); a batch the writer thread still holds is
        included, ``_write`` skips what it already wrote."""
        batch = self._take()
        self.missed += batch.missed
        try:
            self._write([*self._inflight, *batch.messages])
        except Exception as exc:
            self._fail(exc)

    def _finished(self) -> None:
        self._close_file()

    async def _afinish(self) -> None:
        """Stopped from another thread: let the writer thread finish, write the rest there."""
        try:
            if self._writing is not None:
                await asyncio.wait([self._writing])  # its error, if any, went to _fail
            batch = self._take()
            self.missed += batch.missed
            if batch.messages:
                await asyncio.to_thread(self._write, batch.messages)
        except Exception as exc:
            self._fail(exc)
            raise
        finally:
            self._close_file()

    async def astop(self) -> Recorder:
        """The async twin of :meth:`stop`."""
        if self._begin_stop():
            try:
                if in_loop_thread():
                    await self._afinish()
                else:
                    await get_runtime().arun(self._afinish())
            finally:
                self._signal_done()
        elif self._done is not None and not in_loop_thread():  # stopping elsewhere right now
            await asyncio.to_thread(self._done.wait, 15.0)
        return self

    def stop(self, timeout: float = 15.0) -> Recorder:
        """Write what is left, close the file and stop; returns the recorder. Idempotent.

        Raises:
            OSError: when the last write fails (:attr:`error` says so too).
        """
        self._stop(timeout)
        return self

    def close(self) -> None:
        """Same as :meth:`stop`."""
        self.stop()

    async def _aclose_at_exit(self) -> None:
        await self.astop()

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


def start_recorder(conn: Source, path: str | os.PathLike[str], **options: Any) -> Recorder:
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
