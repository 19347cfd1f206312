"""Table rows from messages: cells, payload previews, row filters and a bounded row model.

Pure: no widgets, no I/O. The live table (:mod:`rtnb.widgets.table`) feeds the
messages it pulls from the log into a :class:`TableRows` and ships what
:meth:`TableRows.add` returns.

    >>> from rtnb.message import Message
    >>> rows = TableRows(max_rows=2)
    >>> new = rows.add([Message('{"symbol": "AAPL", "bid": {"px": 1.5}}', seq=0, ts=0.0)])
    >>> new[0]["cells"]
    {'symbol': 'AAPL', 'bid.px': '1.5'}
    >>> rows.columns
    ['symbol', 'bid.px']
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .breaks import Break
from .columns import ColumnChooser, ColumnFormats, format_cell
from .fields import MISSING, flatten, get_path, parse_path
from .message import Message

__all__ = [
    "RowFilter",
    "TableRows",
    "cell_text",
    "extra_fields",
    "make_row",
    "message_fields",
    "parse_filter",
    "payload_kind",
    "payload_preview",
    "pretty_payload",
    "rows_html",
]

RowFilter = Callable[[Message], bool]
"""Decides whether a message gets a row."""

#: Longest text shown in one cell / in the ``data`` column of a row.
CELL_LIMIT = 80
PREVIEW_LIMIT = 160
#: Longest payload shown when a row is opened.
DETAIL_LIMIT = 64 * 1024


_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\r"}


def _binary_as_text(raw: bytes) -> str | None:
    """``raw`` decoded when it is readable UTF-8 text (no control characters), else ``None``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.intersection(text[:4096]) else text


def payload_kind(msg: Message) -> str:
    """``"json"``, ``"text"`` or ``"binary"`` (binary that is readable UTF-8 counts as text).

    >>> payload_kind(Message(b"\\xff\\x00")), payload_kind(Message(b"hi"))
    ('binary', 'text')
    """
    if not isinstance(msg.data, str) and _binary_as_text(bytes(msg.data)) is None:
        return "binary"
    return "json" if msg.is_json else "text"


def _hex_preview(data: bytes, n: int = 16) -> str:
    head = data[:n].hex(" ")
    return f"<{len(data)} bytes> {head}" + (" …" if len(data) > n else "")


def payload_preview(msg: Message, limit: int = PREVIEW_LIMIT) -> str:
    """The payload as one short line: text as is, binary as text when UTF-8, else size + hex.

    >>> payload_preview(Message(b"\\x00\\x01\\x02"))
    '<3 bytes> 00 01 02'
    >>> payload_preview(Message("x" * 10), limit=5)
    'xxxx…'
    """
    data = msg.data
    if isinstance(data, str):
        text = data
    else:
        raw = bytes(data)
        decoded = _binary_as_text(raw)
        if decoded is None:
            return _hex_preview(raw)
        text = decoded
    text = " ".join(text.split()) if "\n" in text or "\r" in text else text
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty_payload(msg: Message, limit: int = DETAIL_LIMIT) -> str:
    """The whole payload for a detail view: indented JSON, text, or a hex dump.

    >>> print(pretty_payload(Message('{"a": [1, 2]}')))
    {
      "a": [
        1,
        2
      ]
    }
    """
    kind = payload_kind(msg)
    if kind == "json":
        text = json.dumps(msg.json, indent=2, ensure_ascii=False, default=str)
    elif kind == "text":
        text = msg.text
    else:
        raw = msg.data.encode() if isinstance(msg.data, str) else bytes(msg.data)
        lines = [
            f"{off:08x}  {raw[off : off + 16].hex(' '):<47}  "
            + "".join(chr(b) if 32 <= b < 127 else "." for b in raw[off : off + 16])
            for off in range(0, min(len(raw), limit // 4), 16)
        ]
        text = f"{len(raw)} bytes\n" + "\n".join(lines)
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return text


def cell_text(value: Any, limit: int = CELL_LIMIT) -> str:
    """How one value looks in a cell: JSON spelling for null/booleans/containers.

    >>> [cell_text(v) for v in (None, True, 1.25, "AAPL", [1, 2])]
    ['null', 'true', '1.25', 'AAPL', '[1,2]']
    """
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool):
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def message_fields(msg: Message, columns: Iterable[str] | None = None) -> dict[str, Any]:
    """The field values of one message: chosen ``columns``, or its JSON flattened.

    Non-JSON payloads have no fields. A top-level JSON scalar is the field ``value``.

    >>> message_fields(Message('{"a": {"b": 1}, "c": 2}'), columns=["a.b", "x"])
    {'a.b': 1}
    """
    doc = msg.json
    if doc is None:
        return {}
    if columns is None:
        return flatten(doc, max_items=64)
    out: dict[str, Any] = {}
    for col in columns:
        value = get_path(doc, col)
        if value is MISSING and col == "value" and not isinstance(doc, Mapping | list):
            value = doc
        if value is not MISSING:
            out[col] = value
    return out


def make_row(msg: Message, columns: Iterable[str] | None = None) -> dict[str, Any]:
    """One JSON-safe table row for ``msg``.

    Keys: ``seq``, ``ts`` (seconds), ``dir`` (``in``/``out``), ``kind``, ``size``,
    ``cells`` (column -> text), ``data`` (a one-line preview; empty for JSON whose
    fields are in ``cells``, to keep rows small), and ``event``, ``id``,
    ``channel``, ``topic`` when the message has them.
    """
    return _row(msg, message_fields(msg, columns))


def _row(msg: Message, fields: dict[str, Any]) -> dict[str, Any]:
    kind = payload_kind(msg)
    cells = {k: cell_text(v) for k, v in fields.items()}
    row: dict[str, Any] = {
        "seq": msg.seq,
        "ts": round(msg.ts, 3),
        "dir": msg.direction,
        "kind": kind,
        "size": msg.size,
        "data": "" if kind == "json" and cells else payload_preview(msg),
        "cells": cells,
    }
    if msg.event is not None:
        row["event"] = msg.event
    if msg.id is not None:
        row["id"] = msg.id
    if msg.channel is not None:
        row["channel"] = msg.channel
    if msg.topic is not None:
        row["topic"] = msg.topic
    return row


def extra_fields(row: Mapping[str, Any], columns: Iterable[str], limit: int = PREVIEW_LIMIT) -> str:
    """The fields of ``row`` that have no column, as one line ``k=v k=v`` (odd messages).

    >>> extra_fields({"cells": {"a": "1", "type": "ack"}}, ["a"])
    'type=ack'
    """
    shown = set(columns)
    text = " ".join(f"{k}={v}" for k, v in row["cells"].items() if k not in shown)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _equals(value: Any, wanted: Any) -> bool:
    if value is MISSING:
        return False
    if type(value) is type(wanted) and value == wanted:
        return True
    return cell_text(value, limit=10_000) == cell_text(wanted, limit=10_000)


def parse_filter(spec: Any) -> RowFilter | None:
    """Turn a filter spec into a predicate over messages (``None`` keeps everything).

    Accepted specs:

    - ``"symbol=AAPL"``: the field equals the value (compared as shown in a cell);
    - ``"symbol~AA"``: the field's text contains the value;
    - ``"~error"`` or any text without ``=``/``~``: the payload text contains it;
    - ``{"symbol": "AAPL", "side": "buy"}``: every field equals its value;
    - a callable taking a :class:`~rtnb.message.Message` and returning a bool.

    >>> keep = parse_filter("symbol=AAPL")
    >>> keep(Message('{"symbol": "AAPL"}')), keep(Message('{"symbol": "MSFT"}'))
    (True, False)

    Raises:
        ValueError: for an empty spec or a bad field path.
        TypeError: for a spec of another type.
    """
    if spec is None:
        return None
    if callable(spec):
        fn: RowFilter = spec
        return fn
    if isinstance(spec, Mapping):
        if not spec:
            return None
        wanted = [(parse_path(str(k)), v) for k, v in spec.items()]

        def all_equal(msg: Message) -> bool:
            doc = msg.json
            return doc is not None and all(_equals(get_path(doc, p), v) for p, v in wanted)

        return all_equal
    if not isinstance(spec, str):
        raise TypeError(
            "filter must be 'field=value', 'field~text', '~text', a dict of field: value, "
            f"or a function of the message, not {type(spec).__name__}"
        )
    text = spec.strip()
    if not text:
        raise ValueError("filter is empty: use 'field=value', 'field~text' or '~text'")
    eq, tilde = text.find("="), text.find("~")
    if eq < 0 and tilde < 0:
        tilde, text = 0, "~" + text
    if tilde == 0:
        needle = text[1:]

        def payload_contains(msg: Message) -> bool:
            return needle in msg.text

        return payload_contains
    cut = eq if tilde < 0 or 0 <= eq < tilde else tilde
    path, value = parse_path(text[:cut].strip()), text[cut + 1 :].strip()
    if cut == eq:

        def field_equals(msg: Message) -> bool:
            doc = msg.json
            return doc is not None and _equals(get_path(doc, path), value)

        return field_equals

    def field_contains(msg: Message) -> bool:
        doc = msg.json
        if doc is None:
            return False
        found = get_path(doc, path)
        return found is not MISSING and value in cell_text(found, limit=10_000)

    return field_contains


class TableRows:
    """The bounded set of rows a live table shows, and the increments to ship.

    Args:
        max_rows: how many rows to keep (the oldest go first).
        columns: fixed field columns, or ``None`` to choose them from the stream's
            dominant shape (:class:`ColumnChooser`).
        filter: a spec for :func:`parse_filter`.
        max_columns: the bound on chosen columns.
        pinned: columns shown first whatever the stream does (with ``columns=None``).

    :meth:`add` takes every message pulled since the last flush and returns only
    the rows that are still visible afterwards, so a flush after 100,000 messages
    ships at most ``max_rows`` rows. :attr:`columns` and :meth:`formats` follow
    the rows shipped.
    """

    def __init__(
        self,
        max_rows: int = 200,
        columns: Iterable[str] | None = None,
        filter: Any = None,
        max_columns: int = 24,
        pinned: Iterable[str] = (),
    ) -> None:
        if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
            raise ValueError(f"max_rows must be a positive integer, not {max_rows!r}")
        if isinstance(columns, str):
            columns = [columns]
        self.fixed_columns = None if columns is None else [str(c) for c in columns]
        for col in self.fixed_columns or ():
            parse_path(col)
        self.max_rows = max_rows
        self.max_columns = max_columns
        self.keep = parse_filter(filter)
        self.rows: deque[dict[str, Any]] = deque(maxlen=max_rows)
        self.chooser = ColumnChooser(max_columns)
        self.format = ColumnFormats()
        self.columns: list[str] = list(self.fixed_columns or [])
        self.seen = 0
        self.matched = 0
        self.pin(pinned)

    def pin(self, columns: Iterable[str]) -> list[str]:
        """Show these columns first, always (replaces the pinned set); returns the columns.

        Raises:
            ValueError: for a bad field path.
        """
        if isinstance(columns, str):
            columns = [columns]
        pinned = list(dict.fromkeys(str(c) for c in columns))
        for col in pinned:
            parse_path(col)
        self.chooser.pinned = pinned
        if self.fixed_columns is None:
            self.columns = self.chooser.columns
        return self.columns

    @property
    def pinned(self) -> list[str]:
        """The pinned columns."""
        return list(self.chooser.pinned)

    def add(
        self, msgs: Iterable[Message], skipped: int = 0, marks: Iterable[Break] = ()
    ) -> list[dict[str, Any]]:
        """Take new messages (oldest first); return the new rows still visible.

        ``skipped`` counts messages that went by without being passed in (a pull
        that kept only the newest ``max_rows``); they count as seen, and as
        matched when there is no filter, so the counters follow the stream.
        ``marks`` (cuts and resumes noted since the last call) become rows of
        their own, before the first message that came after each (at the end
        when none has yet); a filter never hides them.

        >>> from rtnb.breaks import BreakBook
        >>> book, t = BreakBook(), TableRows()
        >>> book.cut(seq=1, now=1.0, reason="server ended the stream")
        >>> rows = t.add([Message("a", seq=0), Message("b", seq=1)], marks=book.since(0))
        >>> [r.get("mark") or r["data"] for r in rows]
        ['a', 'cut', 'b']
        """
        chosen: deque[Message] = deque(maxlen=self.max_rows)
        keep = self.keep
        if skipped > 0:
            self.seen += skipped
            if keep is None:
                self.matched += skipped
        matched = 0
        for msg in msgs:
            self.seen += 1
            if keep is None or keep(msg):
                matched += 1
                chosen.append(msg)
        self.matched += matched
        fixed = self.fixed_columns
        new = []
        observe_shape, observe_values = self.chooser.observe, self.format.observe
        for m in chosen:
            fields = message_fields(m, fixed)
            if fields:
                observe_values(fields, m.ts)
                if fixed is None:
                    observe_shape(fields)
            new.append(_row(m, fields))
        if fixed is None and new:
            self.columns = self.chooser.choose()
        if marks:
            if chosen and (skipped > 0 or matched > len(chosen)):
                # older messages were passed over: so are the marks among them
                marks = [b for b in marks if b.seq >= chosen[0].seq]
            new = _place_marks(new, marks)
        self.rows.extend(new)
        return new[-self.max_rows :]

    def formats(self) -> dict[str, dict[str, Any]]:
        """How the numeric columns show (see :class:`ColumnFormats`)."""
        return self.format.formats()

    def snapshot(self) -> list[dict[str, Any]]:
        """The visible rows, oldest first."""
        return list(self.rows)

    def clear(self) -> None:
        """Forget every row (chosen columns and formats are forgotten too; pins stay)."""
        self.rows.clear()
        self.chooser.clear()
        self.format.clear()
        self.columns = list(self.fixed_columns or self.chooser.columns)


#: How a cut and a resume look in a static table: an icon and a colour.
MARK_LOOK = {"cut": ("&#9986;", "#cf222e"), "resume": ("&#10227;", "#1a7f37")}


def _place_marks(rows: list[dict[str, Any]], marks: Iterable[Break]) -> list[dict[str, Any]]:
    """``rows`` (oldest first) with a row for each mark before the first row it precedes."""
    out: list[dict[str, Any]] = []
    pending = sorted(marks, key=lambda b: b.n)
    i = 0
    for row in rows:
        while i < len(pending) and pending[i].seq <= row["seq"]:
            out.append(pending[i].as_row())
            i += 1
        out.append(row)
    out.extend(b.as_row() for b in pending[i:])
    return out


def rows_html(
    columns: list[str],
    rows: list[dict[str, Any]],
    limit: int = 20,
    formats: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """A static HTML table of the newest ``limit`` rows (newest first), for saved notebooks.

    >>> "<td>AAPL</td>" in rows_html(["symbol"], [make_row(Message('{"symbol": "AAPL"}'))])
    True
    """
    import html
    import time

    esc = html.escape
    shown = rows[-limit:][::-1]
    fmts = formats or {}
    extras = ["" if "mark" in r else r["data"] or extra_fields(r, columns) for r in shown]
    data_col = not columns or any(extras)
    head = "".join(f"<th>{esc(c)}</th>" for c in ["#", "time", "", *columns])
    head += "<th>data</th>" if data_col else ""
    width = 3 + len(columns) + data_col
    body = []
    for r, extra in zip(shown, extras, strict=True):
        ts = r["ts"]
        when = time.strftime("%H:%M:%S", time.localtime(ts)) + f".{int(ts % 1 * 1000):03d}"
        if "mark" in r:
            icon, colour = MARK_LOOK.get(r["mark"], ("", "#57606a"))
            body.append(
                f"<tr style='color:{colour}'><td>{icon}</td><td>{when}</td>"
                f"<td colspan={width - 2} style='text-align:left'><b>{esc(r['mark'])}</b> "
                f"{esc(r['text'])}</td></tr>"
            )
            continue
        arrow = "&#8595;" if r["dir"] == "in" else "&#8593;"
        cells = "".join(
            f"<td{' align=right' if c in fmts else ''}>"
            f"{esc(format_cell(r['cells'].get(c, ''), fmts.get(c)))}</td>"
            for c in columns
        )
        data = f"<td style='font-family:monospace'>{esc(extra)}</td>" if data_col else ""
        body.append(f"<tr><td>{r['seq'] + 1}</td><td>{when}</td><td>{arrow}</td>{cells}{data}</tr>")
    more = len(rows) - len(shown)
    tail = f"<div style='color:#57606a'>… and {more} older rows</div>" if more > 0 else ""
    return (
        "<div class='rtnb-table-static' style='font-size:12px'>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{tail}</div>"
    )
