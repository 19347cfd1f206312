"""Live plots of message fields: a matplotlib image (``MplPlot``) or a fast canvas (``CanvasPlot``).

    >>> c.plot("price", by="symbol", window=60)                     # doctest: +SKIP
    >>> c.plot("price", by="symbol", window="500 points", backend="canvas")   # doctest: +SKIP

Both pull new messages at a bounded rate and only when something arrived. The
matplotlib plot owns an Agg figure (never pyplot) and redraws only its lines
while the axes limits hold (blitting); the canvas plot ships new points as
binary float64 buffers and the browser draws them with requestAnimationFrame.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anywidget
import ipywidgets
import numpy as np
import traitlets

from ..reader import check_rate
from ..runtime import get_runtime
from ..series import Series, Window, autoscale, decimate, follow_limits, parse_window
from ..source import FINAL_STATES
from ._view import LiveView

if TYPE_CHECKING:
    from ..message import Batch
    from ..source import Source

__all__ = ["AggRenderer", "CanvasPlot", "MplPlot", "live_plot"]

log = logging.getLogger("rtnb")
HERE = Path(__file__).parent
BACKENDS = ("mpl", "matplotlib", "canvas")
#: Points per line in one canvas batch at most (min/max decimated beyond): at 20 batches/s
#: that is 2,560 points/s per line whatever the stream's rate.
BATCH_POINTS = 128
#: Points per line in the snapshot a newly opened canvas view gets.
SNAPSHOT_POINTS = 8192


def live_plot(
    conn: Source,
    *fields: str,
    by: str | None = None,
    x: str | None = None,
    window: Any = 60,
    points: int | None = None,
    backend: str = "mpl",
    rate: float | None = None,
    width: int = 720,
    height: int = 320,
    title: str | None = None,
    max_points: int = 100_000,
) -> MplPlot | CanvasPlot:
    """A live plot of one or more numeric fields of a connection's messages.

    Args:
        conn: the connection.
        *fields: field paths to plot (``"price"``, ``"bid.size"``); numeric strings count.
        by: a field whose value splits points into one line per group (with a legend).
        x: a field for x (numbers, epoch times or ISO-8601); default: receive time.
        window: how much to show: seconds (``60``, ``"2 min"``) or ``"500 points"``.
        points: keep at most this many points per line (with or instead of ``window``).
        backend: ``"mpl"`` (a matplotlib image, the default) or ``"canvas"`` (browser-drawn,
            for many points at a high frame rate).
        rate: updates per second at most (default 5 for mpl, 20 for canvas).
        width: plot width in pixels.
        height: plot height in pixels.
        title: a title (default: the connection's name and the fields).
        max_points: a hard bound per line.

    Returns:
        An :class:`MplPlot` or a :class:`CanvasPlot` widget; display it.

    Raises:
        ValueError: for no fields, a bad window, field path or backend.

    Example:
        >>> conn.plot("price", by="symbol", window="500 points", backend="canvas")  # doctest: +SKIP
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be 'mpl' or 'canvas', not {backend!r}")
    for name, value, low in (("width", width, 160), ("height", height, 120)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be at least {low} pixels, not {value!r}")
    if rate is not None:
        check_rate(rate)
    win = parse_window(window, points)
    series = Series(fields, by=by, x=x, window=win, max_points=max_points)
    label = title if title is not None else f"{conn.name}: {', '.join(series.fields)}"
    if backend == "canvas":
        return CanvasPlot(conn, series, rate=rate or 20.0, width=width, height=height, title=label)
    return MplPlot(conn, series, rate=rate or 5.0, width=width, height=height, title=label)


# --- matplotlib ------------------------------------------------------------------------


class AggRenderer:
    """Draws a :class:`~rtnb.series.Series` into PNG bytes with an Agg figure it owns.

    While the axes limits and the legend stay the same, only the lines are
    redrawn over a saved background (blitting), which is several times faster
    than a full redraw of long lines.
    """

    def __init__(
        self, width: int = 720, height: int = 320, title: str = "", y_label: str = ""
    ) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        dpi = 100
        self.fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="white")
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_subplot()
        self.title = title
        self.y_label = y_label
        self._badge: Any = None
        self._style()
        self.lines: list[Any] = []
        self._background: Any = None
        self._xlim: tuple[float, float] | None = None
        self._x_secs: tuple[float, float] | None = None  # x limits in data units
        self._ylim: tuple[float, float] | None = None
        self._time_axis: bool | None = None
        self.full_draws = 0
        self.blits = 0

    def _style(self) -> None:
        ax = self.ax
        ax.grid(True, color="#d0d7de", linewidth=0.6)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        for side in ("left", "bottom"):
            ax.spines[side].set_color("#8c959f")
        ax.tick_params(colors="#57606a", labelsize=8)
        self.fig.subplots_adjust(left=0.1, right=0.98, bottom=0.13, top=0.84)
        if self.y_label:
            ax.set_ylabel(self.y_label, color="#57606a", fontsize=9)
        self._empty = ax.text(
            0.5,
            0.5,
            "waiting for data…",
            transform=ax.transAxes,
            ha="center",
            va="center",
            color="#8c959f",
            fontsize=10,
        )
        self.fig.suptitle(self.title, x=0.1, ha="left", fontsize=10, color="#1f2328")

    def set_badge(self, text: str) -> None:
        """Show ``text`` (``"closed"``, ``"failed"``) in a badge at the top right; "" removes it."""
        if self._badge is not None:
            self._badge.remove()
            self._badge = None
        if text:
            self._badge = self.fig.text(
                0.98,
                0.97,
                f" {text} ",
                ha="right",
                va="top",
                fontsize=9,
                color="white",
                bbox={
                    "boxstyle": "round,pad=0.25",
                    "facecolor": "#cf222e" if text == "failed" else "#57606a",
                    "edgecolor": "none",
                },
            )
        self._background = None  # the next frame is a full draw

    def _set_time_axis(self, is_time: bool) -> None:
        if self._time_axis == is_time:
            return
        self._time_axis = is_time
        if is_time:
            import matplotlib.dates as mdates

            tz = datetime.now().astimezone().tzinfo
            locator = mdates.AutoDateLocator(minticks=3, maxticks=7, tz=tz)  # type: ignore[no-untyped-call]
            self.ax.xaxis.set_major_locator(locator)
            formatter = mdates.ConciseDateFormatter(  # type: ignore[no-untyped-call]
                locator,
                tz=tz,
                formats=["%Y", "%b", "%d", "%H:%M", "%H:%M:%S", "%H:%M:%S"],
                offset_formats=["", "", "", "", "", ""],
            )
            self.ax.xaxis.set_major_formatter(formatter)

    def render(self, series: Series) -> bytes:
        """The current frame as PNG bytes."""
        from matplotlib.lines import Line2D

        ax = self.ax
        full = self._background is None
        self._set_time_axis(series.x_is_time)
        labels, colours = series.labels(), series.colours()
        while len(self.lines) < len(series.lines):
            i = len(self.lines)
            line = Line2D([], [], color=colours[i], linewidth=1.3, label=labels[i], animated=True)
            ax.add_line(line)
            self.lines.append(line)
            full = True
        if full and self.lines:
            self._empty.set_visible(False)
            ax.legend(
                handles=self.lines,
                loc="lower left",
                bbox_to_anchor=(0.0, 1.0),
                ncol=min(len(self.lines), 6),
                frameon=False,
                fontsize=8,
                handlelength=1.5,
            )
        scale = 1 / 86400.0 if series.x_is_time else 1.0  # epoch seconds -> matplotlib days
        for i, line in enumerate(self.lines):
            xs, ys = series.arrays(i)
            line.set_data(xs * scale, ys)
        bounds = series.bounds()
        if bounds is not None:
            # x follows the data (a window that has not filled yet is not squeezed
            # against the right edge); y fits the data with a little headroom.
            x_lo, x_hi, y_lo, y_hi = bounds
            win = series.window
            secs = win.seconds if series.x_is_time and win.points is None else None
            xlim = follow_limits(x_lo, x_hi, self._x_secs, secs)
            self._x_secs = xlim
            xlim = (xlim[0] * scale, xlim[1] * scale)
            ylim = autoscale(y_lo, y_hi, self._ylim)
            if xlim != self._xlim or ylim != self._ylim:
                self._xlim, self._ylim = xlim, ylim
                ax.set_xlim(*xlim)
                ax.set_ylim(*ylim)
                full = True
        canvas = self.canvas
        if full:
            canvas.draw()  # type: ignore[no-untyped-call]
            self._background = canvas.copy_from_bbox(self.fig.bbox)  # type: ignore[no-untyped-call]
            self.full_draws += 1
        else:
            canvas.restore_region(self._background)  # type: ignore[no-untyped-call]
            self.blits += 1
        for line in self.lines:
            ax.draw_artist(line)
        return self._png()

    def _png(self) -> bytes:
        from PIL import Image

        w, h = self.canvas.get_width_height(physical=True)
        img = Image.frombuffer("RGBA", (w, h), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)  # type: ignore[no-untyped-call]
        out = io.BytesIO()
        img.convert("RGB").save(out, format="png", compress_level=1)
        return out.getvalue()


class MplPlot(LiveView, ipywidgets.Image):  # type: ignore[misc]
    """A live matplotlib plot shown as an image, redrawn at most ``rate`` times a second.

    Build it with :func:`live_plot` / ``conn.plot(...)``. The latest frame is in
    ``.value`` (PNG bytes) and stays in the saved notebook.
    """

    def __init__(
        self,
        conn: Source,
        series: Series,
        *,
        rate: float = 5.0,
        width: int = 720,
        height: int = 320,
        title: str = "",
    ) -> None:
        self.series = series
        series.track_new = False  # this backend redraws whole lines: no deltas needed
        self.renderer = AggRenderer(width, height, title, y_label=series.y_label())
        self._open(conn)
        series.add(self._take().messages)
        super().__init__(
            value=self.renderer.render(series),
            format="png",
            width=width,
            height=height,
            layout=ipywidgets.Layout(width=f"{width}px", height=f"{height}px"),
        )
        self.frames = 1
        self._start_view(rate)

    def _render(self, batch: Batch) -> None:
        if self.series.add(batch.messages):
            self.value = self.renderer.render(self.series)
            self.frames += 1

    def _final_update(self) -> None:
        super()._final_update()
        state = self._source.state
        if state in FINAL_STATES:  # the connection ended: say so on the last frame
            self.renderer.set_badge(state)
            self.value = self.renderer.render(self.series)
            self.frames += 1

    def png(self) -> bytes:
        """The latest frame as PNG bytes."""
        return bytes(self.value)

    def _fallback(self) -> dict[str, Any]:
        import base64

        return {
            "text/plain": repr(self),
            "image/png": base64.b64encode(bytes(self.value)).decode("ascii"),
        }

    def __repr__(self) -> str:
        s = self.series
        return (
            f"<MplPlot {self._source.name if hasattr(self, '_source') else ''}: "
            f"{', '.join(s.labels()) or ', '.join(s.fields)} "
            f"({s.points()} points, {s.window.describe()})>"
        )


# --- canvas ----------------------------------------------------------------------------


class CanvasPlot(LiveView, anywidget.AnyWidget):  # type: ignore[misc]
    """A live plot drawn by the browser on a canvas: new points go as float64 buffers.

    Build it with :func:`live_plot` / ``conn.plot(..., backend="canvas")``.

    Attributes:
        batch_points: points per line in one batch at most (default 128, 20 batches/s);
            beyond it a batch is min/max-decimated, so the traffic does not grow with
            the stream's rate. Raise it to ship every point of a bounded burst.
        batches: batches sent so far.
        points_sent: points sent so far, over all lines.
    """

    _esm = HERE / "canvas.js"  # a path: anywidget reloads it live in development
    _css = HERE / "canvas.css"

    title = traitlets.Unicode("").tag(sync=True)
    labels = traitlets.List(traitlets.Unicode()).tag(sync=True)
    colours = traitlets.List(traitlets.Unicode()).tag(sync=True)
    window_seconds = traitlets.Float(0.0).tag(sync=True)
    window_points = traitlets.Int(0).tag(sync=True)
    x_is_time = traitlets.Bool(True).tag(sync=True)
    plot_width = traitlets.Int(720).tag(sync=True)
    plot_height = traitlets.Int(320).tag(sync=True)
    y_label = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    ended = traitlets.Unicode("").tag(sync=True)
    ended_detail = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self,
        conn: Source,
        series: Series,
        *,
        rate: float = 20.0,
        width: int = 720,
        height: int = 320,
        title: str = "",
    ) -> None:
        self.series = series
        self._open(conn)
        series.add(self._take().messages)
        series.take_new()
        self._fallback_renderer: AggRenderer | None = None
        self._size = (width, height)
        self.batches = 0
        self.points_sent = 0
        self.batch_points = BATCH_POINTS
        win: Window = series.window
        super().__init__(
            title=title,
            labels=series.labels(),
            colours=series.colours(),
            window_seconds=win.seconds or 0.0,
            window_points=win.points or 0,
            x_is_time=series.x_is_time,
            plot_width=width,
            plot_height=height,
            y_label=series.y_label(),
        )
        series.new_lines = False
        self.on_msg(self._on_front_end_msg)
        self._start_view(rate)

    def _render(self, batch: Batch) -> None:
        s = self.series
        if not s.add(batch.messages):
            return
        if s.new_lines:
            s.new_lines = False
            self.x_is_time = s.x_is_time
            self.labels = s.labels()
            self.colours = s.colours()
        self._send_points("points", s.take_new(), self.batch_points)

    def _final_update(self) -> None:
        super()._final_update()
        state = self._source.state
        if state in FINAL_STATES:  # the connection ended: a badge says so
            describe = getattr(self._source, "describe_state", None)
            self.ended_detail = describe() if callable(describe) else state
            self.ended = state

    def _send_points(
        self, kind: str, parts: Sequence[tuple[int, np.ndarray, np.ndarray]], cap: int
    ) -> None:
        # Each line: [index, n, cutoff]; the browser drops its points older than cutoff,
        # so it keeps the same window as the Series even though it gets a decimated copy.
        buffers: list[bytes] = []
        lines = []
        for index, xs_all, ys_all in parts:
            xs, ys = decimate(xs_all, ys_all, cap)
            lines.append([index, len(xs), self.series.first_x(index)])
            buffers.append(xs.astype("<f8").tobytes())
            buffers.append(ys.astype("<f8").tobytes())
            self.points_sent += len(xs)
        self.send({"type": kind, "lines": lines}, buffers)
        self.batches += 1

    def _send_snapshot(self) -> None:
        s = self.series
        parts = [(i, *s.arrays(i)) for i in range(len(s.lines))]
        # a view that asked for every point (batch_points) gets them on a reload too
        self._send_points("reset", parts, max(SNAPSHOT_POINTS, self.batch_points))

    def _on_front_end_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "hello":
            get_runtime().call_soon(self._send_snapshot)

    def _fallback(self) -> dict[str, Any]:
        import base64

        if self._fallback_renderer is None:
            self._fallback_renderer = AggRenderer(
                *self._size, title=self.title, y_label=self.series.y_label()
            )
        self._fallback_renderer.set_badge(self.ended)
        png = self._fallback_renderer.render(self.series)
        return {"text/plain": repr(self), "image/png": base64.b64encode(png).decode("ascii")}

    def __repr__(self) -> str:
        s = self.series
        return (
            f"<CanvasPlot {', '.join(s.labels()) or ', '.join(s.fields)} "
            f"({s.points()} points, {s.window.describe()})>"
        )
