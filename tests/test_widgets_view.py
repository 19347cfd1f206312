"""What every live view shares: the per-kernel cap on live views, closed connections."""

from __future__ import annotations

from pathlib import Path

import pytest

import rtnb
import rtnb.widgets
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


def test_a_view_stops_with_a_final_update_when_its_stream_ends_by_itself(
    tmp_path: Path,
) -> None:
    path = tmp_path / "three.jsonl"
    path.write_text(
        "".join(f'{{"ts": {1.0 + i * 0.3}, "data": "m{i}"}}\n' for i in range(3)), encoding="utf-8"
    )
    c = rtnb.replay(path, speed=1.0)
    c.wait_open(10)
    t = c.table(rate=0.2)  # no tick before the end: the final update shows the rest
    assert t.running
    wait_for(lambda: c.state == "closed")  # the replay ended; nobody called close()
    wait_for(lambda: not t.running)
    assert [r["data"] for r in t.rows] == ["m0", "m1", "m2"]
    assert t not in live_views()
    c.close()


def test_front_end_modules_are_files_anywidget_can_reload(server: Server) -> None:
    from rtnb.widgets import CanvasPlot, LiveTable
    from rtnb.widgets.panel import PanelControls

    here = Path(rtnb.widgets.__file__).parent
    for cls, name in ((LiveTable, "table"), (CanvasPlot, "canvas"), (PanelControls, "panel")):
        # a path, not its text: with ANYWIDGET_HMR=1 anywidget watches it in a dev install
        assert not isinstance(cls._esm, str) and not isinstance(cls._css, str)
        assert str(cls._esm) == (here / f"{name}.js").read_text(encoding="utf-8")
        assert str(cls._css) == (here / f"{name}.css").read_text(encoding="utf-8")
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    assert "export default" in c.table()._esm  # what the front-end gets
    c.close()
