"""Property tests over everything that parses outside input: never a surprise exception.

Each parser either returns a value that satisfies its contract or raises the one
error it documents (``ValueError`` and subclasses), whatever bytes arrive:
field paths, message payloads, recordings, signaling, symbols, fault options,
SSE streams, origins and tokens. The same targets have atheris harnesses in
``fuzz/`` for long coverage-guided runs.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import string
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from rtnb import fields, recordfmt, signaling
from rtnb.message import Message
from rtnb.server.faults import FAULT_OPTIONS, MAX_DELAY_MS, parse_faults
from rtnb.server.security import (
    is_loopback_host,
    origin_allowed,
    token_from_request,
    token_matches,
)
from rtnb.sse_format import SSEParser
from rtnb.ticker import MAX_SYMBOLS, parse_symbols

#: Examples per property; for a longer hunt: RTNB_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
EXAMPLES = int(os.environ.get("RTNB_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON values orjson and the standard library agree on: 64-bit ints, finite floats.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=40,
)
# str with lone surrogates too: what a surrogateescape-decoded header can hold
# and what aiohttp makes of header bytes that are not UTF-8 (surrogateescape)
any_text = (
    st.text(st.characters(exclude_categories=()), max_size=200)
    | st.text(max_size=200)
    | st.binary(max_size=60).map(lambda b: b.decode("utf-8", "surrogateescape"))
)
payloads = any_text | st.binary(max_size=200)


def deeply_nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- rtnb.fields ----------------------------------------------------------------------


@FUZZ
@given(any_text)
@example("01")  # found by fuzz/run.py fields: "01" became index 1, then "1"
@example("a.\u0663")  # an Arabic-Indic digit is not a list index
@example("a.\u00b2")  # superscript two: isdigit() is True, int() refuses it
def test_parse_path_returns_parts_or_a_value_error(path: str) -> None:
    try:
        parts = fields.parse_path(path)
    except ValueError as exc:
        assert str(exc)
        return
    assert ".".join(str(p) for p in parts) == path
    assert all(p != "" for p in parts)


@FUZZ
@given(json_values, any_text)
def test_get_path_never_raises_beyond_value_error(doc: object, path: str) -> None:
    try:
        fields.get_path(doc, path)
    except ValueError:
        assert not path or ".." in path or path.startswith(".") or path.endswith(".")


@FUZZ
@given(json_values, st.integers(1, 10), st.integers(1, 50))
def test_flatten_is_bounded_in_width(doc: object, depth: int, items: int) -> None:
    flat = fields.flatten(doc, max_depth=depth, max_items=items)
    assert len(flat) <= max(items, 1)
    assert all(isinstance(k, str) for k in flat)


@FUZZ
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=6).filter(lambda k: "." not in k),
        st.dictionaries(
            st.text(min_size=1, max_size=4).filter(lambda k: "." not in k), json_scalars, max_size=4
        ),
        max_size=4,
    )
)
@example({"a": {"01": 1}})
def test_every_flattened_key_of_any_keys_resolves_back(doc: dict[str, dict[str, object]]) -> None:
    for key, value in fields.flatten(doc).items():
        assert fields.get_path(doc, key) == value


def test_flatten_and_get_path_survive_absurd_nesting() -> None:
    doc: object = 1
    for _ in range(50_000):
        doc = {"a": doc}
    assert len(fields.flatten(doc)) == 1  # kept whole below max_depth
    assert fields.get_path(doc, ".".join(["a"] * 50_000)) == 1


# --- Message (what every transport hands the log) -------------------------------------


@FUZZ
@given(payloads)
def test_message_views_never_raise(data: str | bytes) -> None:
    m = Message(data, seq=0, ts=0.0)
    assert isinstance(m.text, str)
    assert m.size >= 0
    m.json  # noqa: B018
    assert isinstance(m.is_json, bool)
    assert repr(m).startswith("<Message seq=0")
    rec = m.to_record()
    json.dumps(rec)  # JSON-safe


@FUZZ
@given(json_values)
def test_message_json_matches_the_standard_library(value: object) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assume(not any(0xD800 <= ord(c) <= 0xDFFF for c in text))
    m = Message(text)
    assert m.json == value or (value is None and m.is_json)
    assert Message(text.encode()).json == m.json
    assert m.size == len(text.encode())


def test_message_json_of_hostile_nesting_is_none_not_a_crash() -> None:
    assert Message(deeply_nested(200_000)).json is None
    assert Message(deeply_nested(200_000).encode()).json is None


# --- the record format ----------------------------------------------------------------


@FUZZ
@given(payloads)
def test_decode_line_raises_only_record_format_error(line: str | bytes) -> None:
    try:
        got = recordfmt.decode_line(line, lineno=3)
    except recordfmt.RecordFormatError as exc:
        assert str(exc).startswith("line 3: ")
        return
    assert got is None or isinstance(got, recordfmt.Record | recordfmt.Header)


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "ts",
                "time",
                "data",
                "data_b64",
                "direction",
                "seq",
                "event",
                "id",
                "channel",
                "rtnb_record",
                "started",
            ]
        ),
        json_values,
        max_size=8,
    )
)
def test_decode_line_of_any_object_is_a_record_or_a_clear_error(obj: dict[str, object]) -> None:
    try:
        got = recordfmt.decode_line(json.dumps(obj))
    except recordfmt.RecordFormatError:
        return
    if isinstance(got, recordfmt.Record):
        assert math.isfinite(got.ts)
        assert got.direction in ("in", "out")
        assert isinstance(got.data, str | bytes)


def test_decode_line_of_hostile_nesting_is_a_record_format_error() -> None:
    with pytest.raises(recordfmt.RecordFormatError, match="line 9: "):
        recordfmt.decode_line(deeply_nested(200_000), lineno=9)


# --- signaling ------------------------------------------------------------------------


@FUZZ
@given(payloads | st.dictionaries(st.text(max_size=12), json_values, max_size=6))
def test_signaling_parse_raises_only_value_error(message: object) -> None:
    try:
        sig = signaling.parse(message)  # type: ignore[arg-type]
    except ValueError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert isinstance(sig.type, str) and sig.type
    if sig.type in ("offer", "answer"):
        assert sig.sdp is not None and sig.sdp.lstrip().startswith("v=0")


@FUZZ
@given(
    st.sampled_from(["offer", "answer", "candidate"]),
    st.dictionaries(
        st.sampled_from(["type", "sdp", "candidate", "sdpMid", "sdpMLineIndex", "tiebreak"]),
        json_values,
        max_size=4,
    ),
)
def test_signaling_parse_of_near_valid_messages(kind: str, rest: dict[str, object]) -> None:
    message = {"type": kind, **{k: v for k, v in rest.items() if k != "type"}}
    try:
        sig = signaling.parse(json.dumps(message))
    except ValueError as exc:
        assert str(exc)
        return
    assert sig.type == kind


def test_signaling_rejects_hostile_sizes_and_nesting() -> None:
    with pytest.raises(ValueError, match="over"):
        signaling.parse("x" * (signaling.MAX_SIGNAL_SIZE + 1))
    with pytest.raises(ValueError, match="not JSON"):
        signaling.parse(deeply_nested(100_000))


# --- symbols and fault options (query strings) ----------------------------------------


@FUZZ
@given(any_text)
def test_parse_symbols_is_bounded_clean_and_idempotent(text: str) -> None:
    try:
        out = parse_symbols(text)
    except ValueError as exc:
        assert str(exc)
        return
    assert len(out) <= MAX_SYMBOLS and len(set(out)) == len(out)
    assert all(s == s.upper() and 1 <= len(s) <= 24 for s in out)
    assert parse_symbols(",".join(out)) == out


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from([*FAULT_OPTIONS, "symbols"]),
        any_text | st.floats(allow_nan=True).map(str) | st.integers().map(str),
        max_size=5,
    ),
    st.integers(0, 2**31),
)
def test_parse_faults_gives_a_bounded_plan_or_a_value_error(
    query: dict[str, str], seed: int
) -> None:
    try:
        plan = parse_faults(query, seed)
    except ValueError as exc:
        assert str(exc).startswith("query ")
        return
    assert 0 <= plan.latency <= MAX_DELAY_MS / 1000 and 0 <= plan.jitter <= MAX_DELAY_MS / 1000
    assert 0 <= plan.drop <= 1
    assert plan.cut_after is None or plan.cut_after >= 1


# --- SSE (the client's parser of an untrusted stream) ---------------------------------


@FUZZ
@given(st.lists(any_text, max_size=20), st.integers(16, 4096))
def test_sse_parser_raises_only_event_too_large_and_stays_bounded(
    chunks: list[str], limit: int
) -> None:
    parser = SSEParser(max_event_size=limit)
    try:
        for chunk in chunks:
            for event in parser.feed(chunk):
                assert len(event.data) <= limit
    except ValueError:
        return
    assert parser.retry is None or parser.retry >= 0


def test_sse_never_ending_line_is_refused_not_buffered() -> None:
    parser = SSEParser(max_event_size=10_000)
    with pytest.raises(ValueError):
        for _ in range(1000):
            parser.feed("data: " + "z" * 1000)


# --- origins and tokens ---------------------------------------------------------------

hostnames = st.text(string.ascii_lowercase + string.digits + "-", min_size=1, max_size=12)


@FUZZ
@given(any_text | st.builds("{}://{}".format, st.sampled_from(["http", "https", "x"]), any_text))
def test_origin_check_never_raises(origin: str) -> None:
    assert isinstance(
        origin_allowed(origin, ["http://127.0.0.1:8000"], ["https://ok.example"]), bool
    )
    is_loopback_host(origin)


@FUZZ
@given(st.sampled_from(["http", "https"]), hostnames, hostnames, st.integers(1, 65535))
def test_a_foreign_origin_is_refused(scheme: str, name: str, tld: str, port: int) -> None:
    assume(tld.isalpha())
    origin = f"{scheme}://{name}.{tld}:{port}"
    assert not origin_allowed(origin, ["http://127.0.0.1:8000"])
    assert origin_allowed(origin, ["http://127.0.0.1:8000"], [origin])
    # a look-alike that merely starts with an allowed origin is not it
    assert not origin_allowed(origin + ".evil.com", [], [origin])
    assert not origin_allowed(f"{scheme}://localhost.{tld}", [])


@FUZZ
@given(any_text, any_text)
def test_token_compare_never_raises_and_is_equality(offered: str, expected: str) -> None:
    assert token_matches(offered, expected) == (offered == expected)
    assert token_matches(expected, expected)
    assert not token_matches(None, expected)


@FUZZ
@given(
    st.dictionaries(st.sampled_from(["Authorization", "X"]), any_text, max_size=2),
    st.dictionaries(st.sampled_from(["token", "x"]), any_text, max_size=2),
)
def test_token_from_request_never_raises(headers: dict[str, str], query: dict[str, str]) -> None:
    got = token_from_request(headers, query)
    assert got is None or isinstance(got, str)


# --- the atheris harnesses stay runnable ----------------------------------------------

FUZZ_DIR = Path(__file__).resolve().parent.parent / "fuzz"


def _targets() -> dict[str, Callable[[bytes], None]]:
    spec = importlib.util.spec_from_file_location("rtnb_fuzz_targets", FUZZ_DIR / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.TARGETS)


TARGETS = _targets()


def test_every_harness_has_a_seed_corpus_and_accepts_it() -> None:
    assert set(TARGETS) == {p.name for p in (FUZZ_DIR / "corpus").iterdir()}
    for name, target in TARGETS.items():
        seeds = sorted((FUZZ_DIR / "corpus" / name).iterdir())
        assert seeds, name
        for seed in seeds:
            target(seed.read_bytes())


@FUZZ
@given(st.sampled_from(sorted(TARGETS)), st.binary(max_size=300))
def test_harnesses_hold_for_random_bytes(name: str, data: bytes) -> None:
    TARGETS[name](data)
