"""rtnb.lab.result: a Comparison shown, saved, read back and exported, without a network."""

from __future__ import annotations

import doctest
import itertools
import json
from pathlib import Path

import pytest

import rtnb.lab
from rtnb.lab import Comparison

from .test_lab_claims import row


def _comparison() -> Comparison:
    rows = [
        row("ws", latency_ms=[0.2, 0.3], wire_bytes=660, wire_messages=10, flood_sent=5),
        row("sse", transport="HTTP/1.1 over TCP", client_send="refused", latency_ms=[]),
    ]
    settings = {"duration": 2.0, "rate": 200.0, "payload_size": 64}
    return Comparison(rows, settings, {"python": "3.11.9", "cpus": 2})


def test_the_title_says_what_ran_where() -> None:
    c = _comparison()
    assert c.title == (
        "rtnb compare: 2.0 s per protocol, 200 msg/s paced, 64 B payloads, loopback, "
        "client and server in one process (Python 3.11.9, 2 CPUs)"
    )
    # Settings that are missing (a hand-made or older file) show as "?", not an error.
    bare = Comparison([row("ws")])
    assert "? s per protocol, ? msg/s paced" in bare.title and str(bare).startswith(bare.title)


def test_rows_are_looked_up_by_protocol() -> None:
    c = _comparison()
    assert c["sse"].transport == "HTTP/1.1 over TCP"
    with pytest.raises(KeyError, match="no row 'webrtc'; rows: ws, sse"):
        c["webrtc"]


def test_it_saves_and_reads_back(tmp_path: Path) -> None:
    c = _comparison()
    path = c.to_json(tmp_path / "c.json")
    saved = json.loads(path.read_text())
    assert [v["protocol"] for v in saved["verdicts"]] == [v.claim.family for v in c.verdicts]
    back = Comparison.from_json(path)
    assert back == c and str(back) == str(c)


def test_pandas_exports_and_refuses_an_unknown_table() -> None:
    c = _comparison()
    metrics = c.to_pandas()
    assert list(metrics.index) == ["ws", "sse"] and metrics.loc["ws", "overhead_bytes"] == 2.0
    assert list(c.to_pandas("latency")["latency_ms"]) == [0.2, 0.3]
    assert len(c.to_pandas("claims")) == len(c.verdicts) == 12
    with pytest.raises(ValueError, match="what must be"):
        c.to_pandas("rows")


def test_html_carries_the_plot_only_when_there_are_samples() -> None:
    c = _comparison()
    fig = c.plot()
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "WebSocket"
    assert fig.axes[0].get_title() == "200 msg/s, one clock"
    assert "data:image/png;base64," in c._repr_html_()
    none = Comparison([row("sse", latency_ms=[])])
    assert "<img" not in none._repr_html_()
    assert none.plot().texts[0].get_text() == "no latency samples"


def test_the_package_docstring_example() -> None:
    result = doctest.testmod(rtnb.lab, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0


def test_plot_ticks_are_plain_ms_that_do_not_crowd() -> None:
    c = Comparison([row("ws", latency_ms=[0.05, 0.2, 0.3, 0.9, 4.0, 30.0])])
    fig = c.plot()
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels and all("$" not in t and "^" not in t for t in labels)  # not 10^-1 mathtext
    assert [float(t) for t in labels] == sorted(float(t) for t in labels)
    assert len(labels) <= 9
    assert not [t for t in ax.get_xticklabels(minor=True) if t.get_text()]
    boxes = [t.get_window_extent() for t in ax.get_xticklabels() if t.get_text()]
    assert all(a.x1 < b.x0 for a, b in itertools.pairwise(boxes)), "labels overlap"
