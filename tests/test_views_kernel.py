"""Live views in a real kernel (nbclient + ipykernel) with a second client watching iopub.

nbclient records output only for the cell it runs, so a second client on the
kernel's iopub channel sees everything: comm traffic while a fast stream runs
and a cell blocks, and where a callback's print is attributed.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

WIDGET = "application/vnd.jupyter.widget-view+json"
BLOCK_SECONDS = 6

CELLS = [
    (
        "setup",
        "import time, rtnb\n"
        "srv = rtnb.serve()\n"
        "c = rtnb.connect('ws', srv.url_for('/ws/ticker?symbols=AAPL,MSFT,GOOG,AMZN&rate=0'),"
        " name='fast')\n"
        "c.wait_open(10)\n"
        "e = rtnb.connect('ws', srv.url_for('/ws/echo'), name='echo').wait_open(10)",
    ),
    ("panel", "c"),
    ("table", "t = c.table(max_rows=100)\nt"),
    ("mpl", "p = c.plot('price', by='symbol', window=10)\np"),
    ("canvas", "cp = c.plot('price', by='symbol', window=10, backend='canvas')\ncp"),
    (
        "register",
        "def shout(m):\n"
        "    if isinstance(m.json, dict) and m.json.get('marker'):\n"
        "        print('callback saw marker', m.json['marker'])\n"
        "_ = e.on_message(shout)",
    ),
    (
        "load",
        "rx0 = c.stats.received\n"
        "t0 = time.time()\n"
        f"time.sleep({BLOCK_SECONDS})  # the stream and the views go on while the cell blocks\n"
        "e.send({'marker': 1})\n"
        "time.sleep(0.5)\n"
        "print('LOAD', c.stats.received - rx0, round(time.time() - t0, 2), "
        "t._flusher.flushes, p.frames, cp.batches)",
    ),
    ("rows", "print('ROWS', len(t.rows), sorted(t.columns)[:3])"),
    ("close", "c.close(); e.close(); print('RUNNING', t.running, p.running, cp.running)"),
    ("stop", "srv.stop()"),
]


class IopubRecorder:
    """A second kernel client that keeps every iopub message (bounded)."""

    def __init__(self, km: KernelManager, limit: int = 200_000) -> None:
        self.kc = km.client()
        self.kc.start_channels(shell=False, stdin=False, hb=False, control=False)
        self.msgs: list[dict[str, Any]] = []
        self.limit = limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.msgs) < self.limit:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except Exception:
                continue
            self.msgs.append(msg)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.kc.stop_channels()


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("views")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, id=cid) for cid, src in CELLS]
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(work))
    rec = IopubRecorder(km)
    try:
        client = NotebookClient(
            nb, km=km, timeout=120, allow_errors=True, resources={"metadata": {"path": str(work)}}
        )
        client.execute()
    finally:
        rec.close()
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    nbformat.write(nb, str(work / "views.ipynb"))
    return {"nb": nb, "iopub": rec.msgs, "dir": work}


def outputs(run: dict[str, Any], cid: str) -> list[dict[str, Any]]:
    return next(c["outputs"] for c in run["nb"].cells if c["id"] == cid)


def stdout(run: dict[str, Any], cid: str) -> str:
    return "".join(o.get("text", "") for o in outputs(run, cid) if o["output_type"] == "stream")


def msg_id_of(run: dict[str, Any], cid: str) -> str:
    source = next(c["source"] for c in run["nb"].cells if c["id"] == cid)
    for msg in run["iopub"]:
        if msg["msg_type"] == "execute_input" and msg["content"]["code"] == source:
            return str(msg["parent_header"]["msg_id"])
    raise AssertionError(f"no execute_input seen for cell {cid}")


def test_every_cell_runs_without_error(run: dict[str, Any]) -> None:
    errors = [
        (c["id"], o.get("ename"), o.get("evalue"))
        for c in run["nb"].cells
        for o in c["outputs"]
        if o["output_type"] == "error" or o.get("name") == "stderr"
    ]
    assert errors == []


def test_views_display_as_widgets_with_readable_fallbacks(run: dict[str, Any]) -> None:
    def data(cid: str) -> dict[str, Any]:
        (out,) = [
            o for o in outputs(run, cid) if o["output_type"] in ("display_data", "execute_result")
        ]
        return dict(out["data"])

    panel = data("panel")
    assert WIDGET in panel and "rtnb-summary" in panel["text/html"]
    assert panel["text/plain"].startswith("fast: ws ")
    assert WIDGET in data("table") and "<table>" in data("table")["text/html"]
    for cid in ("mpl", "canvas"):
        assert WIDGET in data(cid) and data(cid)["image/png"]


def test_comm_traffic_stays_bounded_while_a_fast_stream_runs(run: dict[str, Any]) -> None:
    load_id = msg_id_of(run, "load")
    dates = [
        m["header"]["date"] for m in run["iopub"] if m["parent_header"].get("msg_id") == load_id
    ]
    start, end = min(dates), max(dates)
    comm = [
        m
        for m in run["iopub"]
        if m["msg_type"] == "comm_msg" and start <= m["header"]["date"] <= end
    ]
    seconds = (end - start).total_seconds()
    line = stdout(run, "load").split("LOAD ")[1].split()
    received = int(line[0])
    rate = len(comm) / seconds
    sizes = sum(len(json.dumps(m["content"])) + sum(len(b) for b in m["buffers"]) for m in comm)
    print(
        f"stream {received / seconds:.0f} msg/s; comm {rate:.1f} msg/s, "
        f"{sizes / seconds / 1024:.1f} KiB/s over {seconds:.1f} s"
    )
    assert len(comm) > 20  # the views kept updating while the cell blocked
    assert received > 20 * len(comm)  # batches, never a comm message per stream message
    assert rate < 100  # all views together, well under Jupyter's 1,000/s limit
    methods = {m["content"]["data"]["method"] for m in comm}
    assert methods <= {"update", "custom", "echo_update"}


def test_callback_output_goes_to_the_cell_that_registered_it(run: dict[str, Any]) -> None:
    register_id = msg_id_of(run, "register")
    streams = [
        m
        for m in run["iopub"]
        if m["msg_type"] == "stream" and "callback saw marker" in m["content"]["text"]
    ]
    assert streams, "the callback printed nothing"
    assert {m["parent_header"]["msg_id"] for m in streams} == {register_id}
    assert "callback saw marker" not in stdout(run, "load")


def test_views_stop_with_the_connection_and_keep_their_state(run: dict[str, Any]) -> None:
    assert stdout(run, "close").strip() == "RUNNING False False False"
    rows = stdout(run, "rows").split()
    assert rows[:2] == ["ROWS", "100"]
    state = run["nb"].metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    tables = [
        s["state"]
        for s in state.values()
        if s["state"].get("_anywidget_id", "").endswith("LiveTable")
    ]
    # the saved notebook keeps the rows: 100 in t, 200 in the panel's table
    assert sorted(len(s["rows"]) for s in tables) == [100, 200]


def test_nothing_from_the_loop_lands_in_later_cells(run: dict[str, Any]) -> None:
    for cid in ("rows", "close", "stop"):
        for out in outputs(run, cid):
            assert out["output_type"] == "stream" and out["name"] == "stdout"
    assert all(not o for o in [outputs(run, "stop")])
    saved = Path(run["dir"], "views.ipynb")
    assert saved.stat().st_size < 5_000_000


def test_stopped_views_refresh_their_outputs_with_the_last_state(run: dict[str, Any]) -> None:
    close_id = msg_id_of(run, "close")
    close_date = next(
        m["header"]["date"]
        for m in run["iopub"]
        if m["msg_type"] == "execute_input" and m["parent_header"]["msg_id"] == close_id
    )
    updates = [
        m
        for m in run["iopub"]
        if m["msg_type"] == "update_display_data" and m["header"]["date"] >= close_date
    ]
    ids = {m["content"]["transient"]["display_id"] for m in updates}
    assert len(ids) >= 4  # panel, table, matplotlib plot, canvas plot
    assert {m["parent_header"]["msg_id"] for m in updates} == {close_id}  # the closing cell
    (shown,) = [o for o in outputs(run, "mpl") if o["output_type"] == "display_data"]
    pngs = {m["content"]["data"].get("image/png") for m in updates}
    assert shown["data"]["image/png"] in pngs  # nbclient applied it: the saved file has it
