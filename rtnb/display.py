"""Plain-text and HTML summaries of connections and servers (no widgets needed).

These are what a terminal IPython, nbconvert or a saved notebook shows.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .source import Source

__all__ = ["STATE_COLOURS", "connection_html", "human_bytes"]

STATE_COLOURS = {
    "connecting": "#d29922",
    "open": "#2da44e",
    "reconnecting": "#d29922",
    "closed": "#8c959f",
    "failed": "#cf222e",
}


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KB'``."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def connection_html(conn: Source, recent: int = 5) -> str:
    """A self-contained HTML card: state, counters and the newest messages."""
    s = conn.stats
    colour = STATE_COLOURS.get(conn.state, "#8c959f")
    esc = html.escape
    rows = []
    for m in conn.log.tail(recent)[::-1]:
        when = time.strftime("%H:%M:%S", time.localtime(m.ts)) + f".{int(m.ts % 1 * 1000):03d}"
        data = m.data
        text = f"<{m.size} bytes> {data[:16].hex()}" if isinstance(data, bytes) else data
        if len(text) > 120:
            text = text[:117] + "..."
        arrow = "&#8595;" if m.direction == "in" else "&#8593;"
        rows.append(
            f"<tr><td>{m.seq + 1}</td><td>{when}</td><td>{arrow}</td>"
            f"<td style='text-align:left;font-family:monospace'>{esc(text)}</td></tr>"
        )
    last_error = (
        f"<div style='color:#cf222e'>last error: {esc(s.last_error)}</div>" if s.last_error else ""
    )
    return (
        "<div class='rtnb-summary' style='font-family:sans-serif;font-size:13px'>"
        f"<div><span style='color:{colour}'>&#9679;</span> <b>{esc(conn.name)}</b> "
        f"<code>{esc(conn.kind)}</code> {esc(conn.url)} <i>{esc(conn.state)}</i></div>"
        f"<div>received {s.received} ({human_bytes(s.bytes_in)}) &middot; sent {s.sent} "
        f"({human_bytes(s.bytes_out)}) &middot; {s.rate:.1f} msg/s &middot; "
        f"reconnects {s.reconnects} &middot; errors {s.errors}</div>{last_error}"
        + (
            "<table style='margin-top:4px'><tr><th>#</th><th>time</th><th></th>"
            f"<th>data</th></tr>{''.join(rows)}</table>"
            if rows
            else ""
        )
        + "</div>"
    )
