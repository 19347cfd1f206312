"""Live views of a connection: the panel, the table and the plots (see DESIGN.md, "Widgets").

Every view pulls from the connection's log at a bounded rate with a
:class:`~rtnb.widgets.flusher.Flusher`; nothing is done per message.
"""

from __future__ import annotations

from .panel import ConnectionPanel, display_connection
from .plot import CanvasPlot, MplPlot, live_plot
from .table import LiveTable

__all__ = [
    "CanvasPlot",
    "ConnectionPanel",
    "LiveTable",
    "MplPlot",
    "display_connection",
    "live_plot",
]
