"""Server safety rules as pure functions: origins, tokens, loopback checks."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from urllib.parse import quote, urlsplit

__all__ = [
    "LOCAL_HOSTS",
    "generate_token",
    "is_loopback_host",
    "origin_allowed",
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
    if "*" in extra_set or origin in extra_set:
        return True
    if origin in {o.rstrip("/").lower() for o in own}:
        return True
    if origin == "null":
        return False
    try:
        parts = urlsplit(origin)
        host = parts.hostname or ""
    except ValueError:  # "http://[::1" and the like: not an origin a browser sends
        return False
    if parts.scheme not in ("http", "https"):
        return False
    return host in LOCAL_HOSTS or (host.startswith("127.") and is_loopback_host(host))


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
