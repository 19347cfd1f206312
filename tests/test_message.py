"""Message, MessageLog and cursors: the bounded log every view and recv() reads."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.errors import ConnectionClosed, MessagesMissed, RecvTimeout
from rtnb.message import Batch, Cursor, Message, MessageLog


def fill(log: MessageLog, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        log.append(Message(f'{{"i": {i}}}'))


def test_text_json_is_parsed_lazily_and_cached() -> None:
    m = Message('{"price": 1.5, "bid": {"size": 3}}')
    from rtnb.message import _UNPARSED

    assert m._json is _UNPARSED, "ingest must not parse"
    first = m.json
    assert first == {"price": 1.5, "bid": {"size": 3}}
    assert m.json is first


def test_non_json_text_is_kept_as_text_with_json_none() -> None:
    m = Message("hello {not json")
    assert m.json is None
    assert m.text == "hello {not json"
    assert not m.is_binary
    broken = Message('{"price": 1.5,')
    assert broken.json is None and broken.data == '{"price": 1.5,'


def test_binary_frame_with_utf8_json_is_parsed_and_marked_binary() -> None:
    m = Message(b'{"a": [1, 2]}')
    assert m.is_binary
    assert m.json == {"a": [1, 2]}
    assert m.text == '{"a": [1, 2]}'


def test_binary_garbage_is_not_json_and_text_is_replaced() -> None:
    m = Message(b"\xff\xfe\x00\x01")
    assert m.json is None
    assert m.is_binary
    assert "\ufffd" in m.text
    assert m.size == 4


def test_size_counts_utf8_bytes_for_text() -> None:
    assert Message("abc").size == 3
    assert Message("é").size == 2


def test_json_null_is_json() -> None:
    m = Message("null")
    assert m.json is None and m.is_json
    assert not Message("nope").is_json


def test_record_round_trips_binary_as_base64() -> None:
    rec = Message(b"\x00\xff", event="tick", id="7").to_record()
    assert rec["data_b64"] == "AP8="
    assert rec["event"] == "tick" and rec["id"] == "7"
    assert "data" not in rec


def test_log_assigns_increasing_seq_and_stays_bounded() -> None:
    log = MessageLog(max_messages=1000)
    fill(log, 100_000)
    assert len(log) == 1000
    assert log.next_seq == 100_000
    assert log.first_seq == 99_000
    assert [m.seq for m in log][:3] == [99_000, 99_001, 99_002]
    assert log.dropped == 99_000


def test_log_rejects_a_bad_bound() -> None:
    with pytest.raises(ValueError, match="positive integer"):
        MessageLog(0)


def test_cursor_returns_messages_that_arrived_before_the_call() -> None:
    log = MessageLog()
    cur = log.cursor(start=0)
    fill(log, 3)
    assert [cur.next(timeout=0).json["i"] for _ in range(3)] == [0, 1, 2]
    with pytest.raises(RecvTimeout):
        cur.next(timeout=0.01)


def test_cursor_skips_outgoing_messages() -> None:
    log = MessageLog()
    cur = log.cursor(start=0)
    log.append(Message("sent", direction="out"))
    log.append(Message("reply"))
    assert cur.next(timeout=0).data == "reply"


def test_cursor_that_fell_behind_reports_how_many_it_missed() -> None:
    log = MessageLog(max_messages=10)
    cur = log.cursor(start=0)
    fill(log, 25)
    with pytest.raises(MessagesMissed, match="15 message") as info:
        cur.next(timeout=0)
    assert info.value.missed == 15
    assert cur.next(timeout=0).json == {"i": 15}


def test_cursor_wakes_when_another_thread_appends() -> None:
    log = MessageLog()
    cur = log.cursor()
    timer = threading.Timer(0.05, lambda: log.append(Message("late")))
    timer.start()
    t0 = time.monotonic()
    assert cur.next(timeout=5).data == "late"
    assert time.monotonic() - t0 < 4
    assert not log._wakeups


def test_an_ended_log_stops_the_wait_after_what_is_left() -> None:
    log = MessageLog()
    cur = log.cursor()
    log.append(Message("last"))
    log.end("ws connection 'x' is closed")
    assert cur.next(timeout=5).data == "last"  # what arrived before the end is returned
    with pytest.raises(ConnectionClosed, match="'x' is closed"):
        cur.next(timeout=5)
    with pytest.raises(ConnectionClosed, match="'x' is closed"):
        asyncio.run(cur.anext(timeout=5))


def test_ending_the_log_wakes_a_waiting_cursor() -> None:
    log = MessageLog()
    cur = log.cursor()
    threading.Timer(0.05, log.end, args=("gone",)).start()
    t0 = time.monotonic()
    with pytest.raises(ConnectionClosed, match="gone"):
        cur.next(timeout=5)
    assert time.monotonic() - t0 < 4 and not log._wakeups


def test_async_cursor_wakes_from_another_thread() -> None:
    log = MessageLog()
    cur = log.cursor()

    async def main() -> str:
        threading.Timer(0.05, lambda: log.append(Message("async"))).start()
        msg = await cur.anext(timeout=5)
        return msg.text

    assert asyncio.run(main()) == "async"
    with pytest.raises(RecvTimeout):
        asyncio.run(cur.anext(timeout=0.01))


def test_a_waiter_whose_loop_was_closed_does_not_break_append() -> None:
    log = MessageLog()
    cur = log.cursor()
    loop = asyncio.new_event_loop()
    waiting = loop.create_task(cur.anext())
    loop.run_until_complete(asyncio.sleep(0.01))  # the waiter is registered
    loop.close()  # closed under the pending anext (no cancellation ran)
    assert log.append(Message("x")).seq == 0
    assert not waiting.done()


def test_json_nested_too_deep_is_not_json_with_the_stdlib_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from rtnb import jsonfast

    monkeypatch.setattr(jsonfast, "loads", json.loads)  # the backend without orjson
    deep = Message("[" * 100_000 + "]" * 100_000)
    assert deep.json is None and not deep.is_json
    assert Message('{"ok": [1]}').json == {"ok": [1]}


def take(log: MessageLog, seq: int, limit: int | None = None) -> tuple[list[Message], int]:
    """A batch from a fresh cursor at ``seq``: its messages and how many were missed."""
    msgs, missed, _skipped = Cursor(log, seq, direction=None).take(limit)
    return msgs, missed


def test_take_returns_new_messages_and_counts_missed() -> None:
    log = MessageLog(max_messages=5)
    fill(log, 8)
    msgs, missed = take(log, 0)
    assert missed == 3
    assert [m.seq for m in msgs] == [3, 4, 5, 6, 7]
    msgs, missed = take(log, 6)
    assert missed == 0 and [m.seq for m in msgs] == [6, 7]
    msgs, missed = take(log, 3, limit=2)
    assert [m.seq for m in msgs] == [6, 7] and missed == 0
    assert take(log, 8) == ([], 0)


def test_take_and_tail_agree_with_a_plain_slice_of_the_log() -> None:
    for bound, count in ((5, 3), (5, 5), (5, 8), (7, 20)):
        log = MessageLog(max_messages=bound)
        fill(log, count)
        stored = [m.seq for m in log]
        for seq in range(-2, count + 3):
            for limit in (None, 0, 1, 2, 3, 10):
                keep = [s for s in stored if s >= seq]
                if limit is not None:
                    keep = keep[len(keep) - limit :] if len(keep) > limit else keep
                cur = Cursor(log, seq, direction=None)
                msgs, missed, skipped = cur.take(limit)
                assert [m.seq for m in msgs] == keep, (bound, count, seq, limit)
                assert missed == max(0, log.first_seq - seq), (bound, count, seq, limit)
                # every seq from the old position to the new one is returned or counted
                assert cur.pos == max(seq, count) and not cur.pending
                assert missed + skipped + len(msgs) == max(0, count - seq)
        for n in (-1, 0, 1, 2, bound, bound + 5):
            assert [m.seq for m in log.tail(n)] == (stored[-n:] if n > 0 else [])


def test_take_and_tail_copy_only_what_they_return() -> None:
    import tracemalloc

    log = MessageLog(max_messages=200_000)
    fill(log, 200_000)
    cur = Cursor(log, log.next_seq - 5, direction=None)
    newest = Cursor(log, 0, direction=None)
    tracemalloc.start()
    try:
        msgs, missed, _ = cur.take()
        _, take_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        limited, _, skipped = newest.take(limit=3)
        _, limited_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        tail = log.tail(3)
        _, tail_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [m.seq for m in msgs] == list(range(199_995, 200_000)) and missed == 0
    assert [m.seq for m in limited] == [199_997, 199_998, 199_999] and skipped == 199_997
    assert [m.seq for m in tail] == [199_997, 199_998, 199_999]
    # a copy of the whole log would be 1.6 MB of pointers
    assert take_peak < 100_000 and limited_peak < 100_000 and tail_peak < 100_000


def test_take_leaves_out_the_other_direction_and_counts_only_the_log() -> None:
    log = MessageLog(max_messages=10)
    log.append(Message("sent", direction="out"))
    log.append(Message("reply"))
    cur = log.cursor(start=0)  # direction "in", as recv's
    batch = cur.take()
    assert [m.data for m in batch.messages] == ["reply"] and batch == Batch(batch.messages, 0, 0)
    assert cur.pos == 2


def test_take_raises_once_the_log_ended_and_everything_was_read() -> None:
    log = MessageLog()
    cur = log.cursor(start=0, direction=None)
    log.append(Message("a"))
    assert cur.take().messages[0].data == "a"
    assert cur.take() == Batch([], 0, 0)  # nothing new yet: an empty batch
    log.append(Message("b"))
    log.end("closed by the test")
    assert [m.data for m in cur.take().messages] == ["b"]
    with pytest.raises(ConnectionClosed, match="closed by the test"):
        cur.take()
    with pytest.raises(ValueError, match="limit"):
        cur.take(-1)


def test_take_is_consistent_while_another_thread_appends() -> None:
    log = MessageLog(max_messages=50)
    cur = log.cursor(start=0, direction=None)
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set() and i < 2_000_000:
            log.append(Message(str(i)))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    seen = 0
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            before = cur.pos
            msgs, missed, skipped = cur.take(limit=7 if seen % 2 else None)
            seqs = [m.seq for m in msgs]
            assert seqs == list(range(cur.pos - len(seqs), cur.pos))  # contiguous, newest
            assert before + missed + skipped + len(msgs) == cur.pos
            seen += 1
    finally:
        stop.set()
        thread.join(10)
    assert seen > 10


def test_to_pandas_flattens_json_columns() -> None:
    log = MessageLog()
    log.append(Message('{"price": 1.5, "bid": {"size": 3}}'))
    log.append(Message("plain text"))
    log.append(Message(b"\x00"))
    df = log.to_pandas()
    assert list(df["seq"]) == [0, 1, 2]
    assert df.loc[0, "price"] == 1.5
    assert df.loc[0, "bid.size"] == 3
    assert df.loc[1, "data"] == "plain text"
    assert str(df["time"].dtype).startswith("datetime64")


def test_to_pandas_of_an_empty_log_has_the_columns() -> None:
    df = MessageLog().to_pandas()
    assert list(df.columns) == ["seq", "time", "direction", "event", "id", "data"]


@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30))
def test_log_invariants_hold_for_any_append_pattern(batches: list[int]) -> None:
    log = MessageLog(max_messages=50)
    total = 0
    for n in batches:
        fill(log, n, total)
        total += n
        assert len(log) == min(total, 50)
        assert log.next_seq == total
        seqs = [m.seq for m in log]
        assert seqs == list(range(total - len(seqs), total))


@given(st.one_of(st.text(max_size=50), st.binary(max_size=50)))
def test_json_never_raises_for_any_payload(data: str | bytes) -> None:
    m = Message(data)
    m.json  # noqa: B018
    assert isinstance(m.text, str)
    assert m.size >= 0


def test_latest_is_the_newest_message_of_a_direction() -> None:
    log = MessageLog()
    assert log.latest() is None
    log.append(Message.incoming("a"))
    log.append(Message.incoming("b"))
    log.append(Message("out", direction="out"))
    assert log.latest().data == "b"  # type: ignore[union-attr]
    assert log.latest(direction=None).data == "out"  # type: ignore[union-attr]
