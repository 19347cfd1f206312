"""The pure recording format: round trips, agreement with Message.to_record, bad lines."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.message import Message
from rtnb.recordfmt import (
    Header,
    Record,
    RecordFormatError,
    decode,
    decode_line,
    encode,
    encode_header,
    from_message_record,
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=50)
records = st.builds(
    Record,
    ts=st.floats(min_value=0, max_value=4e9, allow_nan=False, allow_infinity=False),
    data=st.one_of(_text, st.binary(max_size=50)),
    direction=st.sampled_from(["in", "out"]),
    event=st.none() | _text,
    id=st.none() | _text,
    channel=st.none() | _text,
    seq=st.integers(min_value=-1, max_value=2**40),
)


@given(records)
def test_encode_then_decode_gives_the_same_record(rec: Record) -> None:
    line = encode(rec)
    assert "\n" not in line
    assert decode(line) == rec


@given(records)
def test_message_to_record_is_a_valid_line(rec: Record) -> None:
    msg = Message(
        rec.data,
        ts=rec.ts,
        direction=rec.direction,
        event=rec.event,
        id=rec.id,
        channel=rec.channel,
    )
    msg.seq = max(rec.seq, 0)
    got = decode(from_message_record(msg.to_record()))
    assert got == Record(
        ts=rec.ts,
        data=rec.data,
        direction=rec.direction,
        event=rec.event,
        id=rec.id,
        channel=rec.channel,
        seq=msg.seq,
    )
    assert from_message_record(msg.to_record()) == encode(got)


def test_binary_goes_base64_and_text_stays_text() -> None:
    assert json.loads(encode(Record(ts=1.0, data=b"\x00\xff")))["data_b64"] == "AP8="
    assert json.loads(encode(Record(ts=1.0, data="h\u00e9")))["data"] == "h\u00e9"


def test_header_round_trip_and_blank_lines() -> None:
    h = Header(kind="sse", url="http://h/sse/clock", started=12.5)
    assert decode_line(encode_header(h)) == h
    assert decode_line("   \n") is None


def test_time_is_accepted_for_ts_and_direction_defaults_to_in() -> None:
    assert decode('{"time": 3, "data": "x"}') == Record(ts=3.0, data="x")


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"data": "x"}', "'ts' must be a number"),
        ('{"ts": "soon", "data": "x"}', "'ts' must be a number"),
        ('{"ts": 1, "direction": "sideways", "data": "x"}', "'direction'"),
        ('{"ts": 1, "data": 5}', "'data' must be a string"),
        ('{"ts": 1, "data_b64": "***"}', "not valid base64"),
        ('{"ts": 1, "data_b64": 7}', "base64 string"),
        ('{"ts": 1}', "needs 'data' or 'data_b64'"),
        ('{"rtnb_record": 99}', "unsupported recording version 99"),
    ],
)
def test_bad_lines_say_which_line_and_why(line: str, words: str) -> None:
    with pytest.raises(RecordFormatError) as info:
        decode_line(line, 7)
    assert str(info.value).startswith("line 7: ")
    assert words in str(info.value)


def test_decode_refuses_a_header_where_a_message_is_expected() -> None:
    with pytest.raises(RecordFormatError, match="not a message record"):
        decode(encode_header(Header()))


def test_the_format_module_is_pure() -> None:
    import ast
    from pathlib import Path

    import rtnb.recordfmt

    tree = ast.parse(Path(rtnb.recordfmt.__file__).read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    stdlib = {"__future__", "base64", "binascii", "json", "math", "dataclasses", "typing"}
    assert imported <= stdlib | {"errors"}  # rtnb.errors, itself pure (its RTError)


def test_docstring_examples() -> None:
    import doctest

    import rtnb.recordfmt

    result = doctest.testmod(rtnb.recordfmt)
    assert result.failed == 0 and result.attempted > 0
