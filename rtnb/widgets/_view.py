"""What every live view shares: reading at a bounded rate, the live-view cap, errors, display.

A view is a :class:`~rtnb.reader.Reader` (cursor, flusher, stop on the
connection's final state, final update) plus a widget. It writes only its
``_render(batch)`` step and its ``_fallback`` outputs.

A view shows as its widget in a widget front-end and, in the same output, as
plain text plus HTML or PNG for front-ends without widgets (terminal IPython,
nbconvert, a notebook saved without widget state). When the view stops (it is
closed or its connection closes) those outputs are refreshed with its final
state, so the last frame stays in the saved notebook.
"""

from __future__ import annotations

import logging
import sys
import threading
import uuid
from typing import Any

from ..reader import Reader
from ..runtime import in_loop_thread
from ..source import Source

log = logging.getLogger("rtnb")

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


#: Live views per kernel at most: with a table at 10 and a canvas plot at 20 updates/s,
#: this keeps all views together well under Jupyter's 1,000 iopub messages/s.
MAX_LIVE_VIEWS = 16
_live: dict[int, LiveView] = {}
_live_lock = threading.Lock()


def in_kernel() -> bool:
    """True in a Jupyter kernel; False in a terminal IPython or plain Python."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def live_views() -> list[LiveView]:
    """The views that are updating now, oldest first."""
    with _live_lock:
        return list(_live.values())


class LiveView(Reader):
    """Mixin for widgets fed by a connection at a bounded rate (see :class:`~rtnb.reader.Reader`).

    A view shows an ``error`` trait, if it has one, when an update fails.
    """

    _displays: list[str]

    def _start_view(self, rate: float) -> None:
        """Start updating ``rate`` times per second at most (after ``_open`` and the widget)."""
        self._displays = []
        self._start(rate, self._show_error)
        if self._stopped:
            return
        with _live_lock:
            _live[id(self)] = self
            oldest = list(_live.values())[: max(0, len(_live) - MAX_LIVE_VIEWS)]
        for view in oldest:
            text = (
                f"rtnb: more than {MAX_LIVE_VIEWS} live views in this kernel; {view!r} stops "
                "updating (close views you no longer need: view.close())"
            )
            if in_loop_thread():
                log.warning("%s", text)
            else:  # the cell making the new view: the rtnb logger alone would stay silent
                print(text, file=sys.stderr)
            view.stop()

    @property
    def connection(self) -> Source:
        """The connection this view shows."""
        return self._source

    def stop(self) -> None:
        """Stop updating (the widget keeps its last state); idempotent, any thread."""
        self._stop()

    def close(self) -> None:
        """Stop updating and remove the widget."""
        self.stop()
        # The widget class after this mixin (anywidget, ipywidgets) removes the widget.
        close_widget = getattr(super(), "close", None)
        if close_widget is not None:
            close_widget()

    def _stopping(self) -> None:
        with _live_lock:
            _live.pop(id(self), None)

    def _finished(self) -> None:
        self._refresh_displays()

    def _show_error(self, exc: BaseException) -> None:
        text = f"update failed: {type(exc).__name__}: {exc}"[:300]
        if getattr(self, "error", text) != text:  # only views with an ``error`` trait
            setattr(self, "error", text)  # noqa: B010

    # --- display ----------------------------------------------------------------------

    def _fallback(self) -> dict[str, Any]:
        """Mimetypes for front-ends without widgets: at least ``text/plain`` (override)."""
        return {"text/plain": repr(self)}

    def _bundle(self, with_widget: bool = True) -> dict[str, Any]:
        data = self._fallback()
        if with_widget:
            model_id = getattr(self, "model_id", None)
            if model_id is not None:
                data[WIDGET_MIME] = {"version_major": 2, "version_minor": 1, "model_id": model_id}
        return data

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return self._bundle()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display_id = uuid.uuid4().hex
        display(self._bundle(), raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
        if not in_kernel():
            return  # a terminal prints an update as one more output: nothing to refresh
        self._displays.append(display_id)
        del self._displays[:-8]

    def _refresh_displays(self) -> None:
        if not getattr(self, "_displays", None):
            return
        try:
            from IPython.display import update_display

            bundle = self._bundle(with_widget=getattr(self, "comm", None) is not None)
        except Exception as exc:
            log.debug("rtnb: no final display update: %r", exc)
            return
        for display_id in self._displays:
            try:
                update_display(bundle, raw=True, display_id=display_id)  # type: ignore[no-untyped-call]
            except Exception as exc:
                log.debug("rtnb: final display update failed: %r", exc)
