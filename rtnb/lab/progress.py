"""The protocol lab's progress in a notebook: one line with a bar, updated in place.

``rtnb.compare()`` in a Jupyter kernel shows it by default (like tqdm's
notebook bar), so the ~15 s a full run takes are never silent::

    ████████░░░░░░░░  5/12  SSE: flat-out stream  (6.1 s)
"""

from __future__ import annotations

import html
import time
from typing import Any

__all__ = ["ProgressLine", "bar_text"]

_FULL, _EMPTY = "█", "░"


def bar_text(done: int, total: int, what: str, elapsed: float, width: int = 16) -> str:
    """The progress line as text.

    >>> bar_text(5, 12, "SSE: flat-out stream", 6.08, width=12)
    '█████░░░░░░░  5/12  SSE: flat-out stream  (6.1 s)'
    """
    filled = round(width * done / total) if total else width
    return f"{_FULL * filled}{_EMPTY * (width - filled)}  {done}/{total}  {what}  ({elapsed:.1f} s)"


class ProgressLine:
    """A display that :meth:`step` updates in place (a progress callback for ``compare``).

    Args:
        total: how many steps the run has.
        title: what is running, shown before the bar.
    """

    def __init__(self, total: int, title: str = "rtnb.compare") -> None:
        from IPython.display import display

        self.total = total
        self.title = title
        self.done = 0
        self._what = "starting"
        self._t0 = time.monotonic()
        self._handle: Any = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def _bundle(self) -> dict[str, str]:
        elapsed = time.monotonic() - self._t0
        text = f"{self.title}: " + bar_text(self.done, self.total, self._what, elapsed)
        shown = f"{self.done}/{self.total} {html.escape(self._what)} ({elapsed:.1f} s)"
        return {
            "text/plain": text,
            "text/html": (
                "<div class='rtnb-progress' style='font-size:12px'>"
                f"{html.escape(self.title)} <progress value='{self.done}' max='{self.total}'"
                f" style='vertical-align:middle;width:14em'></progress> {shown}</div>"
            ),
        }

    def step(self, what: str) -> None:
        """A step begins: count the previous one as done and show ``what``."""
        if self._what != "starting":
            self.done = min(self.total, self.done + 1)
        self._what = what
        self._handle.update(self._bundle(), raw=True)

    __call__ = step

    def finish(self, what: str = "done") -> None:
        """The run ended: a full bar (or where it stopped) and the total time."""
        self.done = self.total if what == "done" else self.done
        self._what = what
        self._handle.update(self._bundle(), raw=True)
