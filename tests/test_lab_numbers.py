"""rtnb.lab.numbers: percentiles, throughput, overhead and one protocol's result."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import rtnb.lab.numbers
from rtnb.lab.numbers import (
    LABELS,
    ProtocolResult,
    format_ms,
    format_number,
    latency_summary,
    overhead_per_message,
    percentile,
    throughput,
)

finite = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=200), st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy(values: list[float], q: float) -> None:
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


@given(st.lists(finite, min_size=1, max_size=200))
def test_latency_summary_is_ordered(values: list[float]) -> None:
    s = latency_summary(values)
    assert s is not None and s.ordered and s.n == len(values)


def test_percentile_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match="0-100"):
        percentile([1.0], 101)
    assert latency_summary([]) is None


def test_throughput_and_overhead() -> None:
    assert throughput(2000, 0.5, 500) == (4000.0, 2.0)
    assert throughput(0, 1.0, 64) == (None, None)
    assert overhead_per_message(66 * 10, 10, 64) == 2.0
    assert overhead_per_message(0, 0, 64) is None


def test_times_and_counts_are_shown_with_the_digits_that_matter() -> None:
    assert [format_ms(v) for v in (0.123, 9.999, 10.0, 99.94, 100.0, None)] == [
        "0.12",
        "10.00",
        "10.0",
        "99.9",
        "100",
        "-",
    ]
    assert format_number(1234567) == "1,234,567" and format_number(0.5, 2) == "0.50"


def test_results_survive_a_dict_round_trip() -> None:
    r = ProtocolResult(
        "webrtc-unordered",
        payload_size=64,
        connect_ms=[30.0, 40.0],
        flood_received=5,
        flood_seconds=0.5,
    )
    back = ProtocolResult.from_dict(r.to_dict())
    assert back == r
    assert back.label == LABELS["webrtc-unordered"] and back.family == "webrtc"
    assert r.to_dict()["derived"]["msgs_per_s"] == 10.0
    assert back.connect == 35.0


def test_derived_figures_follow_the_raw_ones() -> None:
    r = ProtocolResult("ws", payload_size=64, paced_sent=10, paced_received=10)
    assert r.delivered_all and r.overhead is None and r.latency is None and r.connect is None
    r.wire_bytes, r.wire_messages = 660, 10
    assert r.overhead == 2.0
    r.paced_received = 9
    assert not r.delivered_all
    assert not ProtocolResult("sse").delivered_all  # nothing sent is not "all delivered"
    assert ProtocolResult("quic").label == "quic"


def test_docstring_examples() -> None:
    result = doctest.testmod(rtnb.lab.numbers, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 8 and result.failed == 0
