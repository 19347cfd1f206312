"""The in-kernel server: WebSocket, SSE and WebRTC endpoints on one port.

>>> srv = rtnb.serve()                       # doctest: +SKIP
>>> srv.url                                  # doctest: +SKIP
'http://127.0.0.1:54321'
>>> srv.stop()                               # doctest: +SKIP
"""

from __future__ import annotations

import html
import importlib.util
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from .. import localtrust
from ..errors import ServerError
from ..runtime import get_runtime
from .app import build_app
from .config import ENDPOINTS, Endpoint, ServerConfig
from .limits import BACKLOG, GATE
from .security import generate_token, is_loopback_host, token_param

__all__ = ["Server", "proxy_prefix_for", "running_server", "serve"]

log = logging.getLogger("rtnb.server")
# aiohttp logs a traceback for each malformed request; in a kernel with no logging
# set up that would print into whichever cell runs. Applications that configure
# logging still get the records through propagation.
logging.getLogger("aiohttp.server").addHandler(logging.NullHandler())

_servers: list[Server] = []
_servers_lock = threading.Lock()


class Server:
    """One running in-kernel server. Make it with :func:`rtnb.serve`.

    Attributes:
        host, port: where it listens (port is the real one when 0 was asked).
        token: required from clients when set (always set off loopback).
        config: the full :class:`ServerConfig`.
    """

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self.port = config.port
        self.ssl_context: Any = None
        self.cafile: str | None = None

    # --- lifecycle --------------------------------------------------------------------

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return self.config.host

    @property
    def token(self) -> str | None:
        """The access token (``None`` on loopback unless one was given)."""
        return self.config.token

    @property
    def running(self) -> bool:
        """True between start and stop."""
        return self._runner is not None

    def start(self, timeout: float = 15.0) -> Server:
        """Start listening (on the runtime loop); returns when the port is bound."""
        get_runtime().run(self.astart(), timeout)
        return self

    async def astart(self) -> Server:
        """The async twin of :meth:`start` (runs on the runtime loop)."""
        if self._runner is not None:
            return self
        if self.config.tls:
            from .tls import server_ssl_context

            self.ssl_context, self.cafile = server_ssl_context(self.config.host)
        self._app = build_app(self.config)
        runner = web.AppRunner(
            self._app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=2.0,
            keepalive_timeout=self.config.idle_timeout,  # security hook (issue 14)
        )
        await runner.setup()
        assert runner.server is not None
        gate = self._app[GATE]  # security hook (issue 14): count connections from accept
        gate.attach(runner.server)
        site = web.TCPSite(
            runner,
            self.config.host,
            self.config.port,
            ssl_context=self.ssl_context,
            backlog=BACKLOG,  # security hook (issue 14): the gate's accept burst
        )
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ServerError(
                f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror or exc}"
            ) from exc
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        for sock in sockets:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                self.port = sock.getsockname()[1]
                break
        self._runner = runner
        self.config.own_origins[:] = _own_origins(self.config.host, self.port, self.scheme)
        # security hook (issue 14): proxied Host, and this process's clients' key
        gate.proxy_context = (proxy_prefix_for(self.port) or "").rstrip("/") or None
        localtrust.register(self.port, self.config.client_key)
        get_runtime().register(self)
        with _servers_lock:
            _servers.append(self)
        log.info("rtnb server listening on %s", self.url)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the server: close every client, free the port. Idempotent."""
        if self._runner is None:
            return
        get_runtime().run(self.astop(), timeout)

    async def astop(self) -> None:
        """The async twin of :meth:`stop`."""
        runner, self._runner = self._runner, None
        localtrust.unregister(self.port, self.config.client_key)  # security hook (issue 14)
        with _servers_lock:
            if self in _servers:
                _servers.remove(self)
        if runner is not None:
            await runner.cleanup()

    async def _aclose_at_exit(self) -> None:
        await self.astop()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses --------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``http`` or ``https``."""
        return "https" if self.config.tls else "http"

    @property
    def url(self) -> str:
        """The base HTTP URL, e.g. ``http://127.0.0.1:54321``."""
        host = self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The base WebSocket URL, e.g. ``ws://127.0.0.1:54321``."""
        return "ws" + self.url[4:]

    def url_for(self, path: str, *, ws: bool | None = None, token: bool = True) -> str:
        """The full URL of ``path``, as ws:// for WebSocket paths, with the token if any.

        >>> srv.url_for("/ws/ticker?rate=5")        # doctest: +SKIP
        'ws://127.0.0.1:54321/ws/ticker?rate=5'
        """
        if not path.startswith("/"):
            path = "/" + path
        if ws is None:
            ws = path.startswith(("/ws/", "/webrtc/", "/graphql", "/mqtt"))
        base = self.ws_url if ws else self.url
        if token and self.config.token:
            path += ("&" if "?" in path else "?") + token_param(self.config.token)
        return base + path

    @property
    def socketio_url(self) -> str:
        """The Socket.IO server's URL for ``connect("socketio", ...)`` (with the token if any)."""
        return self.url_for("/", ws=False).replace("/?", "?").rstrip("/")

    @property
    def mqtt_url(self) -> str:
        """The MQTT broker's ws:// URL for ``connect("mqtt", ...)`` (with the token if any)."""
        return self.url_for("/mqtt", ws=True)

    def add_recording(self, name: str, path: str | os.PathLike[str]) -> str:
        """Serve a recording at ``/ws/replay?name=NAME`` and ``/sse/replay?name=NAME``.

        Only registered recordings are served (never a path from a query string).
        Returns the WebSocket path; clients may add ``&speed=S`` and ``&loop=1``.

        Raises:
            ValueError: for a bad name or a file that is not an rtnb recording.
            ServerError: when the server is not running.

        Example:
            >>> srv.add_recording("ticks", "ticks.jsonl")      # doctest: +SKIP
            '/ws/replay?name=ticks'
        """
        from .replay_handlers import add_recording

        app = self._app
        if app is None or self._runner is None:
            raise ServerError("the server is not running")
        return get_runtime().run(add_recording(app, name, path, app[ENDPOINTS]), 15)

    @property
    def proxy_prefix(self) -> str | None:
        """The path prefix under which a browser reaches this server through
        jupyter-server-proxy (Binder, JupyterHub), or None when it is not proxied.

        Detected from ``RTNB_PROXY_PREFIX`` (explicit), else from
        ``JUPYTERHUB_SERVICE_PREFIX`` when jupyter-server-proxy is installed.
        """
        return proxy_prefix_for(self.port)

    def browser_url(self, path: str = "/") -> str:
        """A URL a browser can open for ``path``: ``/user/x/proxy/PORT/...`` behind
        JupyterHub or Binder, else the direct one. Kernel-side connections keep
        using :meth:`url_for` (loopback)."""
        prefix = self.proxy_prefix
        if prefix is None:
            return self.url_for(path, ws=False)
        if not path.startswith("/"):
            path = "/" + path
        if self.config.token:
            path += ("&" if "?" in path else "?") + token_param(self.config.token)
        return prefix + path.lstrip("/")

    @property
    def endpoints(self) -> list[Endpoint]:
        """Every path the server offers, with a description."""
        if self._app is None:
            return []
        endpoints: list[Endpoint] = self._app[ENDPOINTS]
        return list(endpoints)

    # --- display ----------------------------------------------------------------------

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<rtnb.Server {self.url} {state}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.describe())

    def describe(self) -> str:
        """A text listing: URL, token and every endpoint with its magic."""
        lines = [f"rtnb server {'running' if self.running else 'stopped'} at {self.url}"]
        if self.config.token:
            lines.append(f"token: {self.config.token}")
        for ep in self.endpoints:
            if ep.kind == "page":
                lines.append(f"  page   {self.browser_url(ep.path)}")
            else:
                lines.append(f"  {ep.kind:<6} %rt_connect {ep.kind} {ep.path}{ep.example}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        state = "running" if self.running else "stopped"
        rows = []
        for ep in self.endpoints:
            if ep.kind == "page":
                how = f"<a href='{esc(self.browser_url(ep.path))}' target='_blank'>open</a>"
            else:
                how = f"<code>%rt_connect {esc(ep.kind)} {esc(ep.path + ep.example)}</code>"
            rows.append(
                f"<tr><td><code>{esc(ep.path)}</code></td><td>{esc(ep.description)}</td>"
                f"<td>{how}</td></tr>"
            )
        token = f" &middot; token <code>{esc(self.token)}</code>" if self.token else ""
        return (
            f"<div class='rtnb-server'><b>rtnb server</b> {state} at "
            f"<a href='{esc(self.browser_url('/'))}' target='_blank'>{esc(self.url)}</a>{token}"
            f"<table>{''.join(rows)}</table></div>"
        )


def proxy_prefix_for(port: int) -> str | None:
    """``<service prefix>proxy/<port>/`` when behind jupyter-server-proxy, else None."""
    explicit = os.environ.get("RTNB_PROXY_PREFIX")
    if explicit:
        return explicit.rstrip("/") + f"/{port}/"
    service = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not service or importlib.util.find_spec("jupyter_server_proxy") is None:
        return None
    return service.rstrip("/") + f"/proxy/{port}/"


def _own_origins(host: str, port: int, scheme: str) -> list[str]:
    hosts = {host, "127.0.0.1", "localhost"}
    return [f"{scheme}://{h if ':' not in h else f'[{h}]'}:{port}" for h in hosts if h]


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    *,
    allowed_origins: Iterable[str] = (),
    tls: bool = False,
    **settings: Any,
) -> Server:
    """Start the in-kernel server in the background and return it at once.

    Args:
        host: the address to bind; loopback by default. Any other address
            requires a token: one is generated (and shown) when not given.
        port: the port; 0 picks a free one (see ``Server.url``).
        token: a secret clients must send as ``Authorization: Bearer`` or ``?token=``.
        allowed_origins: browser origins allowed besides the server's own and
            localhost pages (``"*"`` allows any).
        tls: serve https:// and wss:// with a self-signed localhost certificate.
        **settings: other :class:`ServerConfig` fields (``max_message_size``,
            ``seed``, ``room_size``, ``sse_history``, ...).

    Raises:
        ServerError: when the port cannot be bound.

    Example:
        >>> srv = rtnb.serve()                                      # doctest: +SKIP
        >>> c = rtnb.connect("ws", srv.url_for("/ws/echo"))         # doctest: +SKIP
    """
    if not is_loopback_host(host) and token is None:
        token = generate_token()
        log.warning(
            "rtnb server binds %s, beyond loopback: clients must send the token %s", host, token
        )
    fields = set(ServerConfig.__dataclass_fields__)
    unknown = sorted(set(settings) - fields)
    if unknown:
        raise TypeError(f"unknown server setting(s): {', '.join(unknown)}")
    config = ServerConfig(
        host=host,
        port=port,
        token=token,
        allowed_origins=tuple(allowed_origins),
        tls=tls,
        **settings,
    )
    return Server(config).start()


def running_server() -> Server | None:
    """The most recently started server that is still running, if any."""
    with _servers_lock:
        return _servers[-1] if _servers else None
