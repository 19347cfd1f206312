"""How this process's own clients show its own in-kernel servers that they are the notebook.

Every local process connects from 127.0.0.1, so a server cannot tell the
notebook's connections from another program's by address. Each server makes a
random key when it starts and registers it here under its port; rtnb's own
clients (ws, sse, webrtc signaling) then add ``X-Rtnb-Key: KEY`` to requests
for a loopback URL on that port. The server counts such requests apart, so no
other process can use up the caps that would lock the notebook out. The key
never leaves the process (no page, URL or log shows it) and grants nothing but
that separate count: the token, Host and Origin checks still apply.

    >>> register(8765, "k")
    >>> headers_for("ws://127.0.0.1:8765/ws/echo"), headers_for("ws://example.org:8765/")
    ({'X-Rtnb-Key': 'k'}, {})
    >>> unregister(8765, "k")
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["HEADER", "headers_for", "register", "unregister"]

#: The request header carrying the key.
HEADER = "X-Rtnb-Key"

# port -> key of the servers running in this process (dict operations are atomic)
_keys: dict[int, str] = {}


def register(port: int, key: str) -> None:
    """Remember the key of this process's server on ``port``."""
    _keys[port] = key


def unregister(port: int, key: str) -> None:
    """Forget the server on ``port`` (only if ``key`` is still the one registered)."""
    if _keys.get(port) == key:
        del _keys[port]


def headers_for(url: str) -> dict[str, str]:
    """The header to add to a request for ``url``: the key when it names one of ours."""
    if not _keys:
        return {}
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return {}
    if port is None or port not in _keys or not _is_loopback(host):
        return {}
    return {HEADER: _keys[port]}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
