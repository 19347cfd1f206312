"""What a newcomer sees in a real kernel (nbclient + ipykernel): errors, stats, latest().

An rtnb error shows as one line (``_render_traceback_``), not a traceback
through rtnb's internals; ``stats`` is a small card; ``latest()`` is the
newest message while ``recv()`` keeps its place.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

CELLS = [
    ("setup", "import rtnb, time\nsrv = rtnb.serve()"),
    (
        "dns",
        "bad = rtnb.connect('ws', 'ws://nonexistent.invalid/x', name='bad')\nbad.wait_open(20)",
    ),
    ("full", "rtnb.errors.SHORT_TRACEBACKS = False\nbad.wait_open(1)"),
    ("short_again", "rtnb.errors.SHORT_TRACEBACKS = True\nprint(bad.state)"),
    (
        "ticks",
        "t = rtnb.connect('ws', srv.url_for('/ws/ticker?symbols=AAPL&rate=50'), name='t')"
        ".wait_open(10)\ntime.sleep(1.5)\nprint('RECV', t.recv(5).seq, 'LATEST', t.latest().seq)",
    ),
    ("stats", "t.stats"),
    ("compare", "r = rtnb.compare(duration=0.4, rate=50, protocols='ws')"),
    ("cleanup", "rtnb.close_all()\nsrv.stop()"),
]


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    work = tmp_path_factory.mktemp("newcomer")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in CELLS]
    client = NotebookClient(
        nb,
        timeout=90,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(work)}},
    )
    client.execute()
    return {c["id"]: c["outputs"] for c in nb.cells}


def error_of(outs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in outs if o["output_type"] == "error")


def test_an_rtnb_error_is_one_line_in_a_notebook(cells: dict[str, list[dict[str, Any]]]) -> None:
    err = error_of(cells["dns"])
    assert err["ename"] == "ConnectError"
    assert len(err["traceback"]) == 1, err["traceback"]
    line = err["traceback"][0]
    assert "ConnectError" in line and "cannot resolve host 'nonexistent.invalid'" in line
    assert "\n" not in line and "File " not in line


def test_short_tracebacks_can_be_turned_off(cells: dict[str, list[dict[str, Any]]]) -> None:
    full = "\n".join(error_of(cells["full"])["traceback"])
    assert len(error_of(cells["full"])["traceback"]) > 1 and "connection.py" in full
    assert "failed" in "".join(o.get("text", "") for o in cells["short_again"])


def test_latest_is_newest_while_recv_keeps_its_place(
    cells: dict[str, list[dict[str, Any]]],
) -> None:
    text = "".join(o.get("text", "") for o in cells["ticks"])
    words = text.split()
    recv_seq, latest_seq = int(words[words.index("RECV") + 1]), int(words[-1])
    assert recv_seq <= 1 and latest_seq > 20, text


def test_stats_show_as_a_card_with_rounded_rates(
    cells: dict[str, list[dict[str, Any]]],
) -> None:
    data = next(o["data"] for o in cells["stats"] if o["output_type"] == "execute_result")
    assert "rtnb-stats" in data["text/html"] and "over the last 5 s" in data["text/html"]
    plain = data["text/plain"]
    assert plain.startswith("Stats(received ") and "msg/s" in plain
    rate = plain.split(" msg/s")[0].rsplit(" ", 1)[1]
    assert len(rate.split(".")[1]) == 1, plain  # one decimal, not 8.666666666666666


def test_compare_shows_a_progress_bar_updated_in_place(
    cells: dict[str, list[dict[str, Any]]],
) -> None:
    shown = [o for o in cells["compare"] if o["output_type"] == "display_data"]
    assert len(shown) == 1, cells["compare"]  # one line, updated in place
    assert "rtnb-progress" in shown[0]["data"]["text/html"]
    plain = shown[0]["data"]["text/plain"]
    assert plain.startswith("rtnb.compare: ") and " 4/4  done " in plain, plain
