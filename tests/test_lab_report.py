"""rtnb.lab.report: a comparison as text, HTML and plot data."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest

import rtnb.lab.report
from rtnb.lab.claims import judge
from rtnb.lab.numbers import ProtocolResult
from rtnb.lab.report import (
    TEXT_WIDTH,
    latency_plot,
    metric_rows,
    notes,
    render_html,
    render_text,
)

from .test_lab_claims import row


def test_rendering_shows_rows_claims_and_notes() -> None:
    rows = [
        row("ws", reconnect="restarted: after 300 ms", errors=["flood: slow"]),
        row("sse", transport="HTTP/1.1 over TCP", client_send="refused"),
    ]
    text = render_text(rows, judge(rows), "title line")
    assert text.startswith("title line")
    assert "WebSocket" in text and "SSE" in text and "confirmed" in text
    assert "WebSocket after a server cut: restarted" in text
    assert "WebSocket error: flood: slow" in text
    page = render_html([row("ws", transport="<b>")], [], "t", "QUJD")
    assert "&lt;b&gt;" in page and "data:image/png;base64,QUJD" in page


def test_every_metric_has_a_cell_per_protocol() -> None:
    rows = [row("ws"), ProtocolResult("sse")]
    table = metric_rows(rows)
    assert len(table) == 12 and all(len(cells) == 2 for _, cells in table)
    cells = dict(table)
    assert cells["latency p50/p95/p99 ms"] == ["0.30 / 0.39 / 0.40", "-"]
    assert cells["binary"] == ["yes, intact", "failed"]
    assert notes(rows) == [] and render_text([], []) == ""


def test_the_plot_data_shares_log_bins_across_protocols() -> None:
    rows = [
        row("ws", latency_ms=[0.0, 0.5, 2.0]),
        row("sse", latency_ms=[40.0]),
        row("webrtc", latency_ms=[]),
    ]
    plot = latency_plot(rows, rate=200.0)
    assert [p.label for p in plot.panels] == ["WebSocket", "SSE"]  # no samples, no panel
    assert plot.edges_ms[0] == 1e-3 and plot.edges_ms[-1] == 40.0
    assert plot.edges_ms == pytest.approx(list(np.geomspace(1e-3, 40.0, 50)))
    assert plot.panels[0].samples_ms == [1e-3, 0.5, 2.0]  # a log axis cannot show 0
    assert dict(plot.panels[1].marks) == {"p50": 40.0, "p95": 40.0, "p99": 40.0}
    assert plot.title == "200 msg/s, one clock"
    assert all(b > a for a, b in zip(plot.edges_ms[:-1], plot.edges_ms[1:], strict=True))
    empty = latency_plot([], None)
    assert empty.panels == [] and empty.title == "? msg/s, one clock"
    one = latency_plot([row("ws", latency_ms=[3.0])], bins=2).edges_ms
    assert one[0] == 3.0 and math.isclose(one[1], 3.03)
    with pytest.raises(ValueError, match="bins"):
        latency_plot([], bins=1)


def test_docstring_examples() -> None:
    result = doctest.testmod(rtnb.lab.report, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0


def test_text_fits_the_width_and_wraps_only_at_spaces() -> None:
    rows = [
        row("ws", reconnect="restarted: " + "after a long explanation " * 8),
        row("sse", transport="HTTP/1.1 over TCP", client_send="refused"),
    ]
    verdicts = judge(rows)
    text = render_text(rows, verdicts, "title")
    assert max(len(line) for line in text.splitlines()) <= TEXT_WIDTH
    words = set(text.split())
    for v in verdicts:  # every word of every cell is whole somewhere in the text
        assert set(v.measured.split()) <= words and set(v.claim.says.split()) <= words
    assert set(rows[0].reconnect.split()) <= words
