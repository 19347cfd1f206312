"""Fault injection for the server's streaming endpoints: latency, jitter, drops, cuts.

A notebook can make the network misbehave on purpose to show what reconnects
and resumes do. Each streaming endpoint reads four query options:

- ``latency``: milliseconds each message waits before it is sent;
- ``jitter``: up to this many milliseconds more, drawn at random per message;
- ``drop``: the fraction (0-1) of messages silently not sent;
- ``cut_after``: after this many messages are sent, the TCP connection is cut
  (aborted: no WebSocket close frame, no end of the SSE stream).

The random draws come from a generator seeded by the request's ``seed``, so a
run can be repeated exactly.

    >>> plan = parse_faults({"latency": "50", "jitter": "10", "drop": "0.5"}, seed=1)
    >>> plan
    FaultPlan(latency=0.05, jitter=0.01, drop=0.5, cut_after=None, seed=1)
    >>> inj = FaultInjector(plan)
    >>> [inj.next().drop for _ in range(4)]
    [False, True, True, True]
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "FAULT_OPTIONS",
    "FaultInjector",
    "FaultPlan",
    "Step",
    "deliver",
    "injector_from_query",
    "parse_faults",
]

#: The query options this module reads.
FAULT_OPTIONS = ("latency", "jitter", "drop", "cut_after")

#: Largest latency or jitter accepted, in milliseconds (a minute).
MAX_DELAY_MS = 60_000.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class FaultPlan:
    """What to do to a stream of outgoing messages.

    Attributes:
        latency: seconds every message waits before it is sent.
        jitter: up to this many seconds more per message (uniform at random).
        drop: the probability that a message is not sent at all.
        cut_after: cut the connection once this many messages were sent (None: never).
        seed: seeds the random draws (jitter and drops).
    """

    latency: float = 0.0
    jitter: float = 0.0
    drop: float = 0.0
    cut_after: int | None = None
    seed: int = 0

    @property
    def active(self) -> bool:
        """True when the plan changes anything at all."""
        return bool(self.latency or self.jitter or self.drop or self.cut_after is not None)


def _number(query: Mapping[str, str], name: str, lo: float, hi: float, unit: str) -> float:
    raw = query.get(name)
    if raw is None or raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"query {name}={raw!r} is not a number") from None
    if not math.isfinite(value) or not lo <= value <= hi:
        raise ValueError(f"query {name} must be between {lo:g} and {hi:g}{unit}, not {raw!r}")
    return value


def parse_faults(query: Mapping[str, str], seed: int = 0) -> FaultPlan:
    """Read ``latency``, ``jitter`` (ms), ``drop`` (0-1) and ``cut_after`` (N) from a query.

    Absent options mean "no fault". ``seed`` seeds the plan's random draws.

        >>> parse_faults({"cut_after": "100"}).cut_after
        100
        >>> parse_faults({})
        FaultPlan(latency=0.0, jitter=0.0, drop=0.0, cut_after=None, seed=0)

    Raises:
        ValueError: naming the option, for a value that is not a number or out of range.
    """
    latency = _number(query, "latency", 0, MAX_DELAY_MS, " ms")
    jitter = _number(query, "jitter", 0, MAX_DELAY_MS, " ms")
    drop = _number(query, "drop", 0, 1, "")
    cut_after: int | None = None
    raw = query.get("cut_after")
    if raw is not None and raw != "":
        try:
            cut_after = int(raw)
        except ValueError:
            raise ValueError(f"query cut_after={raw!r} is not a whole number") from None
        if not 1 <= cut_after <= 10**12:
            raise ValueError(f"query cut_after must be at least 1, not {raw!r}")
    return FaultPlan(latency / 1000, jitter / 1000, drop, cut_after, seed)


@dataclass(frozen=True)
class Step:
    """What happens to one outgoing message.

    Attributes:
        delay: seconds to wait before sending it.
        drop: True when it is not sent.
    """

    delay: float
    drop: bool


class FaultInjector:
    """Applies a :class:`FaultPlan` message by message (pure: no clock, no I/O).

    Attributes:
        plan: the plan.
        sent: messages sent so far (dropped ones do not count).
        dropped: messages dropped so far.
    """

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self.sent = 0
        self.dropped = 0
        self._rng = random.Random(f"rtnb-faults:{plan.seed}")

    def next(self) -> Step:
        """Decide the fate of the next message (consumes the same draws every time)."""
        plan = self.plan
        delay = plan.latency
        if plan.jitter:
            delay += plan.jitter * self._rng.random()
        drop = bool(plan.drop) and self._rng.random() < plan.drop
        return Step(delay, drop)

    def record(self, step: Step) -> None:
        """Count a message as sent or dropped after ``step`` was applied."""
        if step.drop:
            self.dropped += 1
        else:
            self.sent += 1

    @property
    def cut_due(self) -> bool:
        """True once ``cut_after`` messages were sent."""
        n = self.plan.cut_after
        return n is not None and self.sent >= n


def injector_from_query(query: Mapping[str, str], seed: int = 0) -> FaultInjector | None:
    """A :class:`FaultInjector` for a request's query, or None when it asks for no fault.

    Raises:
        ValueError: for a bad option (a handler answers it with HTTP 400).
    """
    plan = parse_faults(query, seed)
    return FaultInjector(plan) if plan.active else None


async def deliver(
    injector: FaultInjector | None, send: Callable[[_T], Awaitable[Any]], data: _T
) -> bool:
    """Send one message through ``injector``: wait, maybe drop, else ``await send(data)``.

    With no injector the message is sent at once. Returns True when the
    connection must now be cut (``cut_after`` reached); the caller aborts it.

        >>> # in a handler:  if await deliver(faults, ws.send_str, text): cut(request)
    """
    if injector is None:
        await send(data)
        return False
    step = injector.next()
    if step.delay > 0:
        await asyncio.sleep(step.delay)
    if not step.drop:
        await send(data)
    injector.record(step)
    return injector.cut_due
