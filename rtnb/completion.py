"""What Tab offers after an ``%rt_…`` magic: kinds, connection names, server paths.

:func:`complete` is plain logic on the line typed so far; :func:`rt_matcher` is
the IPython matcher that calls it (``%load_ext rtnb`` registers it). The kinds
come from their one registry, :mod:`rtnb.transports`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from IPython.core.completer import CompletionContext, SimpleCompletion, context_matcher

from .registry import connections
from .transports import kind_names

__all__ = ["complete", "rt_matcher"]

#: Magics whose first argument is a connection name.
_NAME_ARG = ("rt_send", "rt_table", "rt_plot", "rt_close", "rt_record", "rt_call")


def complete(
    line: str,
    names: Iterable[str],
    paths: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """Completions for the word under the cursor in an ``%rt_…`` line.

    Args:
        line: the line up to the cursor.
        names: connection names.
        paths: ``(kind, path)`` of the running server's endpoints.

    >>> complete("%rt_connect s", [])
    ['sse', 'socketio']
    >>> complete("%rt_send w", ["ws1", "ws2", "sse1"])
    ['ws1', 'ws2']
    >>> complete("%rt_connect ws /ws/e", [], [("ws", "/ws/echo"), ("sse", "/sse/clock")])
    ['/ws/echo']
    """
    stripped = line.lstrip()
    if not stripped.startswith(("%rt_", "%%rt_")):
        return []
    words = stripped.split()
    current = "" if line.endswith((" ", "\t")) else words[-1]
    args = words[1:] if current == "" else words[1:-1]
    magic = words[0].lstrip("%")
    positional = [a for a in args if not a.startswith("-")]
    options: list[str] = []
    if magic == "rt_connect":
        if not positional:
            options = list(kind_names())
        elif len(positional) == 1:
            kind = positional[0]
            options = [p for k, p in paths if k == kind]
    elif magic in _NAME_ARG and not positional:
        options = sorted(names)
        if magic == "rt_close" and not args:
            options.append("--all")
        if magic == "rt_record" and not args:
            options.append("--stop")
    return [o for o in options if o.startswith(current)]


@context_matcher()  # type: ignore[untyped-decorator]
def rt_matcher(context: CompletionContext) -> dict[str, Any]:
    """IPython matcher: connection names, kinds and server paths after ``%rt_…`` magics."""
    line = context.text_until_cursor
    if not line.lstrip().startswith(("%rt_", "%%rt_")):
        return {"completions": [], "suppress": False}
    paths: list[tuple[str, str]] = []
    from .server import running_server

    srv = running_server()
    if srv is not None:
        paths = [(ep.kind, ep.path) for ep in srv.endpoints]
    found = complete(line, connections(), paths)
    word = "" if line.endswith((" ", "\t")) else line.split()[-1]
    token = context.token
    # The token IPython splits out may be a suffix of our word (it cuts at some
    # punctuation); completions must replace exactly the token.
    cut = len(word) - len(token) if word.endswith(token) else 0
    return {
        "completions": [SimpleCompletion(f[cut:], type="rtnb") for f in found],
        "matched_fragment": token,
        "suppress": bool(found),
    }
