"""Field paths and JSON flattening, shared by tables, plots, records and pandas export.

A field path names a value inside a JSON document with dots and list indices:
``"price"``, ``"bid.size"``, ``"levels.0.price"``.

    >>> flatten({"bid": {"size": 3, "px": 1.5}, "tags": ["a", "b"]})
    {'bid.size': 3, 'bid.px': 1.5, 'tags.0': 'a', 'tags.1': 'b'}
    >>> get_path({"bid": {"size": 3}}, "bid.size")
    3
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MISSING", "flatten", "get_path", "parse_path", "union_columns"]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
"""Returned by :func:`get_path` when the path does not exist."""


def parse_path(path: str) -> tuple[str | int, ...]:
    """Split a dotted path into keys; ASCII-digit parts become list indices.

    Only canonical numbers are indices (``"0"``, ``"12"``), so a key like
    ``"01"`` or ``"٣"`` stays a key and every part joins back to the path.

    >>> parse_path("levels.0.price")
    ('levels', 0, 'price')

    Raises:
        ValueError: for an empty path or an empty part (``"a..b"``).
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"a field path is a non-empty string like 'bid.size', not {path!r}")
    parts: list[str | int] = []
    for part in path.split("."):
        if not part:
            raise ValueError(f"field path {path!r} has an empty part")
        is_index = part.isascii() and part.isdigit() and (part == "0" or part[0] != "0")
        parts.append(int(part) if is_index else part)
    return tuple(parts)


def get_path(doc: Any, path: str | tuple[str | int, ...], default: Any = MISSING) -> Any:
    """Return the value at ``path`` inside ``doc``, or ``default`` when absent.

    A key that itself contains dots (``{"a.b": 1}``) is found too, because
    :func:`flatten` would name it the same way.
    """
    if isinstance(path, str):
        if isinstance(doc, Mapping) and path in doc:
            return doc[path]
        keys = parse_path(path)
    else:
        keys = path
    cur = doc
    for key in keys:
        if isinstance(cur, Mapping):
            if key in cur:
                cur = cur[key]
            elif isinstance(key, int) and str(key) in cur:
                cur = cur[str(key)]
            else:
                return default
        elif isinstance(cur, list | tuple) and isinstance(key, int):
            if -len(cur) <= key < len(cur):
                cur = cur[key]
            else:
                return default
        else:
            return default
    return cur


def flatten(doc: Any, prefix: str = "", max_depth: int = 8, max_items: int = 256) -> dict[str, Any]:
    """Flatten nested JSON into ``{"a.b": value}``.

    Scalars at the top level become ``{"value": scalar}``. Depth and width are
    bounded so one enormous document cannot make a table with a million columns:
    what lies deeper than ``max_depth`` is kept whole, and keys past ``max_items``
    are dropped.
    """
    out: dict[str, Any] = {}
    if not isinstance(doc, Mapping | list):
        out[prefix or "value"] = doc
        return out
    _flatten_into(out, doc, prefix, max_depth, max_items)
    return out


def _flatten_into(out: dict[str, Any], doc: Any, prefix: str, depth: int, max_items: int) -> None:
    items: Iterable[tuple[Any, Any]]
    if isinstance(doc, Mapping):
        items = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        out[prefix] = doc
        return
    empty = True
    for key, value in items:
        empty = False
        if len(out) >= max_items:
            return
        name = f"{prefix}.{key}" if prefix else str(key)
        if depth > 1 and isinstance(value, Mapping | list) and value:
            _flatten_into(out, value, name, depth - 1, max_items)
        else:
            out[name] = value
    if empty and prefix:
        out[prefix] = doc


def union_columns(rows: Iterable[Mapping[str, Any]], limit: int = 64) -> list[str]:
    """Column names in first-seen order across ``rows``, at most ``limit`` of them."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key not in seen:
                seen[key] = None
                if len(seen) >= limit:
                    return list(seen)
    return list(seen)
