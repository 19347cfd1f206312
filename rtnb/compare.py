"""The protocol lab: WebSocket, SSE and WebRTC measured side by side against the article's table.

:func:`compare` starts (or reuses) the in-kernel server, opens rtnb connections
of each kind to its ``/lab/...`` endpoints and, per protocol:

1. streams timestamped messages at ``rate`` for half of ``duration``: connect
   time, one-way latency (server send to client receive, one clock), delivery,
   and the bytes the server's socket carried per message;
2. streams as fast as the transport drains for the other half: throughput;
3. sends binary data both ways and tries a client-to-server send;
4. cuts the connection from the server and watches what the client does.

WebRTC runs twice: ordered and reliable (the default), then unordered and
unreliable (``ordered=False, max_retransmits=0``).

    >>> result = rtnb.compare(duration=2)          # doctest: +SKIP
    >>> print(result)                              # doctest: +SKIP
    >>> result.to_pandas()                         # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import io
import itertools
import json
import os
import platform
import sys
import time
import types
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from . import jsonfast
from .comparestats import (
    HEADER_SIZE,
    LABELS,
    PAYLOAD_LIMITS,
    ProtocolResult,
    Verdict,
    binary_intact,
    judge,
    parse_header,
    render_html,
    render_text,
)
from .connection import Connection
from .errors import RTError, SendNotSupported
from .message import Message
from .registry import connect
from .runtime import get_runtime, in_loop_thread

if TYPE_CHECKING:
    import pandas
    from matplotlib.figure import Figure

    from .server import Server

__all__ = ["Comparison", "acompare", "compare"]

DEFAULT_RATE = 200.0
DEFAULT_SIZE = 64
#: Seconds allowed for one connection to open.
OPEN_TIMEOUT = 20.0
#: Seconds allowed beyond a phase's planned length for its summary to arrive.
GRACE = 15.0
#: The reconnect probe: messages in all, and where the server cuts.
CUT_TOTAL, CUT_AT = 40, 20
#: What the client sends in the direction probe (every byte value).
PROBE = bytes(range(256)) + b"rtnb"

_names = itertools.count(1)


# --- the result -----------------------------------------------------------------------


@dataclass
class Comparison:
    """The measured comparison: one :class:`~rtnb.comparestats.ProtocolResult` per row.

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
            f"{s.get('rate', '?'):g} msg/s paced, {s.get('payload_size', '?')} B payloads, "
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
        import numpy as np
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        rows = [r for r in self.results if r.latency_ms]
        fig = _figure_class()(figsize=(7, 1.0 + 1.6 * max(1, len(rows))), layout="constrained")
        FigureCanvasAgg(fig)
        if not rows:
            fig.text(0.5, 0.5, "no latency samples", ha="center")
            return fig
        lo = max(1e-3, min(min(r.latency_ms) for r in rows))
        hi = max(max(r.latency_ms) for r in rows)
        bins = np.geomspace(lo, max(hi, lo * 1.01), 50)
        axes = fig.subplots(len(rows), 1, sharex=True, squeeze=False)[:, 0]
        for ax, r in zip(axes, rows, strict=True):
            lat = r.latency
            assert lat is not None
            ax.hist(np.clip(r.latency_ms, lo, None), bins=bins, color="#4c72b0")
            for q, value, style in (
                ("p50", lat.p50, "-"),
                ("p95", lat.p95, "--"),
                ("p99", lat.p99, ":"),
            ):
                ax.axvline(value, color="#c44e52", linestyle=style, label=f"{q} {value:.2f} ms")
            ax.set_xscale("log")
            ax.set_ylabel(r.label, rotation=0, ha="right", va="center")
            ax.legend(loc="upper right", fontsize="small", frameon=False)
        axes[-1].set_xlabel("one-way latency, server send to client receive (ms)")
        axes[0].set_title(f"{self.settings.get('rate', '?'):g} msg/s, one clock", fontsize="small")
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


# --- measuring ------------------------------------------------------------------------


class _Collector:
    """Counts lab messages as they are ingested (on the runtime loop)."""

    def __init__(self, size: int, keep_latency: bool = True, track: bool = False) -> None:
        self.size = size
        self.keep_latency = keep_latency
        self.track = track
        self.latencies: list[float] = []
        self.seqs: list[int] = []
        self.count = 0
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self.summary: dict[str, Any] | None = None
        self.done = asyncio.Event()
        self.other = asyncio.Event()
        self.others: list[str | bytes] = []
        self.intact = 0
        self.altered = 0
        self.sample: str | bytes | None = None

    def __call__(self, msg: Message) -> None:
        data = msg.data
        head = parse_header(data)
        if head is None:
            if isinstance(data, str) and data.startswith("{"):
                try:
                    obj = jsonfast.loads(data)
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and obj.get("done"):
                    if self.summary is None:
                        self.summary = obj
                        self.done.set()
                    return
            if len(self.others) < 100:
                self.others.append(data)
                self.other.set()
            return
        seq, sent_at = head
        ts = msg.ts
        self.count += 1
        if self.first_ts is None:
            self.first_ts = ts
        self.last_ts = ts
        if self.keep_latency:
            self.latencies.append((ts - sent_at) * 1000.0)
        if self.track:
            self.seqs.append(seq)
        if len(data) == self.size and isinstance(data, bytes):
            if binary_intact(data, self.size):
                self.intact += 1
            else:
                self.altered += 1
        elif self.sample is None and len(data) != self.size:
            self.altered += 1
        if self.sample is None:
            self.sample = data


@dataclass
class _Run:
    conn: Connection
    col: _Collector
    connect_ms: float
    states: list[tuple[float, str]]


class _LabError(RTError):
    """A phase could not run; the message says why."""


@dataclass(frozen=True)
class _Lab:
    """Where the lab endpoints are and how to reach them."""

    base: str  # http(s)://host:port
    token: str | None = None
    cafile: str | None = None

    def url(self, family: str, **query: Any) -> str:
        q = {k: (int(v) if isinstance(v, bool) else v) for k, v in query.items()}
        if self.token:
            q["token"] = self.token
        path = f"/lab/{family}?{urlencode(q)}"
        if family == "sse":
            return self.base + path
        return "ws" + self.base[4:] + path

    def options(self, family: str) -> dict[str, Any]:
        return {"cafile": self.cafile} if self.cafile else {}


async def _open(
    lab: _Lab,
    protocol: str,
    col: _Collector,
    query: Mapping[str, Any],
    reconnect: bool = False,
) -> _Run:
    family = "webrtc" if protocol.startswith("webrtc") else protocol
    opts: dict[str, Any] = lab.options(family)
    if family == "ws":
        opts["compression"] = None
    elif family == "webrtc":
        opts["channel"] = "lab"
        if protocol == "webrtc-unordered":
            opts.update(ordered=False, max_retransmits=0)
    states: list[tuple[float, str]] = []
    settled = asyncio.Event()

    def on_state(_: Connection, state: str) -> None:
        states.append((time.perf_counter(), state))
        if state in ("open", "closed", "failed"):
            settled.set()

    t0 = time.perf_counter()
    conn = connect(
        family,
        lab.url(family, **query),
        name=f"lab-{protocol}-{next(_names)}",
        reconnect=reconnect,
        max_messages=1000,
        open_timeout=OPEN_TIMEOUT,
        **opts,
    )
    conn.on_message(col)
    conn.on_state(on_state)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(settled.wait(), OPEN_TIMEOUT + 1)
    if conn.state != "open":
        why = conn.stats.last_error or conn.state
        await conn.aclose()
        raise _LabError(f"could not open a {family} connection: {why}")
    opened_at = next(t for t, s in states if s == "open")
    return _Run(conn, col, (opened_at - t0) * 1000.0, states)


async def _finish(run: _Run, timeout: float) -> dict[str, Any]:
    try:
        await asyncio.wait_for(run.col.done.wait(), timeout)
    except asyncio.TimeoutError:
        raise _LabError(f"no end-of-stream summary within {timeout:.0f} s") from None
    assert run.col.summary is not None
    return run.col.summary


async def _paced(lab: _Lab, r: ProtocolResult, seconds: float) -> None:
    count = max(10, round(r.rate * seconds))
    col = _Collector(r.payload_size)
    run = await _open(
        lab, r.protocol, col, {"count": count, "rate": r.rate, "size": r.payload_size}
    )
    try:
        r.connect_ms.append(run.connect_ms)
        try:
            summary = await _finish(run, count / r.rate + GRACE)
            # Stragglers of an unordered channel may follow the summary.
            await asyncio.sleep(0.05)
        finally:
            r.latency_ms = col.latencies
            r.paced_received = col.count
    finally:
        await run.conn.aclose()
    r.paced_received = col.count
    r.paced_sent = int(summary.get("sent", 0))
    r.transport = str(summary.get("transport") or "")
    wire = summary.get("wire_bytes")
    r.wire_bytes = None if wire is None else int(wire)
    r.wire_messages = r.paced_sent
    hs = summary.get("handshake_bytes")
    r.handshake_bytes = None if hs is None else int(hs)


async def _flood(lab: _Lab, r: ProtocolResult, seconds: float) -> None:
    col = _Collector(r.payload_size, keep_latency=False)
    query = {"count": 1_000_000, "rate": 0, "seconds": round(seconds, 3), "size": r.payload_size}
    run = await _open(lab, r.protocol, col, query)
    try:
        r.connect_ms.append(run.connect_ms)
        try:
            summary = await _finish(run, seconds + GRACE)
            await asyncio.sleep(0.05)
        finally:
            r.flood_received = col.count
            if col.first_ts is not None and col.last_ts is not None:
                r.flood_seconds = col.last_ts - col.first_ts
    finally:
        await run.conn.aclose()
    r.flood_sent = int(summary.get("sent", 0))
    r.flood_received = col.count


async def _probe(lab: _Lab, r: ProtocolResult) -> None:
    """Binary server-to-client, then a client-to-server send (bytes, echoed)."""
    size = HEADER_SIZE + 256
    col = _Collector(size)
    run = await _open(lab, r.protocol, col, {"count": 1, "rate": 0, "size": size, "binary": True})
    try:
        r.connect_ms.append(run.connect_ms)
        await _finish(run, GRACE)
        sample = col.sample
        if col.intact:
            r.binary = "intact"
            r.binary_detail = f"{size} B with all 256 byte values arrived as bytes, intact"
        elif sample is None:
            r.binary = "failed"
            r.binary_detail = "nothing arrived"
        else:
            r.binary = "altered"
            kind = "text" if isinstance(sample, str) else "bytes"
            r.binary_detail = (
                f"{size} raw bytes sent; arrived as {kind} of {len(sample)} "
                f"{'characters' if kind == 'text' else 'bytes'}, not the bytes sent"
            )
        try:
            await run.conn.asend(PROBE)
        except SendNotSupported as exc:
            r.client_send = "refused"
            r.send_detail = "refused: " + str(exc).split(":")[0]
            return
        except RTError as exc:
            r.client_send = "failed"
            r.send_detail = f"failed: {exc}"
            return
        deadline = time.monotonic() + GRACE
        while PROBE not in col.others and time.monotonic() < deadline:
            col.other.clear()
            try:
                await asyncio.wait_for(col.other.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
        if PROBE in col.others:
            r.client_send = "echoed"
            r.send_detail = f"{len(PROBE)} B from the client came back intact"
        else:
            r.client_send = "failed"
            r.send_detail = "sent, but no echo came back"
    finally:
        await run.conn.aclose()


async def _reconnect(lab: _Lab, r: ProtocolResult) -> None:
    """The server cuts the connection after CUT_AT messages; what does the client do?"""
    col = _Collector(r.payload_size, keep_latency=False, track=True)
    query: dict[str, Any] = {
        "count": CUT_TOTAL,
        "rate": 200,
        "size": r.payload_size,
        "cut": CUT_AT,
        "session": uuid.uuid4().hex,
    }
    if r.family == "sse":
        query["ids"] = True
    run = await _open(lab, r.protocol, col, query, reconnect=True)
    try:
        r.connect_ms.append(run.connect_ms)
        summary: dict[str, Any] | None
        try:
            summary = await _finish(run, CUT_TOTAL / 200 + GRACE)
        except _LabError:
            summary = None
    finally:
        await run.conn.aclose()
    opens = [t for t, s in run.states if s == "open"]
    cuts = [t for t, s in run.states if s == "reconnecting"]
    if summary is None or len(opens) < 2 or not cuts:
        states = " -> ".join(s for _, s in run.states)
        r.reconnect = f"did not reopen: states {states}"
        return
    r.reconnect_ms = (opens[1] - cuts[0]) * 1000.0
    seqs = col.seqs
    restart = next((i for i in range(1, len(seqs)) if seqs[i] != seqs[i - 1] + 1), None)
    ms = f"{r.reconnect_ms:.0f} ms"
    if restart is None:
        last = summary.get("last_event_id")
        how = f"Last-Event-ID {last}" if last is not None else "the server"
        r.resumed = True
        r.reconnect = (
            f"resumed: reopened {ms} after the cut and went on at {summary.get('first')} "
            f"({how}), nothing lost or repeated"
        )
        return
    before, after = seqs[restart - 1], seqs[restart]
    r.resumed = False
    lost = max(0, after - before - 1)
    repeated = max(0, before - after + 1)
    why = {
        "ws": "backoff, then a new handshake",
        "webrtc": "a new offer/answer, ICE and DTLS",
    }.get(r.family, "a new request")
    r.reconnect = (
        f"restarted: reopened {ms} after the cut ({why}); the stream began again at {after}"
        + (f", {repeated} repeated" if repeated else "")
        + (f", {lost} lost" if lost else "")
    )


async def _measure(
    lab: _Lab,
    protocol: str,
    duration: float,
    rate: float,
    size: int,
    progress: Callable[[str], None] | None,
) -> ProtocolResult:
    r = ProtocolResult(protocol, payload_size=size, rate=rate)
    steps: tuple[tuple[str, Callable[[], Awaitable[None]]], ...] = (
        ("paced stream", lambda: _paced(lab, r, duration / 2)),
        ("flat-out stream", lambda: _flood(lab, r, duration / 2)),
        ("binary and direction", lambda: _probe(lab, r)),
        ("server-side cut", lambda: _reconnect(lab, r)),
    )
    for what, step in steps:
        if progress is not None:
            progress(f"{r.label}: {what}")
        try:
            await step()
        except _LabError as exc:
            r.errors.append(f"{what}: {exc}")
            if what == "paced stream" and not r.connect_ms:
                break  # it does not connect at all: the other steps would fail alike
    return r


# --- the entry points -----------------------------------------------------------------


def _rows(protocols: Iterable[str] | str) -> list[str]:
    if isinstance(protocols, str):
        protocols = [p for p in protocols.replace(",", " ").split() if p]
    rows: list[str] = []
    for p in protocols:
        key = str(p).lower()
        if key == "webrtc":
            wanted = ["webrtc", "webrtc-unordered"]
        elif key in LABELS:
            wanted = [key]
        else:
            raise ValueError(
                f"unknown protocol {p!r}; use ws, sse, webrtc (both channel kinds), "
                "or webrtc-unordered"
            )
        rows += [w for w in wanted if w not in rows]
    if not rows:
        raise ValueError("protocols is empty: give at least one of ws, sse, webrtc")
    return rows


def _check(duration: float, rate: float, payload_size: int) -> None:
    if not isinstance(duration, int | float) or not 0.2 <= duration <= 600:
        raise ValueError(f"duration must be 0.2-600 seconds per protocol, not {duration!r}")
    if not isinstance(rate, int | float) or not 1 <= rate <= 100_000:
        raise ValueError(f"rate must be 1-100,000 messages per second, not {rate!r}")
    lo, hi = PAYLOAD_LIMITS
    if not isinstance(payload_size, int) or not lo <= payload_size <= hi:
        raise ValueError(
            f"payload_size must be an int within {lo}-{hi} bytes, not {payload_size!r}"
        )


def _machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    libs: dict[str, str | None] = {}
    for lib in ("websockets", "aiohttp", "httpx", "aiortc"):
        try:
            libs[lib] = version(lib)
        except PackageNotFoundError:
            libs[lib] = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "libraries": libs,
    }


async def _lab_for(server: Server | str | None) -> tuple[_Lab, Server | None]:
    """The lab to use and, when this call started one, the server to stop afterwards."""
    from .server import Server, running_server
    from .server.config import ServerConfig

    if isinstance(server, str):
        parts = urlsplit(server)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.netloc:
            raise ValueError(
                f"server must be an rtnb server or its URL http://host:port, not {server!r}"
            )
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        return _Lab(f"{scheme}://{parts.netloc}"), None
    started = None
    if server is None:
        server = running_server()
        if server is None:
            started = server = await Server(ServerConfig()).astart()
    if not isinstance(server, Server):
        raise TypeError(
            f"server must be an rtnb Server, a URL or None, not {type(server).__name__}"
        )
    return _Lab(server.url, server.token, server.cafile), started


async def _compare_on_loop(
    duration: float,
    rate: float,
    payload_size: int,
    rows: list[str],
    server: Server | str | None,
    progress: Callable[[str], None] | None,
) -> Comparison:
    lab, started = await _lab_for(server)
    try:
        results = [await _measure(lab, row, duration, rate, payload_size, progress) for row in rows]
    finally:
        if started is not None:
            await started.astop()
    settings = {
        "duration": duration,
        "rate": rate,
        "payload_size": payload_size,
        "protocols": rows,
        "server": lab.base,
        "server_in_process": not isinstance(server, str),
    }
    return Comparison(results, settings, _machine())


def compare(
    duration: float = 5,
    rate: float = DEFAULT_RATE,
    payload_size: int = DEFAULT_SIZE,
    protocols: Iterable[str] | str = ("ws", "sse", "webrtc"),
    server: Server | str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """Measure WebSocket, SSE and WebRTC side by side and judge the article's claims.

    Blocks for about ``duration`` seconds per protocol (WebRTC counts twice:
    ordered/reliable and unordered/unreliable), plus a second or so each for
    the probes.

    Args:
        duration: seconds per protocol: half paced at ``rate``, half flat out.
        rate: messages per second in the latency phase.
        payload_size: bytes per message (32-65,536).
        protocols: any of ``"ws"``, ``"sse"``, ``"webrtc"`` (both channel kinds)
            and ``"webrtc-unordered"``; a list or a comma-separated string.
        server: an rtnb :class:`~rtnb.server.Server`, the URL of one (for example
            ``rtnb serve`` in another terminal of this machine), or None to use
            the running in-kernel server or start one for the run.
        progress: called with a short line as each step starts.

    Returns:
        A :class:`Comparison` (HTML in notebooks, text in terminals,
        ``.to_pandas()``, ``.to_json(path)``, ``.plot()``).

    Raises:
        ValueError: for a bad duration, rate, size or protocol name.

    Example:
        >>> result = rtnb.compare(duration=2, protocols="ws,sse")   # doctest: +SKIP
        >>> result["ws"].overhead                                   # doctest: +SKIP
        2.0
    """
    rows = _rows(protocols)
    _check(duration, rate, payload_size)
    if in_loop_thread():
        raise RuntimeError("rtnb.compare() blocks: from the rtnb loop use 'await acompare(...)'")
    coro = _compare_on_loop(float(duration), float(rate), payload_size, rows, server, progress)
    budget = 120 + len(rows) * (duration + 4 * (OPEN_TIMEOUT + GRACE))
    return get_runtime().run(coro, budget)


async def acompare(
    duration: float = 5,
    rate: float = DEFAULT_RATE,
    payload_size: int = DEFAULT_SIZE,
    protocols: Iterable[str] | str = ("ws", "sse", "webrtc"),
    server: Server | str | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> Comparison:
    """The async twin of :func:`compare` (``await rtnb.compare.acompare()`` in a cell)."""
    rows = _rows(protocols)
    _check(duration, rate, payload_size)
    coro = _compare_on_loop(float(duration), float(rate), payload_size, rows, server, progress)
    return await get_runtime().arun(coro)


class _CallableModule(types.ModuleType):
    """Makes ``rtnb.compare(...)`` work even after ``import rtnb.compare`` binds the module.

    Importing a submodule sets the package attribute of the same name to the
    module, which would shadow the function ``rtnb.compare``.
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Comparison:
        return compare(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
