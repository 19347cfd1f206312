"""The protocol lab's latency plot: :func:`rtnb.lab.report.latency_plot` drawn with matplotlib.

An Agg figure owned by the caller, never pyplot's global state (the lab may
run on the background loop's thread).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .numbers import ProtocolResult
from .report import latency_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["latency_figure"]

_STYLES = {"p50": "-", "p95": "--", "p99": ":"}


def latency_figure(results: Sequence[ProtocolResult], rate: float | None = None) -> Figure:
    """The latency distribution of each protocol, one histogram per row on a log axis.

    Args:
        results: the comparison's rows; rows without latency samples are left out.
        rate: the paced rate, for the title.

    Returns:
        A matplotlib figure with an Agg canvas; it shows itself as PNG in any
        front-end (``_repr_png_``), with or without a pyplot backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    data = latency_plot(results, rate)
    fig = _figure_class()(figsize=(7, 1.0 + 1.6 * max(1, len(data.panels))), layout="constrained")
    FigureCanvasAgg(fig)
    if not data.panels:
        fig.text(0.5, 0.5, "no latency samples", ha="center")
        return fig
    axes = fig.subplots(len(data.panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, data.panels, strict=True):
        ax.hist(panel.samples_ms, bins=data.edges_ms, color="#4c72b0")
        for name, value in panel.marks:
            ax.axvline(
                value, color="#c44e52", linestyle=_STYLES[name], label=f"{name} {value:.2f} ms"
            )
        ax.set_xscale("log")
        _ms_ticks(ax, data.edges_ms[0], data.edges_ms[-1])
        ax.set_ylabel(panel.label, rotation=0, ha="right", va="center")
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    axes[-1].set_xlabel(data.xlabel)
    axes[0].set_title(data.title, fontsize="small")
    return fig


def ms_ticks(lo: float, hi: float, most: int = 9) -> list[float]:
    """Readable tick values in ms for a log axis from ``lo`` to ``hi``: 1-2-5 steps, or decades.

    >>> ms_ticks(0.08, 3.0)
    [0.1, 0.2, 0.5, 1.0, 2.0]
    >>> ms_ticks(0.002, 900.0)
    [0.01, 0.1, 1.0, 10.0, 100.0]
    """
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [
            float(f"{m * 10.0**e:.6g}")
            for e in range(-4, 6)
            for m in steps
            if lo <= m * 10.0**e <= hi
        ]
        if len(ticks) <= most:
            break
    while len(ticks) > most:  # many decades: every second one
        ticks = ticks[1::2]
    return ticks


def _ms_ticks(ax: Any, lo: float, hi: float) -> None:
    """Label the log axis with plain numbers (0.2, 1, 5) and no crowded minor labels."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

    ticks = ms_ticks(lo, hi)
    if len(ticks) < 2:
        return  # a narrow range: matplotlib's own ticks read fine
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


@functools.cache
def _figure_class() -> type[Figure]:
    """A matplotlib Figure that shows itself as PNG even where no pyplot backend is set."""
    from matplotlib.figure import Figure

    class LatencyFigure(Figure):
        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=80)
            return buf.getvalue()

    return LatencyFigure
