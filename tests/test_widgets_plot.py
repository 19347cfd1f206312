"""Live plots against a real ticker stream (in-process): matplotlib frames and canvas batches."""

from __future__ import annotations

import time

import pytest

import rtnb
from rtnb.server import Server
from rtnb.widgets import CanvasPlot, MplPlot

from .conftest import loop_tasks, wait_for

PNG = b"\x89PNG\r\n\x1a\n"


def ticker(server: Server, rate: int = 200) -> rtnb.Connection:
    url = server.url_for(f"/ws/ticker?symbols=AAPL,MSFT,GOOG&rate={rate}")
    return rtnb.connect("ws", url).wait_open(10)


def test_mpl_plot_redraws_frames_with_a_line_per_group(server: Server) -> None:
    c = ticker(server)
    p = c.plot("price", by="symbol", window=30)
    assert isinstance(p, MplPlot)
    assert p.png().startswith(PNG)
    first = p.png()
    wait_for(lambda: p.frames >= 6 and len(p.series.lines) == 3)
    assert p.png() != first and p.png().startswith(PNG)
    assert sorted(p.series.labels()) == ["AAPL", "GOOG", "MSFT"]
    assert p.renderer.blits > 0  # axes limits held: only the lines were redrawn
    assert p.frames < c.stats.received  # frames, not messages
    assert p._fallback()["image/png"]


def test_mpl_plot_point_window_and_x_field(server: Server) -> None:
    c = ticker(server)
    p = c.plot("price", x="t", points=50)
    wait_for(lambda: p.series.points() >= 50 and p.frames > 2)
    assert p.series.points() == 50 and p.series.x_is_time


def test_canvas_plot_batches_points(server: Server) -> None:
    c = ticker(server)
    p = c.plot("price", by="symbol", window="500 points", backend="canvas")
    assert isinstance(p, CanvasPlot)
    wait_for(lambda: p.batches >= 5 and len(p.labels) == 3)
    assert p.window_points == 500 and p.window_seconds == 0
    assert p.batches < c.stats.received
    assert len(p.colours) == 3
    assert p._fallback()["image/png"]


def test_canvas_snapshot_keeps_every_point_when_asked(server: Server) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo"), max_messages=30_000).wait_open(10)
    p = c.plot("v", x="i", window=None, backend="canvas")
    assert isinstance(p, CanvasPlot)

    def fill() -> None:
        for i in range(20_000):
            c._ingest(f'{{"i": {i}, "v": {i % 7}}}')

    rtnb.runtime.get_runtime().call_soon(fill)
    wait_for(lambda: p.series.points() == 20_000)
    sent = p.points_sent
    rtnb.runtime.run(_call(p._send_snapshot), timeout=10)
    assert p.points_sent - sent <= 8192  # a reload gets a thinned copy by default
    p.batch_points = 50_000  # "every point": a reload must not thin them either
    sent = p.points_sent
    rtnb.runtime.run(_call(p._send_snapshot), timeout=10)
    assert p.points_sent - sent == 20_000


async def _call(fn: object) -> None:
    fn()  # type: ignore[operator]


@pytest.mark.parametrize("backend", ["mpl", "canvas"])
def test_a_message_arriving_while_a_plot_is_built_is_plotted_once(
    server: Server, backend: str
) -> None:
    c = rtnb.connect("ws", server.url_for("/ws/echo")).wait_open(10)
    for price in (1, 2, 3):
        c.send({"price": price})
        c.recv(timeout=5)
    read = c.log._read

    def read_with_an_arrival(seq: int, limit: int | None = None) -> object:
        # The stream goes on while the view reads the stored messages.
        c.log._read = read  # type: ignore[method-assign]
        c.log.append(rtnb.Message('{"price": 4}'))
        return read(seq, limit)

    c.log._read = read_with_an_arrival  # type: ignore[method-assign]
    p = c.plot("price", backend=backend)
    assert p._flusher is not None
    flushes = p._flusher.flushes
    time.sleep(0.5)  # a few ticks of the view's timer
    assert p.series.arrays(0)[1].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert p._flusher.flushes == flushes  # nothing new after the snapshot
    p.close()
    c.close()


def test_plots_stop_when_the_connection_closes(server: Server) -> None:
    c = ticker(server)
    views = [c.plot("price"), c.plot("price", backend="canvas")]
    wait_for(lambda: all(v._flusher is not None and v._flusher.running for v in views))
    c.close()
    wait_for(lambda: not any(n.startswith("rtnb-view-") for n in loop_tasks()))
    assert not any(v.running for v in views)


@pytest.mark.parametrize(
    ("args", "options", "match"),
    [
        ((), {}, "at least one field"),
        (("price",), {"backend": "bokeh"}, "backend"),
        (("price",), {"window": "soon"}, "window"),
        (("price",), {"window": -1}, "window"),
        (("price",), {"points": 0}, "points"),
        (("price",), {"width": 10}, "width"),
        (("a..b",), {}, "empty part"),
    ],
)
def test_plot_rejects_bad_arguments(
    server: Server, args: tuple[str, ...], options: dict[str, object], match: str
) -> None:
    c = ticker(server, rate=1)
    with pytest.raises(ValueError, match=match):
        c.plot(*args, **options)


def test_matplotlib_plot_never_touches_pyplot(server: Server) -> None:
    import subprocess
    import sys

    code = (
        "import sys, time, rtnb\n"
        f"c = rtnb.connect('ws', {server.url_for('/ws/ticker?rate=50')!r}).wait_open(10)\n"
        "p = c.plot('price', by='symbol')\n"
        "deadline = time.time() + 20\n"
        "while p.frames < 3 and time.time() < deadline: time.sleep(0.05)\n"
        "c.close()\n"
        "print(p.frames >= 3, 'matplotlib.pyplot' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["True", "False"]


def test_plots_show_a_badge_when_the_connection_ends(server: Server) -> None:
    c = ticker(server)
    mpl, canvas = c.plot("price", by="symbol"), c.plot("price", backend="canvas")
    wait_for(lambda: mpl.frames >= 2)
    before = mpl.png()
    c.close()
    assert canvas.ended == "closed"
    assert mpl.png() != before  # the last frame carries the badge
    assert mpl.renderer._badge is not None and "closed" in mpl.renderer._badge.get_text()


def test_plots_label_the_y_axis_with_the_fields(server: Server) -> None:
    c = ticker(server, rate=1)
    mpl = c.plot("price", by="symbol")
    canvas = c.plot("price", "t", backend="canvas")
    assert mpl.renderer.ax.get_ylabel() == "price"
    assert canvas.y_label == "price, t"


def test_mpl_x_axis_follows_a_window_that_has_not_filled(server: Server) -> None:
    c = ticker(server, rate=50)
    p = c.plot("price", window=600)
    wait_for(lambda: p.series.points() >= 20)
    wait_for(lambda: p.frames >= 3)
    lo, hi = p.renderer.ax.get_xlim()
    x_lo, x_hi, _, _ = p.series.bounds()  # type: ignore[misc]
    # the axis spans about the data, not the empty ten minutes before it
    assert (hi - lo) * 86400 < 4 * (x_hi - x_lo) + 5
