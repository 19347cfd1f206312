"""What a send box's text means: JSON-looking input must parse, anything else is sent as text.

Pure. The connection panel uses :func:`parse_send_text`; the ``%rt_send`` magic
and ``--send-on-open`` use :func:`looks_like_json` through :func:`check_json`;
the option tables read headers, JSON and ports typed on a command line with
:func:`parse_header`, :func:`check_json` and :func:`port_type`;
``Connection.send`` puts on the wire what :func:`encode_payload` makes of a value;
``%rt_call`` reads its line with :func:`parse_call_line`.

    >>> parse_send_text('{"type": "subscribe", "channel": "AAPL"}')
    ('{"type": "subscribe", "channel": "AAPL"}', None)
    >>> parse_send_text('{"type": subscribe}')[1]
    'not valid JSON (line 1, column 10): Expecting value; fix it or remove the braces to send text'
    >>> parse_send_text("hello")
    ('hello', None)
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import jsonfast

__all__ = [
    "check_json",
    "encode_payload",
    "looks_like_json",
    "parse_call_line",
    "parse_header",
    "parse_send_text",
    "port_type",
]


def looks_like_json(text: str) -> bool:
    """True when ``text`` starts like a JSON object or array (after blanks)."""
    stripped = text.lstrip()
    return stripped[:1] in ("{", "[")


def parse_send_text(text: str) -> tuple[str | None, str | None]:
    """Check send-box input: ``(payload, None)`` to send, or ``(None, error)`` to show.

    The payload is the text exactly as typed (the user's spacing is kept), so
    what goes on the wire is what they see.
    """
    if not text.strip():
        return None, "nothing to send: type a message first"
    if looks_like_json(text):
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            return None, (
                f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}; "
                "fix it or remove the braces to send text"
            )
    return text, None


def encode_payload(data: Any) -> str | bytes:
    """What ``send`` puts on the wire: str as text, bytes as binary, JSON for the rest.

    >>> encode_payload({"type": "subscribe", "channel": "AAPL"})
    '{"type":"subscribe","channel":"AAPL"}'

    Raises:
        TypeError: for values that are not str, bytes or JSON-serialisable.
    """
    if isinstance(data, str):
        return data
    if isinstance(data, bytes | bytearray | memoryview):
        return bytes(data)
    if isinstance(data, dict | list | tuple | int | float | bool) or data is None:
        try:
            return jsonfast.dumps(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot send {type(data).__name__} as JSON: {exc}") from exc
    raise TypeError(
        f"send() takes str (text frame), bytes (binary frame) or a dict/list (JSON), "
        f"not {type(data).__name__}"
    )


def parse_call_line(line: str) -> tuple[str, str, Any]:
    """``%rt_call``'s line: ``NAME METHOD [PARAMS]`` -> ``(name, method, params)``.

    METHOD is one word, or quoted text (a GraphQL document) in ``'`` or ``"``;
    PARAMS, the rest of the line, is JSON (None when absent).

    >>> parse_call_line('rpc1 add [1, 2]')
    ('rpc1', 'add', [1, 2])
    >>> parse_call_line('gq1 "query Q($n: String) { hello(name: $n) }" {"n": "x"}')
    ('gq1', 'query Q($n: String) { hello(name: $n) }', {'n': 'x'})
    >>> parse_call_line('rpc1 ping')
    ('rpc1', 'ping', None)

    Raises:
        ValueError: a missing name or method, an unclosed quote, or PARAMS that is not JSON.
    """
    name, _, rest = line.strip().partition(" ")
    rest = rest.strip()
    if not name or not rest:
        raise ValueError("name the connection and the method to call")
    if rest[0] in "'\"":
        end = rest.find(rest[0], 1)
        if end < 0:
            raise ValueError(f"the method's closing {rest[0]} is missing")
        method, params_text = rest[1:end], rest[end + 1 :]
    else:
        method, _, params_text = rest.partition(" ")
    params_text = params_text.strip()
    if not method.strip():
        raise ValueError("the method is empty")
    if not params_text:
        return name, method, None
    try:
        return name, method, json.loads(params_text)
    except ValueError as exc:
        raise ValueError(f"PARAMS is not valid JSON: {exc}") from None


# --- values typed on a command line ---------------------------------------------------------


def parse_header(text: str) -> tuple[str, str]:
    """``'Authorization: Bearer x'`` -> ``('Authorization', 'Bearer x')``.

    Raises:
        ValueError: when there is no ``:`` or the name is empty or has blanks.
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise ValueError(f"a header is written 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def check_json(text: str, what: str = "payload") -> str:
    """Return ``text``; when it looks like JSON (starts with ``{`` or ``[``) it must parse.

    The same rule as the panel's send box (:func:`parse_send_text`).

    Raises:
        ValueError: naming where the JSON is broken.
    """
    if looks_like_json(text):
        try:
            json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{what} looks like JSON but does not parse: {exc}") from None
    return text


def json_body(text: str) -> Any:
    """``--json-body``'s value: the JSON it holds (a ValueError naming the flag if not JSON)."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--json-body is not valid JSON: {exc}") from None


def port_type(text: str) -> int:
    """An argparse type: a TCP port, 0-65535 (0 = any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {port}")
    return port
