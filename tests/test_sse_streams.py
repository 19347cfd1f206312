"""Shared resumable tick streams (pure): ids, history, resume plans, pacing, eviction."""

from __future__ import annotations

import pytest

from rtnb import jsonfast
from rtnb.server.sse_streams import ResumePlan, StreamRegistry, TickStream, plan_resume
from rtnb.sse_format import SSEParser


def ids(text: str) -> list[int]:
    return [int(e.id or -1) for e in SSEParser().feed(text)]


def test_ids_are_consecutive_from_one() -> None:
    s = TickStream(["AAPL", "MSFT"], rate=0, seed=3)
    s.advance(0.0, want=10)
    text, last, missed = s.read(0)
    assert ids(text) == list(range(1, 11))
    assert (last, missed) == (10, 0)


def test_read_resumes_after_an_id_with_no_duplicate() -> None:
    s = TickStream(["AAPL"], rate=0, seed=3)
    s.advance(0.0, want=20)
    first, last, _ = s.read(0, limit=7)
    rest, _, _ = s.read(last)
    assert ids(first) + ids(rest) == list(range(1, 21))


def test_same_seed_same_prices_for_the_same_ids() -> None:
    a, b = TickStream(["AAPL"], 0, seed=5), TickStream(["AAPL"], 0, seed=5)
    a.advance(1.0, want=5)
    b.advance(2.0, want=5)
    prices = [
        [jsonfast.loads(e.data)["price"] for e in SSEParser().feed(s.read(0)[0])] for s in (a, b)
    ]
    assert prices[0] == prices[1]


def test_history_is_bounded_and_old_ids_report_what_was_missed() -> None:
    s = TickStream(["AAPL"], rate=0, seed=1, history=10)
    for _ in range(4):
        s.advance(0.0, want=100)
    assert (s.oldest, s.newest) == (391, 400)
    text, last, missed = s.read(after=5)
    assert missed == 385
    assert ids(text) == list(range(391, 401))
    assert last == 400


def test_rate_is_paced_and_bursts_are_capped() -> None:
    s = TickStream(["AAPL", "MSFT"], rate=10, seed=1, now=100.0)
    assert s.advance(100.0) == 1
    assert s.advance(100.5) == 10
    assert s.wait(100.5) == pytest.approx(0.05)
    assert s.advance(1000.0) == 20  # an idle hour catches up one second only


def test_paced_ticks_carry_the_times_they_were_due() -> None:
    s = TickStream(["AAPL"], rate=10, seed=1, now=100.0)
    s.advance(100.45)
    times = [jsonfast.loads(e.data)["t"] for e in SSEParser().feed(s.read(0)[0])]
    assert times == pytest.approx([100.0, 100.1, 100.2, 100.3, 100.4])


def test_a_paced_backlog_comes_in_batches_with_no_gap() -> None:
    s = TickStream(["AAPL"], rate=1000, seed=1, history=2000, now=0.0)
    assert [s.advance(0.9) for _ in range(5)] == [256, 256, 256, 133, 0]  # 901 due by 0.9 s
    text, last, missed = s.read(0, limit=2000)
    assert (last, missed) == (901, 0) and ids(text) == list(range(1, 902))
    times = [jsonfast.loads(e.data)["t"] for e in SSEParser().feed(text)]
    assert times == sorted(times) and times[-1] == pytest.approx(0.9)


def test_finite_stream_stops_at_count() -> None:
    s = TickStream(["AAPL"], rate=0, seed=1, count=300)
    while s.advance(0.0, want=256):
        pass
    assert s.newest == 300
    assert s.finished


def test_plan_new_client_joins_live_or_from_start_of_finite() -> None:
    live = TickStream(["AAPL"], 0, 1)
    live.advance(0.0, want=50)
    assert plan_resume(live, None) == ResumePlan(50)
    finite = TickStream(["AAPL"], 0, 1, count=100)
    finite.advance(0.0, want=50)
    assert plan_resume(finite, "") == ResumePlan(0)


def test_plan_unknown_ids_start_fresh_and_say_why() -> None:
    s = TickStream(["AAPL"], 0, 1)
    s.advance(0.0, want=5)
    bad = plan_resume(s, "abc")
    assert bad.after == 5 and bad.note and "not an id" in bad.note
    future = plan_resume(s, "99")
    assert future.after == 5 and future.note and "restarted" in future.note


def test_plan_finished_client_is_done() -> None:
    s = TickStream(["AAPL"], 0, 1, count=3)
    s.advance(0.0, want=3)
    assert plan_resume(s, "3").done
    assert not plan_resume(s, "2").done


def test_registry_shares_streams_and_evicts_least_recent() -> None:
    reg = StreamRegistry(history=10, max_streams=2)
    a = reg.get((("AAPL",), 1.0, 1, 0), 0.0)
    assert reg.get((("AAPL",), 1.0, 1, 0), 1.0) is a
    reg.get((("MSFT",), 1.0, 1, 0), 2.0)
    reg.get((("AAPL",), 1.0, 1, 0), 3.0)
    reg.get((("GOOG",), 1.0, 1, 0), 4.0)
    assert len(reg) == 2
    assert reg.get((("AAPL",), 1.0, 1, 0), 5.0) is a  # MSFT went, not AAPL


def test_docstring_examples() -> None:
    import doctest

    import rtnb.server.sse_streams

    assert doctest.testmod(rtnb.server.sse_streams).failed == 0
