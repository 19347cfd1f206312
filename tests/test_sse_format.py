"""The text/event-stream parser and encoder (pure): spec cases, chunk splits, bounds."""

from __future__ import annotations

import pytest
from httpx_sse._decoders import SSEDecoder
from hypothesis import given, settings
from hypothesis import strategies as st

from rtnb.sse_format import (
    MAX_RETRY_MS,
    EventTooLarge,
    SSEEvent,
    SSEParser,
    encode_comment,
    encode_event,
    encode_retry,
    parse_event_id,
)


def parse_all(text: str, **kw: object) -> tuple[list[SSEEvent], SSEParser]:
    p = SSEParser(**kw)  # type: ignore[arg-type]
    return p.feed(text), p


def test_event_id_and_data_are_parsed() -> None:
    events, p = parse_all('id: 3\nevent: tick\ndata: {"a": 1}\n\n')
    assert events == [SSEEvent('{"a": 1}', "tick", "3")]
    assert p.last_event_id == "3"


def test_default_message_type_is_none() -> None:
    events, _ = parse_all("data: x\n\nevent: message\ndata: y\n\n")
    assert [e.event for e in events] == [None, None]


def test_multiline_data_is_joined_with_newlines() -> None:
    events, _ = parse_all("data: one\ndata:two\ndata\ndata:  three\n\n")
    assert events[0].data == "one\ntwo\n\n three"


def test_crlf_cr_and_lf_line_ends_all_work() -> None:
    events, _ = parse_all("data: a\r\n\r\ndata: b\r\rdata: c\n\n")
    assert [e.data for e in events] == ["a", "b", "c"]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    p = SSEParser()
    assert p.feed("data: a\r") == []
    assert p.feed("\n\r") == [SSEEvent("a", None, None)]
    assert p.feed("\ndata: b\n\n") == [SSEEvent("b", None, None)]


def test_an_empty_chunk_keeps_a_pending_cr() -> None:
    # issue 15.6: feed("") between the CR and the LF of one CRLF used to forget
    # the CR, so the LF became a blank line and dispatched "a" on its own.
    p = SSEParser()
    got = p.feed("data: a\r") + p.feed("") + p.feed("\ndata: b\n\n")
    assert got == [SSEEvent("a\nb", None, None)]


def test_leading_bom_is_skipped_once() -> None:
    events, _ = parse_all("\ufeffdata: a\n\n")
    assert events[0].data == "a"


def test_absurdly_long_retry_is_clamped_not_an_error() -> None:
    # WHATWG 9.2.6 sets the reconnection time from any all-digit value (issue 15.5:
    # it used to be ignored past 18 digits); rtnb clamps it to MAX_RETRY_MS.
    events, p = parse_all("retry: 250\n\nretry: " + "9" * 5000 + "\ndata: still here\n\n")
    assert [e.data for e in events] == ["still here"]
    assert p.retry == MAX_RETRY_MS and p.ignored_lines == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9" * 19, MAX_RETRY_MS),
        (str(MAX_RETRY_MS), MAX_RETRY_MS),
        (str(MAX_RETRY_MS + 1), MAX_RETRY_MS),
        ("0" * 30 + "1500", 1500),  # leading zeros: still base ten
        ("0", 0),
    ],
)
def test_retry_of_any_length_sets_the_reconnection_time(value: str, expected: int) -> None:
    _, p = parse_all(f"retry: {value}\n\n")
    assert p.retry == expected and p.ignored_lines == 0


def test_retry_only_block_dispatches_nothing() -> None:
    events, p = parse_all("retry: 2500\n\n")
    assert events == []
    assert p.retry == 2500


def test_block_without_data_keeps_its_id_but_dispatches_nothing() -> None:
    events, p = parse_all("id: 9\n\ndata: next\n\n")
    assert events == [SSEEvent("next", None, None)]
    assert p.last_event_id == "9"


def test_comments_and_unknown_fields_are_ignored_and_counted() -> None:
    events, p = parse_all(': heartbeat\n\n{"json": true}\nfoo: bar\nretry: soon\ndata: ok\n\n')
    assert events == [SSEEvent("ok", None, None)]
    assert p.ignored_lines == 3
    assert p.retry is None


def test_id_with_nul_is_ignored() -> None:
    events, p = parse_all("id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", None]
    assert p.last_event_id == "1"


def test_empty_id_resets_the_last_event_id() -> None:
    _, p = parse_all("id: 5\ndata: a\n\nid\ndata: b\n\n")
    assert p.last_event_id == ""


def test_last_event_id_given_at_start_is_kept() -> None:
    p = SSEParser(last_event_id="41")
    assert p.feed("data: x\n\n") == [SSEEvent("x", None, None)]
    assert p.last_event_id == "41"


def test_unterminated_event_stays_pending() -> None:
    p = SSEParser()
    assert p.feed("data: half") == []
    assert p.pending()


def test_event_over_the_limit_raises_with_its_id_and_earlier_events() -> None:
    p = SSEParser(max_event_size=100)
    with pytest.raises(EventTooLarge, match="max_event_size=100") as info:
        p.feed("data: small\n\nid: 7\ndata: " + "x" * 60 + "\ndata: " + "y" * 60 + "\n")
    assert info.value.event_id == "7"
    assert info.value.events == [SSEEvent("small", None, None)]


def test_endless_line_is_bounded() -> None:
    p = SSEParser(max_event_size=10_000)
    with pytest.raises(EventTooLarge, match="a line longer than") as info:
        for _ in range(1000):  # 1 MB offered, never a line break
            p.feed("x" * 1000)
    assert info.value.event_id is None
    assert not p.pending()


def test_bad_max_event_size_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        SSEParser(max_event_size=0)


def test_encode_event_round_trips() -> None:
    text = encode_event("a\r\nb\nc", event="note", id=12, retry=300)
    p = SSEParser()
    assert p.feed(text) == [SSEEvent("a\nb\nc", "note", "12")]
    assert p.retry == 300


def test_encode_refuses_line_breaks_in_event_and_id() -> None:
    with pytest.raises(ValueError):
        encode_event("x", event="a\nb")
    with pytest.raises(ValueError):
        encode_event("x", id="1\n2")


def test_encode_retry_and_comment_dispatch_nothing() -> None:
    p = SSEParser()
    assert p.feed(encode_retry(70) + encode_comment("hb\nx") + encode_comment()) == []
    assert p.retry == 70


def test_parse_event_id() -> None:
    assert parse_event_id(" 17 ") == 17
    assert parse_event_id("-1") is None
    assert parse_event_id("1e3") is None
    assert parse_event_id("9" * 30) is None
    assert parse_event_id("") is None


# --- every chunk split gives the same events --------------------------------------------

field_values = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)),
    max_size=12,
)
blocks = st.lists(
    st.tuples(
        st.sampled_from(["data", "event", "id", "retry", ":", "other"]),
        field_values,
    ),
    max_size=6,
)
newlines = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def streams(draw: st.DrawFn) -> str:
    out = []
    for block in draw(st.lists(blocks, max_size=6)):
        for name, value in block:
            nl = draw(newlines)
            out.append(f":{value}{nl}" if name == ":" else f"{name}: {value}{nl}")
        out.append(draw(newlines))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(text=streams(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_chunking_gives_the_same_events(text: str, cuts: list[int]) -> None:
    whole = SSEParser().feed(text)
    p = SSEParser()
    got: list[SSEEvent] = []
    last = 0
    for cut in sorted(c for c in cuts if c < len(text)):  # repeats make empty chunks
        got += p.feed(text[last:cut])
        last = cut
    got += p.feed(text[last:])
    assert got == whole


@settings(max_examples=300, deadline=None)
@given(text=streams())
def test_agrees_with_httpx_sse_on_events_with_data(text: str) -> None:
    # httpx-sse also dispatches blocks without data (empty data, e.g. retry-only);
    # browsers do not, and neither does rtnb. On everything else they agree.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    theirs = []
    decoder = SSEDecoder()
    data_seen = False
    for line in lines[:-1]:
        if line.startswith("data"):
            data_seen = True
        sse = decoder.decode(line)
        if sse is not None:
            if data_seen:
                theirs.append((sse.data, sse.event))
            data_seen = False
    ours = [(e.data, e.event or "message") for e in SSEParser().feed(text)]
    assert ours == theirs


def test_docstring_examples() -> None:
    import doctest

    import rtnb.sse_format

    assert doctest.testmod(rtnb.sse_format).failed == 0
