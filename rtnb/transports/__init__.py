"""Transports: thin adapters from a protocol library onto a Connection, and the kinds' registry.

:data:`KINDS` is the one place a kind is registered: its name, its transport
class (imported only when first used, so ``import rtnb`` stays fast and a
missing optional library only affects its kind) and its options table
(:mod:`rtnb.options`). ``connect()``, the magics, their completion, the
``rtnb`` command and every error message read the kinds from here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..options import (
    GraphQLOptions,
    JSONRPCOptions,
    MQTTOptions,
    Options,
    ReplayOptions,
    SocketIOOptions,
    SSEOptions,
    WebRTCOptions,
    WSOptions,
    choose_engine,
)
from ..options import check_options as _check
from .base import Ingest, Transport

__all__ = [
    "KINDS",
    "Ingest",
    "Kind",
    "Transport",
    "check_options",
    "kind",
    "kind_names",
    "option_tables",
    "transport_class",
]


@dataclass(frozen=True)
class Kind:
    """One connection kind.

    Attributes:
        name: what ``connect()`` takes (``"ws"``).
        transport: ``"module:Class"`` of its :class:`Transport`.
        options: its options table.
        url: what its URL is, for help texts.
        engines: other transports by engine name (``"module:Class"``), for a kind that
            can run on more than one library; ``choose(options)`` names the engine.
    """

    name: str
    transport: str
    options: type[Options]
    url: str
    engines: Mapping[str, str] = field(default_factory=dict)
    choose: Callable[[Mapping[str, Any]], str] | None = None


#: The registered kinds, in the order help texts list them.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "ws",
            "rtnb.transports.ws:WebSocketTransport",
            WSOptions,
            "ws:// or wss://",
            engines={"picows": "rtnb.transports.fastws:PicowsTransport"},
            choose=choose_engine,
        ),
        Kind("sse", "rtnb.transports.sse:SSETransport", SSEOptions, "http:// or https://"),
        Kind(
            "webrtc",
            "rtnb.transports.webrtc:WebRTCTransport",
            WebRTCOptions,
            "the signaling ws:// URL",
        ),
        Kind("replay", "rtnb.transports.replay:ReplayTransport", ReplayOptions, "a recording file"),
        # application protocols on a WebSocket
        Kind(
            "jsonrpc",
            "rtnb.transports.jsonrpc:JSONRPCTransport",
            JSONRPCOptions,
            "ws:// or wss:// (JSON-RPC 2.0)",
        ),
        Kind(
            "graphql",
            "rtnb.transports.graphql:GraphQLTransport",
            GraphQLOptions,
            "ws:// or wss:// (graphql-transport-ws)",
        ),
        Kind(
            "socketio",
            "rtnb.transports.socketio:SocketIOTransport",
            SocketIOOptions,
            "the server's http:// or https:// URL (Socket.IO v3/v4 servers)",
        ),
        Kind("mqtt", "rtnb.transports.mqtt:MQTTTransport", MQTTOptions, "the broker's ws:// URL"),
    )
}

_ALIASES = {
    "websocket": "ws",
    "wss": "ws",
    "eventsource": "sse",
    "rtc": "webrtc",
    "socket.io": "socketio",
}


def kind_names() -> tuple[str, ...]:
    """The registered kinds' names (``("ws", "sse", "webrtc", "replay")``)."""
    return tuple(KINDS)


def option_tables() -> tuple[type[Options], ...]:
    """The registered kinds' option tables, for the flags of the magics and the CLI."""
    return tuple(k.options for k in KINDS.values())


def kind(name: str) -> Kind:
    """The registered kind called ``name`` (or an alias such as ``"websocket"``).

    Raises:
        ValueError: for an unknown kind, naming the known ones.
    """
    key = _ALIASES.get(name.lower(), name.lower()) if isinstance(name, str) else name
    found = KINDS.get(key)
    if found is None:
        known = ", ".join(repr(k) for k in KINDS)
        raise ValueError(f"unknown connection kind {name!r}; use one of {known}")
    return found


def transport_class(name: str, options: Mapping[str, Any] | None = None) -> type[Transport]:
    """The Transport class of kind ``name`` (``"ws"``, ``"sse"``, ...) for ``options``.

    A kind with several engines (``ws``: websockets or picows) picks one from
    ``options`` (``engine=``, see :func:`rtnb.options.choose_engine`).

    Raises:
        ValueError: for an unknown kind, naming the known ones.
    """
    k = kind(name)
    path = k.transport
    if k.choose is not None and options is not None:
        path = k.engines.get(k.choose(options), path)
    module_name, _, cls_name = path.partition(":")
    cls: type[Transport] = getattr(importlib.import_module(module_name), cls_name)
    return cls


def check_options(name: str, given: Mapping[str, Any]) -> Options:
    """Check a kind's own ``connect()`` options (those beyond the common ones).

    Raises:
        ValueError: for an unknown kind.
        TypeError: naming each unknown option and the known ones.
    """
    k = kind(name)
    return _check(k.name, given, k.options)
