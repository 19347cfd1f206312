"""Recorder, replay() and the server's /ws/replay and /sse/replay, over real loopback sockets."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

import rtnb
from rtnb.errors import ConnectError, ConnectionClosed, SendNotSupported
from rtnb.recordfmt import Header, Record, decode_line, encode, encode_header
from rtnb.server import Server


def read(path: Path) -> tuple[Header | None, list[Record]]:
    header = None
    recs = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        got = decode_line(line, n)
        if isinstance(got, Header):
            header = got
        elif isinstance(got, Record):
            recs.append(got)
    return header, recs


def drain(conn: rtnb.Connection, timeout: float = 10.0) -> list[rtnb.Message]:
    """Every message until the connection ends (replays end after the last one)."""
    out = []
    while True:
        try:
            out.append(conn.recv(timeout=timeout))
        except ConnectionClosed:
            return out


def write_recording(path: Path, payloads: list[str | bytes], spacing: float) -> None:
    lines = [encode_header(Header(kind="ws", url="ws://example/ws", started=1000.0))]
    lines += [
        encode(Record(ts=1000.0 + i * spacing, data=p, seq=i)) for i, p in enumerate(payloads)
    ]
    path.write_text("\n".join(lines) + "\n")


def test_record_writes_both_directions_in_order(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "echo.jsonl"
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open()
    with c.record(path) as rec:
        for i in range(3):
            c.send({"i": i})
            c.recv(timeout=5)
        c.send(b"\x00\x01")
        c.recv(timeout=5)
    assert not rec.running
    assert rec.written == 8 and rec.missed == 0
    header, recs = read(path)
    assert header is not None and header.kind == "ws" and header.url == c.url
    assert [r.direction for r in recs] == ["out", "in"] * 4
    assert [r.data for r in recs][:2] == ['{"i":0}', '{"i":0}']
    assert recs[-1].data == b"\x00\x01"
    assert [r.seq for r in recs] == sorted(r.seq for r in recs)


def test_record_starts_now_unless_asked_for_what_is_stored(server: Server, tmp_path: Path) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open()
    c.send("before")
    c.recv(timeout=5)
    later = c.record(tmp_path / "later.jsonl")
    everything = c.record(tmp_path / "all.jsonl", include_existing=True)
    c.send("after")
    c.recv(timeout=5)
    later.stop()
    everything.stop()
    assert [r.data for r in read(tmp_path / "later.jsonl")[1]] == ["after", "after"]
    assert [r.data for r in read(tmp_path / "all.jsonl")[1]] == ["before"] * 2 + ["after"] * 2


def test_closing_the_connection_stops_and_flushes_the_recorder(
    server: Server, tmp_path: Path
) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open()
    rec = c.record(tmp_path / "r.jsonl", interval=30)
    c.send("x")
    c.recv(timeout=5)
    c.close()
    assert not rec.running  # complete as soon as close() returns
    rec.stop()  # idempotent
    assert [r.data for r in read(tmp_path / "r.jsonl")[1]] == ["x", "x"]


def test_a_recorder_that_falls_behind_counts_what_it_missed(server: Server, tmp_path: Path) -> None:
    c = rtnb.connect(
        "ws", server.url_for("/ws/ticker?symbols=AAPL&rate=2000"), max_messages=10
    ).wait_open()
    rec = c.record(tmp_path / "fast.jsonl", interval=0.5)
    c.recv(timeout=5)
    time.sleep(1.2)
    rec.stop()
    _, recs = read(tmp_path / "fast.jsonl")
    assert rec.missed > 0
    assert len(recs) == rec.written
    assert 0 < rec.written <= 10 * 4  # at most one log's worth per flush
    seqs = [r.seq for r in recs]
    assert seqs == sorted(set(seqs))


def test_a_recorder_whose_writes_fail_stops_and_says_why(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    write_recording(tmp_path / "src.jsonl", ["a", "b", "c"], 0.0)
    c = rtnb.replay(tmp_path / "src.jsonl", speed=0)
    drain(c)
    rec = c.record("/dev/full", include_existing=True, interval=0.05)
    deadline = time.monotonic() + 10
    while rec.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not rec.running
    assert rec.error is not None and "No space left" in rec.error
    assert "failed: OSError" in rec.summary()
    rec.stop()  # quiet: the failure was already reported


def test_recorder_refuses_bad_arguments(server: Server, tmp_path: Path) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"))
    with pytest.raises(ValueError, match="cannot write the recording"):
        c.record(tmp_path / "missing-dir" / "x.jsonl")
    with pytest.raises(ValueError, match="interval"):
        c.record(tmp_path / "x.jsonl", interval=0)


def test_replay_at_speed_1_reproduces_messages_and_timing(tmp_path: Path) -> None:
    path = tmp_path / "paced.jsonl"
    payloads: list[str | bytes] = [json.dumps({"i": i}) for i in range(10)] + [b"\x07"]
    write_recording(path, payloads, spacing=0.15)
    r = rtnb.replay(path, speed=1.0)
    assert r.kind == "replay"
    msgs = drain(r)
    assert [m.data for m in msgs] == payloads
    assert msgs[-1].is_binary
    span = msgs[-1].ts - msgs[0].ts
    assert abs(span - 1.5) <= 0.15, span  # within 10% of the recorded 1.5 s
    assert r.state == "closed"
    assert "end of recording: 11 message(s)" in (r.stats.last_error or "")


def test_replay_speed_scales_the_timing(tmp_path: Path) -> None:
    path = tmp_path / "paced.jsonl"
    write_recording(path, [str(i) for i in range(11)], spacing=0.15)
    msgs = drain(rtnb.replay(path, speed=2.0))
    span = msgs[-1].ts - msgs[0].ts
    assert abs(span - 0.75) <= 0.075, span


def test_record_then_replay_a_live_stream(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    c = rtnb.connect("ws", server.url_for("/ws/ticker?symbols=AAPL,MSFT&rate=10")).wait_open()
    with c.record(path):
        c.recv(timeout=5)
        time.sleep(1.0)
    _, recorded = read(path)
    recorded_in = [r for r in recorded if r.direction == "in"]
    assert len(recorded_in) >= 10
    msgs = drain(rtnb.replay(path, speed=1.0, name="ticks"))
    assert [m.data for m in msgs] == [r.data for r in recorded_in]
    rec_span = recorded_in[-1].ts - recorded_in[0].ts
    span = msgs[-1].ts - msgs[0].ts
    assert abs(span - rec_span) <= 0.1 * rec_span, (span, rec_span)
    df = rtnb.get_connection("ticks").to_pandas()
    assert list(df["symbol"][:2]) == [json.loads(r.data)["symbol"] for r in recorded_in[:2]]


def test_replay_at_speed_0_runs_as_fast_as_possible_in_order(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    write_recording(path, [str(i) for i in range(5000)], spacing=10.0)  # 14 hours recorded
    msgs = drain(rtnb.replay(path, speed=0, max_messages=5000))
    assert [m.data for m in msgs] == [str(i) for i in range(5000)]


def test_replay_options(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    path.write_text(
        encode(Record(ts=1.0, data="sent", direction="out"))
        + "\n"
        + encode(Record(ts=1.1, data="got", event="tick", id="9", channel="chat"))
        + "\n"
    )
    only_in = drain(rtnb.replay(path, speed=0))
    assert [(m.data, m.event, m.id, m.channel) for m in only_in] == [("got", "tick", "9", "chat")]
    both = drain(rtnb.replay(path, speed=0, direction="both"))
    assert [m.data for m in both] == ["sent", "got"]
    looped = rtnb.replay(path, speed=0, loop=True)
    first = [looped.recv(timeout=5).data for _ in range(5)]
    assert first == ["got"] * 5
    with pytest.raises(SendNotSupported, match="read-only"):
        looped.send("x")
    looped.close()


def test_replay_wrong_use_says_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed must be a number >= 0"):
        rtnb.replay(tmp_path / "x.jsonl", speed=-1)
    with pytest.raises(TypeError, match="unknown option"):
        rtnb.replay(tmp_path / "x.jsonl", spede=2)
    missing = rtnb.replay(tmp_path / "nope.jsonl")
    with pytest.raises(ConnectError, match="no recording at"):
        missing.wait_open(timeout=5)
    assert missing.state == "failed"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"ts": 1, "data": "ok"}\nnot json\n')
    broken = rtnb.replay(bad, speed=0)
    assert [m.data for m in drain(broken)] == ["ok"]
    assert broken.state == "failed"
    assert "line 2: not JSON" in (broken.stats.last_error or "")
    notrec = tmp_path / "notes.txt"
    notrec.write_text("hello\n")
    with pytest.raises(ConnectError, match="is not an rtnb recording"):
        rtnb.replay(notrec).wait_open(timeout=5)


def test_server_serves_a_registered_recording_over_ws_and_sse(
    fresh_server: Server, tmp_path: Path
) -> None:
    path = tmp_path / "rec.jsonl"
    write_recording(path, ["a", "multi\nline", b"\x01\x02"], spacing=0.01)
    assert fresh_server.add_recording("demo", path) == "/ws/replay?name=demo"
    assert "%rt_connect ws /ws/replay?name=demo" in fresh_server.describe()
    assert "%rt_connect sse /sse/replay?name=demo" in fresh_server.describe()
    ws = rtnb.connect("ws", fresh_server.url_for("/ws/replay?name=demo&speed=0"), reconnect=False)
    msgs = drain(ws)
    assert [m.data for m in msgs] == ["a", "multi\nline", b"\x01\x02"]
    with httpx.stream("GET", fresh_server.url_for("/sse/replay?name=demo&speed=0")) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        body = resp.read().decode()
    assert body == "data: a\n\ndata: multi\ndata: line\n\nevent: binary\ndata: AQI=\n\n"


def test_sse_replay_grants_cors_like_the_other_sse_endpoints(
    fresh_server: Server, tmp_path: Path
) -> None:
    write_recording(tmp_path / "c.jsonl", ["x"], 0.01)
    fresh_server.add_recording("cors", tmp_path / "c.jsonl")
    url = fresh_server.url_for("/sse/replay?name=cors&speed=0")
    local = httpx.get(url, headers={"Origin": "http://localhost:8888"}).headers
    assert local["access-control-allow-origin"] == "http://localhost:8888"
    assert local["access-control-allow-credentials"] == "true"
    assert "Origin" in local["vary"]  # a cache must not hand this grant to another origin
    other = httpx.get(url, headers={"Origin": "https://evil.example"}).headers
    assert "access-control-allow-origin" not in other


def test_server_serves_only_registered_names(fresh_server: Server, tmp_path: Path) -> None:
    resp = httpx.get(fresh_server.url_for(f"/sse/replay?name={tmp_path}/x.jsonl"))
    assert resp.status_code == 404
    assert "no recording named" in resp.text
    with pytest.raises(ValueError, match="recording name"):
        fresh_server.add_recording("../etc", tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="cannot read the recording"):
        fresh_server.add_recording("x", tmp_path / "x.jsonl")
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    with pytest.raises(ValueError, match="not an rtnb recording"):
        fresh_server.add_recording("notes", notes)
    good = tmp_path / "good.jsonl"
    write_recording(good, ["x"], 0.1)
    fresh_server.add_recording("good", good)
    assert httpx.get(fresh_server.url_for("/sse/replay?name=good&speed=-3")).status_code == 400


@pytest.mark.parametrize("name", ["rtnb.playback", "rtnb.server.replay_handlers"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.failed == 0 and result.attempted > 0


def test_a_client_leaving_mid_replay_ends_its_handler(fresh_server: Server, tmp_path: Path) -> None:
    from rtnb.server.app import TASKS

    path = tmp_path / "slow.jsonl"
    write_recording(path, ["first", "much later"], spacing=60.0)
    fresh_server.add_recording("slow", path)
    c = rtnb.connect("ws", fresh_server.url_for("/ws/replay?name=slow"), reconnect=False)
    assert c.wait_open(timeout=5).recv(timeout=5).data == "first"
    assert fresh_server._app is not None
    tasks = fresh_server._app[TASKS]
    assert len(tasks) == 1
    c.close()
    deadline = time.monotonic() + 10
    while tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tasks


def test_an_sse_client_leaving_mid_replay_ends_its_handler(
    fresh_server: Server, tmp_path: Path
) -> None:
    from rtnb.server.app import TASKS

    path = tmp_path / "slow.jsonl"
    write_recording(path, ["first", "much later"], spacing=60.0)
    fresh_server.add_recording("slow", path)
    assert fresh_server._app is not None
    tasks = fresh_server._app[TASKS]
    with httpx.stream("GET", fresh_server.url_for("/sse/replay?name=slow")) as resp:
        assert next(resp.iter_lines()) == "data: first"
        assert len(tasks) == 1
    deadline = time.monotonic() + 10
    while tasks and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not tasks


def test_recorders_by_name_start_list_and_stop(server: Server, tmp_path: Path) -> None:
    from rtnb.record import recorders, start_recorder, stop_recorder

    c = rtnb.connect("ws", server.url_for("/ws/echo"), name="byname").wait_open(10)
    try:
        rec = start_recorder(c, tmp_path / "a.jsonl")
        assert recorders()["byname"] is rec and rec.running
        with pytest.raises(ValueError, match=r"byname is already being recorded to .*a\.jsonl"):
            start_recorder(c, tmp_path / "b.jsonl")
        assert not (tmp_path / "b.jsonl").exists()
        c.send("x")
        c.recv(timeout=5)
        assert stop_recorder("byname") is rec and not rec.running
        assert "byname" not in recorders() and stop_recorder("byname") is None
        assert '"direction":"in"' in (tmp_path / "a.jsonl").read_text()
        again = start_recorder(c, tmp_path / "b.jsonl")  # a stopped one is replaced
        assert recorders()["byname"] is again
    finally:
        c.close()
        stop_recorder("byname")


def test_a_recorder_of_an_ended_stream_writes_what_is_stored_and_stops(tmp_path: Path) -> None:
    write_recording(tmp_path / "src.jsonl", ["a", "b"], 0.0)
    c = rtnb.replay(tmp_path / "src.jsonl", speed=0)
    drain(c)
    rec = c.record(tmp_path / "copy.jsonl", include_existing=True)
    assert not rec.running and rec.written == 2  # nothing more can arrive
    assert [r.data for r in read(tmp_path / "copy.jsonl")[1]] == ["a", "b"]
    assert rec.stop() is rec


def test_a_recorder_stops_and_completes_its_file_when_the_stream_ends(tmp_path: Path) -> None:
    write_recording(tmp_path / "src.jsonl", ["a", "b", "c"], 0.2)
    c = rtnb.replay(tmp_path / "src.jsonl", speed=1.0)
    c.wait_open(10)
    rec = c.record(tmp_path / "copy.jsonl", include_existing=True, interval=30)  # no flush
    deadline = time.monotonic() + 10
    while rec.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert c.state == "closed" and not rec.running
    assert [r.data for r in read(tmp_path / "copy.jsonl")[1]] == ["a", "b", "c"]


def test_stop_raises_when_the_last_write_fails(server: Server) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full")
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open()
    rec = c.record("/dev/full", interval=30)
    c.send("x")
    c.recv(timeout=5)
    with pytest.raises(OSError, match="No space left"):
        rec.stop()
    assert not rec.running and rec.error is not None and "No space left" in rec.error
    rec.stop()  # quiet now


def test_stop_waits_for_the_final_write_the_stream_end_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rtnb.record import Recorder

    write = Recorder._write

    def slow_write(self: Recorder, msgs: list[rtnb.Message]) -> None:
        time.sleep(0.3)  # the loop is still writing when the caller sees "closed"
        write(self, msgs)

    monkeypatch.setattr(Recorder, "_write", slow_write)
    write_recording(tmp_path / "src.jsonl", [str(i) for i in range(500)], 0.0)
    c = rtnb.replay(tmp_path / "src.jsonl", speed=0, max_messages=1000)
    rec = c.record(tmp_path / "copy.jsonl", include_existing=True, interval=30)
    deadline = time.monotonic() + 10
    while c.state != "closed" and time.monotonic() < deadline:
        time.sleep(0.001)
    rec.stop()
    assert rec.written == 500 and not rec.running
    assert len(read(tmp_path / "copy.jsonl")[1]) == 500
