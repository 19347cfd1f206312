"""The ``%rt_list`` table: one row per connection, as plain text and as HTML."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .record import recorders

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Listing", "connection_listing"]


class Listing:
    """A table with a text and an HTML form (what %rt_list displays).

    Args:
        header: the column names.
        rows: the cells, one list per row.
        empty: what to show when there is no row.
    """

    def __init__(self, header: list[str], rows: list[list[str]], empty: str) -> None:
        self.header = header
        self.rows = rows
        self.empty = empty

    def text(self) -> str:
        """The table as aligned plain text."""
        if not self.rows:
            return self.empty
        table = [self.header, *self.rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(self.header))]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
            for r in table
        )

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<div class='rtnb-list'>{html.escape(self.empty)}</div>"
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows
        )
        return f"<table class='rtnb-list'><tr>{head}</tr>{body}</table>"


def connection_listing(conns: Iterable[Connection]) -> Listing:
    """The %rt_list table: name, kind, URL, state and counters, one row per connection."""
    header = ["name", "kind", "url", "state", "received", "sent", "rate", "errors", "recording"]
    rows = []
    for c in conns:
        s = c.stats
        rec = recorders().get(c.name)
        rows.append(
            [
                c.name,
                c.kind,
                c.url,
                c.state,
                str(s.received),
                str(s.sent),
                f"{s.rate:.1f}/s",
                str(s.errors),
                str(rec.path) if rec is not None and rec.running else "",
            ]
        )
    return Listing(header, rows, "no connections (open one with %rt_connect KIND URL)")
