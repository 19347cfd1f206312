"""The magics in a terminal IPython (``ipython -c``): text status lines, no widgets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rtnb.magics import check_json, complete, parse_header
from rtnb.sendtext import parse_send_text


def ipython(code: str, tmp_path: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    sibling = Path(sys.executable).with_name("ipython")
    exe = str(sibling) if sibling.exists() else shutil.which("ipython")
    if exe is None:
        pytest.fail("IPython's ipython command is not installed")
    env = dict(os.environ, IPYTHONDIR=str(tmp_path / "ipython"), TERM="dumb")
    return subprocess.run(
        [exe, "--no-banner", "--colors=nocolor", "--quick", "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tmp_path,
        env=env,
    )


def test_a_terminal_session_gets_text_status_lines(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_serve",
            "%rt_serve",
            "%rt_connect ws /ws/echo",
            "%rt_send ws1 hello",
            "print('got', ws1.recv(timeout=5).data)",
            "%rt_connect ws /ws/ticker?symbols=AAPL&rate=20 --name tick",
            "%rt_record tick ticks.jsonl",
            "print('first', tick.recv(timeout=5).json['symbol'])",
            "import time; time.sleep(0.5)",
            "%rt_record --stop tick",
            "%rt_list",
            "%rt_close ws1",
            "%rt_close --all",
            "%rt_stop",
        ]
    )
    p = ipython(code, tmp_path)
    out = p.stdout
    assert "Traceback" not in out + p.stderr, out + p.stderr
    assert p.stderr == ""
    assert "rtnb server running at http://127.0.0.1:" in out
    assert "%rt_connect ws /ws/ticker" in out
    assert "already running at http://127.0.0.1:" in out
    assert "ws1: ws ws://127.0.0.1:" in out and "[open]" in out
    assert "ws1 <- hello (5 bytes)" in out
    assert "got hello" in out
    assert "first AAPL" in out
    assert "recording tick -> ticks.jsonl" in out
    assert "stopped tick -> ticks.jsonl:" in out
    assert "name  kind  url" in out  # the %rt_list table
    assert "ws1: ws" in out and "[closed]" in out
    assert "closed 1 connection(s)" in out
    assert "stopped the rtnb server at http://127.0.0.1:" in out
    assert (tmp_path / "ticks.jsonl").read_text().count('"direction":"in"') >= 1


def test_wrong_use_in_a_terminal_is_one_line_plus_usage(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_connect smoke ws://127.0.0.1:1/",
            "%rt_connect ws /ws/echo",
            "%rt_send nobody hi",
            "%rt_serve --port 99999",
            "print('still running')",
        ]
    )
    p = ipython(code, tmp_path)
    assert "still running" in p.stdout
    err = p.stderr.splitlines()
    assert err == [
        "rt_connect: unknown connection kind 'smoke'; use one of 'ws', 'sse', 'webrtc', 'replay', "
        "'jsonrpc', 'graphql', 'socketio', 'mqtt'",
        err[1],
        "rt_connect: /ws/echo is a path on the in-kernel server, but none is running: "
        "start it with %rt_serve, or give a full URL",
        err[3],
        "rt_send: no connection named 'nobody' (open ones: none)",
        err[5],
        "rt_serve: argument --port: a port is 0-65535, not 99999",
        err[7],
    ]
    assert err[1].startswith("usage: %rt_connect KIND URL [--name N]")
    assert err[5].startswith("usage: %rt_send NAME PAYLOAD")


def test_compare_refuses_a_json_path_it_cannot_write_before_running(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "r = %rt_compare ws --duration 0.2 --json nodir/lab.json",
            "print('result', r)",
        ]
    )
    p = ipython(code, tmp_path)
    assert "measuring" not in p.stdout and "result None" in p.stdout
    assert p.stderr.splitlines()[0] == (
        "rt_compare: cannot write 'nodir/lab.json': there is no folder 'nodir'"
    )


def test_closing_a_connection_does_not_print_its_views_again(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_serve",
            "%rt_connect ws /ws/echo --name e --quiet",
            "%rt_table e",
            "%rt_close e",
            "%rt_stop",
        ]
    )
    p = ipython(code, tmp_path)
    assert p.stdout.count("<LiveTable e:") == 1, p.stdout + p.stderr


def test_help_shows_usage_with_examples(tmp_path: Path) -> None:
    p = ipython("%load_ext rtnb\n%rt_connect?", tmp_path)
    assert "%rt_connect ws /ws/ticker?rate=5 --name tick" in p.stdout
    assert "--send-on-open JSON" in p.stdout
    assert "--last-event-id" in p.stdout
    # the help opens with a usage paragraph, not reST's stray "::", and lists the
    # kinds the unknown-kind error names
    doc = p.stdout.split("Docstring:", 1)[1].lstrip()
    assert doc.startswith("Usage: %rt_connect"), doc[:80]
    assert "::\n" not in p.stdout.split("Examples::")[0]
    wrong = ipython("%load_ext rtnb\n%rt_connect smoke /x", tmp_path)
    named = (wrong.stdout + wrong.stderr).split("use one of ", 1)[1].splitlines()[0]
    kinds = [k.strip("' ") for k in named.split(",")]
    assert "replay" in kinds
    listed = " ".join(p.stdout.split("positional arguments:", 1)[1].split("url", 1)[0].split())
    assert listed.startswith("kind " + ", ".join(kinds)), listed


def test_completion_in_a_terminal_shell(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_serve",
            "%rt_connect ws /ws/echo --name echo --quiet",
            "ip = get_ipython()",
            "for text in ['%rt_connect ', '%rt_connect ws /ws/ec', '%rt_send ec', '%rt_close ']:",
            "    _, found = ip.complete('', text, len(text))",
            "    print(repr(text), sorted(found))",
            "%unload_ext rtnb",
            "_, found = ip.complete('', '%rt_send ec', 11)",
            "print('after unload', found, echo.state)",
            "%rt_stop",
        ]
    )
    p = ipython(code, tmp_path)
    out = p.stdout
    kinds = "['graphql', 'jsonrpc', 'mqtt', 'replay', 'socketio', 'sse', 'webrtc', 'ws']"
    assert f"'%rt_connect ' {kinds}" in out, out + p.stderr
    assert "'%rt_connect ws /ws/ec' ['/ws/echo']" in out
    assert "'%rt_send ec' ['echo']" in out
    assert "'%rt_close ' ['--all', 'echo']" in out
    assert "after unload [] open" in out  # unloading closes nothing the user holds


@pytest.mark.parametrize(
    ("line", "names", "expected"),
    [
        (
            "%rt_connect ",
            [],
            ["ws", "sse", "webrtc", "replay", "jsonrpc", "graphql", "socketio", "mqtt"],
        ),
        ("%rt_call ", ["rpc1"], ["rpc1"]),
        ("%rt_connect w", [], ["ws", "webrtc"]),
        ("%rt_connect ws --name x ", [], []),
        ("%rt_table ", ["b", "a"], ["a", "b"]),
        ("%rt_plot tick ", ["tick"], []),
        ("%rt_record ", ["a"], ["a", "--stop"]),
        ("%rt_record --stop ", ["a"], ["a"]),
        ("%%rt_send ", ["a"], ["a"]),
        ("print(1) ", ["a"], []),
    ],
)
def test_complete(line: str, names: list[str], expected: list[str]) -> None:
    assert complete(line, names) == expected


def test_pure_argument_helpers() -> None:
    assert parse_header("X-Key:  v a l ") == ("X-Key", "v a l")
    with pytest.raises(ValueError, match="Name: value"):
        parse_header("Bad Name: v")
    assert check_json("plain text {") == "plain text {"
    with pytest.raises(ValueError, match="looks like JSON"):
        check_json('{"a": }')


@pytest.mark.parametrize("text", ["hi", " {bad", "\n[1, 2]", "[1,", '{"a": 1}  ', "x {"])
def test_send_magic_and_panel_agree_on_what_must_parse(text: str) -> None:
    _, panel_error = parse_send_text(text)
    try:
        check_json(text)
    except ValueError:
        magic_error = True
    else:
        magic_error = False
    assert magic_error == (panel_error is not None)


def test_docstring_examples() -> None:
    import doctest

    import rtnb.completion
    import rtnb.helptext
    import rtnb.magics

    # complete() and its examples moved to rtnb.completion (magics.py stays under 600 lines)
    results = [doctest.testmod(m) for m in (rtnb.magics, rtnb.completion, rtnb.helptext)]
    assert sum(r.failed for r in results) == 0 and sum(r.attempted for r in results) > 0


def test_magic_lines_are_taken_literally(tmp_path: Path) -> None:
    # IPython expands $name and evaluates {expression} in a magic's line unless the
    # magic says not to: a URL, a JSON payload or a path would run code.
    def run(tag: str) -> str:
        return "{open('pwned-" + tag + "','w').write('x')}"

    code = "\n".join(
        [
            "%load_ext rtnb",
            "x = 'EXPANDED'",
            f"%rt_serve --token {run('serve')}",
            f"%rt_serve --host {run('serve2')}",
            f"%rt_connect ws /ws/echo?q={run('connect')}&v=$x --name e -q",
            "print('url', e.url)",
            f"%rt_connect ws /ws/echo -H 'X-T: {run('header')}' --name h -q",
            "print('header', h.options['headers'])",
            f"%rt_connect replay {run('replay')}.jsonl --name r -q",
            f"%rt_send e {run('send')}",
            f"%rt_table e --filter a={run('table')}",
            f"%rt_plot e {run('plot')}",
            f"%rt_record e rec-{run('record')}-$x.jsonl",
            "%rt_record --stop e",
            f"%rt_compare ws --duration 0.1 --json {run('compare')}/lab.json",
            f"%rt_list {run('list')}",
            f"%rt_close {run('close')}",
            "%rt_close --all",
            f"%rt_stop {run('stop')}",
            "%rt_stop",
            "import os; print('files', sorted(f for f in os.listdir() if f != 'ipython'))",
        ]
    )
    p = ipython(code, tmp_path)
    out, err = p.stdout, p.stderr
    assert "Traceback" not in out + err, out + err
    assert not list(tmp_path.glob("pwned-*")), out + err  # nothing ran
    lines = out.splitlines()
    url = next(line for line in lines if line.startswith("url "))
    # the server took the token literally too, and url_for adds it
    assert url.endswith(
        "/ws/echo?q={open(pwned-connect,w).write(x)}&v=$x"
        "&token=%7Bopen%28pwned-serve%2Cw%29.write%28x%29%7D"
    ), url
    header = next(line for line in lines if line.startswith("header "))
    assert header == "header [('X-T', '{open(pwned-header,w).write(x)}')]"
    assert "no recording at '{open(pwned-replay,w).write(x)}.jsonl'" in out
    assert "filter a={open(pwned-table,w).write(x)}" in out
    files = next(line for line in lines if line.startswith("files "))
    assert files == "files ['rec-{open(pwned-record,w).write(x)}-$x.jsonl']"
    assert "no folder '{open(pwned-compare,w).write(x)}'" in err
    assert f"rt_list: %rt_list takes no arguments, not {run('list')!r}" in err
    assert "rt_close: no connection named '{open(pwned-close,w).write(x)}'" in err
    assert "rt_stop: %rt_stop takes no arguments" in err


def test_old_flag_spellings_work_and_say_the_new_one(tmp_path: Path) -> None:
    code = "\n".join(
        [
            "%load_ext rtnb",
            "%rt_serve",
            "%rt_connect ws /ws/echo --send hi --insecure --name old -q",
            "print('old', old.recv(timeout=5).data)",
            "%rt_connect ws /ws/echo --send-on-open hi --no-verify --name new -q",
            "print('new', new.recv(timeout=5).data)",
            "%rt_connect sse /sse/clock --json '{\"a\": 1}' -q",
            "%rt_close --all",
            "%rt_stop",
        ]
    )
    p = ipython(code, tmp_path)
    assert "old hi" in p.stdout and "new hi" in p.stdout, p.stdout + p.stderr
    assert p.stderr.splitlines()[:4] == [
        "rt_connect: --send is deprecated and will be removed; use --send-on-open",
        "rt_connect: --insecure is deprecated and will be removed; use --no-verify",
        "rt_connect: --json is deprecated and will be removed; use --json-body",
        # the body reached the SSE transport, which wants POST for it
        "rt_connect: json= and data= are request bodies: use them with method='POST'",
    ]
