"""Server-Sent Events transport on ``httpx`` (WHATWG HTML section 9.2, ``text/event-stream``).

httpx makes the request and streams the body; :class:`rtnb.sse_format.SSEParser`
(a bounded, spec-exact twin of ``httpx_sse.SSEDecoder``) turns it into events.
"""

from __future__ import annotations

import codecs
import contextlib
import socket
import ssl
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx

from .. import localtrust
from ..errors import ConnectError, ConnectionClosed, ProtocolError, describe
from ..options import SSEOptions
from ..sse_format import DEFAULT_MAX_EVENT_SIZE, EventTooLarge, SSEParser
from .base import Ingest, Transport, check_options
from .tls import client_ssl_context, default_context

__all__ = ["SEND_REFUSAL", "SSETransport"]

SEND_REFUSAL = (
    "SSE is one-way (server to client): an SSE connection cannot send. To talk back, "
    "POST to the server's HTTP API (for example with httpx), or use a WebSocket "
    "(rtnb.connect('ws', ...)) for two-way messages."
)

#: How much of an error response's body goes into the error message.
BODY_EXCERPT = 200

#: Redirects followed before giving up (httpx's default).
MAX_REDIRECTS = 20

#: Statuses retried although WHATWG 9.2.3 fails the connection on anything but 200
#: (and 204 ends it): a server error or "try again later" is usually over in a
#: moment, and a notebook stream that dies for good at a deploy's restart helps
#: nobody. Every other status ends the connection.
RETRIED_STATUSES = frozenset({408, 425, 429}) | frozenset(range(500, 600))


class SSETransport(Transport):
    """Events from a ``text/event-stream`` response, GET or POST.

    Each event becomes a message with ``data``, ``event`` (``None`` for the
    default ``message`` type) and ``id`` (its own ``id:`` line, else ``None``).
    The stream's last event id is kept across reconnects and sent as
    ``Last-Event-ID``, so a server that keeps history resumes with nothing lost;
    a ``retry:`` line sets the reconnect delay. GET streams reconnect by default,
    POST streams do not (a POST is not idempotent): pass ``reconnect=True`` to
    retry them too.

    Options:
        headers: extra request headers (auth tokens, cookies).
        params: query parameters added to the URL.
        method: ``"GET"`` (default) or ``"POST"``.
        json / data: the POST body, as JSON or as form fields / raw text or bytes.
        last_event_id: start after this id (sent as ``Last-Event-ID``).
        timeout: seconds to connect (default 10); a number or an ``httpx.Timeout``.
        read_timeout: seconds of silence after which the stream counts as dead
            and reconnects (default: wait forever, like a browser).
        max_event_size: largest event (and line) accepted, in characters
            (default 16 MiB); a bigger one fails the stream with a clear error
            and is skipped on reconnect when its id came first.
        verify / cafile: TLS checking for ``https://`` (see ``client_ssl_context``).
        proxy: a proxy URL (default: the environment's, as httpx does).
        follow_redirects: follow 3xx answers (default True, as browsers do). A
            redirect from ``https://`` to ``http://`` is refused, and ``headers``
            (which may hold credentials) go only to the origin of ``url``: a
            redirect elsewhere drops them.

    Example:
        >>> c = rtnb.connect("sse", srv.url_for("/sse/ticker"))       # doctest: +SKIP
        >>> c.recv(timeout=5).id                                       # doctest: +SKIP
        '1'
    """

    kind: ClassVar[str] = "sse"
    can_send: ClassVar[bool] = False
    send_refusal: ClassVar[str] = SEND_REFUSAL
    options: ClassVar[frozenset[str]] = SSEOptions.names()

    def __init__(self, url: str, ingest: Ingest, options: Mapping[str, Any]) -> None:
        super().__init__(url, ingest, options)
        check_options(self.kind, options, self.options)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"an SSE URL starts with http:// or https:// and names a host, not {url!r}"
            )
        method = str(options.get("method", "GET")).upper()
        if method not in ("GET", "POST"):
            raise ValueError(f"method must be 'GET' or 'POST', not {options['method']!r}")
        if method == "GET" and ("json" in options or "data" in options):
            raise ValueError("json= and data= are request bodies: use them with method='POST'")
        if "json" in options and "data" in options:
            raise ValueError("give json= or data=, not both")
        self.method = method
        self._headers = _headers(options.get("headers"))
        self._params = options.get("params")
        self._body: dict[str, Any] = {}
        if "json" in options:
            self._body["json"] = options["json"]
        elif "data" in options:
            body = options["data"]
            self._body["data" if isinstance(body, Mapping) else "content"] = body
        max_size = options.get("max_event_size", DEFAULT_MAX_EVENT_SIZE)
        if not isinstance(max_size, int) or isinstance(max_size, bool) or max_size < 1:
            raise ValueError(f"max_event_size must be a positive int, not {max_size!r}")
        self.max_event_size = max_size
        self._timeout = _timeout(options.get("timeout", 10.0), options.get("read_timeout"))
        # One context for every reconnect (an http:// URL may still redirect to https),
        # made here in the caller's thread: loading the system CAs blocks for ~20 ms,
        # which open() would spend on the runtime loop, stalling every stream.
        if parts.scheme == "https":
            self._verify = client_ssl_context(options.get("verify", True), options.get("cafile"))
        else:
            self._verify = default_context()
        self._proxy = options.get("proxy")
        self._follow = bool(options.get("follow_redirects", True))
        last = options.get("last_event_id")
        self.last_event_id: str = "" if last is None else str(last)
        if any(ch in self.last_event_id for ch in "\r\n\0"):
            raise ValueError("last_event_id cannot contain a line break or NUL")
        self._retry_ms: int | None = None
        self._client: httpx.AsyncClient | None = None
        self._response: httpx.Response | None = None
        self._status: int | None = None
        self._ignored_lines = 0
        self._parser: SSEParser | None = None

    @property
    def reconnect_by_default(self) -> bool:
        """GET streams reconnect; POST streams do not (a POST may not be repeatable)."""
        return self.method == "GET"

    async def open(self) -> None:
        # WHATWG 9.2.2: Accept text/event-stream, and the cache mode "no-store", which
        # browsers send as "Cache-Control: no-cache" (as does rtnb, so a proxy treats
        # both alike).
        fields = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        fields.update(localtrust.headers_for(self.url))  # security hook (issue 14)
        fields.update(self._headers)
        if self.last_event_id:
            fields["Last-Event-ID"] = self.last_event_id
        # Values go out as UTF-8 bytes: the last event ID is any text without NUL or
        # line breaks, sent "encoded as UTF-8" (9.2.3); httpx would encode str as ASCII.
        headers = [(k.encode("ascii"), v.encode("utf-8")) for k, v in fields.items()]
        client = httpx.AsyncClient(
            verify=self._verify,
            timeout=self._timeout,
            follow_redirects=False,  # followed in _send, which checks each hop
            proxy=self._proxy,
        )
        self._client = client
        try:
            request = client.build_request(
                self.method, self.url, headers=headers, params=self._params, **self._body
            )
            response = await self._send(client, request)
        except httpx.UnsupportedProtocol as exc:
            raise ConnectError(f"unsupported URL: {exc}", fatal=True) from exc
        except httpx.ConnectError as exc:
            raise _connect_error(exc, self.url) from exc
        except httpx.TimeoutException as exc:
            raise ConnectError(f"no answer from {urlsplit(self.url).netloc}: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise ConnectError(f"{type(exc).__name__}: {exc}") from exc
        except (TypeError, ValueError) as exc:  # a body httpx cannot encode
            raise ConnectError(f"cannot build the request: {exc}", fatal=True) from exc
        self._response = response
        self._status = response.status_code
        await self._check(response)

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
        """Send ``request``, following redirects (when asked) one checked hop at a time.

        httpx builds each next request (method, body and ``Authorization`` as RFC 9110
        says); rtnb refuses a hop from ``https`` to ``http`` (the request would go out
        unencrypted, headers and body alike) and, once the origin differs from the
        one the caller named, removes every header the caller gave.
        """
        origin = _origin(request.url)
        hops = 0
        while True:
            response = await client.send(request, stream=True)
            nxt = response.next_request
            if nxt is None or not self._follow:
                return response
            await response.aclose()
            hops += 1
            if hops > MAX_REDIRECTS:
                raise httpx.TooManyRedirects(
                    f"Exceeded maximum allowed redirects ({MAX_REDIRECTS}).", request=nxt
                )
            if request.url.scheme == "https" and nxt.url.scheme != "https":
                raise ConnectError(
                    f"refused a redirect from {request.url} to {nxt.url}: it would send the "
                    "request (headers and body) unencrypted",
                    fatal=True,
                )
            if _origin(nxt.url) != origin:
                for name in (*self._headers, *localtrust.headers_for(self.url)):
                    nxt.headers.pop(name, None)
            request = nxt

    async def _check(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 204:
            # WHATWG 9.2.3: a 204 No Content means "stop reconnecting".
            raise ConnectError(
                "server answered 204 No Content: the stream is over and the SSE spec says "
                "not to reconnect",
                finished=True,
            )
        if status != 200:
            # 9.2.3: any other status fails the connection; RETRIED_STATUSES is rtnb's
            # documented exception.
            body = await _excerpt(response)
            fatal = status not in RETRIED_STATUSES
            raise ConnectError(
                f"HTTP {status} {response.reason_phrase}".rstrip() + (f": {body}" if body else ""),
                fatal=fatal,
            )
        ctype = response.headers.get("content-type", "")
        if ctype.partition(";")[0].strip().lower() != "text/event-stream":
            body = await _excerpt(response)
            raise ConnectError(
                f"expected Content-Type text/event-stream, got {ctype or 'none'!r}: "
                "this URL does not serve Server-Sent Events"
                + (f" (body starts {body!r})" if body else ""),
                fatal=True,
            )

    async def serve(self) -> str:
        response = self._response
        if response is None:
            raise ProtocolError("serve() before open()")
        parser = self._parser = SSEParser(self.max_event_size, self.last_event_id)
        decode = codecs.getincrementaldecoder("utf-8")("replace").decode
        ingest = self.ingest
        try:
            try:
                async for chunk in response.aiter_bytes():
                    for data, event, eid in parser.feed(decode(chunk)):
                        ingest(data, event, eid)
                    self.last_event_id = parser.last_event_id
                    if parser.retry is not None:
                        self._retry_ms = parser.retry
            finally:
                self._ignored_lines += parser.ignored_lines
                parser.ignored_lines = 0
                self._parser = None
        except EventTooLarge as exc:
            for data, event, eid in exc.events:
                ingest(data, event, eid)
            if exc.event_id is not None:
                # Skip the oversized event on reconnect rather than fetch it again.
                self.last_event_id = exc.event_id
            else:
                self.last_event_id = parser.last_event_id
            raise ProtocolError(str(exc)) from exc
        except httpx.ReadTimeout as exc:
            raise ConnectionClosed(
                f"no data for {self._timeout.read} s (read_timeout): stream considered dead"
            ) from exc
        except httpx.RemoteProtocolError as exc:  # the TCP connection ended inside the body
            raise ConnectionClosed(
                "stream broken: the server closed the connection mid-stream "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        except httpx.HTTPError as exc:
            raise ConnectionClosed(f"stream broken: {describe(exc)}") from exc
        tail = decode(b"", final=True)
        if tail:
            parser.feed(tail)
        self.last_event_id = parser.last_event_id
        if parser.retry is not None:
            self._retry_ms = parser.retry
        if self.method == "POST":
            return "server ended the POST stream (POST streams do not reconnect by default)"
        return "server ended the stream"

    async def close(self) -> None:
        response, self._response = self._response, None
        client, self._client = self._client, None
        if response is not None:
            with contextlib.suppress(Exception):  # a broken stream may fail to close
                await response.aclose()
        if client is not None:
            await client.aclose()

    def retry_delay(self) -> float | None:
        return None if self._retry_ms is None else self._retry_ms / 1000.0

    def info(self) -> dict[str, Any]:
        parser = self._parser
        return {
            "last_event_id": self.last_event_id or None,
            "retry_ms": self._retry_ms,
            "http_status": self._status,
            "ignored_lines": self._ignored_lines + (parser.ignored_lines if parser else 0),
            "method": self.method,
        }


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """The (scheme, host, port) triple that same-origin checks compare."""
    default = {"http": 80, "https": 443}.get(url.scheme)
    return (url.scheme, url.host, url.port or default)


def _headers(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    items = value.items() if isinstance(value, Mapping) else value
    try:
        return {str(k): str(v) for k, v in items}
    except (TypeError, ValueError) as exc:
        raise TypeError("headers must be a dict or a list of (name, value) pairs") from exc


def _timeout(value: Any, read: Any) -> httpx.Timeout:
    if isinstance(value, httpx.Timeout):
        return value if read is None else httpx.Timeout(value, read=float(read))
    if value is None:
        connect = None
    else:
        try:
            connect = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"timeout must be seconds or an httpx.Timeout, not {value!r}") from None
    try:
        read_s = None if read is None else float(read)
    except (TypeError, ValueError):
        raise TypeError(f"read_timeout must be seconds, not {read!r}") from None
    return httpx.Timeout(connect, read=read_s)


async def _excerpt(response: httpx.Response) -> str:
    """The first ``BODY_EXCERPT`` characters of a body, reading no more than needed."""
    got = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            got += chunk
            if len(got) >= BODY_EXCERPT * 4:
                break
    except httpx.HTTPError:
        pass
    text = got.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:BODY_EXCERPT] + ("..." if len(text) > BODY_EXCERPT else "")


def _connect_error(exc: httpx.ConnectError, url: str) -> ConnectError:
    with contextlib.suppress(RuntimeError):  # after a redirect, the failed request went elsewhere
        url = str(exc.request.url)
    host = urlsplit(url).netloc
    text = str(exc)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return ConnectError(
                f"TLS certificate of {host} not trusted ({seen.verify_message}); pass "
                "cafile= to trust it, or verify=False for local testing only",
                fatal=True,
            )
        seen = seen.__cause__ or seen.__context__
    seen = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return ConnectError(f"connection refused by {host} (is the server running?)")
        if isinstance(seen, socket.gaierror):  # no such name, or no DNS at all (offline)
            return _unresolved(url)
        seen = seen.__cause__ or seen.__context__
    if "refused" in text.lower():
        return ConnectError(f"connection refused by {host} (is the server running?)")
    if "Name or service not known" in text or "nodename nor servname" in text:
        return _unresolved(url)
    return ConnectError(f"cannot connect to {host}: {text or type(exc).__name__}")


def _unresolved(url: str) -> ConnectError:
    """A name-resolution failure: fatal, since the next try resolves the same way."""
    return ConnectError(
        f"cannot resolve host {urlsplit(url).hostname!r} (check the name, or the internet)",
        fatal=True,
    )
