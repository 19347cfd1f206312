"""Table rows from messages: previews, cells, filters and the bounded row model (pure)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb.columns import ColumnChooser, ColumnFormats, epoch_unit, format_cell
from rtnb.message import Message
from rtnb.rows import (
    TableRows,
    cell_text,
    extra_fields,
    make_row,
    message_fields,
    parse_filter,
    payload_kind,
    payload_preview,
    pretty_payload,
    rows_html,
)


def msgs(*payloads: str | bytes, start: int = 0) -> list[Message]:
    return [Message(p, seq=start + i, ts=1000.0 + i) for i, p in enumerate(payloads)]


def test_payload_kind_tells_json_text_and_binary_apart() -> None:
    assert payload_kind(Message('{"a": 1}')) == "json"
    assert payload_kind(Message("hello")) == "text"
    assert payload_kind(Message(b'{"a": 1}')) == "json"
    assert payload_kind(Message(b"plain")) == "text"
    assert payload_kind(Message(b"\xff\xfe")) == "binary"
    assert payload_kind(Message(b"\x00\x01")) == "binary"


def test_payload_preview_shows_binary_as_size_and_hex() -> None:
    assert payload_preview(Message(b"\xff" * 40)) == "<40 bytes> " + " ".join(["ff"] * 16) + " …"
    assert payload_preview(Message(b"caf\xc3\xa9")) == "café"
    assert payload_preview(Message("a\nb\r\n c")) == "a b c"
    assert payload_preview(Message("x" * 500), limit=10) == "x" * 9 + "…"


def test_pretty_payload_indents_json_and_dumps_binary() -> None:
    assert json.loads(pretty_payload(Message('{"a":{"b":[1,2]}}'))) == {"a": {"b": [1, 2]}}
    assert "\n  " in pretty_payload(Message('{"a":{"b":[1,2]}}'))
    dump = pretty_payload(Message(bytes(range(20)) + b"\xff"))
    assert dump.startswith("21 bytes\n00000000  00 01 02")
    assert "00000010  10 11 12 13 ff" in dump
    assert pretty_payload(Message("x" * 100), limit=10).endswith("(90 more characters)")


def test_cell_text_uses_json_spelling_and_bounds_length() -> None:
    assert cell_text(None) == "null"
    assert cell_text(False) == "false"
    assert cell_text({"a": 1}) == '{"a":1}'
    assert cell_text("é" * 100, limit=5) == "éééé…"


def test_message_fields_flattens_or_picks_columns() -> None:
    m = Message('{"symbol": "A", "bid": {"px": 1.5, "size": 3}}')
    assert message_fields(m) == {"symbol": "A", "bid.px": 1.5, "bid.size": 3}
    assert message_fields(m, ["bid.size", "nope"]) == {"bid.size": 3}
    assert message_fields(Message("not json")) == {}
    assert message_fields(Message("42")) == {"value": 42}
    assert message_fields(Message("42"), ["value"]) == {"value": 42}


def test_make_row_carries_meta_and_sse_fields() -> None:
    m = Message('{"p": 1}', seq=7, ts=12.5, event="tick", id="99")
    row = make_row(m)
    assert row["seq"] == 7 and row["ts"] == 12.5 and row["dir"] == "in"
    assert row["event"] == "tick" and row["id"] == "99" and "channel" not in row
    assert row["cells"] == {"p": "1"} and row["kind"] == "json" and row["size"] == 8
    assert row["data"] == ""  # the fields are in the cells
    assert make_row(Message("[]"))["data"] == "[]"
    json.dumps(row)  # JSON-safe: it goes over the comm as is
    out = make_row(Message(b"\x00\x01", direction="out"))
    assert out["dir"] == "out" and out["kind"] == "binary" and out["cells"] == {}


@pytest.mark.parametrize(
    ("spec", "keep"),
    [
        ("symbol=AAPL", [True, False, False, False]),
        ("symbol = AAPL", [True, False, False, False]),
        ("symbol~AA", [True, False, True, False]),
        ("~MSFT", [False, True, False, False]),
        ("hello", [False, False, False, True]),
        ({"symbol": "AAPL"}, [True, False, False, False]),
        ("n=1", [True, False, False, False]),
        ("ok=true", [False, True, False, False]),
    ],
)
def test_parse_filter_specs(spec: object, keep: list[bool]) -> None:
    fn = parse_filter(spec)
    assert fn is not None
    samples = msgs(
        '{"symbol": "AAPL", "n": 1}',
        '{"symbol": "MSFT", "n": 2, "ok": true}',
        '{"symbol": "AAX", "n": "x"}',
        "hello there",
    )
    assert [fn(m) for m in samples] == keep


def test_parse_filter_accepts_callables_and_none() -> None:
    assert parse_filter(None) is None
    assert parse_filter({}) is None
    fn = parse_filter(lambda m: m.size > 3)
    assert fn is not None and fn(Message("long")) and not fn(Message("ab"))


@pytest.mark.parametrize("bad", ["", "   ", "a..b=1"])
def test_parse_filter_rejects_bad_specs_with_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_filter(bad)


def test_parse_filter_rejects_other_types() -> None:
    with pytest.raises(TypeError, match="filter must be"):
        parse_filter(42)


def test_table_rows_keeps_only_the_newest_and_discovers_columns() -> None:
    t = TableRows(max_rows=3)
    new = t.add(msgs(*(f'{{"i": {i}}}' for i in range(10)), '{"i": 10, "extra": {"deep": 1}}'))
    assert [r["seq"] for r in new] == [8, 9, 10]
    assert [r["seq"] for r in t.snapshot()] == [8, 9, 10]
    assert t.columns == ["i", "extra.deep"]
    assert t.seen == 11 and t.matched == 11
    more = t.add(msgs('{"j": 1}', start=11))
    assert [r["seq"] for r in more] == [11]
    assert [r["seq"] for r in t.snapshot()] == [9, 10, 11]
    assert t.columns == ["i", "extra.deep", "j"]


def test_table_rows_count_skipped_messages_as_seen() -> None:
    t = TableRows(max_rows=2)
    t.add(msgs('{"i": 1}', '{"i": 2}'), skipped=98)
    assert t.seen == 100 and t.matched == 100
    f = TableRows(max_rows=2, filter="i=1")
    f.add(msgs('{"i": 1}'), skipped=5)
    assert f.seen == 6 and f.matched == 1


def test_table_rows_fixed_columns_and_filter() -> None:
    t = TableRows(max_rows=5, columns=["price"], filter="symbol=A")
    t.add(msgs('{"symbol": "A", "price": 1}', '{"symbol": "B", "price": 2}', "text"))
    assert t.columns == ["price"]
    assert [r["cells"] for r in t.snapshot()] == [{"price": "1"}]
    assert t.seen == 3 and t.matched == 1


def test_table_rows_bounds_discovered_columns() -> None:
    t = TableRows(max_columns=4)
    t.add(msgs(json.dumps({f"k{i}": i for i in range(50)})))
    assert t.columns == ["k0", "k1", "k2", "k3"]


def test_table_rows_clear_forgets_rows_and_columns() -> None:
    t = TableRows(columns=None)
    t.add(msgs('{"a": 1}'))
    t.clear()
    assert t.snapshot() == [] and t.columns == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
def test_table_rows_rejects_bad_max_rows(bad: object) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        TableRows(max_rows=bad)  # type: ignore[arg-type]


@given(
    n=st.integers(0, 60),
    max_rows=st.integers(1, 20),
    cuts=st.lists(st.integers(0, 60), max_size=6),
)
def test_coalesced_flushes_show_the_same_rows_as_one_flush(
    n: int, max_rows: int, cuts: list[int]
) -> None:
    stream = msgs(*(json.dumps({"i": i, f"f{i % 3}": i}) for i in range(n)))
    whole = TableRows(max_rows=max_rows)
    whole.add(stream)
    pieces = TableRows(max_rows=max_rows)
    shipped = 0
    bounds = sorted({0, n, *(c for c in cuts if c <= n)})
    for lo, hi in itertools.pairwise(bounds):
        new = pieces.add(stream[lo:hi])
        assert len(new) <= max_rows  # a flush never ships more than fits
        shipped += len(new)
    assert pieces.snapshot() == whole.snapshot()
    assert set(whole.columns) <= set(pieces.columns)  # columns come from rows shown
    assert shipped <= n


def test_rows_html_escapes_and_limits() -> None:
    rows = [make_row(m) for m in msgs(*(json.dumps({"s": f"<b>{i}</b>"}) for i in range(30)))]
    html = rows_html(["s"], rows, limit=5)
    assert "&lt;b&gt;29&lt;/b&gt;" in html and "<b>29" not in html
    assert html.count("<tr>") == 6  # header + 5 rows
    assert "25 older rows" in html


def test_docstring_examples_hold() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("rtnb.rows"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def tick(i: int) -> str:
    return json.dumps({"t": 1_764_000_000 + i / 10, "symbol": "AAPL", "price": 100 + i % 7 / 4})


def test_an_odd_message_mid_stream_adds_no_columns() -> None:
    t = TableRows(max_rows=500)
    t.add(msgs(*(tick(i) for i in range(100))))
    ack = json.dumps({"type": "subscribed", "channel": "x", "symbols": ["A", "B"]})
    t.add(msgs(ack, *(tick(i) for i in range(100, 110)), start=100))
    assert t.columns == ["t", "symbol", "price"]
    odd = next(r for r in t.snapshot() if "type" in r["cells"])
    assert extra_fields(odd, t.columns) == "type=subscribed channel=x symbols.0=A symbols.1=B"


def test_a_first_odd_message_leaves_the_columns_once_the_stream_has_a_shape() -> None:
    t = TableRows(max_rows=500)
    t.add(msgs('{"type": "welcome", "version": 2}'))
    assert t.columns == ["type", "version"]  # nothing else seen yet
    t.add(msgs(*(tick(i) for i in range(40)), start=1))
    assert t.columns == ["t", "symbol", "price"]


def test_columns_of_two_message_kinds_do_not_flicker_at_the_threshold() -> None:
    c = ColumnChooser(window=100)
    history = []
    for i in range(1000):
        # "extra" on about a quarter of messages, drifting around the add share
        c.observe(["a", "extra"] if (i * 7919) % 100 < 22 + (i // 100) % 3 * 5 else ["a"])
        history.append(tuple(c.choose()))
    changes = sum(1 for x, y in itertools.pairwise(history) if x != y)
    assert changes <= 2


@given(
    shapes=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), unique=True), max_size=300
    ),
    pinned=st.lists(st.sampled_from(["p", "a", "q"]), unique=True, max_size=3),
    max_columns=st.integers(1, 6),
)
def test_column_choice_keeps_pins_first_and_stays_bounded(
    shapes: list[list[str]], pinned: list[str], max_columns: int
) -> None:
    c = ColumnChooser(max_columns=max_columns, window=50)
    c.pinned = pinned
    for shape in shapes:
        c.observe(shape)
        cols = c.choose()
        assert cols[: len(pinned)] == pinned
        assert len(cols) == len(set(cols)) <= len(pinned) + max_columns
    recent = shapes[-50:]
    if len(recent) >= 20:  # a field on every recent message always has a column (room allowing)
        always = [k for k in "abcdef" if all(k in s for s in recent)]
        assert set(always[:max_columns]) <= set(c.columns) or len(c.columns) >= max_columns


def test_table_rows_pin_and_clear_keep_pins() -> None:
    t = TableRows(pinned=["zz"])
    t.add(msgs('{"a": 1}'))
    assert t.columns == ["zz", "a"]
    assert t.pin(["a"]) == ["a"]
    t.clear()
    assert t.columns == ["a"] and t.pinned == ["a"]
    with pytest.raises(ValueError):
        t.pin(["a..b"])


def test_epoch_unit_needs_a_plausible_time() -> None:
    assert epoch_unit("t", 1_764_000_000) == "s"
    assert epoch_unit("created_at", 1_764_000_000_123) == "ms"
    assert epoch_unit("E", 1_764_000_000_123) == "ms"  # Binance's event time
    assert epoch_unit("id", 1_764_000_000) is None  # a big id is not a time ...
    assert epoch_unit("id", 1_764_000_000, received=1_764_000_100.0) == "s"  # ... unless it is now
    assert epoch_unit("t", 5.0) is None and epoch_unit("t", True) is None
    assert epoch_unit("t", float("nan")) is None and epoch_unit("t", 9e12 * 1000) is None


def test_column_formats_decimals_times_and_text() -> None:
    f = ColumnFormats()
    f.observe({"t": 1_764_000_000.5, "p": 1.5, "q": 3, "s": "AAPL", "n": "0.0100", "m": 1})
    f.observe({"t": 1_764_000_001.5, "p": 2.25, "q": 4, "s": "MSFT", "n": "0.0200", "m": "x"})
    assert f.formats() == {
        "t": {"time": "s"},
        "p": {"decimals": 2},
        "q": {"decimals": 0},
        "n": {"decimals": 4},
    }
    f.observe({"t": 12.0})  # one value that is no time: the column shows numbers
    assert f.formats()["t"] == {"decimals": 1}
    f.clear()
    assert f.formats() == {}


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1))
def test_a_numeric_column_shows_every_value_with_the_same_decimals(values: list[float]) -> None:
    f = ColumnFormats()
    for v in values:
        f.observe({"x": v})
    fmt = f.formats()["x"]
    if "time" in fmt:
        return
    shown = [format_cell(cell_text(v), fmt) for v in values]
    assert len({len(s.partition(".")[2]) for s in shown}) == 1
    assert all(
        abs(float(s) - v) <= 10 ** -fmt["decimals"] for s, v in zip(shown, values, strict=True)
    )


def test_format_cell_leaves_text_and_shows_times() -> None:
    assert format_cell("AAPL", {"decimals": 2}) == "AAPL"
    assert format_cell("2", {"decimals": 2}) == "2.00"
    assert format_cell("nan", {"decimals": 2}) == "nan"
    assert format_cell("x", None) == "x"
    shown = format_cell("1764000000.25", {"time": "s"})
    assert len(shown) == 12 and shown.endswith(".250") and shown.count(":") == 2
    assert format_cell("1764000000250", {"time": "ms"}) == shown


def test_rows_html_shows_formats_and_odd_fields() -> None:
    t = TableRows()
    t.add(msgs(*(tick(i) for i in range(30)), '{"type": "ack"}'))
    html = rows_html(t.columns, t.snapshot(), formats=t.formats())
    assert "type=ack" in html and "<th>data</th>" in html
    assert "1764000000" not in html  # the time shows as a time
