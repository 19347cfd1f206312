"""The error tree and the one-line description of any exception (pure)."""

from __future__ import annotations

import doctest
import importlib

import pytest

from rtnb import errors
from rtnb.errors import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    RecvTimeout,
    RTError,
    SendNotSupported,
    describe,
)
from rtnb.recordfmt import RecordFormatError, decode_line
from rtnb.sse_format import EventTooLarge, SSEParser


def test_errors_raised_for_bad_input_are_rtnb_errors_and_value_errors() -> None:
    with pytest.raises(RecordFormatError) as bad_line:
        decode_line("not json", 3)
    with pytest.raises(EventTooLarge) as too_big:
        SSEParser(max_event_size=10).feed("data: " + "x" * 100 + "\n\n")
    for exc in (bad_line.value, too_big.value):
        assert isinstance(exc, RTError) and isinstance(exc, ValueError)


def test_every_error_class_is_drawn_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    drawn = {
        RTError,
        ConnectError,
        ConnectTimeout,
        ConnectionClosed,
        RecvTimeout,
        SendNotSupported,
        RecordFormatError,
        EventTooLarge,
        *(getattr(errors, name) for name in errors.__all__ if name[0].isupper()),
    }
    for cls in drawn:
        assert issubclass(cls, RTError)
        assert f" {cls.__name__} " in doc, cls.__name__


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (
            ConnectError("server refused the WebSocket handshake: HTTP 404"),
            "server refused the WebSocket handshake: HTTP 404",
        ),
        (
            ConnectionClosed("ws connection 'a' is closed\nmore detail"),
            "ws connection 'a' is closed",
        ),
        (ValueError("max_messages must be 1 or more"), "max_messages must be 1 or more"),
        (TypeError("send() takes str or bytes"), "send() takes str or bytes"),
        (KeyError("no connection named 'x'"), "no connection named 'x'"),  # without str()'s quotes
        (
            ConnectionRefusedError(111, "Connect call failed"),
            "ConnectionRefusedError: [Errno 111] Connect call failed",
        ),
        (ZeroDivisionError("division by zero"), "ZeroDivisionError: division by zero"),
        (RuntimeError("RuntimeError: said once"), "RuntimeError: said once"),
        (OSError("  \n  "), "OSError"),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_describe_gives_one_line(exc: BaseException, text: str) -> None:
    assert describe(exc) == text


def test_describe_keeps_the_sentence_of_rtnb_errors_that_are_value_errors() -> None:
    assert describe(RecordFormatError("line 2: not JSON")) == "line 2: not JSON"
    assert describe(SendNotSupported("SSE is one-way")) == "SSE is one-way"


def test_docstring_examples() -> None:
    result = doctest.testmod(importlib.import_module("rtnb.errors"))
    assert result.failed == 0 and result.attempted >= 2


def test_a_caller_names_its_own_sentence_errors() -> None:
    class UsageError(Exception):
        pass

    assert describe(UsageError("give a name")) == "UsageError: give a name"
    assert describe(UsageError("give a name"), (UsageError,)) == "give a name"
