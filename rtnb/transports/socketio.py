"""Socket.IO transport on python-socketio's asyncio client (Socket.IO protocol v5).

One :class:`~rtnb.Message` per received event: ``event`` is its name, ``data``
its arguments as JSON (one argument: that value; several: a list; a single
binary argument: the bytes). ``send(x)`` is ``emit("message", x)``; ``call``
waits for the acknowledgement. python-socketio's own reconnection is off: the
Connection reconnects (and re-joins the namespace) like for every kind.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
import socketio
from engineio.exceptions import EngineIOError
from socketio.exceptions import ConnectionError as SioConnectionError
from socketio.exceptions import SocketIOError
from socketio.exceptions import TimeoutError as SioTimeout

from .. import jsonfast
from ..errors import ConnectError, ProtocolError, RPCError
from ..errors import ConnectionClosed as Closed
from ..options import SocketIOOptions
from ..sendtext import looks_like_json
from .base import Ingest, Sent, Transport, check_options
from .tls import client_ssl_context

__all__ = ["SUPPORTED", "SocketIOTransport", "ack_error", "event_data", "sio_url"]

#: What to tell someone whose server speaks another Socket.IO protocol.
SUPPORTED = (
    "rtnb speaks Socket.IO v5 protocol (servers v3+/v4: JavaScript socket.io 3.x and 4.x, "
    "python-socketio 5.x, Engine.IO v4)"
)

_V3_PAYLOAD = re.compile(r"^\d+:\d")  # Engine.IO v3 polling framing: "96:0{...}"


def sio_url(url: str) -> str:
    """The server URL python-socketio wants: ``ws(s)://`` becomes ``http(s)://``.

    Raises:
        ValueError: when the URL is not http, https, ws or wss or names no host.
    """
    parts = urlsplit(url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"a Socket.IO URL is the server's http:// or https:// address, not {url!r}"
        )
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


def _bytes_as_b64(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"_binary_b64": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def event_data(args: Sequence[Any]) -> str | bytes:
    """An event's arguments as one Message's data.

    One argument: its JSON (a string argument too: ``"hi"`` -> ``'"hi"'``);
    several: a JSON list; none: ``null``; a single binary argument: the bytes.
    Binary inside a structure is written ``{"_binary_b64": "..."}``.

        >>> event_data([{"x": 1}]), event_data([1, "a"]), event_data([]), event_data([b"\\x00"])
        ('{"x":1}', '[1,"a"]', 'null', b'\\x00')
    """
    if len(args) == 1 and isinstance(args[0], bytes | bytearray):
        return bytes(args[0])
    value = args[0] if len(args) == 1 else list(args) if args else None
    try:
        return jsonfast.dumps(value)  # orjson when installed: the hot path of ingest
    except TypeError:  # bytes inside a structure
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_bytes_as_b64)


def ack_error(value: Any) -> RPCError | None:
    """The error an acknowledgement carries, if it is one: ``{"error": ...}`` and nothing else.

    Socket.IO has no error acknowledgement of its own; servers commonly answer
    ``{"error": "..."}`` (rtnb's server does for an unknown event). A string is
    the message; an object may have ``message``, ``code`` and ``data``.

        >>> str(ack_error({"error": "unknown event 'x'"}))
        "unknown event 'x'"
        >>> ack_error({"error": "x", "other": 1}) is None
        True
    """
    if not (isinstance(value, dict) and len(value) == 1 and "error" in value):
        return None
    err = value["error"]
    if isinstance(err, dict):
        code = err.get("code")
        return RPCError(
            code if isinstance(code, int) else None,
            str(err.get("message", err)),
            err.get("data"),
        )
    return RPCError(None, str(err))


def _wire_size(event: str, args: Sequence[Any], namespace: str) -> tuple[str, int]:
    """What an EVENT packet's JSON part is and roughly how big its frame is."""
    text = json.dumps([event, *args], separators=(",", ":"), default=_bytes_as_b64)
    ns = "" if namespace == "/" else namespace + ","
    return text, len(("42" + ns + text).encode())


class _Client(socketio.AsyncClient):  # type: ignore[misc]  # python-socketio has no types
    """python-socketio's client, reporting a packet it cannot decode instead of only logging it."""

    bad_packet: Callable[[Any, Exception], None] = staticmethod(lambda data, exc: None)

    async def _handle_eio_message(self, data: Any) -> None:
        try:
            await super()._handle_eio_message(data)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            self.bad_packet(data, exc)


class SocketIOTransport(Transport):
    """Socket.IO events over Engine.IO (polling upgraded to WebSocket, or WebSocket only).

    Options: see :class:`rtnb.options.SocketIOOptions` (namespace, auth,
    headers, transports, socketio_path, verify, cafile).
    """

    kind: ClassVar[str] = "socketio"
    options: ClassVar[frozenset[str]] = SocketIOOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        check_options(self.kind, options, self.options)
        self._url = sio_url(url)
        self._opts = SocketIOOptions(**options)
        ns = self._opts.namespace
        self._ns = ns if ns.startswith("/") else "/" + ns
        headers = self._opts.headers
        items = headers.items() if isinstance(headers, Mapping) else headers or ()
        self._headers = {str(k): str(v) for k, v in items}
        transports = self._opts.transports
        self._transports = [transports] if isinstance(transports, str) else transports
        self._client: _Client | None = None
        self._session: aiohttp.ClientSession | None = None
        self._gone: asyncio.Future[str] | None = None
        self._refused: str | None = None

    # --- opening ------------------------------------------------------------------------

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        self._gone = loop.create_future()
        self._refused = None
        ssl: Any = None
        if self._url.startswith("https:"):
            ssl = client_ssl_context(self._opts.verify, self._opts.cafile)
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl))
        client = _Client(
            reconnection=False,
            handle_sigint=False,
            http_session=self._session,
            request_timeout=10,
        )
        client.bad_packet = self._bad_packet
        client.on("*", self._on_event, namespace=self._ns)
        client.on("disconnect", self._on_disconnect, namespace=self._ns)
        client.on("connect_error", self._on_connect_error, namespace=self._ns)
        self._client = client
        try:
            await client.connect(
                self._url,
                headers=self._headers,
                auth=self._opts.auth,
                transports=self._transports,
                namespaces=[self._ns],
                socketio_path=self._opts.socketio_path,
                wait_timeout=60,  # the Connection's open_timeout cuts it first
            )
        except SioConnectionError as exc:
            raise await self._connect_error(exc) from exc

    async def _connect_error(self, exc: SioConnectionError) -> ConnectError:
        text = str(exc.args[0]) if exc.args else "connection failed"
        if "namespaces failed to connect" in text:
            why = f": {self._refused}" if self._refused else ""
            return ConnectError(f"server refused namespace {self._ns}{why}", fatal=True)
        status = re.search(r"status code (\d{3})", text)
        odd = status is not None or "Unexpected response" in text or "OPEN packet" in text
        if odd and await self._mismatch():
            return ConnectError(
                f"{SUPPORTED}; {self._url} answered like an Engine.IO v3 server "
                "(socket.io 2.x, python-socketio 4.x): upgrade the server",
                fatal=True,
            )
        if status is not None:
            code = int(status.group(1))
            fatal = 400 <= code < 500 and code not in (408, 429)
            why = f" ({self._refused})" if self._refused else ""
            return ConnectError(
                f"server refused the Socket.IO handshake: HTTP {code}{why}", fatal=fatal
            )
        if "Connection refused" in text or "Cannot connect to host" in text:
            host = urlsplit(self._url).netloc
            return ConnectError(f"connection refused by {host} (is the server running?)")
        return ConnectError(f"Socket.IO connection failed: {text}")

    async def _mismatch(self) -> bool:
        """Whether the server's polling answer has the framing of an older Engine.IO."""
        parts = urlsplit(self._url)
        path = parts.path.rstrip("/") + "/" + self._opts.socketio_path.strip("/") + "/"
        base = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        params = {**dict(parse_qsl(parts.query)), "EIO": "4", "transport": "polling"}
        session = self._session
        if session is None:
            return False
        try:
            async with session.get(
                base,
                params=params,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                body = (await resp.content.read(512)).decode("utf-8", "replace")
        except (aiohttp.ClientError, TimeoutError):
            return False
        return bool(_V3_PAYLOAD.match(body)) or '"Unsupported protocol version"' in body

    # --- receiving ----------------------------------------------------------------------

    async def _on_event(self, event: str, *args: Any) -> None:
        self.ingest(event_data(args), event=event)

    def _on_disconnect(self, reason: Any = None) -> None:
        gone = self._gone
        if gone is not None and not gone.done():
            gone.set_result(str(reason or "disconnected"))

    def _on_connect_error(self, data: Any = None) -> None:
        if isinstance(data, dict) and ("message" in data or "error" in data):
            self._refused = str(data.get("message") or data["error"])
        elif data is not None:
            self._refused = str(data)

    def _bad_packet(self, data: Any, exc: Exception) -> None:
        preview = data[:60] if isinstance(data, str | bytes) else type(data).__name__
        self.on_error(ProtocolError(f"malformed Socket.IO packet {preview!r} skipped: {exc}"))

    async def serve(self) -> str:
        gone = self._gone
        if gone is None or self._client is None:
            raise ProtocolError("serve() before open()")
        reason = await gone
        if reason == "server disconnect":
            return "disconnected by the server"
        if reason in ("client disconnect",):
            return "disconnected"
        raise Closed(f"Socket.IO connection lost: {reason}")

    # --- sending ------------------------------------------------------------------------

    def _connected(self) -> _Client:
        client = self._client
        if client is None or not client.connected:
            raise ConnectionError("not connected")
        return client

    async def send(self, data: str | bytes) -> Sent:
        """``emit("message", x)``; text that is JSON (``{...}``, ``[...]``) goes as its value."""
        return await self.emit("message", (_send_value(data),))

    async def emit(self, event: str, args: tuple[Any, ...]) -> Sent:
        client = self._connected()
        _, size = _wire_size(event, args, self._ns)
        try:
            await client.emit(event, _as_data(args), namespace=self._ns)
        except SocketIOError as exc:
            raise ConnectionError(f"emit {event!r} failed: {exc}") from exc
        return Sent(event_data(args), size, event=event)

    async def call(
        self,
        method: str | Sequence[tuple[str, Any]],
        params: Any,
        timeout: float | None,
        sent: Callable[[Sent], None],
    ) -> Any:
        if not isinstance(method, str):
            raise TypeError("a Socket.IO call names one event; batches are JSON-RPC's")
        client = self._connected()
        args = () if params is None else (params,)
        _, size = _wire_size(method, args, self._ns)
        ack = asyncio.ensure_future(
            client.call(method, _as_data(args), namespace=self._ns, timeout=timeout)
        )
        sent(Sent(event_data(args), size, event=method))
        try:
            value = await ack
        except SioTimeout:
            raise TimeoutError(f"no acknowledgement of {method!r} within {timeout} s") from None
        except (SocketIOError, EngineIOError) as exc:
            raise ConnectionError(f"call {method!r} failed: {exc}") from exc
        err = ack_error(value)
        if err is not None:
            raise err
        return list(value) if isinstance(value, tuple) else value

    # --- closing ------------------------------------------------------------------------

    async def close(self) -> None:
        client, self._client = self._client, None
        session, self._session = self._session, None
        if client is not None:
            with contextlib.suppress(
                TimeoutError, SocketIOError, EngineIOError, aiohttp.ClientError, OSError
            ):
                await asyncio.wait_for(client.disconnect(), 3)
        if session is not None:
            await session.close()
        self._on_disconnect("client disconnect")

    def info(self) -> dict[str, Any]:
        client = self._client
        if client is None or not client.connected:
            return {"transport": None, "sid": None}
        return {"transport": client.transport(), "sid": client.get_sid(self._ns)}


def _send_value(data: str | bytes) -> Any:
    """What ``send`` emits: ``send({"a": 1})`` arrives as the object, as ``emit`` would send it.

    ``Connection.send`` has turned a dict or list into JSON text by then.

        >>> _send_value('{"a": 1}'), _send_value("hi"), _send_value("[broken")
        ({'a': 1}, 'hi', '[broken')
    """
    if isinstance(data, str) and looks_like_json(data):
        with contextlib.suppress(ValueError, RecursionError):
            return json.loads(data)
    return data


def _as_data(args: tuple[Any, ...]) -> Any:
    """python-socketio's ``data``: one argument as is, several as a tuple, none as None."""
    if not args:
        return None
    return args[0] if len(args) == 1 else tuple(args)
