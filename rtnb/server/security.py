"""Server safety rules as pure functions: hosts, origins, tokens, client identity."""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import quote

__all__ = [
    "LOCAL_HOSTS",
    "client_identity",
    "generate_token",
    "host_allowed",
    "is_loopback_host",
    "origin_allowed",
    "parse_origin",
    "static_name_ok",
    "token_from_request",
    "token_matches",
    "token_param",
]

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback_host(host: str) -> bool:
    """True for ``localhost``, ``127.x.x.x`` and ``::1``.

    >>> is_loopback_host("127.0.0.1"), is_loopback_host("0.0.0.0")
    (True, False)
    """
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def generate_token() -> str:
    """A fresh random token for a server bound beyond loopback."""
    return secrets.token_urlsafe(24)


# RFC 6454 section 6.1: an origin serializes as scheme "://" host [ ":" port ], nothing
# else. Userinfo ("http://evil.com:80@127.0.0.1"), paths and queries are not origins.
_ORIGIN = re.compile(r"(https?)://(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::([0-9]{1,5}))?", re.ASCII)
# RFC 9110 section 7.2: Host is uri-host [ ":" port ].
_HOST = re.compile(r"(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(?::[0-9]{0,5})?", re.ASCII)
_STATIC_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}", re.ASCII)


def parse_origin(origin: str) -> tuple[str, str, int | None] | None:
    """``(scheme, host, port)`` of an ``Origin`` header, or None when it is not one.

    Only ``http(s)://host[:port]`` parses: userinfo, a path or a query makes it
    no origin at all (a browser never sends them).

    >>> parse_origin("http://localhost:8888")
    ('http', 'localhost', 8888)
    >>> parse_origin("http://evil.com:80@127.0.0.1") is None
    True
    """
    m = _ORIGIN.fullmatch(origin.strip().lower())
    if m is None:
        return None
    scheme, host, port = m.groups()
    if port is not None and not 0 < int(port) < 65536:
        return None
    return scheme, host.strip("[]"), None if port is None else int(port)


def origin_allowed(origin: str | None, own: Iterable[str], extra: Iterable[str] = ()) -> bool:
    """Whether a browser page from ``origin`` may use the server.

    No ``Origin`` header (a non-browser client) is allowed. Otherwise the
    server's own origins, any ``http(s)`` page on localhost / 127.0.0.1 / [::1]
    (any port), and the ``extra`` allowlist (``"*"`` allows all) are.

    >>> origin_allowed("http://localhost:8888", own=["http://127.0.0.1:9000"])
    True
    >>> origin_allowed("https://evil.example", own=["http://127.0.0.1:9000"])
    False
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    extra_set = {o.rstrip("/").lower() for o in extra}
    if "*" in extra_set:
        return True
    parsed = parse_origin(origin)
    if parsed is None:  # "null", userinfo, "http://[::1" ...: not an origin to trust
        return False
    if origin in extra_set or origin in {o.rstrip("/").lower() for o in own}:
        return True
    host = parsed[1]
    return host in LOCAL_HOSTS or (host.startswith("127.") and is_loopback_host(host))


def host_allowed(host: str | None, allowed: Iterable[str] = (), any_address: bool = False) -> bool:
    """Whether a request's ``Host`` header names this server (the DNS-rebinding guard).

    A page on ``http://evil.example:PORT`` whose name an attacker re-points at
    127.0.0.1 reaches a loopback server with ``Host: evil.example:PORT``. So only
    ``localhost``, loopback addresses and the names in ``allowed`` (``"*"``
    allows any) are served; the port does not matter. No ``Host`` at all (an
    HTTP/1.0 client, never a browser) is allowed. With ``any_address`` (a server
    bound to every interface) any IP address is too: a page whose origin is an
    address, not a name, cannot be re-pointed.

    >>> host_allowed("127.0.0.1:8765"), host_allowed("[::1]:80"), host_allowed("localhost")
    (True, True, True)
    >>> host_allowed("evil.example:8765"), host_allowed("lab.local", ["lab.local"])
    (False, True)
    """
    if host is None:
        return True
    m = _HOST.fullmatch(host.strip())
    if m is None:
        return False
    name = m.group(1).lower().rstrip(".")
    names = {a.lower().strip("[]").rstrip(".") for a in allowed}
    if "*" in names or name.strip("[]") in names:
        return True
    if any_address and _is_address(name):
        return True
    return is_loopback_host(name)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


def static_name_ok(name: str) -> bool:
    """Whether ``name`` may name a file of the static demo pages: 1-100 plain characters.

    >>> static_name_ok("ws.html"), static_name_ok("../x"), static_name_ok("a" * 5000)
    (True, False, False)
    """
    return _STATIC_NAME.fullmatch(name) is not None and ".." not in name


def client_identity(peer: str | None, offered_key: str | None, key: str) -> tuple[str, bool]:
    """Who a request counts as for the per-client caps: ``(identity, trusted)``.

    A request carrying the server's own key (see :mod:`rtnb.localtrust`) comes
    from this very process (the notebook), and is counted apart from every other
    local process, which all share the address 127.0.0.1.

    >>> client_identity("127.0.0.1", None, "k")
    ('127.0.0.1', False)
    >>> client_identity("127.0.0.1", "k", "k")
    ('127.0.0.1 (this process)', True)
    """
    peer = peer or "?"
    if offered_key is not None and token_matches(offered_key, key):
        return f"{peer} (this process)", True
    return peer, False


def token_from_request(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The token offered as ``Authorization: Bearer T`` or ``?token=T``."""
    auth = headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return query.get("token")


def token_param(token: str) -> str:
    """``token=T`` for a URL's query, with T percent-encoded.

    >>> token_param("p&ss w#rd")
    'token=p%26ss%20w%23rd'
    """
    return "token=" + quote(token, safe="")


def token_matches(offered: str | None, expected: str) -> bool:
    """Compare tokens in constant time.

    Headers that are not UTF-8 reach here as lone surrogates (aiohttp decodes
    them with ``surrogateescape``); they compare as unequal, never as an error.
    """
    if offered is None:
        return False
    return hmac.compare_digest(
        offered.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
