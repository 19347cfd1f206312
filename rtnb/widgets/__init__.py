"""Live views of a connection: panel, table, plots, WebRTC signaling (DESIGN.md, "Widgets").

Every view is a :class:`~rtnb.reader.Reader`: it takes what is new from its
cursor into the connection's log at a bounded rate; nothing is done per message.
"""

from __future__ import annotations

from .panel import ConnectionPanel, display_connection
from .plot import CanvasPlot, MplPlot, live_plot
from .signaling import LiveSignaling
from .table import LiveTable

__all__ = [
    "CanvasPlot",
    "ConnectionPanel",
    "LiveSignaling",
    "LiveTable",
    "MplPlot",
    "display_connection",
    "live_plot",
]
