"""Server-Sent Events endpoints of the in-kernel server: /sse/clock and /sse/ticker.

Both send ``retry:`` first, a comment heartbeat when idle for ``config.heartbeat``
seconds, and CORS headers only for allowed origins (``security.origin_allowed``).
Writes wait for the socket to drain, so a slow client holds at most a socket
buffer; on /sse/ticker it falls behind in the shared history and is told so
with a ``gap`` event (see :mod:`rtnb.server.sse_streams`).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from functools import partial

from aiohttp import web

from .. import jsonfast
from ..sse_format import encode_comment, encode_event, encode_retry
from ..ticker import parse_symbols
from .common import cors_headers, cut, query_float, request_faults
from .config import Endpoint, ServerConfig, config_of
from .faults import deliver
from .limits import claim_unpaced
from .sse_streams import BATCH, StreamRegistry, plan_resume

__all__ = ["setup"]

log = logging.getLogger("rtnb.server")

STREAMS = web.AppKey("rtnb_sse_streams", StreamRegistry)

#: Default ``retry:`` hint in milliseconds.
DEFAULT_RETRY_MS = 1000
#: A write that cannot drain for this long means the client is gone.
WRITE_TIMEOUT = 30.0
#: Largest chunk of history written at once.
CHUNK_EVENTS = BATCH
#: How often a handler waiting between events looks whether its client left (seconds).
CLIENT_CHECK = 0.5


async def preflight(request: web.Request) -> web.Response:
    """OPTIONS: allow the headers an SSE client sends (``Last-Event-ID``, auth, JSON)."""
    headers = cors_headers(request, config_of(request))
    if headers:
        headers.update(
            {
                "Access-Control-Allow-Methods": "GET, OPTIONS",
                "Access-Control-Allow-Headers": "Last-Event-ID, Authorization, Cache-Control",
                "Access-Control-Max-Age": "600",
            }
        )
    return web.Response(status=204, headers=headers)


async def open_stream(request: web.Request, retry_ms: int) -> web.StreamResponse:
    """Send the status line, the event-stream headers and ``retry:`` at once."""
    config = config_of(request)
    resp = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # tell nginx-like proxies not to buffer
            **cors_headers(request, config),
        }
    )
    await resp.prepare(request)
    await resp.write(encode_retry(retry_ms).encode())
    return resp


async def _write(resp: web.StreamResponse, text: str) -> None:
    await asyncio.wait_for(resp.write(text.encode()), WRITE_TIMEOUT)


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _sleep_while_connected(request: web.Request, seconds: float) -> bool:
    """Sleep ``seconds``; False as soon as the client is gone.

    aiohttp does not cancel a handler whose client left, and a write only
    fails on the next event: without this a long ``interval`` would hold the
    handler (and the client's connection slot) that long.
    """
    deadline = time.monotonic() + seconds
    while not _gone(request):
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, CLIENT_CHECK))
    return False


def _retry_ms(request: web.Request) -> int:
    return int(query_float(request, "retry", DEFAULT_RETRY_MS, 0, 3_600_000))


# --- /sse/clock -----------------------------------------------------------------------


async def clock(request: web.Request) -> web.StreamResponse:
    """``{"time": ISO-8601}`` every ``interval`` seconds (default 1), as in the article.

    Query: ``interval`` (0.01-3600 s), ``count`` (end after N), ``retry`` (ms), and
    the fault options ``latency``, ``jitter``, ``drop``, ``cut_after`` (see ``faults``).
    """
    interval = query_float(request, "interval", 1.0, 0.01, 3600.0)
    count = int(query_float(request, "count", 0, 0, 1e12))
    faults = request_faults(request, config_of(request).seed)
    heartbeat = config_of(request).heartbeat
    resp = await open_stream(request, _retry_ms(request))
    sent = 0
    try:
        while not _gone(request):
            now = datetime.datetime.now(datetime.UTC)
            body = jsonfast.dumps({"time": now.isoformat(timespec="milliseconds")})
            if await deliver(faults, partial(_write, resp), encode_event(body)):
                cut(request)
                break
            sent += 1
            if count and sent >= count:
                break
            last_write = time.monotonic()
            next_event = last_write + interval
            while (now_m := time.monotonic()) < next_event:
                if heartbeat and now_m - last_write >= heartbeat:
                    await _write(resp, encode_comment("heartbeat"))
                    last_write = now_m
                nap = next_event - now_m
                if heartbeat:
                    nap = min(nap, last_write + heartbeat - now_m)
                if not await _sleep_while_connected(request, nap):
                    return resp
    except (TimeoutError, ConnectionError):
        pass
    return resp


# --- /sse/ticker ----------------------------------------------------------------------


async def ticker(request: web.Request) -> web.StreamResponse:
    """Ticks ``{"t", "symbol", "price"}`` as events with consecutive integer ids.

    Query: ``symbols``, ``rate`` (per symbol per second; 0 = as fast as read),
    ``seed``, ``count`` (a finite stream of ids 1..count), ``retry`` (ms), and the
    fault options (see :mod:`rtnb.server.faults`): ``cut_after=N`` cuts the
    connection after N ticks to show resuming; ``latency``, ``jitter``, ``drop``.
    Resumes after the ``Last-Event-ID`` header (or ``?last_event_id=``).
    """
    config = config_of(request)
    try:
        symbols = parse_symbols(request.query.get("symbols"))
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    if not symbols:
        raise web.HTTPBadRequest(text="symbols= names no symbol")
    rate = query_float(request, "rate", 2.0, 0.0, 200_000.0)
    seed = int(query_float(request, "seed", config.seed, 0, 2**31))
    count = int(query_float(request, "count", 0, 0, 1e12))
    faults = request_faults(request, seed)
    retry_ms = _retry_ms(request)
    if rate == 0:
        claim_unpaced(request)  # security hook (issue 14): bounded flat-out streams
    now = time.time()
    stream = request.app[STREAMS].get((tuple(symbols), rate, seed, count), now)
    last = request.headers.get("Last-Event-ID", request.query.get("last_event_id"))
    plan = plan_resume(stream, last)
    if plan.done:
        # WHATWG 9.2.3: a 204 tells an EventSource to stop reconnecting.
        return web.Response(status=204, headers=cors_headers(request, config))
    resp = await open_stream(request, retry_ms)
    after = plan.after
    heartbeat = config.heartbeat
    last_write = time.monotonic()
    # With fault injection, ticks go one by one through the injector.
    limit = 1 if faults is not None else CHUNK_EVENTS
    try:
        if plan.note:
            await _write(resp, _gap_event(after, after + 1, 0, plan.note))
        while not _gone(request):
            now = time.time()
            stream.advance(now, want=CHUNK_EVENTS if after >= stream.newest else 0)
            text, new_after, missed = stream.read(after, limit)
            if missed:
                note = f"{missed} tick(s) fell out of the server's history"
                await _write(resp, _gap_event(after, after + missed + 1, missed, note))
            after = new_after
            if text:
                last_write = time.monotonic()
                if await deliver(faults, partial(_write, resp), text):
                    cut(request)  # cut_after: a network cut, not an orderly end
                    break
            if stream.count and after >= stream.count:
                break
            if stream.newest > after or (text and stream.rate == 0):
                await asyncio.sleep(0)  # let the loop breathe between batches
                continue
            idle = time.monotonic() - last_write
            if heartbeat and idle >= heartbeat:
                await _write(resp, encode_comment("heartbeat"))
                last_write = time.monotonic()
                idle = 0.0
            pause = stream.wait(time.time()) if stream.rate else 0.0
            if heartbeat:
                pause = min(pause, heartbeat - idle)
            pause = max(pause, 0.001 if stream.rate else 0.0)
            if pause <= CLIENT_CHECK:
                await asyncio.sleep(pause)
            elif not await _sleep_while_connected(request, pause):
                break
    except (TimeoutError, ConnectionError):
        pass
    return resp


def _gap_event(after: int, resumed_at: int, missed: int, reason: str) -> str:
    body = jsonfast.dumps(
        {"after": after, "resumed_at": resumed_at, "missed": missed, "reason": reason}
    )
    return encode_event(body, event="gap")


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add the SSE routes."""
    app[STREAMS] = StreamRegistry(max(1, config.sse_history))
    app.router.add_get("/sse/clock", clock)
    app.router.add_get("/sse/ticker", ticker)
    app.router.add_route("OPTIONS", "/sse/clock", preflight)
    app.router.add_route("OPTIONS", "/sse/ticker", preflight)
    endpoints += [
        Endpoint(
            "/sse/clock",
            "sse",
            'events {"time": ISO-8601} every interval seconds (the article\'s server)',
            "?interval=1",
        ),
        Endpoint(
            "/sse/ticker",
            "sse",
            "ticks {t, symbol, price} as events with consecutive ids; resumes after "
            "Last-Event-ID; cut_after=N drops the stream to try it",
            "?symbols=AAPL,MSFT&rate=5",
        ),
    ]
