"""rtnb.lab.wire: the lab's messages, query and summary, shared by client and server."""

from __future__ import annotations

import doctest

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rtnb.lab.wire
from rtnb.lab.wire import (
    HEADER_SIZE,
    MAX_COUNT,
    MAX_RATE,
    MAX_SECONDS,
    PAYLOAD_LIMITS,
    LabPlan,
    Summary,
    binary_intact,
    lab_payload,
    parse_header,
)


@given(
    st.integers(min_value=0, max_value=10**10 - 1),
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.integers(min_value=HEADER_SIZE + 3, max_value=5000),
    st.booleans(),
)
def test_lab_payload_has_its_size_and_parses_back(
    seq: int, t: float, size: int, binary: bool
) -> None:
    data = lab_payload(seq, t, size, binary)
    assert len(data) == size
    assert isinstance(data, bytes) is binary
    got = parse_header(data)
    assert got is not None
    assert got[0] == seq and got[1] == pytest.approx(t, abs=1e-6)


def test_binary_payload_carries_every_byte_value_and_is_checked() -> None:
    data = lab_payload(3, 1.5, HEADER_SIZE + 256, binary=True)
    assert isinstance(data, bytes)
    assert set(data[HEADER_SIZE:]) == set(range(256))
    assert binary_intact(data, len(data))
    assert not binary_intact(data.decode("utf-8", "replace"), len(data))
    assert not binary_intact(data[:-1] + b"?", len(data))
    assert parse_header('{"done": true}') is None
    assert parse_header(bytes(range(256))) is None


plans = st.builds(
    LabPlan,
    count=st.integers(0, MAX_COUNT),
    rate=st.floats(0, MAX_RATE, allow_nan=False),
    seconds=st.floats(0, MAX_SECONDS, allow_nan=False),
    size=st.integers(*PAYLOAD_LIMITS),
    binary=st.booleans(),
    cut=st.integers(0, MAX_COUNT),
    session=st.text(max_size=64),
    ids=st.booleans(),
)


@given(plans)
def test_a_plan_survives_its_query(plan: LabPlan) -> None:
    # What the client asks for is exactly what the server reads.
    assert LabPlan.from_query(plan.to_query()) == plan


def test_the_query_is_bounded_and_says_what_is_wrong() -> None:
    plan = LabPlan.from_query(
        {"count": "1e12", "rate": "-5", "seconds": "999", "size": "1", "cut": "-1"}
    )
    assert plan.count == MAX_COUNT and plan.rate == 0 and plan.seconds == MAX_SECONDS
    assert plan.size == PAYLOAD_LIMITS[0] and plan.cut == 0
    assert LabPlan.from_query({"size": "1e9", "session": "s" * 100}).size == PAYLOAD_LIMITS[1]
    assert len(LabPlan.from_query({"session": "s" * 100}).session) == 64
    assert LabPlan.from_query({}) == LabPlan() and LabPlan().to_query() == {}
    assert LabPlan.from_query({"binary": "true", "ids": "no"}).binary is True
    with pytest.raises(ValueError, match="query count='many' is not a number"):
        LabPlan.from_query({"count": "many"})
    with pytest.raises(ValueError, match="query rate must be a number"):
        LabPlan.from_query({"rate": "nan"})


def test_a_summary_reads_back_as_sent() -> None:
    full = Summary(3, 2, 64, True, "UDP (ICE host pair)", 700, 9000, "2", False, 0)
    assert Summary.decode(full.encode()) == full
    short = Summary(0, 5, 40, False)
    text = short.encode()
    assert text.startswith('{"done":true,"first":0,"sent":5,')
    assert Summary.decode(text) == short


@pytest.mark.parametrize(
    "data",
    ["", "{", '{"done": false, "sent": 3}', "[1]", b'{"done": true}', "0000000001 1.0 x"],
)
def test_anything_else_is_not_a_summary(data: str | bytes) -> None:
    assert Summary.decode(data) is None


def test_a_summary_from_another_version_is_read_leniently() -> None:
    got = Summary.decode('{"done": 1, "sent": "many", "wire_bytes": true, "extra": [1]}')
    assert got == Summary(0, 0, 0, False)


def test_docstring_examples() -> None:
    result = doctest.testmod(rtnb.lab.wire, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0
