"""What every live view shares: the per-kernel cap on live views, closed connections."""

from __future__ import annotations

import pytest

import rtnb
from rtnb.server import Server
from rtnb.widgets._view import MAX_LIVE_VIEWS, live_views

from .conftest import wait_for


def test_too_many_live_views_stop_the_oldest(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?rate=5")).wait_open(10)
    before = len(live_views())
    views = [c.table(max_rows=5) for _ in range(MAX_LIVE_VIEWS - before + 2)]
    capsys.readouterr()
    extra = c.plot("price", backend="canvas")
    assert len(live_views()) == MAX_LIVE_VIEWS
    assert not views[0].running and not views[1].running and not views[2].running
    assert views[-1].running and extra.running
    # said in the cell that made the new view (the rtnb logger has only a NullHandler)
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "live views in this kernel" in err[0], err
    c.close()
    wait_for(lambda: len(live_views()) == before)


def test_a_view_of_a_closed_connection_shows_what_is_stored(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    c.send("kept")
    c.recv(timeout=5)
    c.close()
    t = c.table()
    assert not t.running and t._flusher is not None and not t._flusher.running
    assert [r["data"] for r in t.rows] == ["kept", "kept"]
    assert t not in live_views()


def test_stopping_a_panel_stops_its_table(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    panel = c.panel()
    assert panel.table is not None and panel.table.running
    panel.stop()
    assert not panel.running and not panel.table.running
    assert c.state == "open"
