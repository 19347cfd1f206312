"""Seeded random-walk ticks and the pacing that spreads them over time (pure logic).

The same seed and symbols give the same prices in the same order, so notebooks,
tests and benchmarks are reproducible.

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
from collections.abc import Iterable
from typing import Any

__all__ = ["DEFAULT_SYMBOLS", "Pacer", "TickGenerator", "parse_symbols"]

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

    def due(self, now: float) -> int:
        """Events to emit now (and counts them as emitted)."""
        if self.rate == 0:
            return 1_000_000_000
        target = math.floor((now - self.start) * self.rate) + 1
        n = target - self.emitted
        cap = max(1, math.ceil(self.rate * self.max_burst))
        if n > cap:
            self.emitted = target - cap
            n = cap
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
