"""Command-line flags from the option tables: ``%rt_connect`` and ``rtnb tail`` alike.

Pure. :func:`add_connect_arguments` adds every registered kind's options (see
:mod:`rtnb.options`) to an argparse parser (IPython's magic arguments are
argparse too); :func:`connect_options` turns what was typed back into
``connect()`` options. Old spellings keep working with a :class:`FutureWarning`
(:func:`deprecated_flags`).
"""

from __future__ import annotations

import argparse
import dataclasses
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

from .options import CommonOptions, Flag, Options

__all__ = [
    "add_connect_arguments",
    "connect_options",
    "deprecated_flags",
    "parse_args",
    "set_option_default",
]


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
