"""The connection panel over a real echo server (in-process): send box, pause, clear, counters."""

from __future__ import annotations

import time

import pytest

import rtnb
from rtnb.server import Server
from rtnb.widgets import ConnectionPanel, display_connection

from .conftest import wait_for


def echo(server: Server) -> rtnb.Connection:
    return rtnb.connect("ws", server.url_for("/ws/echo"), name="echo").wait_open(10)


def test_panel_send_box_sends_and_reports(server: Server) -> None:
    c = echo(server)
    panel = c.panel()
    assert isinstance(panel, ConnectionPanel)
    assert panel.controls.can_send and panel.controls.kind == "ws"
    panel.send_text('{"type": "hello", "n": 1}')
    wait_for(lambda: panel.controls.feedback.get("ok") is True)
    assert panel.controls.feedback["text"].startswith("sent #")
    m = c.recv(timeout=5)
    assert m.json == {"type": "hello", "n": 1}
    assert m.data == '{"type": "hello", "n": 1}'  # sent as typed
    assert panel.table is not None
    wait_for(lambda: {r["dir"] for r in panel.table.rows} == {"in", "out"})


@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_bad_table_options_leave_no_widget_behind(server: Server) -> None:
    import gc

    from ipywidgets.widgets.widget import _instances

    c = echo(server)
    before = set(_instances)
    with pytest.raises(ValueError, match="max_rows"):
        c.panel(max_rows=0)
    gc.collect()  # the half-made panel's __del__ closes it without an error
    assert set(_instances) == before
    c.close()


def test_panel_refuses_bad_json_inline_and_sends_nothing(server: Server) -> None:
    c = echo(server)
    panel = c.panel()
    panel.send_text('{"type": hello}')
    assert panel.controls.feedback["ok"] is False
    assert panel.controls.feedback["text"].startswith("not valid JSON")
    panel.send_text("   ")
    assert panel.controls.feedback["text"].startswith("nothing to send")
    time.sleep(0.2)
    assert c.stats.sent == 0


def test_panel_reports_a_failed_send(server: Server) -> None:
    c = echo(server)
    panel = c.panel()
    c.close()
    panel.send_text("late")
    wait_for(lambda: panel.controls.feedback.get("ok") is False)
    assert panel.controls.feedback["text"].startswith("not sent")


def test_panel_counters_state_pause_and_clear(server: Server) -> None:
    c = echo(server)
    panel = c.panel(max_rows=20)
    for i in range(5):
        c.send({"i": i})
    wait_for(lambda: panel.controls.counters.get("received") == 5)
    assert panel.controls.counters["sent"] == 5
    assert panel.controls.state == "open"
    panel._on_front_end_msg(panel.controls, {"type": "pause", "paused": True}, [])
    assert panel.controls.paused and panel.table is not None and panel.table.paused
    panel._on_front_end_msg(panel.controls, {"type": "pause", "paused": False}, [])
    assert not panel.table.paused
    panel._on_front_end_msg(panel.controls, {"type": "clear"}, [])
    wait_for(lambda: panel.table is not None and panel.table.rows == [])
    assert len(c.log) == 10, "Clear empties the view, not the connection's data"
    assert c.recv(timeout=5).json == {"i": 0}
    c.close()
    wait_for(lambda: panel.controls.state == "closed")
    assert not panel.running


def test_panel_fallback_is_the_html_summary(server: Server) -> None:
    c = echo(server)
    bundle = c.panel()._repr_mimebundle_()
    assert bundle["text/plain"].startswith("echo: ws ")
    assert "rtnb-summary" in bundle["text/html"]


def test_display_outside_a_kernel_prints_the_summary(
    server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    c = echo(server)
    display_connection(c)
    assert capsys.readouterr().out.startswith("echo: ws ")


def test_panel_of_a_one_way_kind_has_no_send_box(server: Server) -> None:
    c = rtnb.connect("sse", server.url_for("/sse/clock?interval=0.1")).wait_open(10)
    panel = c.panel()
    assert panel.controls.can_send is False
    assert panel.controls.send_refusal.startswith("SSE is one-way")
    panel.send_text("hello")
    assert panel.controls.feedback["ok"] is False
    assert c.stats.sent == 0
