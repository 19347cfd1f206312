"""Windowed plot series, window parsing and axis limits (pure)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.message import Message
from rtnb.series import (
    Series,
    Window,
    autoscale,
    decimate,
    follow_limits,
    numeric,
    parse_window,
    sticky_limits,
    time_value,
)


def ticks(*docs: object, t0: float = 100.0, dt: float = 1.0) -> list[Message]:
    return [Message(json.dumps(d), ts=t0 + i * dt) for i, d in enumerate(docs)]


@pytest.mark.parametrize(
    ("window", "points", "expected"),
    [
        (60, None, Window(60.0, None)),
        (0.5, None, Window(0.5, None)),
        ("90s", None, Window(90.0, None)),
        ("2 min", None, Window(120.0, None)),
        ("1h", None, Window(3600.0, None)),
        ("250ms", None, Window(0.25, None)),
        ("500 points", None, Window(None, 500)),
        ("500pts", None, Window(None, 500)),
        (None, 200, Window(None, 200)),
        (60, 200, Window(60.0, 200)),
        ("500 points", 100, Window(None, 100)),
        (None, None, Window(None, None)),
    ],
)
def test_parse_window(window: object, points: int | None, expected: Window) -> None:
    assert parse_window(window, points) == expected


@pytest.mark.parametrize(
    "bad", [0, -5, "soon", "5 parsecs", "0 points", True, [60], math.inf, math.nan]
)
def test_parse_window_rejects_nonsense_with_a_sentence(bad: object) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(bad)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_parse_window_rejects_bad_points(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_window(60, bad)  # type: ignore[arg-type]


def test_window_describe() -> None:
    assert parse_window(60).describe() == "last 60 s"
    assert parse_window(10, 5).describe() == "last 10 s / 5 points"


def test_numeric_and_time_value() -> None:
    assert numeric("12.5") == 12.5 and numeric(float("nan")) is None and numeric([1]) is None
    assert time_value(1_700_000_000) == 1_700_000_000.0
    assert time_value(1_700_000_000_123) == pytest.approx(1_700_000_000.123)
    assert time_value(1_700_000_000_123_456) == pytest.approx(1_700_000_000.123456)
    assert time_value("2024-01-01T00:00:00+01:00") == 1704063600.0
    assert time_value("yesterday") is None


def test_sticky_limits_hold_while_data_fits() -> None:
    lim = sticky_limits(0, 100, None)
    assert lim == (-10.0, 110.0)
    assert sticky_limits(5, 95, lim) == lim
    assert sticky_limits(5, 120, lim) != lim  # outgrew
    assert sticky_limits(40, 45, lim) != lim  # shrank a lot
    assert sticky_limits(3, 3, None)[0] < 3 < sticky_limits(3, 3, None)[1]


@given(st.floats(-1e9, 1e9), st.floats(0, 1e6), st.floats(-1e9, 1e9), st.floats(0, 1e6))
def test_sticky_limits_always_cover_the_data(
    lo: float, span: float, lo2: float, span2: float
) -> None:
    first = sticky_limits(lo, lo + span, None)
    assert first[0] <= lo and lo + span <= first[1]
    second = sticky_limits(lo2, lo2 + span2, first)
    assert second[0] <= lo2 and lo2 + span2 <= second[1]


def test_series_groups_by_field_and_labels_lines() -> None:
    s = Series(["price"], by="symbol")
    s.add(
        ticks(
            {"symbol": "A", "price": 1},
            {"symbol": "B", "price": "2.5"},
            {"symbol": "A", "price": 3},
        )
    )
    assert s.labels() == ["A", "B"]
    x, y = s.arrays(0)
    assert y.tolist() == [1.0, 3.0] and x.tolist() == [100.0, 102.0]
    assert s.arrays(1)[1].tolist() == [2.5]
    assert s.colours()[0] != s.colours()[1]


def test_series_several_fields_and_groups_are_labelled_with_both() -> None:
    s = Series(["bid", "ask"], by="s")
    s.add(ticks({"s": "A", "bid": 1, "ask": 2}))
    assert s.labels() == ["A bid", "A ask"]
    assert Series(["bid", "ask"]).labels() == []


def test_series_skips_what_cannot_be_plotted() -> None:
    s = Series(["v"])
    added = s.add(
        [
            Message("not json", ts=1.0),
            Message('{"v": "n/a"}', ts=2.0),
            Message('{"w": 1}', ts=3.0),
            Message('{"v": true}', ts=4.0),
            Message('{"v": 5}', ts=5.0, direction="out"),
            Message('{"v": 7}', ts=6.0),
        ]
    )
    assert added == 1 and s.arrays(0)[1].tolist() == [7.0]
    assert s.skipped == 1


def test_series_time_window_slides() -> None:
    s = Series(["v"], window=parse_window(5))
    s.add(ticks(*({"v": i} for i in range(20))))
    x, _y = s.arrays(0)
    assert x.tolist() == [114.0, 115.0, 116.0, 117.0, 118.0, 119.0]
    assert s.points() == 6


def test_series_point_window_keeps_the_last_n() -> None:
    s = Series(["v"], window=parse_window("3 points"))
    s.add(ticks(*({"v": i} for i in range(10)), dt=100))
    assert s.arrays(0)[1].tolist() == [7.0, 8.0, 9.0]


def test_series_max_points_bounds_every_line() -> None:
    s = Series(["v"], window=parse_window(None), max_points=50)
    s.add(ticks(*({"v": i} for i in range(1000))))
    assert s.points() == 50


def test_series_x_field_numbers_and_times() -> None:
    s = Series(["y"], x="n", window=parse_window(None))
    s.add(ticks({"n": 3, "y": 1}, {"n": 4, "y": 2}))
    assert not s.x_is_time and s.arrays(0)[0].tolist() == [3.0, 4.0]
    t = Series(["y"], x="at", window=parse_window(None))
    t.add(ticks({"at": "2024-01-01T00:00:00Z", "y": 1}, {"at": 1_704_067_201_000, "y": 2}))
    assert t.x_is_time and t.arrays(0)[0].tolist() == [1704067200.0, 1704067201.0]


def test_series_take_new_returns_each_point_once() -> None:
    s = Series(["v"], by="g")
    s.add(ticks({"g": "a", "v": 1}, {"g": "b", "v": 2}))
    first = s.take_new()
    assert [(i, y.tolist()) for i, _, y in first] == [(0, [1.0]), (1, [2.0])]
    assert s.take_new() == []
    s.add(ticks({"g": "b", "v": 3}))
    ((i, x, y),) = s.take_new()
    assert i == 1 and y.tolist() == [3.0] and x.dtype == np.float64


def test_series_bounds_lines_and_bounds() -> None:
    s = Series(["v"], by="g", max_lines=2)
    assert s.bounds() is None
    s.add(ticks({"g": "a", "v": 1}, {"g": "b", "v": -2}, {"g": "c", "v": 9}))
    assert len(s.lines) == 2
    assert s.bounds() == (100.0, 101.0, -2.0, 1.0)
    s.clear()
    assert s.points() == 0 and s.bounds() is None


def test_series_needs_a_field_and_good_paths() -> None:
    with pytest.raises(ValueError, match="at least one field"):
        Series([])
    with pytest.raises(ValueError):
        Series(["a..b"])


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=3000), st.integers(4, 400))
def test_decimate_bounds_points_and_keeps_extremes_and_ends(ys_list: list[float], cap: int) -> None:
    ys = np.asarray(ys_list)
    xs = np.arange(len(ys), dtype=np.float64)
    dx, dy = decimate(xs, ys, cap)
    assert len(dx) <= max(cap, 4) if len(xs) > cap else len(dx) == len(xs)
    assert len(dx) == len(dy)
    assert np.all(np.diff(dx) > 0)  # still in order, no duplicates
    assert dx[0] == 0 and dx[-1] == len(ys) - 1
    assert dy.max() == ys.max() and dy.min() == ys.min()


def test_series_first_x_is_the_window_start() -> None:
    s = Series(["v"], window=parse_window("2 points"))
    s.add(ticks({"v": 1}, {"v": 2}, {"v": 3}))
    assert s.first_x(0) == 101.0


def test_docstring_examples_hold() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("rtnb.series"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


finite = st.floats(-1e9, 1e9, allow_nan=False)


@given(lo=finite, hi=finite, steps=st.lists(st.tuples(finite, finite), max_size=20))
def test_autoscale_covers_the_data_closely(
    lo: float, hi: float, steps: list[tuple[float, float]]
) -> None:
    current = None
    for a, b in [(lo, hi), *steps]:
        a, b = min(a, b), max(a, b)
        current = autoscale(a, b, current)
        c_lo, c_hi = current
        assert c_lo <= a and b <= c_hi
        if b - a > 1e-6 * max(1.0, abs(a), abs(b)):
            assert b - a >= 0.59 * (c_hi - c_lo)  # no wide empty band


def test_autoscale_holds_while_the_data_fills_the_axis_and_tightens_after() -> None:
    lim = autoscale(100.0, 110.0)
    assert autoscale(101.0, 109.0, lim) == lim
    tight = autoscale(104.0, 104.5, lim)  # the values now move little
    assert tight[1] - tight[0] < 1.0
    assert autoscale(50.0, 50.0) == (49.95, 50.05)


@given(
    start=st.floats(1e9, 2e9),
    window=st.floats(1.0, 3600.0),
    dts=st.lists(st.floats(0.001, 50.0), min_size=1, max_size=60),
)
def test_follow_limits_show_the_data_and_change_rarely_while_a_window_fills(
    start: float, window: float, dts: list[float]
) -> None:
    current, changes, hi = None, 0, start
    for dt in dts:
        hi += dt
        lo = max(start, hi - window)
        new = follow_limits(lo, hi, current, window)
        changes += new != current
        current = new
        assert current[0] <= lo and hi <= current[1]
        span = max(hi - lo, 1e-9)
        assert current[1] - current[0] <= 2.1 * span + 0.06 * window + 1e-6 * hi
    assert changes <= len(dts)


def test_follow_limits_without_a_window_is_the_data_plus_a_margin() -> None:
    assert follow_limits(0.0, 100.0) == (-3.0, 103.0)
    assert follow_limits(0.0, 100.0, (-3.0, 103.0)) == (-3.0, 103.0)
