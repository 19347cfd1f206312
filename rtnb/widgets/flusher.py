"""The bounded-rate pull loop behind every live view.

A :class:`Flusher` is one small task on the rtnb runtime loop. Every
``1/rate`` seconds it asks whether anything changed (usually: did the log's
``next_seq`` move?) and, only then, calls the view's flush function once. So a
view does one batch of widget work per tick whatever the message rate, and
nothing at all while the stream is quiet.

    >>> from rtnb.message import MessageLog, Message
    >>> log = MessageLog(10)
    >>> _ = [log.append(Message(str(i))) for i in range(25)]
    >>> msgs, pos, missed = pull(log, 0, limit=3)
    >>> [m.data for m in msgs], pos, missed
    (['22', '23', '24'], 25, 15)
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Callable

from ..message import Message, MessageLog
from ..runtime import get_runtime

__all__ = ["Flusher", "check_rate", "pull"]

log = logging.getLogger("rtnb")


def pull(log_: MessageLog, pos: int, limit: int | None = None) -> tuple[list[Message], int, int]:
    """Messages at or after ``pos`` (at most the newest ``limit``), the next position, and
    how many fell off the log before they could be read."""
    msgs, missed = log_.since(pos, limit)
    new_pos = msgs[-1].seq + 1 if msgs else max(pos, log_.next_seq)
    return msgs, new_pos, missed


def check_rate(rate: float) -> float:
    """``rate`` as a float when it is a sensible flush rate (0 < rate <= 60 per second).

    Raises:
        ValueError: otherwise.
    """
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 60:
        raise ValueError(f"rate must be between 0 and 60 updates per second, not {rate!r}")
    return float(rate)


class Flusher:
    """Call ``flush()`` at most ``rate`` times per second, when ``changed()`` says so.

    Args:
        name: for the task name and log lines.
        rate: flushes per second at most (10 for tables, 5 for matplotlib).
        flush: the view's batch update; runs on the runtime loop.
        changed: a cheap check (``log.next_seq != pos``); ``poke()`` forces one flush.
        on_error: told about an exception raised by ``flush`` (the view shows it);
            the flusher logs it to the ``rtnb`` logger (level INFO) and keeps going.

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
    ) -> None:
        self.name = name
        self.interval = 1.0 / check_rate(rate)
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
