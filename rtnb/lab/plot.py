"""The protocol lab's latency plot: :func:`rtnb.lab.report.latency_plot` drawn with matplotlib.

An Agg figure owned by the caller, never pyplot's global state (the lab may
run on the background loop's thread).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
        ax.set_ylabel(panel.label, rotation=0, ha="right", va="center")
        ax.legend(loc="upper right", fontsize="small", frameon=False)
    axes[-1].set_xlabel(data.xlabel)
    axes[0].set_title(data.title, fontsize="small")
    return fig


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
