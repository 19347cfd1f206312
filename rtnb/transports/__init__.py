"""Transports: thin adapters from a protocol library onto a Connection.

Each kind lives in its own module and is imported only when first used, so
``import rtnb`` stays fast and a missing optional library only affects its kind.
"""

from __future__ import annotations

import importlib

from .base import Ingest, Transport

__all__ = ["KINDS", "Ingest", "Transport", "transport_class"]

KINDS: dict[str, str] = {
    "ws": "rtnb.transports.ws:WebSocketTransport",
    "sse": "rtnb.transports.sse:SSETransport",
    "webrtc": "rtnb.transports.webrtc:WebRTCTransport",
    "replay": "rtnb.transports.replay:ReplayTransport",
}

_ALIASES = {"websocket": "ws", "wss": "ws", "eventsource": "sse", "rtc": "webrtc"}


def transport_class(kind: str) -> type[Transport]:
    """The Transport class for ``kind`` (``"ws"``, ``"sse"``, ``"webrtc"``, ``"replay"``).

    Raises:
        ValueError: for an unknown kind, naming the known ones.
    """
    key = _ALIASES.get(kind.lower(), kind.lower()) if isinstance(kind, str) else kind
    target = KINDS.get(key)
    if target is None:
        known = ", ".join(repr(k) for k in KINDS if k != "replay")
        raise ValueError(f"unknown connection kind {kind!r}; use one of {known}")
    module_name, _, cls_name = target.partition(":")
    cls: type[Transport] = getattr(importlib.import_module(module_name), cls_name)
    return cls
