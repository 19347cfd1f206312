"""The options of :func:`rtnb.connect`, one frozen dataclass per kind: help, checks and flags.

Pure. Each option is written once, here: its default, its help text and, when
it has one, its command-line flag. From these tables come

- :func:`check_options`, which ``connect()`` calls to refuse an unknown option
  with a sentence naming the known ones;
- :func:`add_connect_arguments` and :func:`connect_options`, which build the
  flags of ``%rt_connect`` (IPython's magic arguments are argparse) and of
  ``rtnb tail`` / ``rtnb record`` and turn what was typed into ``connect()``
  options, so both spell every option the same way;
- the ``Attributes:`` section of each class's docstring (``help(WSOptions)``).

A flag is the option's name with dashes (``last_event_id`` -> ``--last-event-id``),
singular when it repeats (``headers`` -> ``--header``), and a yes/no option has
both forms (``--reconnect`` / ``--no-reconnect``). Old spellings still work
and warn (:class:`FutureWarning`): see :func:`deprecated_flags`.

    >>> check_options("ws", {"ping_intervall": 5}, WSOptions)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: unknown option(s) for ws connections: ping_intervall (did you mean ...?); ...
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from .sendtext import looks_like_json
from .sse_format import DEFAULT_MAX_EVENT_SIZE

__all__ = [
    "CommonOptions",
    "Flag",
    "Options",
    "ReplayOptions",
    "SSEOptions",
    "WSOptions",
    "WebRTCOptions",
    "add_connect_arguments",
    "check_json",
    "check_names",
    "check_options",
    "connect_options",
    "deprecated_flags",
    "doc",
    "parse_args",
    "parse_header",
    "port_type",
    "set_option_default",
]


# --- values typed on a command line ---------------------------------------------------------


def parse_header(text: str) -> tuple[str, str]:
    """``'Authorization: Bearer x'`` -> ``('Authorization', 'Bearer x')``.

    Raises:
        ValueError: when there is no ``:`` or the name is empty or has blanks.
    """
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or any(c.isspace() for c in name.strip()):
        raise ValueError(f"a header is written 'Name: value', not {text!r}")
    return name.strip(), value.strip()


def check_json(text: str, what: str = "payload") -> str:
    """Return ``text``; when it looks like JSON (starts with ``{`` or ``[``) it must parse.

    The same rule as the panel's send box (:mod:`rtnb.sendtext`).

    Raises:
        ValueError: naming where the JSON is broken.
    """
    if looks_like_json(text):
        try:
            json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{what} looks like JSON but does not parse: {exc}") from None
    return text


def _json_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"--json-body is not valid JSON: {exc}") from None


def port_type(text: str) -> int:
    """An argparse type: a TCP port, 0-65535 (0 = any free one)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535, not {port}")
    return port


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
            Flag(("--json-body",), metavar="JSON", convert=_json_value, old={"--json": None}),
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


# --- command-line flags ---------------------------------------------------------------------


def _now_spelled(flag: Flag, value: Any) -> str:
    """The flag to write instead of an old spelling that sets ``value``."""
    if flag.action == "bool" and value is False:
        return "--no-" + flag.names[0].removeprefix("--")
    return flag.names[0]


def deprecated_flags(tables: Iterable[type[Options]]) -> dict[str, str]:
    """The earlier flag spellings of ``tables`` (and the common options) -> the ones to use.

    >>> deprecated_flags([WSOptions])["--insecure"]
    '--no-verify'
    """
    return {
        old: _now_spelled(f.metadata["flag"], value)
        for name, (f, _) in _flagged(tables).items()
        for old, value in f.metadata["flag"].old.items()
    }


class _OldSpelling(argparse.Action):
    """An earlier spelling of a flag: does what the new one does, and warns."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, *, mode: str, use: str, **kw: Any
    ) -> None:
        self.mode = mode
        self.use = use
        super().__init__(option_strings, dest, nargs=0 if mode == "const" else None, **kw)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        spelled = option_string or self.option_strings[0]
        warnings.warn(
            f"{spelled} is deprecated and will be removed; use {self.use}",
            FutureWarning,
            stacklevel=2,
        )
        if self.mode == "const":
            setattr(namespace, self.dest, self.const)
        elif self.mode == "append":
            setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        else:
            setattr(namespace, self.dest, values)


#: Where the parsed flags go in the namespace, apart from the frontend's own (tail's --json).
_DEST = "option_"


def _flagged(
    tables: Iterable[type[Options]],
) -> dict[str, tuple[dataclasses.Field[Any], list[str]]]:
    """Every option with a flag, once, with the kinds that take it (common ones: none)."""
    found: dict[str, tuple[dataclasses.Field[Any], list[str]]] = {}
    for f in dataclasses.fields(CommonOptions):
        if f.metadata["flag"] is not None:
            found[f.name] = (f, [])
    for cls in tables:
        for f in dataclasses.fields(cls):
            if f.metadata["flag"] is None:
                continue
            seen = found.setdefault(f.name, (f, []))
            if seen[0].metadata["flag"] != f.metadata["flag"]:  # a table mistake, not a user's
                raise RuntimeError(f"option {f.name!r} has two different flags")
            seen[1].append(cls.kind)
    return found


def add_connect_arguments(
    parser: argparse.ArgumentParser,
    tables: Iterable[type[Options]],
    *,
    exclude: Iterable[str] = (),
) -> None:
    """Add a flag for every flagged option of ``tables`` (and the common ones) to ``parser``.

    Each flag's help ends with the kinds that take it. An old spelling is left
    out where the parser already uses the word for something else (``rtnb
    tail --json`` prints records).

    Args:
        parser: the parser (IPython's magic arguments parser is one).
        tables: the kinds' option tables (``rtnb.transports.option_tables()``).
        exclude: option names to leave out (``rtnb tail`` names no variable).
    """
    skip = set(exclude)
    group = parser.add_argument_group(
        "connection options (in brackets: the kinds that take one; the rest: every kind)"
    )
    for name, (f, takers) in _flagged(tables).items():
        if name in skip:
            continue
        flag: Flag = f.metadata["flag"]
        text = f.metadata["help"] + (f" [{', '.join(takers)}]" if takers else "")
        kw: dict[str, Any] = {
            "dest": _DEST + name,
            "default": None,
            "help": text.replace("%", "%%"),
        }
        if flag.action == "bool":
            group.add_argument(*flag.names, action=argparse.BooleanOptionalAction, **kw)
        elif flag.action == "true":
            group.add_argument(*flag.names, action="store_const", const=True, **kw)
        else:
            kw.update(metavar=flag.metavar, choices=flag.choices)
            if flag.type is not None:
                kw["type"] = flag.type
            group.add_argument(*flag.names, action=flag.action, **kw)
        old_kw: dict[str, Any] = {"dest": _DEST + name, "default": None, "help": argparse.SUPPRESS}
        if flag.type is not None:
            old_kw["type"] = flag.type
        for old, value in flag.old.items():
            mode = "const" if flag.action == "bool" else flag.action
            try:
                group.add_argument(
                    old,
                    action=_OldSpelling,
                    mode=mode,
                    use=_now_spelled(flag, value),
                    const=value,
                    **old_kw,
                )
            except argparse.ArgumentError:  # the parser uses that word itself
                continue


def connect_options(
    args: argparse.Namespace, tables: Iterable[type[Options]], exclude: Iterable[str] = ()
) -> dict[str, Any]:
    """The ``connect()`` options typed in ``args`` (flags not given are left out).

    Args:
        args: what a parser made by :func:`add_connect_arguments` parsed.
        tables: the same tables.
        exclude: option names to leave out.

    Raises:
        ValueError: for a value that does not convert (``-H nocolon``, broken JSON).
    """
    skip = set(exclude)
    opts: dict[str, Any] = {}
    for name, (f, _) in _flagged(tables).items():
        value = getattr(args, _DEST + name, None)
        if name in skip or value is None:
            continue
        convert = f.metadata["flag"].convert
        if convert is not None:
            value = [convert(v) for v in value] if isinstance(value, list) else convert(value)
        opts[name] = value
    return opts


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str]
) -> tuple[argparse.Namespace, list[str]]:
    """``parser.parse_args(argv)`` plus the deprecation notes it raised, as lines to show.

    The notes are :class:`FutureWarning` s; a filter that turns them into errors
    still does.
    """
    with warnings.catch_warnings(record=True) as caught:
        args = parser.parse_args(argv)
    notes = [str(w.message) for w in caught if issubclass(w.category, FutureWarning)]
    for w in caught:  # anything else goes on as it came
        if not issubclass(w.category, FutureWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return args, notes


def set_option_default(parser: argparse.ArgumentParser, name: str, value: Any) -> None:
    """Give option ``name``'s flag another default in ``parser`` (``rtnb tail``: no reconnect)."""
    parser.set_defaults(**{_DEST + name: value})
