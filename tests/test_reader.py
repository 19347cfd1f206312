"""The bounded-rate pull: the flusher flushes only when something changed, coalesces, stops
cleanly; a reader follows its source's state and ends with a final update."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from rtnb.message import Batch, Message, MessageLog
from rtnb.reader import Flusher, Reader
from rtnb.runtime import get_runtime
from rtnb.source import Source, State
from rtnb.stats import Stats

from .conftest import loop_tasks, wait_for


def append_on_loop(log: MessageLog, n: int) -> None:
    done = threading.Event()

    def burst() -> None:
        for i in range(n):
            log.append(Message(f'{{"i": {i}}}'))
        done.set()

    get_runtime().call_soon(burst)
    assert done.wait(10)


def test_take_reports_missed_and_respects_limit() -> None:
    log = MessageLog(100)
    for i in range(150):
        log.append(Message(str(i)))
    cur = log.cursor(10, direction=None)
    msgs, missed, skipped = cur.take()
    assert (msgs[0].seq, len(msgs), cur.pos, missed, skipped) == (50, 100, 150, 40, 0)
    cur.pos = 140
    msgs, missed, skipped = cur.take(limit=3)
    assert [m.seq for m in msgs] == [147, 148, 149] and cur.pos == 150 and missed == 0
    assert skipped == 7
    assert cur.take() == ([], 0, 0) and cur.pos == 150


class Recorder:
    def __init__(self, log: MessageLog) -> None:
        self.log = log
        self.cursor = log.cursor(direction=None)
        self.batches: list[int] = []

    def changed(self) -> bool:
        return self.cursor.pending

    def flush(self) -> None:
        self.batches.append(len(self.cursor.take().messages))


def test_flusher_coalesces_a_burst_into_one_flush_and_idles_when_quiet() -> None:
    log = MessageLog(50_000)
    rec = Recorder(log)
    fl = Flusher("test", 20, rec.flush, rec.changed).start()
    try:
        time.sleep(0.3)  # quiet stream: no flushes at all
        assert rec.batches == []
        append_on_loop(log, 20_000)
        wait_for(lambda: sum(rec.batches) == 20_000)
        assert rec.batches == [20_000]  # one batch, not one flush per message
        append_on_loop(log, 5)
        wait_for(lambda: sum(rec.batches) == 20_005)
        assert rec.batches == [20_000, 5]
    finally:
        fl.stop()


def test_flusher_poke_forces_a_flush() -> None:
    calls: list[int] = []
    fl = Flusher("poke", 50, lambda: calls.append(1), lambda: False).start()
    try:
        time.sleep(0.1)
        assert calls == []
        fl.poke()
        wait_for(lambda: calls == [1])
    finally:
        fl.stop()


def test_flusher_survives_errors_and_reports_them() -> None:
    errors: list[BaseException] = []
    n = 0

    def flush() -> None:
        nonlocal n
        n += 1
        raise RuntimeError("boom")

    fl = Flusher("err", 50, flush, lambda: True, on_error=errors.append).start()
    try:
        wait_for(lambda: len(errors) >= 3)
        assert all(str(e) == "boom" for e in errors) and fl.running
    finally:
        fl.stop()


def test_flusher_stop_ends_its_task() -> None:
    fl = Flusher("stopme", 10, lambda: None, lambda: False).start()
    wait_for(lambda: fl.running)
    assert "rtnb-view-stopme" in loop_tasks()
    fl.stop()
    wait_for(lambda: not fl.running)
    assert "rtnb-view-stopme" not in loop_tasks()
    fl.stop()  # idempotent


@pytest.mark.parametrize("bad", [0, -1, 100, True, "10"])
def test_flusher_rejects_bad_rates(bad: object) -> None:
    with pytest.raises(ValueError, match="rate"):
        Flusher("x", bad, lambda: None, lambda: False)  # type: ignore[arg-type]


def test_docstring_examples_hold() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("rtnb.reader"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


class FakeSource:
    """Just the Source protocol (no Connection): a log, a state and on_state."""

    name, kind, url = "fake", "fake", "fake://"
    can_send, send_refusal = False, "read-only"

    def __init__(self, state: State = "open") -> None:
        self.log = MessageLog(1000)
        self.state: State = state
        self.listeners: list[Callable[[Source, State], None]] = []

    @property
    def stats(self) -> Stats:
        return Stats(received=self.log.next_seq)

    def on_state(self, fn: Callable[[Source, State], None]) -> Callable[[], None]:
        self.listeners.append(fn)
        return lambda: self.listeners.remove(fn)

    def set_state(self, state: State) -> None:
        def run() -> None:  # on the loop, like a connection
            self.state = state
            for fn in list(self.listeners):
                fn(self, state)

        get_runtime().call_soon(run)

    async def asend(self, data: Any, timeout: float | None = 10.0) -> Message:
        raise NotImplementedError

    def summary(self) -> str:
        return "fake"


class Collector(Reader):
    def __init__(self, source: Source, rate: float = 20, limit: int | None = None) -> None:
        self.batches: list[Batch] = []
        self.finals = 0
        self._open(source, limit=limit)
        self.first = self._take()
        self._start(rate)

    def _render(self, batch: Batch) -> None:
        self.batches.append(batch)

    def _finished(self) -> None:
        self.finals += 1


def test_a_reader_needs_only_the_source_protocol_and_stops_on_a_final_state() -> None:
    src = FakeSource()
    append_on_loop(src.log, 3)
    reader = Collector(src, limit=2)
    assert [m.json["i"] for m in reader.first.messages] == [1, 2] and reader.first.skipped == 1
    assert reader.running and len(src.listeners) == 1
    append_on_loop(src.log, 5)
    wait_for(lambda: sum(len(b.messages) for b in reader.batches) >= 2)
    got = reader.batches[0]
    assert [m.json["i"] for m in got.messages] == [3, 4] and got.skipped == 3
    src.set_state("failed")
    wait_for(lambda: not reader.running)
    assert reader.finals == 1 and not src.listeners
    assert reader._flusher is not None
    wait_for(lambda: reader._flusher is not None and not reader._flusher.running)
    reader._stop()  # idempotent: no second final update
    assert reader.finals == 1


def test_stopping_a_reader_from_another_thread_renders_what_is_left_first() -> None:
    src = FakeSource()
    reader = Collector(src, rate=0.1)  # no tick within the test
    append_on_loop(src.log, 4)
    reader._stop()
    assert not reader.running and reader.finals == 1
    assert [len(b.messages) for b in reader.batches] == [4]  # the final update, on the loop
    assert not src.listeners


def test_a_reader_of_an_ended_source_starts_no_timer() -> None:
    src = FakeSource("closed")
    src.log.append(Message("kept"))
    reader = Collector(src)
    assert [m.data for m in reader.first.messages] == ["kept"]
    assert not reader.running and not src.listeners
    assert reader._flusher is not None and not reader._flusher.running
