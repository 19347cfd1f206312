"""The bounded-rate pull loop: flushes only when something changed, coalesces, stops cleanly."""

from __future__ import annotations

import threading
import time

import pytest

from rtnb.message import Message, MessageLog
from rtnb.runtime import get_runtime
from rtnb.widgets.flusher import Flusher, pull

from .conftest import loop_tasks, wait_for


def append_on_loop(log: MessageLog, n: int) -> None:
    done = threading.Event()

    def burst() -> None:
        for i in range(n):
            log.append(Message(f'{{"i": {i}}}'))
        done.set()

    get_runtime().call_soon(burst)
    assert done.wait(10)


def test_pull_reports_missed_and_respects_limit() -> None:
    log = MessageLog(100)
    for i in range(150):
        log.append(Message(str(i)))
    msgs, pos, missed = pull(log, 10)
    assert (msgs[0].seq, len(msgs), pos, missed) == (50, 100, 150, 40)
    msgs, pos, missed = pull(log, 140, limit=3)
    assert [m.seq for m in msgs] == [147, 148, 149] and pos == 150 and missed == 0
    assert pull(log, 150) == ([], 150, 0)


class Recorder:
    def __init__(self, log: MessageLog) -> None:
        self.log = log
        self.pos = log.next_seq
        self.batches: list[int] = []

    def changed(self) -> bool:
        return self.log.next_seq != self.pos

    def flush(self) -> None:
        msgs, self.pos, _ = pull(self.log, self.pos)
        self.batches.append(len(msgs))


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

    result = doctest.testmod(
        importlib.import_module("rtnb.widgets.flusher"), optionflags=doctest.ELLIPSIS
    )
    assert result.failed == 0 and result.attempted > 0
