"""Tick generation, pacing and the subscribe commands (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.ticker import (
    MAX_COMMAND_RATE,
    NotATickCommand,
    Pacer,
    Schedule,
    TickCommand,
    TickGenerator,
    parse_symbols,
    parse_tick_command,
)


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


def test_pacer_limit_keeps_the_rest_due() -> None:
    p = Pacer(rate=100, start=0.0)
    assert p.due(0.5, limit=10) == 10
    assert p.due(0.5, limit=10) == 10  # not skipped: still due
    assert p.due(0.5) == 31  # 51 due by t=0.5 in all
    assert p.due(0.5, limit=10) == 0
    assert Pacer(rate=0, start=0.0).due(5.0, limit=7) == 7


# --- Schedule ----------------------------------------------------------------------------


def test_schedule_batches_and_counts() -> None:
    s = Schedule(rate=0, start=0.0, count=600, batch=256)
    assert [s.take(0.0) for _ in range(4)] == [256, 256, 88, 0]
    assert s.done and s.sent == 600
    endless = Schedule(rate=0, start=0.0)
    assert endless.take(0.0) == 256 and not endless.done and endless.wait(0.0) == 0.0


def test_schedule_paces_and_gives_back() -> None:
    s = Schedule(rate=10, start=0.0, batch=3)
    assert s.take(0.0) == 1
    assert 0.09 <= s.wait(0.0) <= 0.1
    assert s.take(0.55) == 3  # 5 more due: a batch now, the rest next time
    assert s.take(0.55) == 2
    s.give_back(2)  # not sent after all: due again, not counted
    assert s.sent == 4 and s.take(0.55) == 2
    assert s.take(0.55, limit=5) == 0


def test_schedule_set_rate_keeps_the_count() -> None:
    s = Schedule(rate=0, start=0.0, count=10, batch=4)
    assert s.take(0.0) == 4
    s.set_rate(2, 100.0)
    assert s.rate == 2 and s.take(100.0) == 1 and s.sent == 5
    assert s.take(100.1) == 0 and s.take(101.0) == 2
    assert s.take(110.0) == 2  # a stall catches up one second's worth (max_burst)
    assert s.take(200.0) == 1 and s.done


@given(
    st.floats(min_value=0.5, max_value=5000),
    st.integers(1, 300),
    st.integers(0, 2000),
    st.lists(st.floats(min_value=0, max_value=0.2), min_size=1, max_size=50),
)
def test_schedule_never_exceeds_rate_batch_or_count(
    rate: float, batch: int, count: int, steps: list[float]
) -> None:
    s = Schedule(rate, 0.0, count, batch)
    now = 0.0
    for dt in steps:
        now += dt
        n = s.take(now)
        assert 0 <= n <= batch
        assert s.sent <= rate * now + 1 + 1e-9
        if count:
            assert s.sent <= count
    with pytest.raises(ValueError, match="batch"):
        Schedule(1, 0.0, batch=0)


# --- subscribe commands ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "symbols"),
    [
        ('{"type": "subscribe", "channel": "TSLA"}', ["TSLA"]),  # DESIGN.md, README
        ('{"type": "subscribe", "channel": ["aapl", "MSFT"]}', ["AAPL", "MSFT"]),
        ('{"type": "subscribe", "symbols": "AAPL,MSFT", "rate": 10}', ["AAPL", "MSFT"]),  # bot
        ('{"type": "subscribe", "symbols": ["aapl", "MSFT"]}', ["AAPL", "MSFT"]),
        ('{"type": "subscribe", "symbols": "AAPL", "channel": "aapl"}', ["AAPL"]),
        ('{"type": "subscribe", "channel": ["A", null, 7]}', ["A", "7"]),
        ('{"type": "subscribe", "symbols": ""}', []),
        ('{"type": "subscribe"}', None),
        ('{"type": "subscribe", "channel": null}', None),
        ('{"type": "unsubscribe"}', None),
        ('{"type": "unsubscribe", "channel": "NVDA"}', ["NVDA"]),
    ],
)
def test_tick_commands_in_every_spelling(message: str, symbols: list[str] | None) -> None:
    cmd = parse_tick_command(message)
    assert cmd.symbols == symbols
    assert cmd == parse_tick_command(json.loads(message))  # text or a decoded object


def test_tick_command_fields() -> None:
    assert parse_tick_command('{"type": "subscribe", "channel": ["x"], "rate": 5, "count": 9}') == (
        TickCommand("subscribe", ["X"], ["x"], 5.0, 9)
    )
    assert parse_tick_command({"type": "unsubscribe"}) == TickCommand("unsubscribe")
    assert parse_tick_command({"type": "subscribe", "rate": "2.5"}).rate == 2.5


@pytest.mark.parametrize(
    ("message", "error"),
    [
        ("{not json", "expected JSON"),
        ("[]", "unknown command"),
        ('{"type": "explode"}', "unknown command"),
        ('"subscribe"', "unknown command"),
        ("[" * 100_000, "expected JSON"),
    ],
)
def test_what_is_not_a_tick_command(message: str, error: str) -> None:
    with pytest.raises(NotATickCommand, match=error):
        parse_tick_command(message)


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ({"channel": "<script>"}, "bad symbol"),
        ({"channel": ",".join(f"S{i}" for i in range(65))}, "at most 64 symbols"),
        ({"channel": "AAPL", "symbols": "MSFT"}, "not both"),
        ({"rate": -1}, "rate must be"),
        ({"rate": MAX_COMMAND_RATE * 2}, "rate must be"),
        ({"rate": "fast"}, "rate must be"),
        ({"rate": float("nan")}, "rate must be"),
        ({"count": -1}, "count >= 0"),
        ({"count": float("inf")}, "count >= 0"),
        ({"count": [1]}, "count >= 0"),
    ],
)
def test_bad_tick_commands_say_why(command: dict[str, object], error: str) -> None:
    with pytest.raises(ValueError, match=error) as info:
        parse_tick_command({"type": "subscribe", **command})
    assert not isinstance(info.value, NotATickCommand)
