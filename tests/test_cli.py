"""The installed ``rtnb`` command, run as a subprocess against the in-kernel server."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import rtnb
from rtnb.cli import format_line
from rtnb.message import Message
from rtnb.recordfmt import Header, Record, decode_line
from rtnb.server import Server


def rtnb_command() -> list[str]:
    exe = shutil.which("rtnb") or str(Path(sys.executable).with_name("rtnb"))
    if not Path(exe).exists():
        pytest.fail("the rtnb console script is not installed: pip install -e .")
    return [exe]


def run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*rtnb_command(), *args], capture_output=True, text=True, timeout=timeout)


def test_tail_prints_one_line_per_message(server: Server) -> None:
    p = run("tail", "ws", server.url_for("/ws/ticker?symbols=AAPL&rate=50"), "--count", "3")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["symbol"] for line in lines] == ["AAPL"] * 3
    assert p.stderr == ""


def test_tail_json_prints_records(server: Server) -> None:
    p = run("tail", "ws", server.url_for("/ws/ticker?rate=50"), "--count", "2", "--json")
    assert p.returncode == 0, p.stderr
    recs = [decode_line(line) for line in p.stdout.splitlines()]
    assert all(isinstance(r, Record) and r.direction == "in" for r in recs)
    assert len(recs) == 2


def test_tail_sends_and_exits_when_the_server_ends_the_stream(server: Server) -> None:
    p = run("tail", "ws", server.url_for("/ws/echo"), "--send", "hi", "--send", "a\nb", "-n", "2")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "hi\na\\nb\n"
    p = run("tail", "ws", server.url_for("/ws/ticker?rate=100&count=4"))
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.splitlines()) == 4


def test_tail_sends_headers(server: Server) -> None:
    with_token = rtnb.serve(token="s3cret")
    try:
        url = with_token.url_for("/ws/echo", token=False)
        refused = run("tail", "ws", url, "--send", "x", "-n", "1")
        assert refused.returncode == 1
        assert "HTTP 401" in refused.stderr
        ok = run("tail", "ws", url, "-H", "Authorization: Bearer s3cret", "--send", "x", "-n", "1")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout == "x\n"
    finally:
        with_token.stop()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["tail", "smoke", "ws://127.0.0.1:1/"], "unknown connection kind 'smoke'"),
        (["tail", "ws", "http://nope"], "a WebSocket URL starts with ws://"),
        (["tail", "ws", "ws://127.0.0.1:1/x"], "connection refused"),
        (["tail", "ws", "ws://127.0.0.1:1/x", "-H", "nocolon"], "'Name: value'"),
        (["tail", "ws", "ws://127.0.0.1:1/x", "--count", "0"], "--count must be at least 1"),
        (["tail", "replay", "/nonexistent/x.jsonl"], "no recording at"),
        (["record", "ws", "ws://127.0.0.1:1/x", "/nonexistent/dir/x.jsonl"], "cannot write"),
    ],
)
def test_wrong_use_is_one_line_and_exit_1(args: list[str], words: str) -> None:
    p = run(*args)
    assert p.returncode == 1
    assert words in p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_tail_gives_up_after_timeout_with_no_message(server: Server) -> None:
    p = run("tail", "ws", server.url_for("/ws/echo"), "--timeout", "0.3")
    assert p.returncode == 1
    assert p.stderr.strip() == "rtnb tail: no message within 0.3 s"


def test_usage_errors_come_from_argparse() -> None:
    p = run("tail")
    assert p.returncode == 2
    assert "usage: rtnb tail" in p.stderr


def test_tail_help_names_every_kind() -> None:
    p = run("tail", "--help")
    assert "ws, sse, webrtc, replay, jsonrpc, graphql, socketio or mqtt" in " ".join(
        p.stdout.split()
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["serve", "--port", "99999"], "argument --port: a port is 0-65535, not 99999"),
        (["serve", "--max-connections", "0"], "argument --max-connections: must be at least 1"),
        (["tail", "ws", "ws://127.0.0.1:1/", "--timeout", "-1"], "argument --timeout: must be"),
        (["record", "ws", "ws://127.0.0.1:1/", "/nonexistent/f", "--duration", "0"], "--duration"),
    ],
)
def test_bad_numbers_are_usage_errors(args: list[str], words: str) -> None:
    p = run(*args, timeout=10)
    assert p.returncode == 2, p.stdout + p.stderr
    assert words in p.stderr and "Traceback" not in p.stderr


def test_record_that_cannot_start_leaves_files_alone(tmp_path: Path) -> None:
    kept = tmp_path / "kept.jsonl"
    kept.write_text("precious\n")
    typo = run("record", "wbs", "ws://127.0.0.1:1/x", str(kept))
    assert typo.returncode == 1 and len(typo.stderr.splitlines()) == 1, typo.stderr
    assert kept.read_text() == "precious\n"
    fresh = tmp_path / "fresh.jsonl"
    refused = run("record", "ws", "ws://127.0.0.1:1/x", str(fresh))
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1, refused.stderr
    assert "connection refused" in refused.stderr and not fresh.exists()


def test_record_writes_a_file_that_replays(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "ticks.jsonl"
    url = server.url_for("/ws/ticker?symbols=AAPL,MSFT&rate=50")
    p = run("record", "ws", url, str(path), "--count", "5")
    assert p.returncode == 0, p.stderr
    assert "5 message(s) written" in p.stderr
    lines = path.read_text().splitlines()
    header = decode_line(lines[0])
    assert isinstance(header, Header) and header.kind == "ws" and header.url == url
    recs = [decode_line(line) for line in lines[1:]]
    assert len(recs) == 5
    replayed = run("tail", "replay", str(path), "--count", "5")
    assert replayed.returncode == 0, replayed.stderr
    assert replayed.stdout.splitlines() == [r.data for r in recs if isinstance(r, Record)]


def test_record_for_a_duration_and_sent_messages(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "echo.jsonl"
    p = run(
        "record", "ws", server.url_for("/ws/echo"), str(path), "--send", "x", "--duration", "0.5"
    )
    assert p.returncode == 0, p.stderr
    recs = [decode_line(line) for line in path.read_text().splitlines()[1:]]
    assert [(r.direction, r.data) for r in recs if isinstance(r, Record)] == [
        ("out", "x"),
        ("in", "x"),
    ]


def test_tail_stops_quietly_on_ctrl_c(server: Server) -> None:
    proc = subprocess.Popen(
        [*rtnb_command(), "tail", "ws", server.url_for("/ws/ticker?rate=5")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert json.loads(first)["price"] > 0
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_format_line_keeps_one_message_per_line() -> None:
    assert format_line(Message("a\nb\r\\")) == "a\\nb\\r\\\\"
    assert format_line(Message(b"\xff")) == "b64:/w=="


def test_docstring_examples() -> None:
    import doctest

    import rtnb.cli

    result = doctest.testmod(rtnb.cli)
    assert result.failed == 0 and result.attempted > 0


def test_old_flag_spellings_work_and_say_the_new_one(server: Server) -> None:
    url = server.url_for("/ws/echo")
    old = run("tail", "ws", url, "--send", "hi", "--insecure", "-k", "-n", "1")
    assert old.returncode == 0, old.stderr
    assert old.stdout == "hi\n"
    assert old.stderr.splitlines() == [
        "rtnb tail: --send is deprecated and will be removed; use --send-on-open",
        "rtnb tail: --insecure is deprecated and will be removed; use --no-verify",
        "rtnb tail: -k is deprecated and will be removed; use --no-verify",
    ]
    new = run("tail", "ws", url, "--send-on-open", "hi", "--no-verify", "-n", "1")
    assert (new.returncode, new.stdout, new.stderr) == (0, "hi\n", "")


def test_tail_takes_every_kinds_flags(server: Server) -> None:
    sse = server.url_for("/sse/clock")
    body = run("tail", "sse", sse, "--json-body", '{"a": 1}')
    assert body.returncode == 1
    assert body.stderr == (
        "rtnb tail: json= and data= are request bodies: use them with method='POST'\n"
    )
    bad = run("tail", "sse", sse, "--method", "POST", "--json-body", "{x")
    assert bad.returncode == 1 and bad.stderr.startswith("rtnb tail: --json-body is not valid JSON")
    wrong_kind = run("tail", "sse", sse, "--subprotocol", "chat")
    assert wrong_kind.returncode == 1
    assert wrong_kind.stderr.startswith("rtnb tail: unknown option(s) for sse connections: ")


def test_record_count_is_exact_on_a_fast_stream(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "fast.jsonl"
    url = server.url_for("/ws/ticker?symbols=AAPL,MSFT,GOOG&rate=2000")
    p = run("record", "ws", url, str(path), "--count", "7")
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("rtnb record: stopped cli-record -> ")
    assert p.stderr.rstrip().endswith("7 message(s) written")
    recs = [decode_line(line) for line in path.read_text().splitlines()[1:]]
    assert len(recs) == 7 and all(isinstance(r, Record) and r.direction == "in" for r in recs)


def test_record_reconnects_only_when_asked(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    url = server.url_for("/ws/ticker?rate=200&count=3")  # the server ends after 3 ticks
    once = run("record", "ws", url, str(path))
    assert once.returncode == 0, once.stderr
    assert len(path.read_text().splitlines()) == 1 + 3
    again = run("record", "ws", url, str(path), "--reconnect", "--count", "5")
    assert again.returncode == 0, again.stderr
    assert len(path.read_text().splitlines()) == 1 + 5


def test_tail_says_where_a_stream_was_cut_and_resumed_on_stderr(server: Server) -> None:
    url = server.url_for("/sse/ticker?symbols=AAPL&rate=100&cut_after=4&retry=50")
    p = run("tail", "sse", url, "--reconnect", "--count", "10", "--json")
    assert p.returncode == 0, p.stderr
    ids = [int(json.loads(line)["id"]) for line in p.stdout.splitlines()]
    assert len(ids) == 10 and ids == list(range(ids[0], ids[0] + 10))  # stdout: the data alone
    notes = p.stderr.splitlines()
    assert notes[0].startswith("rtnb tail: cut: stream broken: the server closed the connection")
    assert notes[1].startswith("rtnb tail: resumed: back after ")
    assert notes[1].endswith(f"resuming after Last-Event-ID {ids[3]}")
    assert len(notes) == 4  # two cuts and two resumes among ten messages
