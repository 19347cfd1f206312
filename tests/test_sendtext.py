"""Send-box input: JSON-looking text must parse, the rest is text (pure)."""

from __future__ import annotations

import pytest

from rtnb.sendtext import looks_like_json, parse_send_text


@pytest.mark.parametrize(
    "text", ['{"a": 1}', "[1, 2]", '  {"a": [true, null]}  ', "hello", "1 + 1"]
)
def test_valid_input_is_sent_exactly_as_typed(text: str) -> None:
    assert parse_send_text(text) == (text, None)


@pytest.mark.parametrize("text", ['{"a": }', "[1, 2", "{'single': 1}", '{"a": 1} trailing'])
def test_bad_json_is_reported_in_one_line_and_not_sent(text: str) -> None:
    payload, error = parse_send_text(text)
    assert payload is None
    assert error is not None and error.startswith("not valid JSON") and "\n" not in error


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_input_is_refused(text: str) -> None:
    assert parse_send_text(text) == (None, "nothing to send: type a message first")


def test_looks_like_json() -> None:
    assert looks_like_json(' {"a"') and looks_like_json("[") and not looks_like_json("a{")


def test_docstring_examples_hold() -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module("rtnb.sendtext"), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
