"""The options of :func:`rtnb.connect`, one frozen dataclass per kind: help, checks and flags.

Pure. Each option is written once, here: its default, its help text and, when
it has one, its command-line flag. From these tables come

- :func:`check_options`, which ``connect()`` calls to refuse an unknown option
  with a sentence naming the known ones;
- the flags of ``%rt_connect`` and of ``rtnb tail`` / ``rtnb record``
  (:mod:`rtnb.flags` builds them from these tables, so both spell every option
  the same way);
- the ``Attributes:`` section of each class's docstring (``help(WSOptions)``).

A flag is the option's name with dashes (``last_event_id`` -> ``--last-event-id``),
singular when it repeats (``headers`` -> ``--header``), and a yes/no option has
both forms (``--reconnect`` / ``--no-reconnect``). Old spellings still work
and warn (:class:`FutureWarning`): see :func:`rtnb.flags.deprecated_flags`.

    >>> check_options("ws", {"ping_intervall": 5}, WSOptions)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: unknown option(s) for ws connections: ping_intervall (did you mean ...?); ...
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .sendtext import check_json, json_body, parse_header
from .sse_format import DEFAULT_MAX_EVENT_SIZE

__all__ = [
    "ENGINES",
    "CommonOptions",
    "Flag",
    "GraphQLOptions",
    "JSONRPCOptions",
    "MQTTOptions",
    "Options",
    "ReplayOptions",
    "SSEOptions",
    "SocketIOOptions",
    "WSOptions",
    "WebRTCOptions",
    "check_names",
    "check_options",
    "choose_engine",
    "doc",
]


# --- the tables -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """How an option is typed on a command line (``%rt_connect``, ``rtnb tail``).

    Attributes:
        names: the spelling first, then short forms (``("--header", "-H")``).
        action: ``"store"`` (one value), ``"append"`` (repeatable, a list),
            ``"bool"`` (``--x`` / ``--no-x``) or ``"true"`` (``--x`` sets True).
        type: argparse type for numbers (a bad value is a usage error).
        convert: turns the typed text into the option's value after parsing;
            raises ValueError with a sentence (``-H nocolon``).
        metavar: the placeholder in the usage (``'K: V'``).
        choices: the accepted words, if fixed.
        old: earlier spellings that still work and warn, with the value they
            set for a yes/no option (``{"--insecure": False}``) or None.
    """

    names: tuple[str, ...]
    action: Literal["store", "append", "bool", "true"] = "store"
    type: Callable[[str], Any] | None = None
    convert: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    old: Mapping[str, Any] = field(default_factory=dict)


def doc(help: str, flag: Flag | None = None) -> dict[str, Any]:
    """The metadata of an option's dataclass field: its help text and its flag, if any."""
    return {"help": help, "flag": flag}


@dataclass(frozen=True, kw_only=True)
class Options:
    """Base of the option tables. ``WSOptions(**given)`` holds a checked set of options."""

    kind: ClassVar[str] = ""

    @classmethod
    def names(cls) -> frozenset[str]:
        """Every option name of this table."""
        return frozenset(f.name for f in dataclasses.fields(cls))

    @classmethod
    def help(cls, name: str) -> str:
        """The help text of option ``name``."""
        return str(next(f for f in dataclasses.fields(cls) if f.name == name).metadata["help"])


@dataclass(frozen=True, kw_only=True)
class CommonOptions(Options):
    """Options every kind understands (``Connection`` applies them itself)."""

    name: str | None = field(
        default=None,
        metadata=doc(
            "registry name; %rt_connect binds it as a variable (default ws1, sse1, rtc1, ...)",
            Flag(("--name", "-n"), metavar="N"),
        ),
    )
    reconnect: bool | None = field(
        default=None,
        metadata=doc(
            "reconnect with backoff after a drop (default: on for ws and GET sse)",
            Flag(("--reconnect",), action="bool"),
        ),
    )
    backoff: Any = field(default=None, metadata=doc("reconnect delays: a Backoff or its dict"))
    max_messages: int = field(
        default=10_000,
        metadata=doc("bound of the message log", Flag(("--max-messages",), type=int, metavar="N")),
    )
    send_on_open: Sequence[Any] = field(
        default=(),
        metadata=doc(
            "message sent after every (re)open, e.g. a subscription; JSON is checked (repeatable)",
            Flag(
                ("--send-on-open",),
                action="append",
                metavar="JSON",
                old={"--send": None},
                convert=lambda text: check_json(text, "--send-on-open"),
            ),
        ),
    )
    open_timeout: float = field(
        default=15.0,
        metadata=doc(
            "seconds one connection attempt may take",
            Flag(("--open-timeout",), type=float, metavar="S"),
        ),
    )


@dataclass(frozen=True, kw_only=True)
class _Handshake(Options):
    """Options of kinds that open with an HTTP request (ws, sse, the webrtc signaling)."""

    headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = field(
        default=None,
        metadata=doc(
            "extra request headers: a dict or (name, value) pairs (repeatable flag)",
            Flag(("--header", "-H"), action="append", metavar="'K: V'", convert=parse_header),
        ),
    )
    verify: bool = field(
        default=True,
        metadata=doc(
            "check TLS certificates (--no-verify: do not; for local tests only)",
            Flag(("--verify",), action="bool", old={"--insecure": False, "-k": False}),
        ),
    )
    cafile: str | None = field(
        default=None,
        metadata=doc(
            "PEM file of CA certificates to trust for wss:// and https://",
            Flag(("--cafile",), metavar="FILE"),
        ),
    )


@dataclass(frozen=True, kw_only=True)
class _WebSocketHandshake(_Handshake):
    """Options of kinds that open a WebSocket (ws, the webrtc signaling)."""

    origin: str | None = field(
        default=None, metadata=doc("the Origin header to send", Flag(("--origin",), metavar="URL"))
    )


@dataclass(frozen=True, kw_only=True)
class WSOptions(_WebSocketHandshake):
    """Options of ``connect("ws", url)`` (a ws:// or wss:// URL)."""

    kind: ClassVar[str] = "ws"

    subprotocols: Sequence[str] = field(
        default=(),
        metadata=doc(
            "WebSocket subprotocols to offer (repeatable flag)",
            Flag(("--subprotocol",), action="append", metavar="P"),
        ),
    )
    compression: str | None = field(
        default="deflate", metadata=doc("permessage-deflate; None: off")
    )
    ping_interval: float | None = field(default=20.0, metadata=doc("seconds between pings"))
    ping_timeout: float | None = field(default=20.0, metadata=doc("seconds a pong may take"))
    max_size: int | None = field(default=2**24, metadata=doc("largest message, in bytes (16 MiB)"))
    proxy: str | bool | None = field(default=True, metadata=doc("URL; True: the environment's"))
    user_agent: str | None = field(default=None, metadata=doc("the User-Agent header"))
    engine: str = field(
        default="auto",
        metadata=doc(
            "websockets, picows (rtnb[fast]; no compression), auto: picows if compression=None",
            Flag(("--engine",), choices=("auto", "websockets", "picows")),
        ),
    )


# --- the ws kind's engines ----------------------------------------------------------------

#: What ``engine=`` accepts.
ENGINES = ("auto", "websockets", "picows")


def choose_engine(options: Mapping[str, Any]) -> str:
    """The client library a ws connection with these options runs on.

    ``"auto"`` (the default) picks picows when it is installed (``pip install
    'rtnb[fast]'``) and the options need nothing it lacks, that is with
    ``compression=None`` (picows has no permessage-deflate), and websockets
    otherwise, so auto never changes what goes on the wire.

    Raises:
        ValueError: for an unknown engine, or ``engine="picows"`` with
            ``compression="deflate"``.
        ImportError: for ``engine="picows"`` when picows is not installed.
    """
    engine = str(options.get("engine", "auto"))
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, not {engine!r}")
    if engine == "websockets":
        return engine
    installed = importlib.util.find_spec("picows") is not None
    if engine == "picows":
        if not installed:
            raise ImportError("engine='picows' needs picows: pip install 'rtnb[fast]'")
        if options.get("compression") is not None:
            raise ValueError(
                "engine='picows' has no permessage-deflate: pass compression=None, "
                "or use engine='websockets' for compression"
            )
        return engine
    compressed = options.get("compression", "deflate") is not None
    return "picows" if installed and not compressed else "websockets"


# --- application protocols on a WebSocket: JSON-RPC 2.0, GraphQL --------------------------


def _json_object(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--variables is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError('--variables must be a JSON object like {"n": 1}')
    return value


@dataclass(frozen=True, kw_only=True)
class JSONRPCOptions(WSOptions):
    """Options of ``connect("jsonrpc", url)``: JSON-RPC 2.0 over a ws:// or wss:// URL."""

    kind: ClassVar[str] = "jsonrpc"

    max_pending: int = field(
        default=1000,
        metadata=doc(
            "calls that may wait for their answer at once; more are refused",
            Flag(("--max-pending",), type=int, metavar="N"),
        ),
    )


@dataclass(frozen=True, kw_only=True)
class GraphQLOptions(WSOptions):
    """Options of ``connect("graphql", url)``: graphql-transport-ws over ws:// or wss://."""

    kind: ClassVar[str] = "graphql"

    query: str | None = field(
        default=None,
        metadata=doc(
            "the subscription (or query) run after every (re)connect; none: calls only",
            Flag(("--query",), metavar="DOCUMENT"),
        ),
    )
    variables: Mapping[str, Any] | None = field(
        default=None,
        metadata=doc(
            "the query's variables (a JSON object)",
            Flag(("--variables",), metavar="JSON", convert=_json_object),
        ),
    )
    operation_name: str | None = field(
        default=None,
        metadata=doc(
            "which operation of the document to run", Flag(("--operation-name",), metavar="NAME")
        ),
    )
    connection_params: Mapping[str, Any] | None = field(
        default=None, metadata=doc("the connection_init payload (a token, ...)")
    )


@dataclass(frozen=True, kw_only=True)
class SSEOptions(_Handshake):
    """Options of ``connect("sse", url)`` (an http:// or https:// URL)."""

    kind: ClassVar[str] = "sse"

    params: Any = field(default=None, metadata=doc("query parameters added to the URL"))
    method: str = field(
        default="GET",
        metadata=doc(
            "HTTP method: GET, or POST with a body",
            Flag(("--method",), metavar="M", convert=str.upper),
        ),
    )
    json: Any = field(
        default=None,
        metadata=doc(
            "request body sent as JSON (with method POST)",
            Flag(("--json-body",), metavar="JSON", convert=json_body, old={"--json": None}),
        ),
    )
    data: Any = field(default=None, metadata=doc("request body: form fields (a dict) or raw"))
    last_event_id: str | None = field(
        default=None,
        metadata=doc(
            "start after this event id (Last-Event-ID)", Flag(("--last-event-id",), metavar="ID")
        ),
    )
    timeout: float = field(default=10.0, metadata=doc("seconds to connect"))
    read_timeout: float | None = field(default=None, metadata=doc("silence (s) that ends a stream"))
    max_event_size: int = field(
        default=DEFAULT_MAX_EVENT_SIZE, metadata=doc("largest event, in bytes")
    )
    proxy: str | None = field(default=None, metadata=doc("proxy URL (default: the environment's)"))
    follow_redirects: bool = field(default=True, metadata=doc("follow 3xx answers"))


@dataclass(frozen=True, kw_only=True)
class WebRTCOptions(_WebSocketHandshake):
    """Options of ``connect("webrtc", url)`` (the signaling ws:// URL)."""

    kind: ClassVar[str] = "webrtc"

    channel: str = field(
        default="chat", metadata=doc("data-channel label", Flag(("--channel",), metavar="LABEL"))
    )
    role: str = field(
        default="auto",
        metadata=doc(
            "offer, answer, or auto (answer an offer that arrives, else offer)",
            Flag(("--role",), choices=("offer", "answer", "auto")),
        ),
    )
    ordered: bool = field(default=True, metadata=doc("deliver in order (False: as they arrive)"))
    max_retransmits: int | None = field(
        default=None, metadata=doc("resends at most (partial reliability)")
    )
    max_packet_life_time: int | None = field(
        default=None, metadata=doc("ms to resend (partial reliability)")
    )
    ice_servers: Any = field(
        default=None,
        metadata=doc(
            "STUN/TURN server URLs (none by default: loopback and LAN need none)",
            Flag(("--ice-server",), action="append", metavar="URL"),
        ),
    )
    auto_wait: float = field(default=0.5, metadata=doc("seconds auto waits for an offer"))


@dataclass(frozen=True, kw_only=True)
class ReplayOptions(Options):
    """Options of ``connect("replay", path)`` (a recording written by a Recorder)."""

    kind: ClassVar[str] = "replay"

    speed: float = field(
        default=1.0,
        metadata=doc(
            "playback speed factor (0: no waiting)", Flag(("--speed",), type=float, metavar="X")
        ),
    )
    loop: bool = field(
        default=False, metadata=doc("start again at the end", Flag(("--loop",), action="true"))
    )
    direction: str = field(
        default="in",
        metadata=doc(
            "which recorded messages to play: in, out or both",
            Flag(("--direction",), choices=("in", "out", "both")),
        ),
    )


# --- application protocols: Socket.IO, MQTT over WebSocket --------------------------------


def _json_flag(flag: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{flag} is not valid JSON: {exc}") from None

    return convert


@dataclass(frozen=True, kw_only=True)
class SocketIOOptions(_Handshake):
    """Options of ``connect("socketio", url)`` (the server's http:// or https:// URL)."""

    kind: ClassVar[str] = "socketio"

    namespace: str = field(
        default="/", metadata=doc("the namespace to join", Flag(("--namespace",), metavar="NS"))
    )
    auth: Any = field(
        default=None,
        metadata=doc(
            "the CONNECT packet's auth payload (a JSON object)",
            Flag(("--auth",), metavar="JSON", convert=_json_flag("--auth")),
        ),
    )
    transports: Sequence[str] | None = field(
        default=None,
        metadata=doc(
            "Engine.IO transports, in order: polling, websocket (default: both, upgrading); "
            "polling alone: python-engineio drops a poll of over 16 packets",
            Flag(("--transport",), action="append", choices=("polling", "websocket")),
        ),
    )
    socketio_path: str = field(
        default="socket.io",
        metadata=doc("the server's Engine.IO path", Flag(("--socketio-path",), metavar="PATH")),
    )


@dataclass(frozen=True, kw_only=True)
class MQTTOptions(_Handshake):
    """Options of ``connect("mqtt", url)`` (the broker's ws:// or wss:// URL)."""

    kind: ClassVar[str] = "mqtt"

    topics: Sequence[str] = field(
        default=(),
        metadata=doc(
            "topic filters to subscribe to after every (re)connect (repeatable flag)",
            Flag(("--topic",), action="append", metavar="FILTER"),
        ),
    )
    qos: int = field(
        default=0,
        metadata=doc(
            "QoS of the subscriptions: 0, 1 or 2", Flag(("--qos",), type=int, metavar="0|1|2")
        ),
    )
    topic: str | None = field(
        default=None,
        metadata=doc(
            "the topic send() publishes to (none: send() is refused, use publish())",
            Flag(("--send-topic",), metavar="TOPIC"),
        ),
    )
    client_id: str | None = field(
        default=None,
        metadata=doc("client identifier (default: a random one)", Flag(("--client-id",))),
    )
    username: str | None = field(
        default=None, metadata=doc("user name in the CONNECT packet", Flag(("--username",)))
    )
    password: str | None = field(
        default=None, metadata=doc("password in the CONNECT packet", Flag(("--password",)))
    )
    clean_start: bool = field(
        default=True,
        metadata=doc(
            "start a new session at every connect (--no-clean-start: resume it)",
            Flag(("--clean-start",), action="bool"),
        ),
    )
    keepalive: int = field(
        default=60,
        metadata=doc(
            "seconds between PINGREQs when idle", Flag(("--keepalive",), type=int, metavar="S")
        ),
    )
    mqtt_version: str = field(
        default="3.1.1",
        metadata=doc(
            "MQTT protocol version: 3.1.1 or 5",
            Flag(("--mqtt-version",), choices=("3.1.1", "5")),
        ),
    )


def _document(cls: type[Options]) -> None:
    lines = [f"        {f.name}: {f.metadata['help']}" for f in dataclasses.fields(cls)]
    cls.__doc__ = f"{cls.__doc__}\n\n    Attributes:\n" + "\n".join(lines) + "\n"


def _tables(cls: type[Options]) -> list[type[Options]]:
    """``cls`` and every table below it."""
    return [cls, *(t for sub in cls.__subclasses__() for t in _tables(sub))]


for _table in _tables(Options)[1:]:
    _document(_table)


# --- checking connect() options -------------------------------------------------------------


def check_names(kind: str, given: Iterable[str], known: frozenset[str]) -> None:
    """Raise TypeError naming each option in ``given`` that ``kind`` does not know.

    The sentence suggests a close known name and lists the kind's options and
    the common ones.
    """
    unknown = sorted(str(k) for k in given if k not in known)
    if not unknown:
        return
    every = known | CommonOptions.names()
    named = []
    for name in unknown:
        close = difflib.get_close_matches(name, every, n=1)
        named.append(f"{name} (did you mean {close[0]}?)" if close else name)
    raise TypeError(
        f"unknown option(s) for {kind} connections: {', '.join(named)}; "
        f"{kind} knows {', '.join(sorted(known)) or 'none'}, "
        f"and every kind {', '.join(sorted(CommonOptions.names()))}"
    )


def check_options(kind: str, given: Mapping[str, Any], table: type[Options]) -> Options:
    """Check the kind-specific ``connect()`` options; return them as ``table``'s instance.

    Args:
        kind: the kind's name, for the message.
        given: the options beyond :class:`CommonOptions`.
        table: the kind's options class.

    Raises:
        TypeError: naming each unknown option (with a close known one, if any)
            and every option the kind knows.
    """
    check_names(kind, given, table.names())
    return table(**given)
