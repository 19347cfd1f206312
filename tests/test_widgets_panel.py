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


def test_panel_counts_what_arrived_since_pause(server: Server) -> None:
    c = echo(server)
    panel = c.panel()
    c.send("before")
    wait_for(lambda: c.stats.received == 1)
    panel.pause()
    assert panel.controls.new_since_pause == 0
    for i in range(3):
        c.send(f"while paused {i}")
    wait_for(lambda: panel.controls.new_since_pause == 3)
    panel.resume()
    assert panel.controls.new_since_pause == 0 and not panel.controls.paused


def test_panel_disconnect_then_reconnect_reopens_the_same_way(server: Server) -> None:
    c = rtnb.connect(
        "ws", server.url_for("/ws/echo"), name="again", send_on_open=["hi"], max_messages=50
    ).wait_open(10)
    panel = c.panel(max_rows=7)
    panel._on_front_end_msg(panel.controls, {"type": "disconnect"}, [])
    assert c.state == "closed"
    wait_for(lambda: panel.controls.state == "closed")
    panel._on_front_end_msg(panel.controls, {"type": "retry"}, [])
    fresh = panel.retried
    assert fresh is not None and list(panel.children) == [fresh]
    new = fresh.connection
    assert new is not c and new is rtnb.get_connection("again")
    assert (new.kind, new.url, new.log.max_messages) == ("ws", c.url, 50)
    assert new.recv(timeout=10).data == "hi"  # send_on_open came along
    assert fresh.table is not None and fresh.table.max_rows == 7
    wait_for(lambda: fresh.controls.state == "open")
    assert not panel.running


def test_panel_retry_after_a_failure_names_why_it_cannot(server: Server) -> None:
    c = rtnb.connect("ws", "ws://nonexistent.invalid/x", name="nowhere")
    panel = c.panel()
    wait_for(lambda: panel.controls.state == "failed")
    fresh = panel.retry()
    assert fresh is not None and fresh.connection is not c
    wait_for(lambda: fresh.controls.state == "failed")
    assert "cannot resolve host" in fresh.controls.counters["last_error"]


def test_panel_filter_box_refilters_the_table(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=AAPL,MSFT&rate=20")).wait_open(10)
    panel = c.panel(max_rows=30)
    wait_for(lambda: panel.table is not None and len(panel.table.rows) >= 6)
    old = panel.table
    panel._on_front_end_msg(panel.controls, {"type": "filter", "text": "symbol=MSFT"}, [])
    assert panel.table is not old and not old.running
    assert panel.controls.filter_text == "symbol=MSFT"
    wait_for(lambda: panel.table is not None and len(panel.table.rows) >= 3)
    assert {r["cells"]["symbol"] for r in panel.table.rows} == {"MSFT"}
    panel.set_filter("=AAPL")
    assert panel.controls.feedback["ok"] is False
    assert panel.controls.feedback["text"].startswith("filter not applied")
    panel.set_filter("")
    wait_for(lambda: {r["cells"].get("symbol") for r in panel.table.rows} >= {"AAPL", "MSFT"})
