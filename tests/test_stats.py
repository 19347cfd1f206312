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


def test_stats_print_as_one_short_line_with_rounded_rates() -> None:
    s = Stats(received=84, rate=8.666666666666666, bytes_in=2048, errors=2, last_error="boom")
    text = repr(s)
    assert text == str(s)
    assert "8.7 msg/s over the last 5 s" in text and "8.666" not in text
    assert "received 84" in text and "in 2.0 KB" in text and "errors 2" in text
    assert "reconnects" not in text  # zero trouble counters stay out of the line
    assert "\n" not in text and len(text) < 120
    assert dict(s)["rate"] == 8.666666666666666  # the mapping keeps the exact figure


def test_stats_html_card_escapes_and_rounds() -> None:
    s = Stats(received=5, rate=1.23456, last_error="<b>x</b>", extra={"ping_rtt": 0.0012345})
    card = s._repr_html_()
    assert "1.2 msg/s" in card and "over the last 5 s" in card
    assert "&lt;b&gt;x&lt;/b&gt;" in card and "<b>x</b>" not in card
    assert "ping_rtt" in card and "0.001234" in card
