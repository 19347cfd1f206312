"""The protocol lab's report: a comparison as text, as HTML, and as the data of its latency plot.

Pure: strings and numbers only (:mod:`rtnb.lab.plot` draws the plot data with
matplotlib).
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .claims import Verdict
from .numbers import LABELS, ProtocolResult, format_ms, format_number

__all__ = [
    "LatencyPanel",
    "LatencyPlot",
    "latency_plot",
    "metric_rows",
    "notes",
    "render_html",
    "render_text",
]


def _latency_cell(r: ProtocolResult) -> str:
    lat = r.latency
    if lat is None:
        return "-"
    return f"{format_ms(lat.p50)} / {format_ms(lat.p95)} / {format_ms(lat.p99)}"


def _binary_cell(r: ProtocolResult) -> str:
    return {"intact": "yes, intact", "altered": "no (altered)"}.get(r.binary, r.binary)


def _send_cell(r: ProtocolResult) -> str:
    return {"echoed": "yes (echoed)", "refused": "refused"}.get(r.client_send, r.client_send)


def metric_rows(results: Sequence[ProtocolResult]) -> list[tuple[str, list[str]]]:
    """The metrics table: (metric name, one cell per protocol)."""

    def row(name: str, cell: Callable[[ProtocolResult], str]) -> tuple[str, list[str]]:
        return (name, [cell(r) for r in results])

    return [
        row("transport", lambda r: r.transport or "-"),
        row("connect, median ms", lambda r: format_ms(r.connect)),
        row("latency p50/p95/p99 ms", _latency_cell),
        row("delivered (paced)", lambda r: f"{r.paced_received}/{r.paced_sent}"),
        row("throughput msg/s", lambda r: format_number(r.msgs_per_s)),
        row("throughput MB/s", lambda r: format_number(r.mb_per_s, 2)),
        row(
            "flood delivered",
            lambda r: f"{r.flood_received}/{r.flood_sent}" if r.flood_sent else "-",
        ),
        row("overhead B/msg", lambda r: "-" if r.overhead is None else f"{r.overhead:.1f}"),
        row("handshake bytes", lambda r: format_number(r.handshake_bytes)),
        row("binary", _binary_cell),
        row("client to server", _send_cell),
        row("after a cut", lambda r: r.reconnect.split(":")[0] if r.reconnect else "-"),
    ]


def notes(results: Sequence[ProtocolResult]) -> list[str]:
    """The lines under the tables: what each client did after a cut, then every error."""
    out = [f"{r.label} after a server cut: {r.reconnect}" for r in results if r.reconnect]
    out += [f"{r.label} error: {err}" for r in results for err in r.errors]
    return out


#: Widest line :func:`render_text` writes: long cells and notes wrap at spaces to fit,
#: so a notebook or terminal never breaks a word.
TEXT_WIDTH = 100


def _table(header: list[str], rows: list[list[str]], width: int = TEXT_WIDTH) -> str:
    """Columns two spaces apart; the widest column's cells wrap at spaces to fit ``width``."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    while sum(widths) + 2 * (len(widths) - 1) > width:
        i = widths.index(max(widths))
        fit = width - (sum(widths) - widths[i]) - 2 * (len(widths) - 1)
        longest_word = max((len(w) for r in rows for w in r[i].split()), default=1)
        new = max(fit, longest_word, len(header[i]), 12)
        if new >= widths[i]:
            break  # no narrower without breaking a word: leave the line long
        widths[i] = new
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        cells = [textwrap.wrap(c, w) or [""] for c, w in zip(r, widths, strict=True)]
        for k in range(max(len(c) for c in cells)):
            parts = [
                (c[k] if k < len(c) else "").ljust(w) for c, w in zip(cells, widths, strict=True)
            ]
            lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def render_text(
    results: Sequence[ProtocolResult], verdicts: Sequence[Verdict], title: str = ""
) -> str:
    """The comparison for a terminal: metrics, the claims with verdicts, notes."""
    out = [title] if title else []
    if results:
        header = ["", *(r.label for r in results)]
        out.append(_table(header, [[name, *cells] for name, cells in metric_rows(results)]))
    if verdicts:
        out.append("")
        out.append(
            _table(
                ["feature", "protocol", "article", "verdict", "measured"],
                [
                    [v.claim.feature, LABELS[v.claim.family], v.claim.says, v.status, v.measured]
                    for v in verdicts
                ],
            )
        )
    lines = notes(results)
    if lines:
        out.append("")
        out.extend(textwrap.fill(line, TEXT_WIDTH, subsequent_indent="    ") for line in lines)
    return "\n".join(out)


_STATUS_STYLE = {
    "confirmed": "color:#1a7f37;font-weight:bold",
    "differs": "color:#bc4c00;font-weight:bold",
    "not measured": "color:#6e7781",
}


def render_html(
    results: Sequence[ProtocolResult],
    verdicts: Sequence[Verdict],
    title: str = "",
    image_png_base64: str | None = None,
) -> str:
    """The comparison as HTML: metrics, claims with verdicts, notes, an optional plot."""
    esc = html.escape
    parts = ["<div class='rtnb-compare'>"]
    if title:
        parts.append(f"<p><b>{esc(title)}</b></p>")
    if results:
        head = "".join(f"<th>{esc(r.label)}</th>" for r in results)
        body = "".join(
            f"<tr><th style='text-align:left'>{esc(name)}</th>"
            + "".join(f"<td>{esc(c)}</td>" for c in cells)
            + "</tr>"
            for name, cells in metric_rows(results)
        )
        parts.append(f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>")
    if verdicts:
        rows = "".join(
            "<tr>"
            f"<td>{esc(v.claim.feature)}</td><td>{esc(LABELS[v.claim.family])}</td>"
            f"<td>{esc(v.claim.says)}</td>"
            f"<td style='{_STATUS_STYLE[v.status]}'>{esc(v.status)}</td>"
            f"<td style='text-align:left'>{esc(v.measured)}</td>"
            "</tr>"
            for v in verdicts
        )
        parts.append(
            "<table><thead><tr><th>feature</th><th>protocol</th><th>the article says</th>"
            f"<th>verdict</th><th>measured</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    lines = notes(results)
    if lines:
        parts.append("<ul>" + "".join(f"<li>{esc(n)}</li>" for n in lines) + "</ul>")
    if image_png_base64:
        parts.append(
            f"<img alt='latency distributions' src='data:image/png;base64,{image_png_base64}'/>"
        )
    parts.append("</div>")
    return "".join(parts)


# --- the latency plot's data ----------------------------------------------------------


@dataclass(frozen=True)
class LatencyPanel:
    """One protocol's histogram: its samples and its percentile markers.

    Attributes:
        label: the protocol's display name.
        samples_ms: the latency samples, raised to the plot's first bin edge
            (a log axis cannot show 0).
        marks: ``(name, ms)`` for p50, p95 and p99.
    """

    label: str
    samples_ms: list[float]
    marks: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class LatencyPlot:
    """The latency distributions of a comparison, ready to draw.

    Attributes:
        edges_ms: histogram bin edges, spaced evenly on a log scale.
        panels: one per protocol with samples, in the order they ran.
        title: the plot's title.
        xlabel: what the horizontal axis shows.
    """

    edges_ms: list[float]
    panels: list[LatencyPanel]
    title: str
    xlabel: str = "one-way latency, server send to client receive (ms)"


def latency_plot(
    results: Sequence[ProtocolResult], rate: float | None = None, bins: int = 50
) -> LatencyPlot:
    """Log-spaced bins shared by every protocol, and a panel for each one with samples.

    Args:
        results: the comparison's rows; those without samples get no panel.
        rate: the paced rate, for the title.
        bins: how many bin edges (at least 2).

    Raises:
        ValueError: for fewer than 2 bin edges.

    Example:
        >>> plot = latency_plot([ProtocolResult("ws", latency_ms=[1.0, 10.0])], rate=200)
        >>> plot.edges_ms[0], plot.edges_ms[-1], len(plot.edges_ms), plot.title
        (1.0, 10.0, 50, '200 msg/s, one clock')
        >>> plot.panels[0].marks[0]
        ('p50', 5.5)
    """
    if bins < 2:
        raise ValueError(f"bins must be at least 2, not {bins}")
    rate_text = "?" if rate is None else f"{rate:g}"
    title = f"{rate_text} msg/s, one clock"
    rows = [r for r in results if r.latency_ms]
    if not rows:
        return LatencyPlot([], [], title)
    lo = max(1e-3, min(min(r.latency_ms) for r in rows))
    hi = max(max(max(r.latency_ms) for r in rows), lo * 1.01)
    edges = [lo * (hi / lo) ** (i / (bins - 1)) for i in range(bins)]
    edges[0], edges[-1] = lo, hi  # exact ends, whatever the rounding
    panels = []
    for r in rows:
        lat = r.latency
        assert lat is not None
        samples = [max(lo, x) for x in r.latency_ms]
        marks = (("p50", lat.p50), ("p95", lat.p95), ("p99", lat.p99))
        panels.append(LatencyPanel(r.label, samples, marks))
    return LatencyPlot(edges, panels, title)
