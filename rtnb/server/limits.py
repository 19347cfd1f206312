"""Who the server lets in and for how long: Host check, connections, caps, timeouts.

One :class:`ConnectionGate` per server sees every TCP connection from accept
to close (it hooks the aiohttp server's connection callbacks) and enforces:

- ``max_connections`` counted from accept, lowered to fit the process's file
  descriptor limit (less a backlog's worth, for a burst of accepts). When
  full, a connection waiting without a request in progress (slow or idle: it
  cost nothing yet) makes room: of the address with the most such, the one
  that has waited longest, so a flood from one address cannot push out
  another. When every connection is busy, the newcomer gets a 503 and is closed.
- ``header_timeout``: a new connection must deliver a complete request head in
  time; ``idle_timeout``: a kept-alive one must send its next request in time.
- ``send_timeout``: a client whose socket takes no data (its write buffer
  non-empty and not shrinking) is cut, its transport aborted, so a client
  that never reads frees its memory and its slot. A connection left closing
  (a close that waits for a client that does not read) is aborted too.

The :func:`admission` middleware refuses a request whose ``Host`` is not this
server's (DNS rebinding) and applies the per-client caps, counting this
process's own clients apart (:mod:`rtnb.localtrust`); :func:`claim_unpaced`
bounds the streams sent as fast as possible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..localtrust import HEADER
from .config import CONFIG, ServerConfig
from .security import client_identity, host_allowed

__all__ = [
    "CLIENTS",
    "GATE",
    "MAX_ICE_CANDIDATES",
    "ConnectionGate",
    "admission",
    "claim_unpaced",
    "fit_to_descriptors",
    "refuse",
    "setup",
]

log = logging.getLogger("rtnb.server")

#: Requests in progress per client identity (the gate's own dict).
CLIENTS = web.AppKey("rtnb_clients", dict[str, int])
#: Request keys: the client's ``(identity, trusted)`` and whether it holds an unpaced slot.
CLIENT = web.RequestKey("rtnb_client", tuple[str, bool])
UNPACED = web.RequestKey("rtnb_unpaced", bool)

#: Connections the listening socket may queue, and so accept in one go (asyncio
#: accepts up to this many per loop turn, before any dropped one is closed).
BACKLOG = 128
#: Seconds between two looks at every connection.
SWEEP = 0.5
#: Seconds a closing connection may take to go before it is aborted (at most a
#: quarter of the heartbeat).
CLOSE_GRACE = 2.0
#: Remote ICE candidates a server peer takes for one offer (RFC 8445 gathers a
#: handful per interface; thousands would only cost memory and checks).
MAX_ICE_CANDIDATES = 64

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def fit_to_descriptors(wanted: int) -> int:
    """``wanted`` connections, lowered to leave room under the file descriptor limit.

    A quarter of the limit (at least 48) is left for the rest of the process,
    and ``BACKLOG`` more for connections accepted in one burst (the ones dropped
    to make room close a moment later), so ``accept()`` never fails for lack
    of descriptors: a failing accept pauses the whole server for a second.
    """
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # no resource module on Windows
        return wanted
    if soft <= 0 or soft == resource.RLIM_INFINITY:
        return wanted
    return max(1, min(wanted, soft - max(48, soft // 4) - BACKLOG))


def refuse(status: int, reason: str) -> web.Response:
    """A JSON refusal that says why, closing the connection behind it."""
    resp = web.json_response({"error": reason}, status=status, reason=reason[:60])
    resp.force_close()
    return resp


@dataclass(eq=False)
class _Conn:
    transport: asyncio.Transport
    peer: str
    since: float  # accept time, or the end of the last request
    busy: int = 0  # requests in progress
    requests: int = 0
    buffered: int = 0  # write buffer at the last sweep
    stalled_since: float | None = None
    closing_since: float | None = None


class ConnectionGate:
    """Counts, times and cuts the connections of one server (see the module docstring).

    Attributes:
        capacity: connections at once (``max_connections`` fitted to descriptors).
        reserved: of those, how many only this process's own clients may use.
        per_client: requests at once from one other client: ``max_connections_per_client``,
            at most half of the unreserved capacity.
        counts: what the gate did: ``evicted``, ``refused``, ``timed_out``,
            ``stalled`` (cut for taking no data), ``closing`` (aborted while closing).
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.capacity = fit_to_descriptors(config.max_connections)
        self.reserved = min(config.reserved_connections, self.capacity // 4)
        # no other client may hold more than half of what is left for them
        self.per_client = max(
            1, min(config.max_connections_per_client, (self.capacity - self.reserved) // 2)
        )
        self.connections: dict[object, _Conn] = {}
        self.clients: dict[str, int] = {}  # requests in progress per identity
        self.busy_total = 0
        self.busy_others = 0  # ... of them from other processes
        self.unpaced = 0
        self.allowed_hosts: tuple[str, ...] = config.allowed_hosts
        self.any_address = False
        self.proxy_context: str | None = None
        self.counts = dict.fromkeys(("evicted", "refused", "timed_out", "stalled", "closing"), 0)
        self._sweeper: asyncio.Task[None] | None = None

    # --- TCP connections ------------------------------------------------------------------

    def attach(self, server: web.Server, proxy_prefix: str | None = None) -> None:
        """Watch ``server``'s connections (call once, on the loop, after the runner's setup).

        Args:
            server: the runner's low-level server; every accepted connection is
                reported to its ``connection_made`` / ``connection_lost``.
            proxy_prefix: the jupyter-server-proxy path this server is reached
                through, if any: requests it forwards carry the browser's Host.
        """
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: web.RequestHandler, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self._accepted(handler, transport)

        def connection_lost(handler: web.RequestHandler, exc: BaseException | None = None) -> None:
            lost(handler, exc)
            self.connections.pop(handler, None)

        server.connection_made = connection_made  # type: ignore[method-assign]
        server.connection_lost = connection_lost  # type: ignore[method-assign]
        host = self.config.host
        self.any_address = host in ("", "0.0.0.0", "::")
        if host and not self.any_address:
            self.allowed_hosts = (*self.allowed_hosts, host)
        elif self.any_address:  # reached from the LAN by address or by this machine's name
            self.allowed_hosts = (*self.allowed_hosts, socket.gethostname())
        if proxy_prefix:
            self.proxy_context = proxy_prefix.rstrip("/")
        loop = asyncio.get_running_loop()
        self._sweeper = loop.create_task(self._sweep_forever(), name="rtnb-connection-gate")

    async def aclose(self, _app: web.Application | None = None) -> None:
        """Stop the periodic sweep."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    def _accepted(self, handler: object, transport: asyncio.Transport) -> None:
        now = asyncio.get_running_loop().time()
        peername = transport.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) and peername else "?"
        self.connections[handler] = _Conn(transport, peer, now)
        if len(self.connections) <= self.capacity:
            return
        victim = self._longest_waiting(exclude=handler)
        if victim is not None:
            self.counts["evicted"] += 1
            self.connections.pop(victim).transport.abort()
            return
        del self.connections[handler]
        self.counts["refused"] += 1
        why = f"server full: {self.capacity} connections"
        body = f'{{"error": "{why}"}}'.encode()
        transport.write(
            f"HTTP/1.1 503 {why}\r\nContent-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        transport.close()

    def _longest_waiting(self, exclude: object) -> object | None:
        """The connection to drop for a newcomer: of the address with the most
        connections waiting for a request, the one that has waited longest."""
        by_peer: dict[str, list[tuple[float, object]]] = {}
        for h, c in self.connections.items():
            if not c.busy and h is not exclude:
                by_peer.setdefault(c.peer, []).append((c.since, h))
        if not by_peer:
            return None
        crowd = max(by_peer.values(), key=len)
        return min(crowd, key=lambda item: item[0])[1]

    async def _sweep_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP)
            try:
                self.sweep(loop.time())
            except Exception:  # a bug here must not stop the sweeping
                log.exception("rtnb connection gate: sweep failed")

    def sweep(self, now: float) -> None:
        """Time out, cut and abort what the rules say (runs every ``SWEEP`` seconds)."""
        config = self.config
        # a closing WebSocket was found dead by its heartbeat: leave it a moment
        grace = min(CLOSE_GRACE, config.heartbeat / 4) if config.heartbeat else CLOSE_GRACE
        for c in list(self.connections.values()):
            t = c.transport
            if t.is_closing():
                if c.closing_since is None:
                    c.closing_since = now
                elif now - c.closing_since >= grace:
                    self.counts["closing"] += 1
                    t.abort()
                continue
            if not c.busy:
                limit = config.idle_timeout if c.requests else config.header_timeout
                if now - c.since >= limit:
                    self.counts["timed_out"] += 1
                    t.abort()
                    continue
            size = t.get_write_buffer_size()
            if size and size >= c.buffered:
                if c.stalled_since is None:
                    c.stalled_since = now
                elif now - c.stalled_since >= config.send_timeout:
                    self.counts["stalled"] += 1
                    log.info("cut a client that took no data for %.0f s", config.send_timeout)
                    t.abort()
                    continue
            else:
                c.stalled_since = None
            c.buffered = size

    # --- requests -------------------------------------------------------------------------

    def host_ok(self, request: web.Request) -> bool:
        """Whether the request's Host names this server (or a proxy forwarded it to us)."""
        if host_allowed(request.headers.get("Host"), self.allowed_hosts, self.any_address):
            return True
        context = self.proxy_context
        return context is not None and context in (
            request.headers.get("X-Forwarded-Context"),
            request.headers.get("X-ProxyContextPath"),
        )

    def admit(self, identity: str, trusted: bool) -> web.Response | None:
        """A refusal when the caps are reached, else None (then call :meth:`begin`)."""
        if self.busy_total >= self.capacity or (
            not trusted and self.busy_others >= self.capacity - self.reserved
        ):
            return refuse(503, f"server full: {self.capacity} connections")
        cap = self.config.max_connections_per_client if trusted else self.per_client
        if self.clients.get(identity, 0) >= cap:
            return refuse(429, f"too many connections from {identity}")
        return None

    def begin(self, protocol: object, identity: str, trusted: bool) -> None:
        """Count a request in progress."""
        self.clients[identity] = self.clients.get(identity, 0) + 1
        self.busy_total += 1
        self.busy_others += not trusted
        c = self.connections.get(protocol)
        if c is not None:
            c.busy += 1
            c.requests += 1

    def end(self, protocol: object, identity: str, trusted: bool, unpaced: bool) -> None:
        """Uncount a finished request (and its unpaced stream, if it had one)."""
        left = self.clients.get(identity, 1) - 1
        if left:
            self.clients[identity] = left
        else:
            self.clients.pop(identity, None)
        self.busy_total -= 1
        self.busy_others -= not trusted
        self.unpaced -= unpaced
        c = self.connections.get(protocol)
        if c is not None:
            c.busy -= 1
            c.since = asyncio.get_running_loop().time()


GATE: web.AppKey[ConnectionGate] = web.AppKey("rtnb_gate")


@web.middleware
async def admission(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a foreign Host (403), apply the caps (503, 429), count the request."""
    app = request.app
    config, gate = app[CONFIG], app[GATE]
    if not gate.host_ok(request):
        host = request.headers.get("Host", "")[:100]
        log.warning("refused a request for host %r (DNS rebinding guard)", host)
        return refuse(
            403,
            f"host {host!r} is not this server's: a page may be re-pointing its name here "
            "(DNS rebinding); allow a name with allowed_hosts",
        )
    identity, trusted = client_identity(
        request.remote, request.headers.get(HEADER), config.client_key
    )
    refusal = gate.admit(identity, trusted)
    if refusal is not None:
        return refusal
    request[CLIENT] = (identity, trusted)
    protocol = request.protocol
    gate.begin(protocol, identity, trusted)
    try:
        return await handler(request)
    finally:
        gate.end(protocol, identity, trusted, bool(request.get(UNPACED)))


def claim_unpaced(request: web.Request) -> None:
    """Count a stream sent as fast as possible (``rate=0``, ``speed=0``) for this request.

    Each one keeps the server's loop busy for as long as its client reads, so
    clients other than this process get at most ``max_unpaced_streams`` at once.

    Raises:
        web.HTTPServiceUnavailable: when that many already run.
    """
    gate: ConnectionGate = request.app[GATE]
    _, trusted = request.get(CLIENT, ("?", False))
    if trusted or request.get(UNPACED):
        return
    limit = gate.config.max_unpaced_streams
    if gate.unpaced >= limit:
        why = f"{limit} streams already run as fast as possible; ask for a rate"
        raise web.HTTPServiceUnavailable(text=why, reason=why[:60])
    gate.unpaced += 1
    request[UNPACED] = True


def setup(app: web.Application, config: ServerConfig) -> ConnectionGate:
    """Give ``app`` its gate (attach it to the runner's server once that exists)."""
    gate = ConnectionGate(config)
    app[GATE] = gate
    app[CLIENTS] = gate.clients
    app.on_cleanup.append(gate.aclose)
    return gate
