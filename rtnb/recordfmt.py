"""The recording format: one JSON object per line (JSON Lines), pure encode/decode.

A recording starts with an optional header line, then one line per message,
with the same keys as :meth:`rtnb.message.Message.to_record`::

    {"rtnb_record": 1, "kind": "ws", "url": "ws://127.0.0.1:8765/ws/ticker", "started": 1764.0}
    {"seq": 0, "ts": 1764088200.125, "direction": "in", "data": "{\\"price\\": 191.4}"}
    {"seq": 1, "ts": 1764088200.325, "direction": "in", "data_b64": "AAEC"}
    {"seq": 2, "ts": 1764088200.5, "direction": "in", "data": "tick", "event": "tick", "id": "7"}

``data`` holds a text payload; ``data_b64`` a binary one (base64). ``event``
(SSE, Socket.IO), ``id`` (SSE), ``channel`` (WebRTC) and ``topic`` (MQTT)
appear only when set. ``time`` is
accepted as a synonym of ``ts`` when reading.

    >>> rec = Record(ts=1.5, data=b"\\x00\\x01", direction="in")
    >>> line = encode(rec)
    >>> line
    '{"ts":1.5,"direction":"in","data_b64":"AAE="}'
    >>> decode(line) == rec
    True
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from .errors import RTError

__all__ = [
    "FORMAT_VERSION",
    "Header",
    "Record",
    "RecordFormatError",
    "decode",
    "decode_line",
    "encode",
    "encode_header",
    "from_message_record",
]

FORMAT_VERSION = 1
_DIRECTIONS = ("in", "out")
_TEXT_FIELDS = ("event", "id", "channel", "topic")


class RecordFormatError(RTError, ValueError):
    """A line of a recording is not a valid record (the message says which and why)."""


@dataclass(frozen=True)
class Record:
    """One recorded message.

    Attributes:
        ts: when it was received or sent (``time.time()`` seconds).
        data: the payload: ``str`` for text, ``bytes`` for binary.
        direction: ``"in"`` (received) or ``"out"`` (sent).
        event: the SSE event type or Socket.IO event name, if any.
        id: the SSE event id, if any.
        channel: the WebRTC data-channel label, if any.
        topic: the MQTT topic, if any.
        seq: the message's position in its connection's log (``-1`` if unknown).
    """

    ts: float
    data: str | bytes
    direction: Literal["in", "out"] = "in"
    event: str | None = None
    id: str | None = None
    channel: str | None = None
    topic: str | None = None
    seq: int = -1


@dataclass(frozen=True)
class Header:
    """The optional first line: where the recording came from.

    Attributes:
        kind: the connection kind recorded (``"ws"``, ``"sse"``, ...).
        url: the URL recorded.
        started: when recording started (``time.time()`` seconds).
        version: the format version.
    """

    kind: str = ""
    url: str = ""
    started: float = 0.0
    version: int = FORMAT_VERSION


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode(rec: Record) -> str:
    """One record as a line of JSON (no newline).

    >>> encode(Record(ts=2.0, data="hi", direction="out", seq=3))
    '{"seq":3,"ts":2.0,"direction":"out","data":"hi"}'
    """
    obj: dict[str, Any] = {}
    if rec.seq >= 0:
        obj["seq"] = rec.seq
    obj["ts"] = rec.ts
    obj["direction"] = rec.direction
    if isinstance(rec.data, str):
        obj["data"] = rec.data
    else:
        obj["data_b64"] = base64.b64encode(bytes(rec.data)).decode("ascii")
    for key in _TEXT_FIELDS:
        value = getattr(rec, key)
        if value is not None:
            obj[key] = value
    return _dumps(obj)


def from_message_record(obj: dict[str, Any]) -> str:
    """Encode a :meth:`Message.to_record` dict as a line (same keys, compact JSON)."""
    return _dumps(obj)


def encode_header(header: Header) -> str:
    """The header line.

    >>> encode_header(Header(kind="ws", url="ws://h/ws/echo", started=1.0))
    '{"rtnb_record":1,"kind":"ws","url":"ws://h/ws/echo","started":1.0}'
    """
    return _dumps(
        {
            "rtnb_record": header.version,
            "kind": header.kind,
            "url": header.url,
            "started": header.started,
        }
    )


def decode_line(line: str | bytes, lineno: int = 0) -> Record | Header | None:
    """Parse one line: a :class:`Record`, a :class:`Header`, or ``None`` for a blank line.

    Raises:
        RecordFormatError: when the line is not JSON or misses/mistypes a field.
    """
    where = f"line {lineno}: " if lineno else ""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise RecordFormatError(f"{where}not JSON ({exc.args[0] if exc.args else exc})") from None
    except RecursionError:  # "[[[[..." nested past the interpreter's limit
        raise RecordFormatError(f"{where}JSON nested too deeply") from None
    if not isinstance(obj, dict):
        raise RecordFormatError(f"{where}a record is a JSON object, not {type(obj).__name__}")
    if "rtnb_record" in obj:
        return _header(obj, where)
    return _record(obj, where)


def decode(line: str | bytes) -> Record:
    """Parse one message line.

    Raises:
        RecordFormatError: when it is not a message record.
    """
    got = decode_line(line)
    if not isinstance(got, Record):
        raise RecordFormatError("not a message record")
    return got


def _header(obj: dict[str, Any], where: str) -> Header:
    version = obj.get("rtnb_record")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise RecordFormatError(
            f"{where}unsupported recording version {version!r} (this rtnb reads "
            f"up to {FORMAT_VERSION})"
        )
    started = obj.get("started", 0.0)
    return Header(
        kind=str(obj.get("kind", "")),
        url=str(obj.get("url", "")),
        started=float(started) if isinstance(started, int | float) else 0.0,
        version=version,
    )


def _record(obj: dict[str, Any], where: str) -> Record:
    ts = obj.get("ts", obj.get("time"))
    if not isinstance(ts, int | float) or isinstance(ts, bool) or not math.isfinite(ts):
        raise RecordFormatError(f"{where}'ts' must be a number of seconds, not {ts!r}")
    direction = obj.get("direction", "in")
    if direction not in _DIRECTIONS:
        raise RecordFormatError(f"{where}'direction' must be 'in' or 'out', not {direction!r}")
    data: str | bytes
    if "data" in obj:
        if not isinstance(obj["data"], str):
            raise RecordFormatError(
                f"{where}'data' must be a string (binary goes in 'data_b64'), "
                f"not {type(obj['data']).__name__}"
            )
        data = obj["data"]
    elif "data_b64" in obj:
        raw = obj["data_b64"]
        if not isinstance(raw, str):
            raise RecordFormatError(f"{where}'data_b64' must be a base64 string")
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise RecordFormatError(f"{where}'data_b64' is not valid base64") from None
    else:
        raise RecordFormatError(f"{where}a record needs 'data' or 'data_b64'")
    extra: dict[str, str | None] = {}
    for key in _TEXT_FIELDS:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            value = str(value)
        extra[key] = value
    seq = obj.get("seq", -1)
    if not isinstance(seq, int) or isinstance(seq, bool):
        seq = -1
    return Record(
        ts=float(ts),
        data=data,
        direction=direction,
        event=extra["event"],
        id=extra["id"],
        channel=extra["channel"],
        topic=extra["topic"],
        seq=seq,
    )
