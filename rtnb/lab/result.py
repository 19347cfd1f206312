"""The result of :func:`rtnb.compare`: rows, settings and machine, shown, saved and exported.

No I/O beyond a file the caller names (:meth:`Comparison.to_json`); pandas and
matplotlib are imported only when their export is asked for.
"""

from __future__ import annotations

import base64
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .claims import Verdict, judge
from .numbers import ProtocolResult
from .report import render_html, render_text

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

__all__ = ["Comparison"]


def _g(value: Any) -> str:
    """A setting for the title: a number without trailing zeros, ``?`` when unknown."""
    return f"{value:g}" if isinstance(value, int | float) else "?"


@dataclass
class Comparison:
    """The measured comparison: one :class:`~rtnb.lab.ProtocolResult` per row.

    Shows as an HTML table (metrics, the article's claims with a verdict each,
    the latency plot) in a notebook and as text in a terminal.

    Attributes:
        results: the rows, in the order they ran.
        settings: duration, rate, payload size, server URL.
        machine: Python, CPUs and platform of the run.
    """

    results: list[ProtocolResult]
    settings: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=dict)

    @property
    def verdicts(self) -> list[Verdict]:
        """The article's claims, each judged by the measurements."""
        return judge(self.results)

    @property
    def title(self) -> str:
        """One line saying what was run where."""
        s, m = self.settings, self.machine
        where = (
            "client and server in one process"
            if s.get("server_in_process", True)
            else "server in another process"
        )
        return (
            f"rtnb compare: {s.get('duration', '?')} s per protocol, "
            f"{_g(s.get('rate'))} msg/s paced, {s.get('payload_size', '?')} B payloads, "
            f"loopback, {where} "
            f"(Python {m.get('python', '?')}, {m.get('cpus', '?')} CPUs)"
        )

    def __getitem__(self, protocol: str) -> ProtocolResult:
        for r in self.results:
            if r.protocol == protocol:
                return r
        raise KeyError(f"no row {protocol!r}; rows: {', '.join(r.protocol for r in self.results)}")

    def __str__(self) -> str:
        return render_text(self.results, self.verdicts, self.title)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        png: str | None = None
        if any(r.latency_ms for r in self.results):
            buf = io.BytesIO()
            self.plot().savefig(buf, format="png", dpi=80)
            png = base64.b64encode(buf.getvalue()).decode("ascii")
        return render_html(self.results, self.verdicts, self.title, png)

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-safe: settings, machine, rows (raw samples included), verdicts."""
        return {
            "settings": self.settings,
            "machine": self.machine,
            "results": [r.to_dict() for r in self.results],
            "verdicts": [v.to_dict() for v in self.verdicts],
        }

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_dict` to ``path`` as JSON; returns the path."""
        out = Path(path)
        out.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")
        return out

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> Comparison:
        """Read a comparison saved by :meth:`to_json`."""
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(
            [ProtocolResult.from_dict(r) for r in d.get("results", [])],
            dict(d.get("settings", {})),
            dict(d.get("machine", {})),
        )

    def to_pandas(self, what: str = "metrics") -> pandas.DataFrame:
        """A DataFrame: ``"metrics"`` (a row per protocol), ``"claims"`` or ``"latency"``.

        ``"latency"`` has one row per latency sample (protocol, ms), for your own plots.

        Raises:
            ValueError: for another ``what``.
        """
        import pandas as pd

        if what == "claims":
            return pd.DataFrame([v.to_dict() for v in self.verdicts])
        if what == "latency":
            return pd.DataFrame(
                [(r.protocol, ms) for r in self.results for ms in r.latency_ms],
                columns=["protocol", "latency_ms"],
            )
        if what != "metrics":
            raise ValueError(f"what must be 'metrics', 'claims' or 'latency', not {what!r}")
        rows = []
        for r in self.results:
            lat = r.latency
            rows.append(
                {
                    "protocol": r.protocol,
                    "transport": r.transport,
                    "connect_ms": r.connect,
                    "latency_p50_ms": lat.p50 if lat else None,
                    "latency_p95_ms": lat.p95 if lat else None,
                    "latency_p99_ms": lat.p99 if lat else None,
                    "paced_sent": r.paced_sent,
                    "paced_received": r.paced_received,
                    "msgs_per_s": r.msgs_per_s,
                    "mb_per_s": r.mb_per_s,
                    "flood_sent": r.flood_sent,
                    "flood_received": r.flood_received,
                    "overhead_bytes": r.overhead,
                    "handshake_bytes": r.handshake_bytes,
                    "binary": r.binary,
                    "client_send": r.client_send,
                    "reconnect": r.reconnect,
                    "reconnect_ms": r.reconnect_ms,
                }
            )
        return pd.DataFrame(rows).set_index("protocol")

    def plot(self) -> Figure:
        """The latency distribution of each protocol (a matplotlib Agg figure, no pyplot)."""
        from .plot import latency_figure

        rate = self.settings.get("rate")
        return latency_figure(self.results, rate if isinstance(rate, int | float) else None)
