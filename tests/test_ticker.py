"""Tick generation and pacing (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.ticker import Pacer, TickGenerator, parse_symbols


def test_same_seed_same_prices() -> None:
    a = TickGenerator(["AAPL", "MSFT"], seed=1)
    b = TickGenerator(["AAPL", "MSFT"], seed=1)
    assert [a.next(0)["price"] for _ in range(50)] == [b.next(0)["price"] for _ in range(50)]
    c = TickGenerator(["AAPL", "MSFT"], seed=2)
    assert [c.next(0)["price"] for _ in range(4)] != [
        TickGenerator(["AAPL", "MSFT"], seed=1).next(0)["price"] for _ in range(4)
    ]


def test_ticks_have_the_contract_fields_and_round_robin() -> None:
    gen = TickGenerator(["AAPL", "MSFT"], seed=3)
    ticks = [gen.next(12.5) for _ in range(4)]
    assert [t["symbol"] for t in ticks] == ["AAPL", "MSFT", "AAPL", "MSFT"]
    assert all(set(t) == {"t", "symbol", "price"} and t["t"] == 12.5 for t in ticks)
    assert all(t["price"] > 0 for t in ticks)


def test_adding_a_symbol_does_not_change_the_others() -> None:
    solo = TickGenerator(["AAPL"], seed=5)
    duo = TickGenerator(["AAPL"], seed=5)
    duo.add("TSLA")
    solo_prices = [solo.next(0)["price"] for _ in range(5)]
    duo_prices = [t["price"] for t in (duo.next(0) for _ in range(10)) if t["symbol"] == "AAPL"]
    assert solo_prices == duo_prices


def test_remove_and_empty() -> None:
    gen = TickGenerator(["AAPL"])
    assert gen.remove("aapl")
    assert not gen.remove("AAPL")
    assert gen.next(0) is None
    assert gen.add("msft") and not gen.add("MSFT")


def test_parse_symbols() -> None:
    assert parse_symbols(None) == ["AAPL", "MSFT", "GOOG"]
    assert parse_symbols(" aapl, msft,,AAPL ") == ["AAPL", "MSFT"]
    assert parse_symbols("") == []
    with pytest.raises(ValueError, match="bad symbol"):
        parse_symbols("<script>")
    with pytest.raises(ValueError, match="at most"):
        parse_symbols(",".join(f"S{i}" for i in range(100)))


def test_parse_symbols_stops_at_the_first_symbol_over_the_limit() -> None:
    # it must not go on through a huge list (a 16 MiB subscribe message) first
    with pytest.raises(ValueError, match="at most 64 symbols"):
        parse_symbols(",".join(f"S{i}" for i in range(65)) + ",<bad>")


def test_pacer_spreads_events_and_caps_bursts() -> None:
    p = Pacer(rate=10, start=0.0)
    assert p.due(0.0) == 1
    assert p.due(0.05) == 0
    assert p.due(0.55) == 5
    assert p.due(100.0) == 10  # a stall catches up at most one second of events
    assert 0 <= p.wait(100.0) <= 0.1
    with pytest.raises(ValueError):
        Pacer(rate=-1, start=0)


@given(
    st.floats(min_value=0.5, max_value=5000),
    st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=50),
)
def test_pacer_never_exceeds_its_rate(rate: float, steps: list[float]) -> None:
    p = Pacer(rate=rate, start=0.0)
    now = 0.0
    total = 0
    for dt in steps:
        now += dt
        total += p.due(now)
        assert total <= rate * now + 1 + 1e-9
