"""A connection's lifecycle as a pure state machine: states, events, one table, and Backoff.

Every decision about opening, reconnecting and stopping lives here, in the
manner of h11's ``_state.py``: the :class:`~rtnb.connection.Connection` does the
I/O, reports what happened as an :class:`Event`, and does what the
:class:`Step` it gets back says (open, serve the stream, wait, or stop). No
sockets, no event loop: the table is tested directly, every state against
every event.

    >>> machine = Lifecycle(reconnect=True, backoff=Backoff(initial=1, jitter=0))
    >>> machine.handle(Event.OPEN_FAILED)
    Step(state='reconnecting', action=<Action.WAIT: 'wait'>, delay=1.0)
    >>> machine.handle(Event.RETRY_DUE)
    Step(state='reconnecting', action=<Action.OPEN: 'open'>, delay=0.0)
    >>> machine.handle(Event.OPENED).state
    'open'
"""

from __future__ import annotations

import enum
import random
from typing import Literal, NamedTuple, get_args

__all__ = [
    "FINAL_STATES",
    "STABLE_AFTER",
    "STATES",
    "TABLE",
    "Action",
    "Backoff",
    "Event",
    "Lifecycle",
    "State",
    "Step",
    "open_failed",
    "retry_delay",
    "stream_ended",
    "transition",
]

State = Literal["connecting", "open", "reconnecting", "closed", "failed"]
"""Where a connection is in its life. ``closed`` and ``failed`` are final."""

STATES: tuple[State, ...] = get_args(State)
FINAL_STATES: frozenset[State] = frozenset({"closed", "failed"})

#: An open that lasts at least this long (seconds) resets the backoff to its first step.
STABLE_AFTER = 2.0


class Event(enum.Enum):
    """What the I/O side reports to the machine."""

    OPENED = "opened"
    """An attempt to open succeeded."""
    OPEN_FAILED = "open_failed"
    """An attempt failed; another one may succeed (a refused TCP connection, a timeout)."""
    OPEN_REFUSED = "open_refused"
    """An attempt failed for good: retrying cannot help (an HTTP 404, a refused subprotocol)."""
    FINISHED = "finished"
    """The server said the stream is over after it had sent messages (an SSE 204)."""
    ENDED = "ended"
    """An open stream ended without an error (the peer closed it)."""
    BROKE = "broke"
    """An open stream ended with an error."""
    RETRY_DUE = "retry_due"
    """The wait before the next attempt is over."""
    CLOSE_REQUESTED = "close_requested"
    """``close()`` was called: the I/O stops, whatever it reports next."""
    CLOSED = "closed"
    """``close()`` has stopped the I/O and closed the transport."""


class Action(enum.Enum):
    """What the I/O side does next."""

    OPEN = "open"
    """Make an attempt to open now."""
    SERVE = "serve"
    """Receive on the open stream until it ends."""
    WAIT = "wait"
    """Wait :attr:`Step.delay` seconds, then report :attr:`Event.RETRY_DUE`."""
    STOP = "stop"
    """Do no more I/O."""


class Step(NamedTuple):
    """The machine's answer to an event: the state to be in, and what to do."""

    state: State
    action: Action
    delay: float = 0.0
    """Seconds to wait, for :attr:`Action.WAIT`."""


_OPEN = Step("open", Action.SERVE)
_RETRY = Step("reconnecting", Action.WAIT)
_FAILED = Step("failed", Action.STOP)
_CLOSED = Step("closed", Action.STOP)
_REOPEN = Step("reconnecting", Action.OPEN)

#: (state, event) -> (step with reconnect on, step with reconnect off), for the
#: events the I/O reports while the connection is live. Pairs left out cannot
#: happen (an open stream cannot open again); :func:`transition` says so.
TABLE: dict[tuple[State, Event], tuple[Step, Step]] = {
    # state           event                 reconnect on                  reconnect off
    ("connecting",   Event.OPENED):       (_OPEN,                         _OPEN),
    ("connecting",   Event.OPEN_FAILED):  (_RETRY,                        _FAILED),
    ("connecting",   Event.OPEN_REFUSED): (_FAILED,                       _FAILED),
    ("connecting",   Event.FINISHED):     (_CLOSED,                       _CLOSED),
    ("open",         Event.ENDED):        (_RETRY,                        _CLOSED),
    ("open",         Event.BROKE):        (_RETRY,                        _FAILED),
    ("reconnecting", Event.RETRY_DUE):    (_REOPEN,                       _REOPEN),
    ("reconnecting", Event.OPENED):       (_OPEN,                         _OPEN),
    ("reconnecting", Event.OPEN_FAILED):  (_RETRY,                        _FAILED),
    ("reconnecting", Event.OPEN_REFUSED): (_FAILED,                       _FAILED),
    ("reconnecting", Event.FINISHED):     (_CLOSED,                       _CLOSED),
}  # fmt: skip


def transition(state: State, event: Event, *, reconnect: bool, closing: bool = False) -> Step:
    """The step for ``event`` in ``state`` (without a backoff delay: see :class:`Lifecycle`).

    Beyond :data:`TABLE`: ``CLOSED`` ends in ``closed`` from any state;
    ``CLOSE_REQUESTED``, and anything reported once it was (``closing``), keeps the
    state and stops the I/O, so a report that raced the cancellation (an open
    that completed just as ``close()`` cancelled it) cannot start a stream again;
    in a final state every report is answered with a stop.

    Raises:
        RuntimeError: for an event that cannot happen in ``state`` (an rtnb bug).
    """
    if event is Event.CLOSED:
        return _CLOSED
    if closing or event is Event.CLOSE_REQUESTED or state in FINAL_STATES:
        return Step(state, Action.STOP)
    try:
        on, off = TABLE[state, event]
    except KeyError:
        raise RuntimeError(f"rtnb bug: {event.value!r} cannot happen in state {state!r}") from None
    return on if reconnect else off


def open_failed(*, fatal: bool, finished: bool, received_any: bool) -> Event:
    """The event for a failed attempt to open.

    Args:
        fatal: retrying cannot help (``ConnectError.fatal``).
        finished: the server said the stream is over (``ConnectError.finished``).
        received_any: messages were received before (on an earlier open).

    An end of stream before anything arrived is a failure, not an orderly end.
    """
    if finished and received_any:
        return Event.FINISHED
    return Event.OPEN_REFUSED if fatal or finished else Event.OPEN_FAILED


def stream_ended(*, failed: bool) -> Event:
    """The event for an open stream that ended (``failed``: with an error)."""
    return Event.BROKE if failed else Event.ENDED


class Backoff:
    """Exponential backoff with full jitter, as used for reconnects.

    The delay for attempt ``n`` (from 0) is ``min(cap, initial * factor**n)``,
    scaled by a random factor in ``[1 - jitter, 1]`` so a crowd of clients does
    not reconnect in step. It never returns less than ``floor`` seconds, so a
    server that accepts and closes at once cannot cause a hot loop.

        >>> b = Backoff(initial=1, factor=2, cap=10, jitter=0)
        >>> [b.delay(n) for n in range(6)]
        [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    """

    def __init__(
        self,
        initial: float = 0.5,
        factor: float = 2.0,
        cap: float = 30.0,
        jitter: float = 0.5,
        floor: float = 0.05,
    ) -> None:
        if initial < 0 or factor < 1 or cap < 0 or not 0 <= jitter <= 1:
            raise ValueError(
                "backoff needs initial >= 0, factor >= 1, cap >= 0 and 0 <= jitter <= 1"
            )
        self.initial = float(initial)
        self.factor = float(factor)
        self.cap = float(cap)
        self.jitter = float(jitter)
        self.floor = float(floor)

    def delay(self, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait before reconnect attempt ``attempt`` (0 = first retry).

        ``rand`` in ``[0, 1]`` replaces the random draw (for tests).
        """
        base = min(self.cap, self.initial * self.factor ** min(attempt, 64))
        r = random.random() if rand is None else rand
        return max(self.floor, base * (1 - self.jitter * r))

    #: The most jitter may add to a delay the server asked for (10 %).
    HINT_JITTER = 0.1

    def delay_at_least(self, minimum: float, attempt: int, rand: float | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` when the server asked for ``minimum``.

        For an SSE ``retry:``: WHATWG HTML 9.2.3 says to "wait a delay equal to the
        reconnection time", so jitter may only add to it (at most ``HINT_JITTER``
        of it, none when ``jitter`` is 0), never take away. After failed attempts
        the delay grows by ``factor``, capped at ``max(cap, minimum)``.

            >>> b = Backoff(factor=2, cap=1, jitter=0.5)
            >>> [b.delay_at_least(0.6, n, rand=1.0) for n in range(3)]
            [0.66, 1.1, 1.1]
        """
        base = min(max(self.cap, minimum), minimum * self.factor ** min(attempt, 64))
        r = random.random() if rand is None else rand
        return max(self.floor, base * (1 + min(self.jitter, self.HINT_JITTER) * r))

    def __repr__(self) -> str:
        return (
            f"Backoff(initial={self.initial}, factor={self.factor}, cap={self.cap}, "
            f"jitter={self.jitter}, floor={self.floor})"
        )


def retry_delay(
    backoff: Backoff, attempt: int, hint: float | None = None, rand: float | None = None
) -> float:
    """Seconds to wait before retry ``attempt``.

    ``hint`` is a delay the server asked for (SSE ``retry:``, WHATWG HTML
    9.2.6 "reconnection time"): the wait is never shorter (see
    :meth:`Backoff.delay_at_least`), and it grows from there after failed attempts.
    """
    if hint is None:
        return backoff.delay(attempt, rand)
    return backoff.delay_at_least(hint, attempt, rand)


class Lifecycle:
    """One connection's place in the table, with the bookkeeping its decisions need.

    Args:
        reconnect: the policy: whether a drop or a failed attempt is retried.
        backoff: the waits between attempts (default :class:`Backoff`).
        stable_after: an open that lasted this long resets the backoff.

    Attributes:
        state: where the connection is; starts ``"connecting"`` (first action: open).
        reconnect: the policy; may change at any time, the next decision follows it.
        closing: True once :attr:`Event.CLOSE_REQUESTED` was handled.
        attempt: retries since the last stable open (the backoff's step).
    """

    def __init__(
        self,
        reconnect: bool,
        backoff: Backoff | None = None,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.state: State = "connecting"
        self.reconnect = reconnect
        self.backoff = backoff if backoff is not None else Backoff()
        self.stable_after = stable_after
        self.closing = False
        self.attempt = 0
        self._opened_at: float | None = None

    def handle(self, event: Event, *, now: float = 0.0, hint: float | None = None) -> Step:
        """Move on ``event``; return the step to take.

        Args:
            event: what happened.
            now: a monotonic clock reading (seconds), to tell a stable open.
            hint: a retry delay the server asked for, if any (see :func:`retry_delay`).

        Raises:
            RuntimeError: for an event that cannot happen in the current state.
        """
        if event is Event.CLOSE_REQUESTED:
            self.closing = True
        step = transition(self.state, event, reconnect=self.reconnect, closing=self.closing)
        if step.state == "open" and self.state != "open":
            self._opened_at = now
        elif (
            event in (Event.ENDED, Event.BROKE)
            and self._opened_at is not None
            and (now - self._opened_at >= self.stable_after or hint is not None)
        ):
            # It was up long enough, or the server set the delay (WHATWG: the delay
            # grows only after a failed attempt, and an open one was not): start over.
            self.attempt = 0
        if step.action is Action.WAIT:
            step = step._replace(delay=retry_delay(self.backoff, self.attempt, hint))
            self.attempt += 1
        self.state = step.state
        return step

    @property
    def final(self) -> bool:
        """True in ``closed`` and ``failed``: nothing more will happen."""
        return self.state in FINAL_STATES
