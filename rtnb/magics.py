# IPython's magic decorators are untyped (or typed as decorator factories): see the codes.
# mypy: disable-error-code="no-untyped-call,untyped-decorator,misc"
"""IPython magics: ``%load_ext rtnb`` then ``%rt_serve``, ``%rt_connect``, ``%rt_send``, ...

The magics parse arguments and wire the layers together; they hold no logic of
their own. Wrong use answers with one line saying what is wrong plus the
usage, never a traceback. ``%rt_connect``'s connection flags come from the
option tables in :mod:`rtnb.options` (the same as ``rtnb tail``'s), its kinds
from :mod:`rtnb.transports`.

Every magic takes its line literally: IPython would otherwise expand
``$name`` and evaluate ``{expression}`` in it before the magic sees it
(``no_var_expand``). Per magic:

- ``%rt_connect``: URLs (``?q={x}``), headers, JSON bodies and paths are data,
  and a secret header may hold ``$``.
- ``%rt_send``: the payload is JSON, full of braces.
- ``%rt_serve``: the token is a secret that may hold ``$`` or braces.
- ``%rt_record``, ``%rt_compare``: file paths, written to.
- ``%rt_table``, ``%rt_plot``: filters and field paths are data (``price~$``).
- ``%rt_close``, ``%rt_list``, ``%rt_stop``: a name or nothing; a stray
  ``{...}`` is refused as an argument, not run.

To use a variable, call the Python API (``rtnb.connect(kind, url)``, ...).

    In [1]: %load_ext rtnb
    In [2]: %rt_serve
    In [3]: %rt_connect ws /ws/ticker?rate=5 --name tick
    In [4]: %rt_plot tick price --by symbol
"""

from __future__ import annotations

import json
import keyword
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from IPython.core.display_functions import display
from IPython.core.error import UsageError
from IPython.core.magic import (
    Magics,
    line_cell_magic,
    line_magic,
    magics_class,
    no_var_expand,
)
from IPython.core.magic_arguments import ArgDecorator, argument, magic_arguments

from .completion import complete, rt_matcher
from .errors import RPCError, RTError, describe
from .flags import add_connect_arguments, connect_options, parse_args
from .helptext import magic_doc
from .listing import connection_listing
from .record import recorders, start_recorder, stop_recorder
from .registry import connect, connections, get_connection
from .sendtext import check_json, parse_call_line, parse_header, port_type
from .transports import kind, kind_names, option_tables

if TYPE_CHECKING:
    from .connection import Connection
    from .server import Server

__all__ = [
    "RTMagics",
    "check_json",
    "complete",
    "load_ipython_extension",
    "parse_header",
    "unload_ipython_extension",
]

MAGIC_NAMES = (
    "rt_serve",
    "rt_stop",
    "rt_connect",
    "rt_send",
    "rt_table",
    "rt_plot",
    "rt_list",
    "rt_close",
    "rt_record",
    "rt_compare",
    "rt_call",
)

#: Errors a magic turns into one line (anything else is a bug and keeps its traceback).
_EXPECTED = (UsageError, ValueError, TypeError, KeyError, RTError, TimeoutError, OSError)


# --- output ---------------------------------------------------------------------------


def _in_kernel(shell: Any) -> bool:
    """True in a Jupyter kernel (a widget front-end may be there), False in a terminal."""
    return bool(getattr(shell, "kernel", None) is not None)


#: One-line usage of each magic, shown after an error message.
USAGE = {
    "rt_serve": "%rt_serve [--host H] [--port P] [--token T]",
    "rt_stop": "%rt_stop",
    "rt_connect": (
        "%rt_connect KIND URL [--name N] [--header 'K: V']... [--no-reconnect] "
        "[--send-on-open JSON] [--quiet] [KIND's options]  "
        f"(KIND: {', '.join(kind_names())}; "
        "URL may be a path like /ws/ticker on %rt_serve's server)"
    ),
    "rt_send": "%rt_send NAME PAYLOAD   or   %%rt_send NAME with the payload as the cell",
    "rt_call": "%rt_call NAME METHOD [PARAMS]   (PARAMS: JSON; a GraphQL document in quotes)",
    "rt_table": "%rt_table NAME [--columns A,B] [--filter EXPR] [--max-rows N]",
    "rt_plot": "%rt_plot NAME FIELD... [--by F] [--window W] [--backend mpl|canvas]",
    "rt_list": "%rt_list",
    "rt_close": "%rt_close NAME   or   %rt_close --all",
    "rt_record": "%rt_record NAME FILE [--include-existing]   or   %rt_record --stop NAME",
    "rt_compare": (
        "%rt_compare [ws] [sse] [webrtc] [webrtc-unordered] [--duration S] [--rate R] "
        "[--size B] [--json FILE] [--quiet]"
    ),
}


def _say_error(magic: Callable[..., Any], message: str) -> None:
    name = getattr(magic, "__name__", "rt")
    print(f"{name}: {message}", file=sys.stderr)
    usage = USAGE.get(name)
    if usage:
        print(f"usage: {usage}   (help: %{name}?)", file=sys.stderr)


class _ConnectArguments(ArgDecorator):
    """``%rt_connect``'s connection flags, from the option tables (as ``rtnb tail``'s)."""

    def add_to_parser(self, parser: Any, group: Any) -> None:
        add_connect_arguments(parser, option_tables())


# --- the magics ---------------------------------------------------------------------------


@magics_class
class RTMagics(Magics):
    """The rtnb magics; registered by ``%load_ext rtnb``."""

    def _guard(self, magic: Callable[..., Any], run: Callable[[], Any]) -> Any:
        try:
            return run()
        except SystemExit:  # -h printed the help already
            return None
        except ImportError as exc:
            _say_error(magic, f"a library this needs is missing: {exc}")
        except _EXPECTED as exc:
            _say_error(magic, describe(exc, (UsageError,)))
        return None

    def _parse(self, magic: Callable[..., Any], line: str) -> Any:
        # POSIX shell quoting: --header 'K: V' and --window '500 points' lose
        # their quotes (IPython's own arg_split keeps them outside POSIX mode).
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            raise UsageError(f"cannot split the arguments: {exc}") from None
        args, notes = parse_args(magic.parser, argv)  # type: ignore[attr-defined]
        for note in notes:  # an old flag spelling: it worked, say what to write now
            print(f"{getattr(magic, '__name__', 'rt')}: {note}", file=sys.stderr)
        return args

    def _connection(self, name: str) -> Connection:
        conn = get_connection(name)
        return conn

    # --- server -----------------------------------------------------------------------

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    @argument("--port", type=port_type, default=None, help="port (default: any free one)")
    @argument("--token", default=None, help="require this token from clients")
    def rt_serve(self, line: str) -> None:
        """Start the in-kernel server (once) and show its endpoints with %rt_connect lines.

        A second call shows the server already running. Examples::

            %rt_serve
            %rt_serve --port 8765
            %rt_serve --host 0.0.0.0 --token s3cret
        """
        self._guard(self.rt_serve, lambda: self._serve(self._parse(self.rt_serve, line)))

    def _serve(self, args: Any) -> None:
        from .server import running_server, serve

        srv: Server | None = running_server()
        if srv is not None:
            asked = (args.host, args.port, args.token)
            if any(a is not None for a in asked) and (
                (args.host is not None and args.host != srv.host)
                or (args.port not in (None, 0, srv.port))
                or (args.token is not None and args.token != srv.token)
            ):
                print(f"a server is already running at {srv.url}; %rt_stop it first to change it")
            else:
                print(f"already running at {srv.url}")
        else:
            srv = serve(
                args.host if args.host is not None else "127.0.0.1",
                args.port if args.port is not None else 0,
                args.token,
            )
        display(srv)

    @line_magic
    @no_var_expand
    def rt_stop(self, line: str) -> None:
        """Stop the in-kernel server (clients are disconnected). Example: ``%rt_stop``."""
        self._guard(self.rt_stop, lambda: self._stop(line))

    def _stop(self, line: str) -> None:
        from .server import running_server

        if line.strip():
            raise UsageError(f"%rt_stop takes no arguments, not {line.strip()!r}")
        srv = running_server()
        if srv is None:
            print("no rtnb server is running")
            return
        url = srv.url
        srv.stop()
        print(f"stopped the rtnb server at {url}")

    # --- connections ------------------------------------------------------------------

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("kind", help=f"{', '.join(kind_names())} (replay takes a recording file as URL)")
    @argument("url", help="full URL, or a path like /ws/ticker on the running %%rt_serve server")
    @argument("--quiet", "-q", action="store_true", help="one status line instead of the panel")
    @argument("--timeout", type=float, default=5.0, help="seconds to wait for the status line")
    @_ConnectArguments()
    def rt_connect(self, line: str) -> None:
        """Open a connection, bind it to a variable and show its panel.

        Examples::

            %rt_connect ws wss://echo.websocket.org
            %rt_connect ws /ws/ticker?rate=5 --name tick
            %rt_connect ws /ws/ticker --send-on-open '{"type":"subscribe","channel":"AAPL"}'
            %rt_connect sse /sse/clock --quiet
            %rt_connect sse https://api.example.com/stream -H 'Authorization: Bearer T'
            %rt_connect webrtc /webrtc/bot --name bot
            %rt_connect replay ticks.jsonl --speed 2
        """
        self._guard(self.rt_connect, lambda: self._connect(self._parse(self.rt_connect, line)))

    def _connect(self, args: Any) -> None:
        kind_name = kind(args.kind).name  # ValueError names the known kinds
        url = self._resolve_url(kind_name, args.url)
        opts = connect_options(args, option_tables())
        name = opts.get("name")
        if name is not None and (not name.isidentifier() or keyword.iskeyword(name)):
            raise ValueError(f"--name must be a Python identifier, not {name!r}")
        conn = connect(kind_name, url, **opts)
        assert self.shell is not None
        self.shell.user_ns[conn.name] = conn
        if args.quiet or not _in_kernel(self.shell) or not _has_panel():
            _wait_settled(conn, args.timeout)
            print(conn.summary())
        else:
            display(conn)

    def _resolve_url(self, kind: str, url: str) -> str:
        if kind == "replay" or not url.startswith("/"):
            return url
        from .server import running_server

        srv = running_server()
        if srv is None:
            raise ValueError(
                f"{url} is a path on the in-kernel server, but none is running: "
                "start it with %rt_serve, or give a full URL"
            )
        return srv.url_for(url)

    @line_cell_magic
    @no_var_expand
    def rt_send(self, line: str, cell: str | None = None) -> None:
        """Send a message: ``%rt_send NAME PAYLOAD``, or ``%%rt_send NAME`` with the cell as body.

        A payload that starts with ``{`` or ``[`` must be valid JSON. Examples::

            %rt_send ws1 hello
            %rt_send ws1 {"type": "subscribe", "channel": "AAPL"}

            %%rt_send ws1
            {"type": "subscribe",
             "channel": "MSFT"}
        """
        self._guard(self.rt_send, lambda: self._send(line, cell))

    def _send(self, line: str, cell: str | None) -> None:
        name, _, rest = line.strip().partition(" ")
        if not name:
            raise UsageError("name the connection to send on")
        if cell is not None:
            if rest.strip():
                raise UsageError("%%rt_send takes only NAME on its line; the cell is the payload")
            payload = cell.strip("\n")
        else:
            payload = rest.strip()
        if not payload:
            raise UsageError(f"nothing to send on {name}")
        conn = self._connection(name)
        msg = conn.send(check_json(payload))
        preview = payload if len(payload) <= 60 else payload[:57] + "..."
        print(f"{conn.name} <- {preview} ({msg.size} bytes)")

    @line_magic
    @no_var_expand
    def rt_call(self, line: str) -> None:
        """Call a method on a jsonrpc or graphql connection and print the answer.

        ``%rt_call NAME METHOD [PARAMS]``: PARAMS is JSON; a GraphQL document is
        quoted and its variables are PARAMS. An error answer is one line. Examples::

            %rt_call rpc1 add [1, 2]
            %rt_call gq1 'query { hello(name: "you") }'
        """
        self._guard(self.rt_call, lambda: self._call(line))

    def _call(self, line: str) -> None:
        name, method, params = parse_call_line(line)
        try:
            result = self._connection(name).call(method, params)
        except RPCError as exc:  # the call was right; the peer said no: one line, no usage
            print(f"rt_call: {describe(exc)}", file=sys.stderr)
            return
        print(json.dumps(result, ensure_ascii=False, default=str))

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("name", help="the connection")
    @argument("--columns", "-c", default=None, help="comma-separated fields to show")
    @argument(
        "--filter",
        "-f",
        dest="filter_",
        default=None,
        help="show only matching rows: field=value or field~substring",
    )
    @argument("--max-rows", type=int, default=None, help="rows kept in view")
    def rt_table(self, line: str) -> Any:
        """Show a live table of a connection's messages.

        Examples::

            %rt_table ws1
            %rt_table tick --columns symbol,price --filter symbol=AAPL
        """
        return self._guard(self.rt_table, lambda: self._table(self._parse(self.rt_table, line)))

    def _table(self, args: Any) -> Any:
        conn = self._connection(args.name)
        opts: dict[str, Any] = {}
        if args.columns:
            opts["columns"] = [c.strip() for c in args.columns.split(",") if c.strip()]
        if args.filter_:
            opts["filter"] = args.filter_
        if args.max_rows is not None:
            opts["max_rows"] = args.max_rows
        view = conn.table(**opts)
        display(view)
        return None

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("name", help="the connection")
    @argument("fields", nargs="+", help="JSON field(s) to plot, e.g. price or bid.size")
    @argument("--by", default=None, help="one line per value of this field, e.g. symbol")
    @argument("--window", default=None, help="what to show: seconds (60, '2 min') or '500 points'")
    @argument("--backend", default=None, choices=("mpl", "canvas"), help="matplotlib or canvas")
    def rt_plot(self, line: str) -> Any:
        """Show a live plot of one or more fields.

        Examples::

            %rt_plot tick price --by symbol
            %rt_plot tick price --window '500 points' --backend canvas
        """
        return self._guard(self.rt_plot, lambda: self._plot(self._parse(self.rt_plot, line)))

    def _plot(self, args: Any) -> Any:
        conn = self._connection(args.name)
        opts: dict[str, Any] = {}
        if args.by:
            opts["by"] = args.by
        if args.window is not None:
            opts["window"] = _number_or_text(args.window)
        if args.backend:
            opts["backend"] = args.backend
        view = conn.plot(*args.fields, **opts)
        display(view)
        return None

    @line_magic
    @no_var_expand
    def rt_list(self, line: str) -> None:
        """Show every connection with its state and counters. Example: ``%rt_list``."""
        self._guard(self.rt_list, lambda: self._list(line))

    def _list(self, line: str) -> None:
        if line.strip():
            raise UsageError(f"%rt_list takes no arguments, not {line.strip()!r}")
        display(connection_listing(connections().values()))

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("name", nargs="?", default=None, help="the connection to close")
    @argument("--all", action="store_true", dest="all_", help="close every connection")
    def rt_close(self, line: str) -> None:
        """Close one connection, or all of them.

        Examples::

            %rt_close ws1
            %rt_close --all
        """
        self._guard(self.rt_close, lambda: self._close(self._parse(self.rt_close, line)))

    def _close(self, args: Any) -> None:
        if args.all_ == (args.name is not None):
            raise UsageError("give a connection name or --all (not both)")
        if args.all_:
            conns = list(connections().values())
            for conn in conns:
                stop_recorder(conn.name)
                conn.close()
            print(f"closed {len(conns)} connection(s)")
            return
        conn = self._connection(args.name)
        stop_recorder(conn.name)
        conn.close()
        print(conn.summary())

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("name", help="the connection")
    @argument("file", nargs="?", default=None, help="JSON Lines file to write")
    @argument("--stop", action="store_true", help="stop recording NAME")
    @argument(
        "--include-existing", action="store_true", help="also write what is already in the log"
    )
    def rt_record(self, line: str) -> None:
        """Record a connection's messages to a JSON Lines file until stopped.

        Examples::

            %rt_record tick ticks.jsonl
            %rt_record --stop tick
            r = rtnb.replay("ticks.jsonl", speed=2)
        """
        self._guard(self.rt_record, lambda: self._record(self._parse(self.rt_record, line)))

    def _record(self, args: Any) -> None:
        if args.stop:
            if args.file is not None:
                raise UsageError("--stop takes only the connection name")
            rec = stop_recorder(args.name)
            if rec is None:
                known = ", ".join(sorted(recorders())) or "none"
                raise ValueError(f"{args.name!r} is not being recorded (recording: {known})")
            print(rec.summary())
            return
        if args.file is None:
            raise UsageError("give the file to write: %rt_record NAME FILE")
        conn = self._connection(args.name)
        start_recorder(conn, args.file, include_existing=args.include_existing)
        print(f"recording {conn.name} -> {args.file} (stop with %rt_record --stop {conn.name})")

    # --- the protocol lab -------------------------------------------------------------

    @line_magic
    @no_var_expand
    @magic_arguments()
    @argument("protocols", nargs="*", help="ws, sse, webrtc, webrtc-unordered (default: all)")
    @argument("--duration", type=float, default=5.0, help="seconds per protocol (default 5)")
    @argument("--rate", type=float, default=200.0, help="paced messages/s (default 200)")
    @argument("--size", type=int, default=64, help="payload bytes (default 64)")
    @argument("--json", default=None, help="also save the results to this JSON file")
    @argument("--quiet", "-q", action="store_true", help="no progress lines")
    def rt_compare(self, line: str) -> Any:
        """Measure WebSocket, SSE and WebRTC side by side against the article's table.

        Uses the running in-kernel server (or starts one for the run) and
        blocks about DURATION seconds per protocol. Examples::

            %rt_compare
            %rt_compare ws sse --duration 2
            result = %rt_compare --rate 500 --size 1024 --json lab.json
        """
        return self._guard(
            self.rt_compare, lambda: self._compare(self._parse(self.rt_compare, line))
        )

    def _compare(self, args: Any) -> Any:
        from pathlib import Path

        from .lab.run import compare

        if args.json:  # find out before a run of many seconds, not after it
            folder = Path(args.json).expanduser().parent
            if not folder.is_dir():
                raise ValueError(f"cannot write {args.json!r}: there is no folder {str(folder)!r}")
        protocols = args.protocols or ("ws", "sse", "webrtc")
        progress = False if args.quiet else (lambda step: print(f"measuring {step}", flush=True))
        result = compare(args.duration, args.rate, args.size, protocols, progress=progress)
        if args.json:
            try:
                print(f"saved to {result.to_json(Path(args.json).expanduser())}")
            except OSError as exc:  # the measurements are still returned
                print(f"rt_compare: cannot write {args.json!r}: {exc.strerror}", file=sys.stderr)
        return result


def _number_or_text(text: str) -> float | str:
    """``'30'`` -> 30.0; anything else (``'2 min'``, ``'500 points'``) is left to the plot."""
    try:
        return float(text)
    except ValueError:
        return text


def _has_panel() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("rtnb.widgets.panel") is not None
    except (ImportError, ValueError):
        return False


def _wait_settled(conn: Connection, timeout: float) -> None:
    """Wait until the first attempt settles (open, failed, or retrying) or ``timeout``."""
    import threading

    settled = threading.Event()

    def on_state(_conn: Connection, state: str) -> None:
        if state != "connecting":
            settled.set()

    unsubscribe = conn.on_state(on_state)
    try:
        if conn.state == "connecting":
            settled.wait(max(0.0, timeout))
    finally:
        unsubscribe()


# --- extension entry points ---------------------------------------------------------------


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics and the completer (``%load_ext rtnb``)."""
    for method in (getattr(RTMagics, n) for n in MAGIC_NAMES):  # "%rt_x?" opens with "Usage:"
        method.__doc__ = magic_doc(method.__doc__)
    ipython.register_magics(RTMagics)
    matchers = ipython.Completer.custom_matchers
    if rt_matcher not in matchers:
        matchers.append(rt_matcher)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and the completer; connections, servers and recordings stay."""
    mm = ipython.magics_manager
    for table in ("line", "cell"):
        for name in MAGIC_NAMES:
            mm.magics[table].pop(name, None)
    mm.registry.pop(RTMagics.__name__, None)
    matchers = ipython.Completer.custom_matchers
    while rt_matcher in matchers:
        matchers.remove(rt_matcher)
