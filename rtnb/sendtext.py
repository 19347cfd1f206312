"""What a send box's text means: JSON-looking input must parse, anything else is sent as text.

Pure. The connection panel uses :func:`parse_send_text`; the ``%rt_send`` magic
and ``--send-on-open`` use :func:`looks_like_json` through ``rtnb.magics.check_json``.

    >>> parse_send_text('{"type": "subscribe", "channel": "AAPL"}')
    ('{"type": "subscribe", "channel": "AAPL"}', None)
    >>> parse_send_text('{"type": subscribe}')[1]
    'not valid JSON (line 1, column 10): Expecting value; fix it or remove the braces to send text'
    >>> parse_send_text("hello")
    ('hello', None)
"""

from __future__ import annotations

import json

__all__ = ["looks_like_json", "parse_send_text"]


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
