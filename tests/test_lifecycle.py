"""The lifecycle state machine and the backoff (pure): every state against every event."""

from __future__ import annotations

import doctest
import importlib
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.lifecycle import (
    FINAL_STATES,
    STABLE_AFTER,
    STATES,
    TABLE,
    Action,
    Backoff,
    Event,
    Lifecycle,
    State,
    Step,
    open_failed,
    retry_delay,
    stream_ended,
    transition,
)

LIVE = [s for s in STATES if s not in FINAL_STATES]
IO_EVENTS = [e for e in Event if e not in (Event.CLOSE_REQUESTED, Event.CLOSED)]

#: What each (state, event) leads to, with reconnect on and off: the table written
#: out again by hand, so a change to it must be made twice, on purpose.
EXPECTED: dict[tuple[State, Event], tuple[tuple[State, Action], tuple[State, Action]]] = {
    ("connecting", Event.OPENED): (("open", Action.SERVE), ("open", Action.SERVE)),
    ("connecting", Event.OPEN_FAILED): (("reconnecting", Action.WAIT), ("failed", Action.STOP)),
    ("connecting", Event.OPEN_REFUSED): (("failed", Action.STOP), ("failed", Action.STOP)),
    ("connecting", Event.FINISHED): (("closed", Action.STOP), ("closed", Action.STOP)),
    ("open", Event.ENDED): (("reconnecting", Action.WAIT), ("closed", Action.STOP)),
    ("open", Event.BROKE): (("reconnecting", Action.WAIT), ("failed", Action.STOP)),
    ("reconnecting", Event.RETRY_DUE): (
        ("reconnecting", Action.OPEN),
        ("reconnecting", Action.OPEN),
    ),
    ("reconnecting", Event.OPENED): (("open", Action.SERVE), ("open", Action.SERVE)),
    ("reconnecting", Event.OPEN_FAILED): (
        ("reconnecting", Action.WAIT),
        ("failed", Action.STOP),
    ),
    ("reconnecting", Event.OPEN_REFUSED): (("failed", Action.STOP), ("failed", Action.STOP)),
    ("reconnecting", Event.FINISHED): (("closed", Action.STOP), ("closed", Action.STOP)),
}


def test_the_table_covers_exactly_the_live_events_that_can_happen() -> None:
    assert set(TABLE) == set(EXPECTED)
    assert all(state in LIVE for state, _ in TABLE)


@pytest.mark.parametrize(("state", "event"), list(itertools.product(STATES, Event)))
@pytest.mark.parametrize("reconnect", [True, False])
@pytest.mark.parametrize("closing", [False, True])
def test_every_state_and_event(state: State, event: Event, reconnect: bool, closing: bool) -> None:
    if event is Event.CLOSED:
        expected: tuple[State, Action] | None = ("closed", Action.STOP)
    elif closing or event is Event.CLOSE_REQUESTED or state in FINAL_STATES:
        expected = (state, Action.STOP)  # the I/O stops; only CLOSED changes the state now
    elif (state, event) in EXPECTED:
        on, off = EXPECTED[state, event]
        expected = on if reconnect else off
    else:
        expected = None
    if expected is None:
        with pytest.raises(RuntimeError, match=f"{event.value!r} cannot happen in state"):
            transition(state, event, reconnect=reconnect, closing=closing)
        return
    step = transition(state, event, reconnect=reconnect, closing=closing)
    assert (step.state, step.action) == expected
    assert step.delay == 0.0


def test_final_states_are_final_except_that_close_makes_failed_closed() -> None:
    for state, event in itertools.product(FINAL_STATES, Event):
        step = transition(state, event, reconnect=True)
        assert step.action is Action.STOP
        assert step.state == ("closed" if event is Event.CLOSED else state)


@pytest.mark.parametrize(
    ("fatal", "finished", "received_any", "event"),
    [
        (False, False, False, Event.OPEN_FAILED),
        (False, False, True, Event.OPEN_FAILED),
        (True, False, False, Event.OPEN_REFUSED),
        (True, False, True, Event.OPEN_REFUSED),
        (False, True, False, Event.OPEN_REFUSED),  # over before anything came: a failure
        (True, True, False, Event.OPEN_REFUSED),
        (False, True, True, Event.FINISHED),
        (True, True, True, Event.FINISHED),
    ],
)
def test_open_failed_classifies_the_attempt(
    fatal: bool, finished: bool, received_any: bool, event: Event
) -> None:
    assert open_failed(fatal=fatal, finished=finished, received_any=received_any) is event


def test_stream_ended_classifies_the_end() -> None:
    assert stream_ended(failed=False) is Event.ENDED
    assert stream_ended(failed=True) is Event.BROKE


def _machine(reconnect: bool = True) -> Lifecycle:
    return Lifecycle(reconnect, Backoff(initial=1, factor=2, cap=8, jitter=0))


def test_retries_back_off_and_a_stable_open_starts_over() -> None:
    m = _machine()
    assert m.state == "connecting"
    delays = []
    for _ in range(5):
        step = m.handle(Event.OPEN_FAILED, now=0)
        delays.append(step.delay)
        assert m.handle(Event.RETRY_DUE).action is Action.OPEN
    assert delays == [1, 2, 4, 8, 8]
    m.handle(Event.OPENED, now=100.0)
    assert (
        m.handle(Event.ENDED, now=100.0 + STABLE_AFTER - 0.1).delay == 8
    )  # not stable: the backoff goes on
    m.handle(Event.RETRY_DUE)
    m.handle(Event.OPENED, now=200.0)
    assert m.handle(Event.BROKE, now=200.0 + STABLE_AFTER).delay == 1  # stable: from the top
    assert m.attempt == 1


def test_the_server_hint_replaces_the_first_step() -> None:
    m = _machine()
    assert m.handle(Event.OPEN_FAILED, hint=4.0).delay == 4.0
    m.handle(Event.RETRY_DUE)
    assert m.handle(Event.OPEN_FAILED, hint=4.0).delay == 8.0
    # WHATWG: wait at least the reconnection time; jitter may only add (10 % at most)
    assert retry_delay(Backoff(jitter=0.5), 0, 4.0, rand=1.0) == 4.4
    assert retry_delay(Backoff(jitter=0.5), 0, 4.0, rand=0.0) == 4.0
    assert retry_delay(Backoff(cap=1, jitter=0), 3, 4.0) == 4.0  # the hint lifts the cap


def test_a_stream_that_opened_restarts_the_hinted_backoff() -> None:
    # An SSE stream that opened was no failed attempt: the next wait is the server's
    # retry: again, however short the stream was.
    m = _machine()
    assert m.handle(Event.OPEN_FAILED, hint=4.0).delay == 4.0
    m.handle(Event.RETRY_DUE)
    m.handle(Event.OPENED, now=10.0)
    assert m.handle(Event.ENDED, now=10.1, hint=4.0).delay == 4.0


def test_the_policy_can_change_between_decisions() -> None:
    m = _machine()
    m.handle(Event.OPENED)
    m.reconnect = False
    assert m.handle(Event.BROKE) == Step("failed", Action.STOP)
    assert m.final


def test_once_close_is_requested_every_report_stops_the_io() -> None:
    m = _machine()
    assert m.handle(Event.CLOSE_REQUESTED) == Step("connecting", Action.STOP)
    assert m.closing
    # An open that completed as close() cancelled it must not start serving.
    assert m.handle(Event.OPENED) == Step("connecting", Action.STOP)
    assert m.handle(Event.OPEN_FAILED) == Step("connecting", Action.STOP)
    assert m.handle(Event.CLOSED) == Step("closed", Action.STOP)
    assert m.final


def test_a_failed_connection_closes() -> None:
    m = _machine(reconnect=False)
    assert m.handle(Event.OPEN_REFUSED).state == "failed"
    m.handle(Event.CLOSE_REQUESTED)
    assert m.handle(Event.CLOSED).state == "closed"


def test_an_impossible_event_is_an_error() -> None:
    m = _machine()
    m.handle(Event.OPENED)
    with pytest.raises(RuntimeError, match="rtnb bug: 'opened' cannot happen in state 'open'"):
        m.handle(Event.OPENED)
    assert m.state == "open"


def test_backoff_grows_and_caps() -> None:
    b = Backoff(initial=0.5, factor=2, cap=4, jitter=0)
    assert [b.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    with pytest.raises(ValueError):
        Backoff(factor=0.5)


@given(st.integers(min_value=0, max_value=10_000), st.floats(min_value=0, max_value=1))
def test_backoff_never_spins(attempt: int, rand: float) -> None:
    b = Backoff(initial=0.0, jitter=1.0, floor=0.05)
    d = b.delay(attempt, rand)
    assert 0.05 <= d <= 30


def test_backoff_is_still_importable_from_its_old_places() -> None:
    import rtnb
    import rtnb.stats

    assert rtnb.Backoff is Backoff and rtnb.stats.Backoff is Backoff


def test_docstring_examples() -> None:
    result = doctest.testmod(importlib.import_module("rtnb.lifecycle"))
    assert result.failed == 0 and result.attempted >= 4
