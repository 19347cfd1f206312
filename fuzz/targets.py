"""Fuzz targets: each takes raw bytes, feeds one rtnb parser, and checks its contract.

A target returns quietly when the parser accepts the input or refuses it with
the error it documents; anything else (another exception, a broken invariant)
escapes and is a finding. The targets need no fuzzer: ``run.py`` drives them
with atheris, and ``tests/test_fuzz.py`` replays the seed corpus through them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable

from rtnb import fields, recordfmt, signaling
from rtnb.message import Message
from rtnb.server.faults import parse_faults
from rtnb.server.security import origin_allowed, token_from_request, token_matches
from rtnb.sse_format import SSEParser
from rtnb.ticker import MAX_SYMBOLS, parse_symbols

__all__ = ["TARGETS"]


def _text(data: bytes) -> str:
    # what aiohttp makes of bytes that are not UTF-8: lone surrogates
    return data.decode("utf-8", "surrogateescape")


def fuzz_fields(data: bytes) -> None:
    """Field paths and flattening on arbitrary paths and documents."""
    text = _text(data)
    try:
        parts = fields.parse_path(text)
    except ValueError:
        parts = None
    if parts is not None:
        assert ".".join(str(p) for p in parts) == text
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        doc = {"a": [text, {"b": text}]}
    flat = fields.flatten(doc, max_items=64)
    assert len(flat) <= 64
    with contextlib.suppress(ValueError):  # an empty part: the documented refusal
        fields.get_path(doc, text)


def fuzz_message(data: bytes) -> None:
    """Every view of a message, binary and text."""
    for payload in (data, _text(data)):
        m = Message(payload, seq=0, ts=0.0)
        m.json  # noqa: B018
        assert isinstance(m.is_json, bool)
        assert isinstance(m.text, str) and m.size >= 0
        repr(m)
        json.dumps(m.to_record())


def fuzz_recordfmt(data: bytes) -> None:
    """A recording line: a record, a header, blank, or RecordFormatError."""
    try:
        got = recordfmt.decode_line(data, lineno=1)
    except recordfmt.RecordFormatError:
        return
    if isinstance(got, recordfmt.Record):
        line = recordfmt.encode(got)
        assert recordfmt.decode(line) == got


def fuzz_signaling(data: bytes) -> None:
    """A signaling message from a peer: a Signal or ValueError."""
    try:
        sig = signaling.parse(data)
    except ValueError:
        return
    assert sig.type
    if sig.type in ("offer", "answer"):
        assert sig.sdp is not None


def fuzz_symbols(data: bytes) -> None:
    """The ``symbols`` query and subscribe channels."""
    try:
        out = parse_symbols(_text(data))
    except ValueError:
        return
    assert len(out) <= MAX_SYMBOLS
    assert parse_symbols(",".join(out)) == out


def fuzz_faults(data: bytes) -> None:
    """Fault-injection query options, ``latency=..&drop=..`` style."""
    query: dict[str, str] = {}
    for pair in _text(data).split("&"):
        key, _, value = pair.partition("=")
        query[key] = value
    try:
        plan = parse_faults(query)
    except ValueError:
        return
    assert 0 <= plan.drop <= 1 and plan.latency >= 0 and plan.jitter >= 0


def fuzz_security(data: bytes) -> None:
    """Origins and tokens as a hostile client may send them."""
    text = _text(data)
    half = len(text) // 2
    assert isinstance(origin_allowed(text, ["http://127.0.0.1:1"], ["https://ok.example"]), bool)
    assert isinstance(origin_allowed("http://" + text, []), bool)
    assert token_matches(text[:half], text[half:]) == (text[:half] == text[half:])
    token_from_request({"Authorization": text}, {"token": text})


def fuzz_sse(data: bytes) -> None:
    """An event stream cut into chunks at places chosen by the input."""
    if not data:
        return
    cuts = sorted({b % max(1, len(data)) for b in data[:4]})
    text = _text(data[4:]) if len(data) > 4 else _text(data)
    chunks, prev = [], 0
    for cut in cuts:
        chunks.append(text[prev:cut])
        prev = cut
    chunks.append(text[prev:])
    whole, split = SSEParser(max_event_size=4096), SSEParser(max_event_size=4096)
    try:
        expected = whole.feed(text)
    except ValueError:
        return
    got = []
    try:
        for chunk in chunks:
            got += split.feed(chunk)
    except ValueError:
        return
    assert [(e.data, e.event, e.id) for e in got] == [(e.data, e.event, e.id) for e in expected]


TARGETS: dict[str, Callable[[bytes], None]] = {
    name.removeprefix("fuzz_"): fn
    for name, fn in dict(globals()).items()
    if name.startswith("fuzz_") and callable(fn)
}
