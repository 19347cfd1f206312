"""Help text for people: the magics' docstrings as ``%rt_connect?`` shows them.

IPython's ``magic_arguments`` writes a magic's usage as a reST literal block
(``::`` then an indented usage), which ``%magic?`` prints verbatim: the help
then opens with a stray ``::``. :func:`magic_doc` turns that into a plain
``Usage:`` paragraph.

>>> print(magic_doc("::\\n\\n  %rt_x [--a A]\\n      url\\n\\nDo x."))
Usage: %rt_x [--a A]
           url
<BLANKLINE>
Do x.
"""

from __future__ import annotations

__all__ = ["magic_doc"]

_BLOCK = "::\n\n  "


def magic_doc(doc: str | None) -> str | None:
    """``doc`` with a leading ``::`` usage block as a ``Usage:`` paragraph (else unchanged)."""
    if not doc or not doc.startswith(_BLOCK):
        return doc
    usage, sep, rest = doc[len(_BLOCK) :].partition("\n\n")
    lines = usage.split("\n")
    pad = " " * (len("Usage: ") - 2)
    lines = [lines[0]] + [pad + line for line in lines[1:]]
    return "Usage: " + "\n".join(lines) + sep + rest
