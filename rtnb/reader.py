"""The bounded-rate pull behind every live view and the recorder: ``Flusher`` and ``Reader``.

A :class:`Flusher` is one small task on the rtnb runtime loop. Every
``1/rate`` seconds it asks whether anything changed (usually: did the log
move past the cursor?) and, only then, calls the flush function once. So a
reader does one batch of work per tick whatever the message rate, and nothing
at all while the stream is quiet.

A :class:`Reader` owns what every reader of a connection shares: a cursor into
its log, a flusher, the subscription to its state (it stops on ``closed`` or
``failed``) and the final update when it stops. A subclass writes only its
``_render(batch)`` step (a table, a plot, a file).

    >>> from rtnb.message import MessageLog, Message
    >>> log = MessageLog(10)
    >>> _ = [log.append(Message(str(i))) for i in range(25)]
    >>> batch = log.cursor(start=0, direction=None).take(limit=3)
    >>> [m.data for m in batch.messages], batch.missed, batch.skipped
    (['22', '23', '24'], 15, 7)
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable

from .message import Batch, Cursor, Direction
from .runtime import get_runtime, in_loop_thread
from .source import FINAL_STATES, Source, State

__all__ = ["Flusher", "Reader", "check_rate"]

log = logging.getLogger("rtnb")

#: Flushes per second a view may ask for at most.
MAX_RATE = 60.0

_stop_lock = threading.Lock()


def check_rate(rate: float, max_rate: float = MAX_RATE) -> float:
    """``rate`` as a float when it is a sensible flush rate (0 < rate <= ``max_rate`` per second).

    Raises:
        ValueError: otherwise.
    """
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= max_rate:
        raise ValueError(
            f"rate must be between 0 and {max_rate:g} updates per second, not {rate!r}"
        )
    return float(rate)


class Flusher:
    """Call ``flush()`` at most ``rate`` times per second, when ``changed()`` says so.

    Args:
        name: for the task name and log lines.
        rate: flushes per second at most (10 for tables, 5 for matplotlib).
        flush: the batch update; runs on the runtime loop.
        changed: a cheap check (``cursor.pending``); ``poke()`` forces one flush.
        on_error: told about an exception raised by ``flush`` (a view shows it);
            the flusher logs it to the ``rtnb`` logger (level INFO) and keeps going.
        max_rate: the bound on ``rate`` (60 for views).

    The task runs in an empty context, so nothing it does is attributed to the
    cell that created the view.
    """

    def __init__(
        self,
        name: str,
        rate: float,
        flush: Callable[[], None],
        changed: Callable[[], bool],
        on_error: Callable[[BaseException], None] | None = None,
        *,
        max_rate: float = MAX_RATE,
    ) -> None:
        self.name = name
        self.interval = 1.0 / check_rate(rate, max_rate)
        self._flush = flush
        self._changed = changed
        self._on_error = on_error
        self._task: asyncio.Task[None] | None = None
        self._stopped = False
        self._poked = False
        self.flushes = 0

    def start(self) -> Flusher:
        """Start ticking on the runtime loop (returns at once)."""
        get_runtime().call_soon(self._start_on_loop)
        return self

    def _start_on_loop(self) -> None:
        if self._stopped or self._task is not None:
            return
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(
            self._run(), name=f"rtnb-view-{self.name}", context=contextvars.Context()
        )

    @property
    def running(self) -> bool:
        """True while the task is alive."""
        return self._task is not None and not self._task.done()

    def poke(self) -> None:
        """Flush on the next tick even if ``changed()`` says no."""
        self._poked = True

    def run_once(self) -> None:
        """Flush now if there is something new (on the runtime loop)."""
        if self._poked or self._changed():
            self._poked = False
            self.flushes += 1
            try:
                self._flush()
            except Exception as exc:
                # info, not warning: with no logging configured a warning would be printed
                # by the loop thread into whichever cell is running; the view shows it.
                log.info("rtnb view %s: update failed: %s", self.name, exc, exc_info=True)
                if self._on_error is not None:
                    try:
                        self._on_error(exc)
                    except Exception:
                        log.debug("rtnb view %s: error handler failed", self.name, exc_info=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stopped:
            next_at += self.interval
            delay = next_at - loop.time()
            if delay < 0.2 * self.interval:  # fell behind (slow flushes): don't catch up
                delay = 0.2 * self.interval
                next_at = loop.time() + delay
            await asyncio.sleep(delay)
            if not self._stopped:  # stop() may have been called during the sleep
                self.run_once()

    def stop(self) -> None:
        """Stop ticking; idempotent and safe from any thread."""
        self._stopped = True
        task = self._task
        if task is not None and not task.done():
            get_runtime().call_soon(task.cancel)


class Reader:
    """Base of everything that reads a connection's log at a bounded rate (views, recorder).

    A subclass calls :meth:`_open` and :meth:`_take` (what is stored), builds
    itself, then calls :meth:`_start`; it writes :meth:`_render`, which gets
    one :class:`~rtnb.message.Batch` per flush on the runtime loop. The reader
    stops by itself when its source reaches a final state, with a last
    ``_render`` of what arrived meanwhile, so it shows (or writes) the end.
    Its public ``stop()`` is the subclass's (a view returns nothing, the
    recorder returns itself); both call :meth:`_stop`.
    """

    _source: Source
    _cursor: Cursor
    _limit: int | None = None
    # Class defaults keep stop() harmless on an instance whose __init__ failed.
    _flusher: Flusher | None = None
    _unsubscribe_state: Callable[[], None] | None = None
    _stopped: bool = True
    _done: threading.Event | None = None  # set once the final update has run

    # --- what a subclass calls -----------------------------------------------------------

    def _open(
        self,
        source: Source,
        *,
        from_start: bool = True,
        limit: int | None = None,
        direction: Direction | None = None,
    ) -> None:
        """Place the cursor: at the oldest stored message, or at the end (only what arrives).

        Args:
            source: the connection read.
            from_start: read what is stored too (a view's first ``_take()`` gets it).
            limit: each batch keeps only the newest ``limit`` messages (``None``: all).
            direction: ``"in"`` or ``"out"`` to read one direction only.
        """
        self._source = source
        log_ = source.log
        self._cursor = log_.cursor(log_.first_seq if from_start else None, direction)
        self._limit = limit
        self._done = threading.Event()

    def _start(
        self,
        rate: float,
        on_error: Callable[[BaseException], None] | None = None,
        *,
        max_rate: float = MAX_RATE,
    ) -> None:
        """Start flushing at ``rate`` per second until the source reaches a final state.

        On a source that has ended already it starts no timer: it makes its
        final update at once (a recorder writes what is stored) and is stopped.
        """
        source = self._source
        name = f"{type(self).__name__.lower()}-{source.name}"
        self._flusher = Flusher(name, rate, self._tick, self._changed, on_error, max_rate=max_rate)
        if source.state in FINAL_STATES:
            try:
                self._finish()  # nothing else reads the log now: safe in this thread
            finally:
                self._signal_done()
            return
        self._stopped = False
        self._unsubscribe_state = source.on_state(self._state_changed)
        self._flusher.start()
        if source.state in FINAL_STATES:  # it ended before the subscription took
            self._stop()

    def _take(self) -> Batch:
        """What is new at the cursor (empty when nothing is: never raises at the end)."""
        cursor = self._cursor
        return cursor.take(self._limit) if cursor.pending else Batch([], 0, 0)

    # --- what a subclass writes ----------------------------------------------------------

    def _render(self, batch: Batch) -> None:
        """Show (or write) one batch; runs on the runtime loop (override)."""
        raise NotImplementedError

    def _changed(self) -> bool:
        """Whether a tick has anything to do (override to add conditions, e.g. paused)."""
        return self._cursor.pending

    def _final_update(self) -> None:
        """The last update when the reader stops (default: render what is left)."""
        self._render(self._take())

    def _stopping(self) -> None:
        """Called once, in stop(), before the final update (override)."""

    def _finished(self) -> None:
        """Called once, after the final update, on the runtime loop (override)."""

    # --- running and stopping ------------------------------------------------------------

    def _tick(self) -> None:
        self._render(self._take())

    def _state_changed(self, _source: Source, state: State) -> None:
        if state in FINAL_STATES:
            # close() sends "closed" from its own call on the loop, so this final update
            # (and a view's display refresh) is attributed to the cell that closed it.
            self._stop()

    @property
    def source(self) -> Source:
        """The connection read."""
        return self._source

    @property
    def running(self) -> bool:
        """True until the reader stops (``stop()`` or its source's final state)."""
        return not self._stopped

    def _begin_stop(self) -> bool:
        """Mark stopped, end the timer and the subscription; False when already stopped."""
        with _stop_lock:
            if self._stopped:
                return False
            self._stopped = True
        if self._flusher is not None:
            self._flusher.stop()
        unsub, self._unsubscribe_state = self._unsubscribe_state, None
        if unsub is not None:
            with contextlib.suppress(ValueError):
                unsub()
        self._stopping()
        return True

    def _stop(self, timeout: float = 10.0) -> None:
        """Stop reading, after a last update; idempotent, any thread.

        The last update runs on the loop (which owns the reader's state) and
        before this returns, in the caller's context: what it shows is
        attributed to the cell that stopped the reader or closed its connection.
        """
        if not self._begin_stop():
            # Stopped already, or stopping on the loop right now (its connection just
            # ended): return once that final update is done, as after our own.
            if self._done is not None and not in_loop_thread():
                self._done.wait(timeout)
            return
        try:
            if in_loop_thread():
                self._finish()
            else:
                get_runtime().run(self._afinish(), timeout)
        except (RuntimeError, TimeoutError) as exc:  # the runtime is gone or stuck
            log.debug("rtnb %s: final update skipped: %r", type(self).__name__, exc)
        finally:
            self._signal_done()

    def _signal_done(self) -> None:
        if self._done is not None:
            self._done.set()

    def _finish(self) -> None:
        try:
            self._final_update()
        except Exception as exc:
            log.warning("rtnb %s: final update failed: %s", type(self).__name__, exc)
        finally:
            self._finished()

    async def _afinish(self) -> None:
        """The final update from another thread: ``_finish`` unless a subclass awaits."""
        self._finish()
