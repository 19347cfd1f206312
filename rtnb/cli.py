"""The ``rtnb`` command: ``rtnb serve`` runs the in-kernel server in a terminal."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every ``rtnb`` subcommand."""
    parser = argparse.ArgumentParser(
        prog="rtnb", description="Real-time streams (WebSocket, SSE, WebRTC) from a terminal."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("serve", help="run the rtnb server until Ctrl-C")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any free)")
    p.add_argument("--token", help="require this token (generated when binding beyond loopback)")
    p.add_argument("--tls", action="store_true", help="serve https/wss with a self-signed cert")
    p.add_argument("--seed", type=int, default=42, help="seed of the tick random walk")
    p.set_defaults(func=_serve)
    return parser


def _serve(args: argparse.Namespace) -> int:
    from . import serve
    from .errors import ServerError

    try:
        srv = serve(args.host, args.port, args.token, tls=args.tls, seed=args.seed)
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
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
