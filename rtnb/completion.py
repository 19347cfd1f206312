"""What Tab offers after an ``%rt_…`` magic: kinds, connection names, server paths.

Plain logic on the line typed so far; the IPython matcher that calls it is in
:mod:`rtnb.magics`. The kinds come from their one registry, :mod:`rtnb.transports`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .transports import kind_names

__all__ = ["complete"]

#: Magics whose first argument is a connection name.
_NAME_ARG = ("rt_send", "rt_table", "rt_plot", "rt_close", "rt_record")


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
