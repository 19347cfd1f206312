"""The magics in a real Jupyter kernel (nbclient + ipykernel): outputs, bound names, wrong use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel

WIDGET = "application/vnd.jupyter.widget-view+json"

# (cell id, source) in the order they run; ids name the cells the tests look at.
CELLS: list[tuple[str, str]] = [
    ("load", "%load_ext rtnb\nimport rtnb, time"),
    ("serve", "%rt_serve"),
    ("serve_again", "%rt_serve"),
    ("connect_panel", "%rt_connect ws /ws/echo"),
    ("connect_quiet", "%rt_connect ws /ws/ticker?symbols=AAPL,MSFT&rate=20 --name tick --quiet"),
    ("bound", "print(type(ws1).__name__, ws1.name, ws1.state, tick.name, tick.state)"),
    (
        "quoted",
        "%rt_connect ws /ws/echo -H 'X-Test: a b' --send-on-open '{\"x\": 1}' -n hdr -q\n"
        "print(hdr.options['headers'], hdr.recv(timeout=5).json)",
    ),
    ("send", '%rt_send ws1 {"hello": "kernel"}'),
    ("send_cell", '%%rt_send ws1\n{"multi":\n "line"}'),
    ("received", "print([ws1.recv(timeout=5).json for _ in range(2)])"),
    ("table", "%rt_table tick --columns symbol,price"),
    ("plot", "%rt_plot tick price --by symbol"),
    ("plot_canvas", "%rt_plot tick price --backend canvas --window '500 points'"),
    ("list", "%rt_list"),
    ("record", "%rt_record tick ticks.jsonl"),
    ("wait", "tick.recv(timeout=5); time.sleep(0.5)"),
    ("record_stop", "%rt_record --stop tick"),
    ("replay", "%rt_connect replay ticks.jsonl --speed 0 --name rp --quiet"),
    (
        "replayed",
        "print('replayed', rp.kind, rp.recv(timeout=5).json['symbol'] in ('AAPL', 'MSFT'))",
    ),
    ("sse", "%rt_connect sse /sse/ticker?rate=20 --name s --quiet\nprint(s.recv(timeout=5).id)"),
    (
        "literal",
        "%rt_connect ws /ws/echo?q={open('pwned','w').write('x')}&v=$x --name lit -q\n"
        "import os\nprint(lit.url.split('?')[1], os.path.exists('pwned'))",
    ),
    # every wrong use: one line plus usage on stderr, no error output
    ("send_on_sse", "%rt_send s hi"),
    ("send_on_replay", "%rt_send rp hi"),
    ("bad_kind", "%rt_connect smoke ws://127.0.0.1:1/"),
    ("bad_url", "%rt_connect ws http://127.0.0.1:1/"),
    ("bad_name", "%rt_connect ws /ws/echo --name for"),
    ("bad_header", "%rt_connect ws /ws/echo -H nocolon"),
    ("bad_int", "%rt_connect ws /ws/echo --max-messages many"),
    ("bad_option", "%rt_connect ws /ws/echo --bogus"),
    ("bad_send_on_open", "%rt_connect ws /ws/echo --send-on-open '{\"a\":'"),
    ("bad_kind_option", "%rt_connect sse /sse/clock --subprotocol chat"),
    ("missing_args", "%rt_connect"),
    ("send_unknown", "%rt_send nobody hi"),
    ("send_bad_json", '%rt_send ws1 {"a": }'),
    ("send_bad_json_cell", "%%rt_send ws1\n[1, 2,"),
    ("send_nothing", "%rt_send"),
    ("send_cell_extra", "%%rt_send ws1 extra\nbody"),
    ("table_unknown", "%rt_table nobody"),
    ("plot_no_field", "%rt_plot tick"),
    ("plot_bad_backend", "%rt_plot tick price --backend svg"),
    ("record_no_file", "%rt_record tick"),
    ("record_stop_unknown", "%rt_record --stop nobody"),
    ("close_nothing", "%rt_close"),
    ("close_unknown", "%rt_close nobody"),
    ("list_args", "%rt_list extra"),
    # unloading closes nothing; reloading finds everything again
    ("unload", "%unload_ext rtnb\nprint('after unload', tick.state)"),
    ("reload", "%load_ext rtnb\n%rt_list"),
    ("close_one", "%rt_close ws1"),
    ("close_all", "%rt_close --all"),
    ("stop", "%rt_stop"),
    ("stop_again", "%rt_stop"),
    ("no_server", "%rt_connect ws /ws/echo"),
]

WRONG = {
    "bad_kind": ("rt_connect", "unknown connection kind 'smoke'"),
    "bad_url": ("rt_connect", "a WebSocket URL starts with ws:// or wss://"),
    "bad_name": ("rt_connect", "--name must be a Python identifier, not 'for'"),
    "bad_header": ("rt_connect", "a header is written 'Name: value'"),
    "bad_int": ("rt_connect", "argument --max-messages: invalid int value: 'many'"),
    "bad_option": ("rt_connect", "unrecognized arguments: --bogus"),
    "bad_send_on_open": ("rt_connect", "--send-on-open looks like JSON but does not parse"),
    "bad_kind_option": ("rt_connect", "unknown option(s) for sse connections: subprotocols"),
    "missing_args": ("rt_connect", "the following arguments are required: kind, url"),
    "send_unknown": ("rt_send", "no connection named 'nobody'"),
    "send_on_sse": ("rt_send", "SSE is one-way"),
    "send_on_replay": ("rt_send", "a replay connection is read-only"),
    "send_bad_json": ("rt_send", "payload looks like JSON but does not parse"),
    "send_bad_json_cell": ("rt_send", "payload looks like JSON but does not parse"),
    "send_nothing": ("rt_send", "name the connection to send on"),
    "send_cell_extra": ("rt_send", "%%rt_send takes only NAME on its line"),
    "table_unknown": ("rt_table", "no connection named 'nobody'"),
    "plot_no_field": ("rt_plot", "the following arguments are required: fields"),
    "plot_bad_backend": ("rt_plot", "invalid choice: 'svg'"),
    "record_no_file": ("rt_record", "give the file to write"),
    "record_stop_unknown": ("rt_record", "'nobody' is not being recorded"),
    "close_nothing": ("rt_close", "give a connection name or --all"),
    "close_unknown": ("rt_close", "no connection named 'nobody'"),
    "list_args": ("rt_list", "%rt_list takes no arguments"),
    "no_server": ("rt_connect", "/ws/echo is a path on the in-kernel server, but none is running"),
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Run the notebook once in a real kernel; the outputs of each cell by id."""
    work = tmp_path_factory.mktemp("magics")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in CELLS]
    client = NotebookClient(
        nb,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()
    nbformat.write(nb, str(work / "magics.ipynb"))  # for a look after a failure
    return {cell["id"]: cell["outputs"] for cell in nb.cells}


def text_of(outs: list[dict[str, Any]], stream: str = "stdout") -> str:
    return "".join(o["text"] for o in outs if o["output_type"] == "stream" and o["name"] == stream)


def plain_of(outs: list[dict[str, Any]]) -> str:
    return "".join(
        o["data"].get("text/plain", "")
        for o in outs
        if o["output_type"] in ("display_data", "execute_result")
    )


def test_no_cell_has_an_error_output(outputs: dict[str, list[dict[str, Any]]]) -> None:
    errors = {
        cid: [o.get("ename"), o.get("evalue")]
        for cid, outs in outputs.items()
        for o in outs
        if o["output_type"] == "error"
    }
    assert errors == {}
    for cid, outs in outputs.items():
        assert "Traceback" not in text_of(outs, "stderr"), cid


def test_serve_shows_endpoints_and_is_idempotent(
    outputs: dict[str, list[dict[str, Any]]],
) -> None:
    serve = outputs["serve"]
    assert "rtnb server running at http://127.0.0.1:" in plain_of(serve)
    assert "%rt_connect ws /ws/ticker?symbols=AAPL,MSFT&amp;rate=5" in "".join(
        o["data"]["text/html"] for o in serve if o["output_type"] == "display_data"
    )
    again = outputs["serve_again"]
    assert text_of(again).startswith("already running at http://127.0.0.1:")
    url = plain_of(serve).split(" at ", 1)[1].split()[0]
    assert url in plain_of(again)


def test_connect_shows_the_panel_and_binds_the_name(
    outputs: dict[str, list[dict[str, Any]]],
) -> None:
    panel = outputs["connect_panel"]
    assert any(WIDGET in o.get("data", {}) for o in panel), panel
    assert "ws1" in plain_of(panel)
    quiet = outputs["connect_quiet"]
    assert not any(WIDGET in o.get("data", {}) for o in quiet)
    assert text_of(quiet).startswith("tick: ws ws://127.0.0.1:")
    assert "[open]" in text_of(quiet)
    assert text_of(outputs["bound"]) == "Connection ws1 open tick open\n"


def test_arguments_use_shell_quoting(outputs: dict[str, list[dict[str, Any]]]) -> None:
    assert text_of(outputs["quoted"]).splitlines()[-1] == "[('X-Test', 'a b')] {'x': 1}"


def test_kind_specific_connections(outputs: dict[str, list[dict[str, Any]]]) -> None:
    lines = text_of(outputs["sse"]).splitlines()
    assert lines[0].startswith("s: sse http://127.0.0.1:") and "[open]" in lines[0]
    assert lines[1].isdigit()  # the SSE event id


def test_magic_lines_are_not_expanded_by_the_kernel(
    outputs: dict[str, list[dict[str, Any]]],
) -> None:
    assert text_of(outputs["literal"]).splitlines()[-1] == "q={open(pwned,w).write(x)}&v=$x False"


def test_send_line_and_cell(outputs: dict[str, list[dict[str, Any]]]) -> None:
    assert text_of(outputs["send"]) == 'ws1 <- {"hello": "kernel"} (19 bytes)\n'
    assert text_of(outputs["send_cell"]).startswith('ws1 <- {"multi":\n "line"}')
    assert text_of(outputs["received"]) == "[{'hello': 'kernel'}, {'multi': 'line'}]\n"


def test_table_and_plots_are_widgets(outputs: dict[str, list[dict[str, Any]]]) -> None:
    for cid in ("table", "plot", "plot_canvas"):
        outs = outputs[cid]
        assert any(WIDGET in o.get("data", {}) for o in outs), (cid, outs)
        assert text_of(outs, "stderr") == "", cid


def test_list_is_a_table_in_text_and_html(outputs: dict[str, list[dict[str, Any]]]) -> None:
    outs = outputs["list"]
    plain = plain_of(outs)
    assert plain.splitlines()[0].split() == [
        "name",
        "kind",
        "url",
        "state",
        "received",
        "sent",
        "rate",
        "errors",
        "recording",
    ]
    assert any(line.startswith("tick ") and " open " in line for line in plain.splitlines())
    assert any(line.startswith("ws1 ") for line in plain.splitlines())
    html = "".join(o["data"].get("text/html", "") for o in outs if "data" in o)
    assert "<table class='rtnb-list'>" in html and "<td>tick</td>" in html


def test_record_then_replay(outputs: dict[str, list[dict[str, Any]]]) -> None:
    assert text_of(outputs["record"]) == (
        "recording tick -> ticks.jsonl (stop with %rt_record --stop tick)\n"
    )
    stopped = text_of(outputs["record_stop"])
    assert stopped.startswith("stopped tick -> ticks.jsonl: ")
    assert int(stopped.split(": ")[1].split()[0]) > 0
    assert text_of(outputs["replay"]).startswith("rp: replay ticks.jsonl")
    assert text_of(outputs["replayed"]) == "replayed replay True\n"


@pytest.mark.parametrize("cid", sorted(WRONG))
def test_wrong_use_is_one_line_plus_usage(
    outputs: dict[str, list[dict[str, Any]]], cid: str
) -> None:
    magic, words = WRONG[cid]
    outs = outputs[cid]
    assert [o["output_type"] for o in outs] == ["stream"] * len(outs)
    lines = text_of(outs, "stderr").splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{magic}: ")
    assert words in lines[0]
    assert lines[1].startswith(f"usage: %{magic}")
    assert text_of(outs) == ""


def test_unloading_closes_nothing(outputs: dict[str, list[dict[str, Any]]]) -> None:
    assert text_of(outputs["unload"]) == "after unload open\n"
    assert any(line.startswith("tick ") for line in plain_of(outputs["reload"]).splitlines())
    assert "[closed]" in text_of(outputs["close_one"])
    assert text_of(outputs["close_all"]).startswith("closed ")
    assert text_of(outputs["stop"]).startswith("stopped the rtnb server at http://127.0.0.1:")
    assert text_of(outputs["stop_again"]) == "no rtnb server is running\n"


def test_tab_completion_through_the_kernel(tmp_path: Path) -> None:
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(tmp_path))
    try:
        reply = kc.execute_interactive(
            "%load_ext rtnb\n%rt_serve\n%rt_connect ws /ws/echo --name echo --quiet",
            timeout=60,
            output_hook=lambda msg: None,
        )
        assert reply["content"]["status"] == "ok"

        def complete(code: str) -> list[str]:
            msg_id = kc.complete(code, len(code))
            while True:
                msg = kc.get_shell_msg(timeout=30)
                if msg["parent_header"].get("msg_id") == msg_id:
                    return sorted(msg["content"]["matches"])

        assert complete("%rt_connect ") == [
            "graphql",
            "jsonrpc",
            "mqtt",
            "replay",
            "socketio",
            "sse",
            "webrtc",
            "ws",
        ]
        assert complete("%rt_send e") == ["echo"]
        assert complete("%rt_close ") == ["--all", "echo"]
        assert "/ws/ticker" in complete("%rt_connect ws /ws/")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
