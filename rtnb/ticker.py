"""Tick streams as pure logic: seeded random-walk ticks, their pacing, the commands that steer them.

The same seed and symbols give the same prices in the same order, so notebooks,
tests and benchmarks are reproducible. :class:`Schedule` says how many messages
of a paced stream go out when (every server stream uses it), and
:func:`parse_tick_command` reads the subscribe/unsubscribe commands that
``/ws/ticker`` and ``/webrtc/bot`` accept.

    >>> gen = TickGenerator(["AAPL", "MSFT"], seed=7)
    >>> [t["symbol"] for t in (gen.next(0.0), gen.next(0.0), gen.next(0.0))]
    ['AAPL', 'MSFT', 'AAPL']
    >>> TickGenerator(["AAPL"], seed=7).next(0.0) == TickGenerator(["AAPL"], seed=7).next(0.0)
    True
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from . import jsonfast

__all__ = [
    "DEFAULT_SYMBOLS",
    "MAX_COMMAND_RATE",
    "NotATickCommand",
    "Pacer",
    "Schedule",
    "TickCommand",
    "TickGenerator",
    "parse_symbols",
    "parse_tick_command",
]

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "GOOG")
_SYMBOL = re.compile(r"^[A-Za-z0-9._:/-]{1,24}$")
MAX_SYMBOLS = 64


def parse_symbols(text: str | None, default: Iterable[str] = DEFAULT_SYMBOLS) -> list[str]:
    """Parse ``"AAPL,msft"`` into ``["AAPL", "MSFT"]``; ``None`` gives the default.

    Raises:
        ValueError: for a malformed symbol or more than 64 of them.
    """
    if text is None:
        return list(default)
    out: list[str] = []
    seen: set[str] = set()
    for part in text.split(","):
        sym = part.strip().upper()
        if not sym:
            continue
        if not _SYMBOL.match(sym):
            raise ValueError(f"bad symbol {part.strip()!r}: use letters, digits and ._:/-")
        if sym not in seen:
            if len(out) == MAX_SYMBOLS:  # stop at once: a huge list costs no more
                raise ValueError(f"at most {MAX_SYMBOLS} symbols")
            seen.add(sym)
            out.append(sym)
    return out


class _Walk:
    __slots__ = ("price", "rng")

    def __init__(self, seed: int, symbol: str) -> None:
        self.rng = random.Random(f"{seed}:{symbol}")
        self.price = round(20 + self.rng.random() * 480, 2)

    def step(self, volatility: float) -> float:
        self.price = max(0.01, self.price * math.exp(self.rng.gauss(0.0, volatility)))
        return round(self.price, 2)


class TickGenerator:
    """Ticks ``{"t", "symbol", "price"}`` for a changing set of symbols, round robin.

    Each symbol has its own seeded walk, so adding or removing one never changes
    the prices of the others.
    """

    def __init__(
        self, symbols: Iterable[str] = DEFAULT_SYMBOLS, seed: int = 42, volatility: float = 0.002
    ) -> None:
        self.seed = seed
        self.volatility = volatility
        self._walks: dict[str, _Walk] = {}
        self._order: list[str] = []
        self._next = 0
        for sym in symbols:
            self.add(sym)

    @property
    def symbols(self) -> list[str]:
        """The symbols currently generated, in round-robin order."""
        return list(self._order)

    def add(self, symbol: str) -> bool:
        """Start generating ``symbol``; False if it already was."""
        symbol = symbol.upper()
        if symbol in self._walks:
            return False
        if len(self._order) >= MAX_SYMBOLS:
            raise ValueError(f"at most {MAX_SYMBOLS} symbols")
        self._walks[symbol] = _Walk(self.seed, symbol)
        self._order.append(symbol)
        return True

    def remove(self, symbol: str) -> bool:
        """Stop generating ``symbol``; False if it was not generated."""
        symbol = symbol.upper()
        if symbol not in self._walks:
            return False
        del self._walks[symbol]
        self._order.remove(symbol)
        return True

    def next(self, t: float) -> dict[str, Any] | None:
        """The next tick stamped ``t`` (seconds since the epoch), or None with no symbols."""
        order = self._order
        if not order:
            return None
        if self._next >= len(order):
            self._next = 0
        sym = order[self._next]
        self._next += 1
        return {"t": t, "symbol": sym, "price": self._walks[sym].step(self.volatility)}


class Pacer:
    """How many events are due by a given time at a fixed rate.

    A stall never causes an unbounded burst: at most ``max_burst`` seconds of
    events are caught up. ``rate=0`` means "as fast as possible".

        >>> p = Pacer(rate=10, start=100.0)
        >>> p.due(100.25), p.due(100.25), p.due(101.0)
        (3, 0, 8)
    """

    def __init__(self, rate: float, start: float, max_burst: float = 1.0) -> None:
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"rate must be a finite number >= 0, not {rate!r}")
        self.rate = rate
        self.start = start
        self.max_burst = max_burst
        self.emitted = 0

    def due(self, now: float, limit: int | None = None) -> int:
        """Events to emit now, at most ``limit`` (and counts them as emitted).

        Events due beyond ``limit`` stay due for the next call; only a stall
        longer than ``max_burst`` skips events.
        """
        if self.rate == 0:
            return 1_000_000_000 if limit is None else max(0, limit)
        target = math.floor((now - self.start) * self.rate) + 1
        n = target - self.emitted
        cap = max(1, math.ceil(self.rate * self.max_burst))
        if n > cap:
            self.emitted = target - cap
            n = cap
        if limit is not None:
            n = min(n, limit)
        if n <= 0:
            return 0
        self.emitted += n
        return n

    def wait(self, now: float) -> float:
        """Seconds until the next event is due (0 if one is due already)."""
        if self.rate == 0:
            return 0.0
        next_at = self.start + self.emitted / self.rate
        return max(0.0, next_at - now)


class Schedule:
    """How many messages of a paced stream go out now: at ``rate``, in batches, ``count`` in all.

    The one pacing rule of every server stream (WebSocket and SSE ticks, the
    WebRTC bot, the protocol lab). ``batch`` bounds the messages made before
    the stream yields to its event loop; messages due beyond it stay due.
    ``rate=0`` means as fast as the reader takes them (a batch each time);
    ``count=0`` means endless.

        >>> s = Schedule(rate=10, start=0.0, count=5, batch=2)
        >>> s.take(0.35), s.take(0.35), s.take(0.35), s.take(9.0), s.done
        (2, 2, 0, 1, True)
    """

    def __init__(
        self, rate: float, start: float, count: int = 0, batch: int = 256, max_burst: float = 1.0
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch!r}")
        self.count = count
        self.batch = batch
        self.max_burst = max_burst
        self.sent = 0
        self.pacer = Pacer(rate, start, max_burst)

    @property
    def rate(self) -> float:
        """Messages per second (0: as fast as possible)."""
        return self.pacer.rate

    @property
    def done(self) -> bool:
        """True once a finite stream has sent ``count`` messages."""
        return bool(self.count) and self.sent >= self.count

    def set_rate(self, rate: float, now: float) -> None:
        """Pace at ``rate`` from ``now`` on (the count so far is kept)."""
        self.pacer = Pacer(rate, now, self.max_burst)

    def take(self, now: float, limit: int | None = None) -> int:
        """How many messages to send now (at most ``limit``); they count as sent."""
        n = self.batch if limit is None else min(self.batch, limit)
        if self.count:
            n = min(n, self.count - self.sent)
        if n <= 0:
            return 0
        n = self.pacer.due(now, n)
        self.sent += n
        return n

    def give_back(self, n: int) -> None:
        """Return ``n`` taken messages that were not sent after all (they stay due)."""
        self.sent -= n
        if self.pacer.rate:
            self.pacer.emitted -= n

    def wait(self, now: float) -> float:
        """Seconds until the next message is due (0 at ``rate=0``)."""
        return self.pacer.wait(now)


# --- subscribe / unsubscribe ------------------------------------------------------------

#: Fastest tick rate a command may ask for (per symbol, per second).
MAX_COMMAND_RATE = 10_000.0

#: The keys that name symbols in a command: DESIGN's ``channel`` and the bot's ``symbols``.
_SYMBOL_KEYS = ("channel", "symbols")


class NotATickCommand(ValueError):
    """The message is not a subscribe/unsubscribe command at all (not JSON, not one of them)."""


@dataclass(frozen=True)
class TickCommand:
    """One parsed ``{"type": "subscribe"|"unsubscribe", ...}`` command.

    Attributes:
        action: ``"subscribe"`` or ``"unsubscribe"``.
        symbols: the symbols named (upper case, no duplicates), or None when the
            command names none (each endpoint has its own default).
        channel: the symbol value exactly as sent, for the acknowledgement.
        rate: ticks per second per symbol, when given.
        count: ticks to send in all, when given.
    """

    action: Literal["subscribe", "unsubscribe"]
    symbols: list[str] | None = None
    channel: Any = None
    rate: float | None = None
    count: int | None = None


def parse_tick_command(message: str | Mapping[str, Any]) -> TickCommand:
    """Read a subscribe or unsubscribe command (JSON text or a decoded object).

    Symbols go in ``channel`` (DESIGN's spelling) or ``symbols``, as one symbol,
    a comma-separated string or a list; ``rate`` and ``count`` are optional.

    >>> parse_tick_command('{"type": "subscribe", "channel": "tsla"}').symbols
    ['TSLA']
    >>> cmd = parse_tick_command({"type": "subscribe", "symbols": ["aapl", "MSFT"], "rate": 5})
    >>> cmd.symbols, cmd.rate, cmd.count
    (['AAPL', 'MSFT'], 5.0, None)

    Raises:
        NotATickCommand: for text that is not JSON or a message of another type.
        ValueError: for a command with a bad symbol, rate or count (the reason).
    """
    if isinstance(message, str):
        try:
            obj = jsonfast.loads(message)
        except (ValueError, RecursionError):
            raise NotATickCommand('expected JSON like {"type":"subscribe",...}') from None
    else:
        obj = message
    if not isinstance(obj, Mapping) or obj.get("type") not in ("subscribe", "unsubscribe"):
        raise NotATickCommand("unknown command; use subscribe or unsubscribe")
    named = [(obj[k], _symbols_of(obj[k])) for k in _SYMBOL_KEYS if obj.get(k) is not None]
    if len(named) == 2 and named[0][1] != named[1][1]:
        raise ValueError("name the symbols in channel or in symbols, not both")
    channel, symbols = named[0] if named else (None, None)
    try:
        rate = None if obj.get("rate") is None else float(obj["rate"])
        count = None if obj.get("count") is None else int(obj["count"])
        if (rate is not None and not 0 <= rate <= MAX_COMMAND_RATE) or (count or 0) < 0:
            raise ValueError("out of range")
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"rate must be 0-{MAX_COMMAND_RATE:g} and count >= 0") from None
    return TickCommand(obj["type"], symbols, channel, rate, count)


def _symbols_of(value: Any) -> list[str]:
    parts = value if isinstance(value, list) else [value]
    return parse_symbols(",".join(str(p) for p in parts if p is not None), ())
