"""Rate meter, counters and the stats snapshot (pure; Backoff is tested in test_lifecycle)."""

from __future__ import annotations

import pytest

from rtnb.stats import GAP_WINDOWS, Counters, RateMeter, Stats


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


def test_counters_count_interruptions_and_snapshot_them() -> None:
    c = Counters()
    c.came_back(10.0)  # the first open ends no interruption
    assert c.gaps == 0
    c.went_down(20.0)
    c.came_back(21.5)
    for i in range(GAP_WINDOWS + 2):
        c.went_down(100.0 + i)
        c.came_back(100.5 + i)
    s = c.snapshot({"state": "open"})
    assert s.gaps == GAP_WINDOWS + 3
    assert s.down_seconds == pytest.approx(1.5 + 0.5 * (GAP_WINDOWS + 2))
    assert len(s.gap_windows) == GAP_WINDOWS and s.gap_windows[-1] == (111.0, 111.5)
    assert s.state == "open" and s.received == 0
