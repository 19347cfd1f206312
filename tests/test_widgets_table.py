"""LiveTable against a real ticker stream on loopback (in-process, no front-end)."""

from __future__ import annotations

import time

import pytest

import rtnb
from rtnb.server import Server
from rtnb.widgets import LiveTable

from .conftest import loop_tasks, wait_for


def ticker(server: Server, rate: int = 200, **kw: object) -> rtnb.Connection:
    url = server.url_for(f"/ws/ticker?symbols=AAPL,MSFT&rate={rate}")
    return rtnb.connect("ws", url, **kw).wait_open(10)  # type: ignore[arg-type]


def test_table_shows_stored_messages_then_new_ones(server: Server) -> None:
    c = ticker(server)
    wait_for(lambda: len(c.log) >= 5)
    t = c.table(max_rows=30)
    assert isinstance(t, LiveTable)
    assert len(t.rows) >= 5  # what was already in the log
    assert t.columns[:3] == ["t", "symbol", "price"]
    first = t.rows[-1]["seq"]
    wait_for(lambda: t.rows[-1]["seq"] > first + 50)
    assert len(t.rows) == 30  # bounded
    seqs = [r["seq"] for r in t.rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == 30
    assert {r["cells"]["symbol"] for r in t.rows} == {"AAPL", "MSFT"}
    assert t._flusher is not None and t._flusher.flushes < c.stats.received


def test_table_filter_and_columns(server: Server) -> None:
    c = ticker(server)
    t = c.table(filter="symbol=MSFT", columns=["price"])
    wait_for(lambda: len(t.rows) >= 10)
    assert t.columns == ["price"]
    assert all(set(r["cells"]) == {"price"} for r in t.rows)
    assert all('"MSFT"' in c.log.get(r["seq"]).data for r in t.rows if c.log.get(r["seq"]))
    assert t.filter_text == "symbol=MSFT"
    assert t.info["matched"] < t.info["seen"]


def test_table_pause_resume_and_clear(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    wait_for(lambda: len(t.rows) > 0)
    t.pause()
    time.sleep(0.3)
    frozen = t.rows[-1]["seq"]
    time.sleep(0.3)
    assert t.rows[-1]["seq"] == frozen
    t.resume()
    wait_for(lambda: t.rows[-1]["seq"] > frozen)
    t.clear()
    wait_for(lambda: len(t.rows) == 0 or t.rows[0]["seq"] > frozen + 1)


def test_table_counts_every_message_of_a_fast_stream(server: Server) -> None:
    c = ticker(server, rate=2000)
    t = c.table(max_rows=5)
    wait_for(lambda: c.stats.received > 500 and t._flusher is not None and t._flusher.flushes > 2)
    c.close()  # the final update pulls the rest
    assert t.info["seen"] == t.info["matched"] == c.log.next_seq
    assert len(t.rows) == 5


def test_table_stops_when_its_connection_closes(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    wait_for(lambda: t._flusher is not None and t._flusher.running)
    assert any(n.startswith("rtnb-view-livetable") for n in loop_tasks())
    c.close()
    wait_for(lambda: t._flusher is not None and not t._flusher.running)
    assert not t.running
    assert not any(n.startswith("rtnb-view-livetable") for n in loop_tasks())
    assert t.comm is not None  # still on the page, with its last rows


def test_table_close_removes_the_widget_and_its_timer(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    t.close()
    assert t.comm is None and not t.running
    wait_for(lambda: not any(n.startswith("rtnb-view-livetable") for n in loop_tasks()))
    assert c.state == "open"


def test_table_fallback_bundle_for_front_ends_without_widgets(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    wait_for(lambda: len(t.rows) > 3)
    bundle = t._repr_mimebundle_()
    assert bundle["text/plain"].startswith("<LiveTable ")
    assert "AAPL" in bundle["text/html"] or "MSFT" in bundle["text/html"]
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == t.model_id


def test_table_shows_binary_and_text_payloads(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    t = c.table()
    c.send(b"\x00\xff\x10")
    c.send("plain words")
    wait_for(lambda: sum(r["dir"] == "in" for r in t.rows) == 2)
    kinds = {(r["dir"], r["kind"], r["data"]) for r in t.rows}
    assert ("in", "binary", "<3 bytes> 00 ff 10") in kinds
    assert ("in", "text", "plain words") in kinds
    assert ("out", "text", "plain words") in kinds
    received_only = c.table(sent=False)
    assert all(r["dir"] == "in" for r in received_only.rows)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_rows": 0}, ValueError),
        ({"filter": 42}, TypeError),
        ({"filter": "a..b=1"}, ValueError),
        ({"columns": ["ok", ""]}, ValueError),
        ({"height": 10}, ValueError),
        ({"rate": 0}, ValueError),
    ],
)
def test_table_rejects_bad_options(server: Server, options: dict[str, object], error: type) -> None:
    c = ticker(server, rate=1)
    with pytest.raises(error):
        c.table(**options)


def test_table_of_sse_events_shows_event_ids(server: Server) -> None:
    c = rtnb.connect("sse", server.url_for("/sse/ticker?symbols=AAPL&rate=50")).wait_open(10)
    t = c.table()
    wait_for(lambda: len(t.rows) >= 5)
    assert "id" in t.meta
    ids = [int(r["id"]) for r in t.rows]
    assert ids == sorted(ids)


def test_a_failing_filter_shows_in_the_table_not_in_a_cell(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)

    def bad(m: object) -> bool:
        raise KeyError("no such thing")

    t = c.table(filter=bad)
    c.send("x")
    wait_for(lambda: t.error != "")
    assert t.error == "update failed: KeyError: 'no such thing'"
    assert t.running  # the flusher keeps going


def test_a_subscribe_ack_does_not_change_the_columns(server: Server) -> None:
    c = ticker(server, rate=20)
    t = c.table(max_rows=1000)
    wait_for(lambda: len(t.rows) >= 40)
    before = list(t.columns)
    assert before[:3] == ["t", "symbol", "price"]
    c.send({"type": "subscribe", "symbols": ["TSLA", "NVDA"]})
    wait_for(lambda: any(r["cells"].get("type") == "subscribed" for r in t.rows))
    time.sleep(0.3)
    assert t.columns == before  # its fields did not become columns
    ack = next(r for r in t.rows if r["cells"].get("type") == "subscribed")
    assert ack["dir"] == "in"  # they stay in the row, the front-end shows them as its data
    assert set(ack["cells"]) - set(t.columns)


def test_pinned_columns_come_first_and_stay(server: Server) -> None:
    c = ticker(server, rate=100)
    t = c.table(pin=["type"])
    wait_for(lambda: len(t.rows) >= 5)
    assert t.columns[0] == "type" and t.pinned == ["type"]
    t.pin("price")  # what the front-end does when a header is clicked
    wait_for(lambda: t.columns[0] == "price")
    assert "type" not in t.columns and t.columns.count("price") == 1
    with pytest.raises(ValueError):
        t.pin("a..b")


def test_numeric_and_time_columns_get_formats(server: Server) -> None:
    c = ticker(server, rate=100)
    t = c.table()
    wait_for(lambda: len(t.rows) >= 5 and "price" in t.formats)
    assert t.formats["t"] == {"time": "s"}  # epoch seconds show as times
    assert "decimals" in t.formats["price"] and "symbol" not in t.formats
    assert "." in t.rows[-1]["cells"]["t"]  # the row keeps the raw value


def test_a_closed_connection_shows_a_badge(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    wait_for(lambda: len(t.rows) > 0)
    assert t.ended == ""
    c.close()
    assert t.ended == "closed"  # set by close()'s own final update
    assert "closed" in t.ended_detail


def test_a_stopped_view_of_an_open_connection_has_no_badge(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    t.stop()
    assert t.ended == "" and c.state == "open"


def test_cuts_and_resumes_of_an_sse_stream_are_marked_between_the_ids(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=MSFT&rate=100&cut_after=10&retry=100")
    c = rtnb.connect("sse", url).wait_open(10)
    t = c.table(columns=["price"], max_rows=100)
    wait_for(lambda: sum(r.get("mark") == "resume" for r in t.rows) >= 2, timeout=20)
    rows = t.rows
    first_cut = next(i for i, r in enumerate(rows) if r.get("mark") == "cut")
    before, cut, back, after = rows[first_cut - 1 : first_cut + 3]
    assert (cut["mark"], back["mark"]) == ("cut", "resume")
    assert int(after["id"]) == int(before["id"]) + 1  # nothing lost or repeated
    assert cut["seq"] == back["seq"] == after["seq"] == before["seq"] + 1
    assert back["text"].endswith(f"resuming after Last-Event-ID {before['id']}")
    assert before["ts"] <= cut["ts"] <= back["ts"] <= after["ts"]
    assert t.info["seen"] == sum("mark" not in r for r in rows)  # marks are not messages
    c.close()


def test_an_end_is_no_cut_only_the_badge_says_it(server: Server) -> None:
    c = ticker(server)
    t = c.table()
    wait_for(lambda: len(t.rows) > 3)
    c.close()
    assert c.breaks.count == 0 and not any("mark" in r for r in t.rows)
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=100&cut_after=5")
    once = rtnb.connect("sse", url, reconnect=False).wait_open(10)
    t = once.table()
    wait_for(lambda: once.state in ("closed", "failed") and not t.running)
    assert len(t.rows) == 5 and once.breaks.count == 0 and t.ended == once.state


def test_the_table_counts_received_and_sent_as_the_connection_does(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    t = c.table()
    for i in range(4):
        c.send({"n": i})
    wait_for(lambda: t.info.get("received") == 4 and len(t.rows) == 8)
    assert (t.info["received"], t.info["sent"]) == (c.stats.received, c.stats.sent) == (4, 4)
    assert t.info["seen"] == 8  # what it read: both directions
