"""The protocol lab: WebSocket, SSE and WebRTC measured side by side against the article's table.

Run it with :func:`rtnb.compare` (``await rtnb.acompare()`` on a running
loop), ``%rt_compare`` or ``rtnb compare``. One job per module, pure ones first:

- :mod:`~rtnb.lab.wire`: the lab's query, messages and summary, shared with the
  server's ``/lab/...`` endpoints (:mod:`rtnb.server.lab_handlers`);
- :mod:`~rtnb.lab.numbers`: one protocol's measurements and their statistics;
- :mod:`~rtnb.lab.claims`: the article's claims as data, and verdicts;
- :mod:`~rtnb.lab.findings`: what the probes observed, in words;
- :mod:`~rtnb.lab.report`: text, HTML and plot data of a comparison;
- :mod:`~rtnb.lab.plot`: the latency plot with matplotlib;
- :mod:`~rtnb.lab.result`: :class:`Comparison`, the result object;
- :mod:`~rtnb.lab.run`: the I/O, connections to the lab endpoints
  (``rtnb.compare`` is :func:`rtnb.lab.run.compare`).

This package's ``__init__`` imports only the pure modules and the result, so
the server can use :mod:`~rtnb.lab.wire` without loading the client side.

    >>> from rtnb.lab import Comparison, ProtocolResult
    >>> saved = Comparison([ProtocolResult("ws", transport="TCP")])  # or .from_json(path)
    >>> saved["ws"].label, [v.status for v in saved.verdicts][:2]
    ('WebSocket', ['differs', 'confirmed'])
"""

from __future__ import annotations

from .claims import CLAIMS, Claim, Verdict, judge, verdict
from .numbers import LABELS, LatencySummary, ProtocolResult
from .result import Comparison

__all__ = [
    "CLAIMS",
    "LABELS",
    "Claim",
    "Comparison",
    "LatencySummary",
    "ProtocolResult",
    "Verdict",
    "judge",
    "verdict",
]
