"""The protocol lab's runner: WebSocket, SSE and WebRTC measured side by side (the I/O part).

:func:`compare` (``rtnb.compare``) starts (or reuses) the in-kernel server,
opens rtnb connections of each kind to its ``/lab/...`` endpoints
(:mod:`rtnb.lab.wire`) and, per protocol:

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
import contextlib
import itertools
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from ..connection import Connection
from ..errors import RTError, SendNotSupported
from ..message import Message
from ..registry import connect
from ..runtime import get_runtime, in_loop_thread
from .findings import binary_finding, reconnect_finding
from .numbers import LABELS, ProtocolResult
from .progress import ProgressLine
from .result import Comparison
from .wire import (
    HEADER_SIZE,
    MAX_COUNT,
    PATHS,
    PAYLOAD_LIMITS,
    LabPlan,
    Summary,
    binary_intact,
    parse_header,
)

if TYPE_CHECKING:
    from ..server import Server

__all__ = ["DEFAULT_RATE", "DEFAULT_SIZE", "acompare", "compare"]

DEFAULT_RATE = 200.0
DEFAULT_SIZE = 64
#: Seconds allowed for one connection to open.
OPEN_TIMEOUT = 20.0
#: Seconds allowed beyond a phase's planned length for its summary to arrive.
GRACE = 15.0
#: The reconnect probe: messages in all, where the server cuts, and its rate.
CUT_TOTAL, CUT_AT, CUT_RATE = 40, 20, 200.0
#: What the client sends in the direction probe (every byte value).
PROBE = bytes(range(256)) + b"rtnb"
#: The label of the lab's WebRTC data channel.
CHANNEL = "lab"

_names = itertools.count(1)


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
        self.summary: Summary | None = None
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
            summary = Summary.decode(data)
            if summary is not None:
                if self.summary is None:
                    self.summary = summary
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

    def url(self, family: str, plan: LabPlan) -> str:
        query = plan.to_query()
        if self.token:
            query["token"] = self.token
        path = f"{PATHS[family]}?{urlencode(query)}"
        if family == "sse":
            return self.base + path
        return "ws" + self.base[4:] + path

    def options(self) -> dict[str, Any]:
        return {"cafile": self.cafile} if self.cafile else {}


async def _open(
    lab: _Lab, protocol: str, col: _Collector, plan: LabPlan, reconnect: bool = False
) -> _Run:
    family = "webrtc" if protocol.startswith("webrtc") else protocol
    opts: dict[str, Any] = lab.options()
    if family == "ws":
        opts["compression"] = None
    elif family == "webrtc":
        opts["channel"] = CHANNEL
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
        lab.url(family, plan),
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


async def _finish(run: _Run, timeout: float) -> Summary:
    try:
        await asyncio.wait_for(run.col.done.wait(), timeout)
    except TimeoutError:
        raise _LabError(f"no end-of-stream summary within {timeout:.0f} s") from None
    assert run.col.summary is not None
    return run.col.summary


async def _paced(lab: _Lab, r: ProtocolResult, seconds: float) -> None:
    count = max(10, round(r.rate * seconds))
    col = _Collector(r.payload_size)
    run = await _open(lab, r.protocol, col, LabPlan(count, r.rate, size=r.payload_size))
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
    r.paced_sent = summary.sent
    r.transport = summary.transport
    r.wire_bytes = summary.wire_bytes
    r.wire_messages = r.paced_sent
    r.handshake_bytes = summary.handshake_bytes


async def _flood(lab: _Lab, r: ProtocolResult, seconds: float) -> None:
    col = _Collector(r.payload_size, keep_latency=False)
    plan = LabPlan(MAX_COUNT, rate=0, seconds=round(seconds, 3), size=r.payload_size)
    run = await _open(lab, r.protocol, col, plan)
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
    r.flood_sent = summary.sent
    r.flood_received = col.count


async def _probe(lab: _Lab, r: ProtocolResult) -> None:
    """Binary server-to-client, then a client-to-server send (bytes, echoed)."""
    size = HEADER_SIZE + 256
    col = _Collector(size)
    run = await _open(lab, r.protocol, col, LabPlan(1, rate=0, size=size, binary=True))
    try:
        r.connect_ms.append(run.connect_ms)
        await _finish(run, GRACE)
        r.binary, r.binary_detail = binary_finding(col.intact, col.sample, size)
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
            except TimeoutError:
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
    plan = LabPlan(
        CUT_TOTAL,
        CUT_RATE,
        size=r.payload_size,
        cut=CUT_AT,
        session=uuid.uuid4().hex,
        ids=r.family == "sse",
    )
    run = await _open(lab, r.protocol, col, plan, reconnect=True)
    try:
        r.connect_ms.append(run.connect_ms)
        summary: Summary | None
        try:
            summary = await _finish(run, CUT_TOTAL / CUT_RATE + GRACE)
        except _LabError:
            summary = None
    finally:
        await run.conn.aclose()
    found = reconnect_finding(
        r.family,
        run.states,
        col.seqs,
        finished=summary is not None,
        first=None if summary is None else summary.first,
        last_event_id=None if summary is None else summary.last_event_id,
    )
    r.reconnect, r.reconnect_ms, r.resumed = found.text, found.ms, found.resumed


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
    from ..server import Server, running_server
    from ..server.config import ServerConfig

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
    progress: Callable[[str], None] | bool | None = None,
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
        progress: called with a short line as each step starts; by default
            (``None``) a Jupyter kernel shows a progress bar updated in place and
            a terminal nothing; ``False`` shows nothing anywhere.

    Returns:
        A :class:`~rtnb.lab.Comparison` (HTML in notebooks, text in terminals,
        ``.to_pandas()``, ``.to_json(path)``, ``.plot()``).

    Raises:
        ValueError: for a bad duration, rate, size or protocol name.
        RuntimeError: when called from the rtnb loop's thread (use :func:`acompare`).

    Example:
        >>> result = rtnb.compare(duration=2, protocols="ws,sse")   # doctest: +SKIP
        >>> result["ws"].overhead                                   # doctest: +SKIP
        2.0
    """
    rows = _rows(protocols)
    _check(duration, rate, payload_size)
    if in_loop_thread():
        raise RuntimeError(
            "rtnb.compare() blocks: from the rtnb loop use 'await rtnb.acompare(...)'"
        )
    budget = 120 + len(rows) * (duration + 4 * (OPEN_TIMEOUT + GRACE))
    with _progress(progress, 4 * len(rows)) as step:
        coro = _compare_on_loop(float(duration), float(rate), payload_size, rows, server, step)
        return get_runtime().run(coro, budget)


@contextlib.contextmanager
def _progress(
    progress: Callable[[str], None] | bool | None, total: int
) -> Iterator[Callable[[str], None] | None]:
    """The step callback for a run: the caller's, none, or (``None`` in a kernel) a bar.

    The bar ends full when the run succeeds and says "stopped" where it failed.
    """
    if progress is not None:
        yield progress if callable(progress) else None
        return
    bar = _notebook_bar(total)
    if bar is None:
        yield None
        return
    try:
        yield bar.step
    except BaseException:
        bar.finish("stopped")
        raise
    bar.finish()


def _notebook_bar(total: int) -> ProgressLine | None:
    """A progress bar when running in a Jupyter kernel, else None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    return ProgressLine(total)


async def acompare(
    duration: float = 5,
    rate: float = DEFAULT_RATE,
    payload_size: int = DEFAULT_SIZE,
    protocols: Iterable[str] | str = ("ws", "sse", "webrtc"),
    server: Server | str | None = None,
    *,
    progress: Callable[[str], None] | bool | None = None,
) -> Comparison:
    """The async twin of :func:`compare`: ``await rtnb.acompare()`` in a cell.

    Raises:
        ValueError: for a bad duration, rate, size or protocol name.
    """
    rows = _rows(protocols)
    _check(duration, rate, payload_size)
    with _progress(progress, 4 * len(rows)) as step:
        coro = _compare_on_loop(float(duration), float(rate), payload_size, rows, server, step)
        return await get_runtime().arun(coro)
