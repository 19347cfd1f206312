"""Rate meter, stats snapshot and backoff (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.stats import Backoff, RateMeter, Stats


def test_rate_meter_counts_the_recent_window() -> None:
    m = RateMeter(window=5)
    for i in range(50):
        m.tick(100 + i * 0.1)
    assert m.rate(now=105.0) == pytest.approx(50 / 5)
    assert m.rate(now=200.0) == 0


def test_stats_reads_as_attributes_and_mapping() -> None:
    s = Stats(received=3, extra={"ping_rtt": 0.002})
    assert s.received == 3 and s["received"] == 3
    assert s.ping_rtt == 0.002 and s["ping_rtt"] == 0.002
    assert "rate" in s and "last_error" in dict(s)
    with pytest.raises(AttributeError):
        _ = s.nope


def test_backoff_grows_and_caps() -> None:
    b = Backoff(initial=0.5, factor=2, cap=4, jitter=0)
    assert [b.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        Backoff(factor=0.5)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_backoff_never_spins(attempt: int, rand: float) -> None:
    b = Backoff(initial=0.0, jitter=1.0, floor=0.05)
    d = b.delay(attempt, rand)
    assert 0.05 <= d <= 30
