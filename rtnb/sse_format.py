"""The ``text/event-stream`` format (WHATWG HTML, section 9.2): an incremental parser and encoder.

Pure logic, no I/O. The parser follows the spec's "event stream interpretation"
exactly (which is where it differs from ``httpx_sse.SSEDecoder``: a block with no
``data:`` line dispatches nothing, as in a browser), and it is bounded: an event
or a line longer than ``max_event_size`` raises :class:`EventTooLarge` instead of
growing a buffer without end.

    >>> p = SSEParser()
    >>> p.feed("retry: 500\\nid: 7\\nevent: tick\\ndata: {\\"p\\": 1}\\n\\n")
    [SSEEvent(data='{"p": 1}', event='tick', id='7')]
    >>> p.retry, p.last_event_id
    (500, '7')
    >>> encode_event('{"p": 1}', id=8)
    'id: 8\\ndata: {"p": 1}\\n\\n'
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import RTError

__all__ = [
    "DEFAULT_MAX_EVENT_SIZE",
    "MAX_RETRY_MS",
    "EventTooLarge",
    "SSEEvent",
    "SSEParser",
    "encode_comment",
    "encode_event",
    "encode_retry",
    "parse_event_id",
]

DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

#: The largest reconnection time a ``retry:`` line can set, in milliseconds (about
#: 24.8 days, the largest delay a browser's timers hold). WHATWG 9.2.6 sets the
#: reconnection time to any all-digit value, so a longer one is clamped to this,
#: not ignored.
MAX_RETRY_MS = 2**31 - 1


class EventTooLarge(RTError, ValueError):
    """An event's data, or one line, went past the parser's ``max_event_size``.

    Attributes:
        limit: the bound that was passed.
        event_id: the id line of the oversized event, if it came before the overflow.
        events: events completed earlier in the same chunk (deliver them first).
    """

    def __init__(self, message: str, limit: int, event_id: str | None) -> None:
        super().__init__(message)
        self.limit = limit
        self.event_id = event_id
        self.events: list[SSEEvent] = []


class SSEEvent(NamedTuple):
    """One dispatched event.

    Attributes:
        data: the data lines joined with ``\\n``.
        event: the event type, ``None`` for the default ``message`` type.
        id: the value of this event's own ``id:`` line, ``None`` when it had none
            (the stream's last event id is :attr:`SSEParser.last_event_id`).
    """

    data: str
    event: str | None
    id: str | None


class SSEParser:
    """Turns decoded text chunks into events, one connection at a time.

    Args:
        max_event_size: the largest event data (and the longest line) accepted, in
            characters of text (bytes for ASCII).
        last_event_id: the stream's last event id so far (it survives reconnects).

    Attributes:
        last_event_id: the spec's "last event ID string", to send as ``Last-Event-ID``.
        retry: the latest ``retry:`` value in milliseconds (at most
            :data:`MAX_RETRY_MS`), or ``None``.
        ignored_lines: lines with a field name the spec does not define, or a bad
            ``retry:`` (not only ASCII digits) / ``id:`` (holding NUL) value (the
            spec ignores them; a high count means the response is probably not
            an event stream).
    """

    __slots__ = (
        "_bom_checked",
        "_data",
        "_event",
        "_has_id",
        "_id_buffer",
        "_partial",
        "_partial_len",
        "_pending_cr",
        "_size",
        "ignored_lines",
        "last_event_id",
        "max_event_size",
        "retry",
    )

    def __init__(
        self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE, last_event_id: str = ""
    ) -> None:
        if max_event_size < 1:
            raise ValueError(f"max_event_size must be a positive number, not {max_event_size!r}")
        self.max_event_size = max_event_size
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self.ignored_lines = 0
        self._id_buffer = last_event_id
        self._has_id = False
        self._data: list[str] = []
        self._size = 0
        self._event = ""
        self._partial: list[str] = []
        self._partial_len = 0
        self._pending_cr = False
        self._bom_checked = False

    def feed(self, text: str) -> list[SSEEvent]:
        """Parse a chunk of decoded text; return the events it completes.

        Raises:
            EventTooLarge: when an event's data or a single line passes the bound.
        """
        if not self._bom_checked and text:
            self._bom_checked = True
            if text[0] == "\ufeff":  # one leading BOM is skipped (WHATWG 9.2.5)
                text = text[1:]
        if self._pending_cr and text:  # an empty chunk says nothing about the next char
            self._pending_cr = False
            if text[0] == "\n":  # the second half of a CRLF split across chunks
                text = text[1:]
        if "\r" in text:
            if text[-1] == "\r":
                self._pending_cr = True
            # Lines end with CRLF, LF or CR alone (WHATWG 9.2.5).
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        tail = lines.pop()
        if not lines:
            if tail:
                self._hold(tail)
            return []
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = "".join(self._partial)
            self._partial = []
            self._partial_len = 0
        events = self._lines(lines)
        if tail:
            try:
                self._hold(tail)
            except EventTooLarge as exc:
                exc.events = events
                raise
        return events

    def _hold(self, part: str) -> None:
        self._partial.append(part)
        self._partial_len += len(part)
        if self._partial_len > self.max_event_size:
            self._partial = []
            self._partial_len = 0
            raise self._too_large(f"a line longer than max_event_size={self.max_event_size}")

    def _too_large(self, what: str) -> EventTooLarge:
        eid = self._id_buffer if self._has_id else None
        return EventTooLarge(
            f"{what} characters{f' (event id {eid})' if eid else ''}; "
            "raise max_event_size to accept it",
            self.max_event_size,
            eid,
        )

    def _lines(self, lines: list[str]) -> list[SSEEvent]:
        out: list[SSEEvent] = []
        data = self._data
        limit = self.max_event_size
        for line in lines:
            if line.startswith("data:"):  # the common case first
                value = line[6:] if line[5:6] == " " else line[5:]
                data.append(value)
                self._size += len(value) + 1
                if self._size > limit:
                    self._data = data = []
                    self._size = 0
                    exc = self._too_large(f"an event over max_event_size={limit}")
                    exc.events = out
                    raise exc
            elif not line:
                # Dispatch (WHATWG 9.2.6): the id is kept even when nothing is
                # dispatched; a block without data lines dispatches nothing.
                self.last_event_id = self._id_buffer
                if data:
                    event = self._event
                    out.append(
                        SSEEvent(
                            "\n".join(data),
                            event if event and event != "message" else None,
                            (self._id_buffer or None) if self._has_id else None,
                        )
                    )
                    self._data = data = []
                    self._size = 0
                self._event = ""
                self._has_id = False
            elif line[0] == ":":
                continue  # a comment, e.g. a heartbeat
            else:
                self._field(line)
        return out

    def _field(self, line: str) -> None:
        name, colon, value = line.partition(":")
        if colon and value[:1] == " ":
            value = value[1:]
        if name == "data":  # "data" with no colon: an empty data line
            self._data.append(value)
            self._size += 1
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" in value:
                self.ignored_lines += 1
            else:
                self._id_buffer = value
                self._has_id = True
        elif name == "retry":
            # WHATWG 9.2.6: "If the field value consists of only ASCII digits, then
            # interpret the field value as an integer in base ten, and set the event
            # stream's reconnection time to that integer." Any length counts: a value
            # past MAX_RETRY_MS is clamped (and never handed to int() whole, which
            # refuses past 4300 digits).
            if value.isascii() and value.isdigit():
                digits = value.lstrip("0")
                self.retry = (
                    MAX_RETRY_MS if len(digits) > 10 else min(int(digits or "0"), MAX_RETRY_MS)
                )
            else:
                self.ignored_lines += 1
        else:
            self.ignored_lines += 1

    def pending(self) -> bool:
        """True when a partial line or an undispatched event is buffered.

        At the end of a stream, such data is discarded, as the spec says.
        """
        return bool(self._partial or self._data)


def encode_event(
    data: str,
    *,
    event: str | None = None,
    id: int | str | None = None,
    retry: int | None = None,
) -> str:
    """One event in ``text/event-stream`` form, ending with its blank line.

    Multi-line ``data`` becomes several ``data:`` lines. ``event`` and ``id`` must
    be single lines.

    >>> encode_event("a\\nb", event="note")
    'event: note\\ndata: a\\ndata: b\\n\\n'

    Raises:
        ValueError: for an ``event`` or ``id`` holding a line break (or NUL in an id).
    """
    parts: list[str] = []
    if retry is not None:
        parts.append(f"retry: {int(retry)}\n")
    if event is not None:
        if "\n" in event or "\r" in event:
            raise ValueError("an SSE event type cannot contain a line break")
        parts.append(f"event: {event}\n")
    if id is not None:
        sid = str(id)
        if "\n" in sid or "\r" in sid or "\0" in sid:
            raise ValueError("an SSE id cannot contain a line break or NUL")
        parts.append(f"id: {sid}\n")
    if "\n" in data or "\r" in data:
        data = data.replace("\r\n", "\n").replace("\r", "\n")
        parts.extend(f"data: {line}\n" for line in data.split("\n"))
    else:
        parts.append(f"data: {data}\n")
    parts.append("\n")
    return "".join(parts)


def encode_retry(ms: int) -> str:
    """A block that only sets the client's reconnection delay (dispatches nothing).

    >>> encode_retry(1500)
    'retry: 1500\\n\\n'
    """
    return f"retry: {int(ms)}\n\n"


def encode_comment(text: str = "") -> str:
    """A comment block (a heartbeat that keeps proxies from closing an idle stream).

    >>> encode_comment("hb")
    ': hb\\n\\n'
    """
    text = text.replace("\r", " ").replace("\n", " ")
    return f": {text}\n\n" if text else ":\n\n"


def parse_event_id(value: str | None) -> int | None:
    """A ``Last-Event-ID`` that is a non-negative integer, else ``None``.

    >>> parse_event_id("41"), parse_event_id("x"), parse_event_id(None)
    (41, None, None)
    """
    if value is None:
        return None
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        return None
    return int(value)
