"""The ``rtnb`` command: ``serve``, ``tail`` a stream, ``record`` it, ``compare`` the protocols.

$ rtnb serve --port 8765
$ rtnb tail ws ws://127.0.0.1:8765/ws/ticker --count 3
{"t":1764088200.1,"symbol":"AAPL","price":191.4}
...
$ rtnb record sse http://127.0.0.1:8765/sse/ticker ticks.jsonl --count 100
$ rtnb compare ws sse --duration 2

``tail`` and ``record`` take the connection flags of ``%rt_connect``, built from
the same option tables (:mod:`rtnb.options`), and ``record`` writes through
the same :class:`rtnb.record.Recorder` as ``%rt_record``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .flags import add_connect_arguments, connect_options, parse_args, set_option_default
from .sendtext import port_type
from .transports import kind_names, option_tables

if TYPE_CHECKING:
    from .connection import Connection
    from .message import Message
    from .record import Recorder

__all__ = ["build_parser", "format_line", "main"]


def _positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every ``rtnb`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="rtnb", description="Real-time streams (WebSocket, SSE, WebRTC) from a terminal."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("serve", help="run the rtnb server until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port_type, default=8765, help="port (default 8765; 0 = any free)")
    p.add_argument("--token", help="require this token (generated when binding beyond loopback)")
    p.add_argument("--tls", action="store_true", help="serve https/wss with a self-signed cert")
    p.add_argument("--seed", type=int, default=42, help="seed of the tick random walk")
    p.add_argument(
        "--max-connections",
        type=_positive_int,
        default=1000,
        help="connections in total (default 1000)",
    )
    p.add_argument(
        "--max-per-client",
        type=_positive_int,
        default=200,
        help="connections from one address (default 200)",
    )
    p.set_defaults(func=_serve)

    p = sub.add_parser(
        "tail",
        help="print a stream, one line per message (like websocat / curl -N)",
        description="Print each received message on its own line until Ctrl-C, --count or "
        "the end of the stream (no reconnect unless --reconnect). Text is printed as is "
        "(newlines escaped), binary as b64:...",
    )
    p.add_argument("--json", action="store_true", help="print each message as a JSON record")
    _stream_arguments(p)
    p.set_defaults(func=_tail)

    p = sub.add_parser(
        "record",
        help="write a stream to a JSON Lines file (replay it with rtnb.replay)",
        description="Write every message (both directions) to FILE as JSON Lines until "
        "Ctrl-C, --count, --duration or the end of the stream (no reconnect unless "
        "--reconnect).",
    )
    _stream_arguments(p)
    p.add_argument("file", help="the JSON Lines file to write")
    p.add_argument("--duration", type=_seconds, default=None, help="stop after this many seconds")
    p.set_defaults(func=_record)

    p = sub.add_parser(
        "compare",
        help="measure WebSocket, SSE and WebRTC side by side (the protocol lab)",
        description="Stream timestamped messages over each protocol through a server in this "
        "process (or --server URL) and print the measurements next to the article's claims.",
    )
    p.add_argument(
        "protocols", nargs="*", help="ws, sse, webrtc, webrtc-unordered (default: ws sse webrtc)"
    )
    p.add_argument("--duration", type=float, default=5.0, help="seconds per protocol (default 5)")
    p.add_argument("--rate", type=float, default=200.0, help="paced messages/s (default 200)")
    p.add_argument("--size", type=int, default=64, help="payload bytes (default 64)")
    p.add_argument("--server", default=None, help="an rtnb server's URL (default: start one)")
    p.add_argument("--json", default=None, help="also save the results to this JSON file")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=_compare)
    return parser


def _stream_arguments(p: argparse.ArgumentParser) -> None:
    *first, last = kind_names()
    p.add_argument("kind", help=f"{', '.join(first)} or {last}")
    p.add_argument("url", help="ws://..., wss://..., http(s)://... (sse), or a replay file")
    p.add_argument("--count", "-n", type=int, default=None, help="stop after N messages")
    p.add_argument(
        "--timeout", type=_seconds, default=None, help="give up after T s with no message"
    )
    add_connect_arguments(p, option_tables(), exclude=("name",))
    set_option_default(p, "reconnect", False)  # a pipe ends with its stream, like curl -N


def _fail(command: str, message: str) -> int:
    print(f"rtnb {command}: {message}", file=sys.stderr, flush=True)
    return 1


def _open(args: argparse.Namespace) -> Connection:
    """Connect as the arguments say (raises ValueError/TypeError/RTError with a message)."""
    from .registry import connect

    opts = connect_options(args, option_tables(), exclude=("name",))
    if args.count is not None and args.count < 1:
        raise ValueError(f"--count must be at least 1, not {args.count}")
    return connect(args.kind, args.url, name=f"cli-{args.command}", **opts)


def _pump(
    args: argparse.Namespace,
    deadline: float | None,
    emit: Callable[[Message], None],
    start: Callable[[Connection], str | None] | None = None,
) -> int:
    """Feed each message (both directions) to ``emit``; stop at --count/--timeout/end.

    ``start`` runs once the arguments made a connection; a text it returns is the
    error to stop with. Where the stream was cut and came back (``--reconnect``)
    a line says so on stderr, before the first message after it: stdout stays data.
    """
    from .errors import (
        ConnectError,
        ConnectionClosed,
        MessagesMissed,
        RecvTimeout,
        RTError,
        describe,
    )
    from .message import Cursor

    try:
        conn = _open(args)
    except (ValueError, TypeError, RTError, ImportError) as exc:
        return _fail(args.command, describe(exc))
    problem = start(conn) if start is not None else None
    if problem is not None:
        conn.close()
        return _fail(args.command, problem)
    cursor = Cursor(conn.log, 0, direction=None)
    received = marks_seen = 0
    idle = args.timeout
    try:
        conn.wait_open(timeout=idle if idle is not None else 30.0)
        while args.count is None or received < args.count:
            wait = idle
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                wait = left if wait is None else min(wait, left)
            try:
                msg = cursor.next(wait)  # raises ConnectionClosed once the log ended
            except RecvTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                return _fail(args.command, f"no message within {idle} s")
            except MessagesMissed as exc:
                print(f"rtnb {args.command}: {exc}", file=sys.stderr)
                continue
            marks_seen = _say_breaks(args.command, conn, marks_seen, msg.seq)
            emit(msg)
            if msg.direction == "in":
                received += 1
    except ConnectionClosed:
        if conn.state == "failed":
            return _fail(args.command, conn.describe_state())
    except ConnectError as exc:
        return _fail(args.command, describe(exc))
    except KeyboardInterrupt:
        pass
    finally:
        conn.close()
    return 0


def _say_breaks(command: str, conn: Connection, seen: int, before_seq: int) -> int:
    """Print the cuts and resumes placed before message ``before_seq``; the new count seen."""
    for mark in conn.breaks.since(seen):
        if mark.seq > before_seq:
            break
        label = "cut" if mark.kind == "cut" else "resumed"
        print(f"rtnb {command}: {label}: {mark.text}", file=sys.stderr)
        seen = mark.n
    return seen


def format_line(msg: Message) -> str:
    r"""How ``rtnb tail`` prints a message: text with newlines escaped, binary as ``b64:``.

    >>> from rtnb.message import Message
    >>> print(format_line(Message("a\nb")))
    a\nb
    >>> format_line(Message(b"\x00\x01"))
    'b64:AAE='
    """
    if isinstance(msg.data, str):
        return msg.data.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    return "b64:" + base64.b64encode(bytes(msg.data)).decode("ascii")


def _tail(args: argparse.Namespace) -> int:
    from .recordfmt import from_message_record

    out = sys.stdout

    def emit(msg: Message) -> None:
        if msg.direction != "in":
            return
        out.write((from_message_record(msg.to_record()) if args.json else format_line(msg)) + "\n")
        out.flush()

    try:
        return _pump(args, None, emit)
    except BrokenPipeError:  # `rtnb tail ... | head`
        with contextlib.suppress(OSError):
            sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - silence the exit flush
        return 0


def _record(args: argparse.Namespace) -> int:
    from .record import Recorder

    # The file is opened only once the arguments made a connection, so a typo does
    # not truncate an existing file; a run that fails before any message removes it.
    started: list[Recorder] = []
    seen = 0

    def start(conn: Connection) -> str | None:
        try:
            rec = Recorder(conn, args.file, include_existing=True)
        except ValueError as exc:  # the file cannot be written
            return str(exc)
        started.append(rec)
        if args.count is not None:
            conn.on_message(_stop_after(rec, args.count))
        return None

    def emit(msg: Message) -> None:
        nonlocal seen
        seen += 1

    deadline = None if args.duration is None else time.monotonic() + args.duration
    code = _pump(args, deadline, emit, start)
    if not started:
        return code  # no file was opened; the error said why
    rec = started[0].stop()
    if code != 0 and seen == 0:
        with contextlib.suppress(OSError):
            os.unlink(args.file)
        return code
    print(f"rtnb record: {rec.summary()}", file=sys.stderr)
    return code


def _stop_after(rec: Recorder, count: int) -> Callable[[Message], None]:
    """An on_message callback that stops ``rec`` right after the ``count``-th message.

    It runs on the loop right after that message entered the log, before the
    next one can, so the file ends with exactly ``count`` received messages.
    """
    received = 0

    def on_message(msg: Message) -> None:
        nonlocal received
        received += 1
        if received == count:
            rec.stop()

    return on_message


def _compare(args: argparse.Namespace) -> int:
    from .errors import RTError
    from .lab.run import compare

    def progress(line: str) -> None:
        print(f"rtnb compare: {line}", file=sys.stderr, flush=True)

    try:
        result = compare(
            args.duration,
            args.rate,
            args.size,
            args.protocols or ("ws", "sse", "webrtc"),
            args.server,
            progress=None if args.quiet else progress,
        )
    except (ValueError, TypeError, RTError, TimeoutError) as exc:
        return _fail("compare", str(exc))
    print(result, flush=True)
    if args.json:
        try:
            print(f"saved to {result.to_json(args.json)}", file=sys.stderr)
        except OSError as exc:
            return _fail("compare", f"cannot write {args.json!r}: {exc.strerror}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from . import serve
    from .errors import ServerError

    try:
        srv = serve(
            args.host,
            args.port,
            args.token,
            tls=args.tls,
            seed=args.seed,
            max_connections=args.max_connections,
            max_connections_per_client=args.max_per_client,
        )
    except ServerError as exc:
        print(f"rtnb serve: {exc}", file=sys.stderr)
        return 1
    print(srv.describe(), flush=True)
    if srv.cafile:
        print(f"certificate (trust with cafile=): {srv.cafile}", flush=True)
    print("Ctrl-C to stop", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    srv.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rtnb`` console script."""
    args, notes = parse_args(build_parser(), sys.argv[1:] if argv is None else argv)
    for note in notes:  # an old flag spelling: it worked, say what to write now
        print(f"rtnb {args.command}: {note}", file=sys.stderr, flush=True)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
