"""What every live view shares: its flusher, its link to the connection, and its display.

A view shows as its widget in a widget front-end and, in the same output, as
plain text plus HTML or PNG for front-ends without widgets (terminal IPython,
nbconvert, a notebook saved without widget state). When the view stops (it is
closed or its connection closes) those outputs are refreshed with its final
state, so the last frame stays in the saved notebook.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..runtime import get_runtime, in_loop_thread
from .flusher import Flusher

if TYPE_CHECKING:
    from ..connection import Connection, State

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


class _Stopper:
    """What a view attaches to its connection: closing the connection stops the view's
    timers, but leaves the widget on the page with its last state."""

    __slots__ = ("view",)

    def __init__(self, view: LiveView) -> None:
        self.view = view

    def close(self) -> None:
        self.view.stop()


class LiveView:
    """Mixin for widgets fed by a connection at a bounded rate (see :class:`Flusher`)."""

    _conn: Connection
    _stopper: _Stopper
    _displays: list[str]
    # Class defaults keep stop()/close() harmless on an instance whose __init__ failed.
    _flusher: Flusher | None = None
    _unsubscribe_state: Callable[[], None] | None = None
    _stopped: bool = True

    def _start_view(
        self,
        conn: Connection,
        rate: float,
        flush: Callable[[], None],
        changed: Callable[[], bool],
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        name = f"{type(self).__name__.lower()}-{conn.name}"
        flusher = Flusher(name, rate, flush, changed, on_error)
        self._conn = conn
        self._displays = []
        self._stopper = _Stopper(self)
        self._flusher = flusher
        if conn.state in ("closed", "failed"):
            return  # nothing will arrive: show what is stored, start no timer
        self._stopped = False
        conn._attach_view(self._stopper)
        self._unsubscribe_state = conn.on_state(self._state_changed)
        flusher.start()
        with _live_lock:
            _live[id(self)] = self
            oldest = [v for v in list(_live.values())[: max(0, len(_live) - MAX_LIVE_VIEWS)]]
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

    def _state_changed(self, conn: Connection, state: State) -> None:
        if state not in ("closed", "failed"):
            return
        if conn._closing and self._flusher is not None:
            # close() is under way and will call stop() (through the _Stopper) in the
            # closing cell's context; this listener may run in the connection task's.
            self._flusher.stop()
            return
        self.stop()

    @property
    def connection(self) -> Connection:
        """The connection this view shows."""
        return self._conn

    @property
    def running(self) -> bool:
        """True while the view is updating."""
        return not self._stopped

    def stop(self) -> None:
        """Stop updating (the widget keeps its last state); idempotent, any thread."""
        if self._stopped:
            return
        self._stopped = True
        with _live_lock:
            _live.pop(id(self), None)
        if self._flusher is not None:
            self._flusher.stop()
        unsub, self._unsubscribe_state = self._unsubscribe_state, None
        if unsub is not None:
            with contextlib.suppress(ValueError):
                unsub()
        self._conn._detach_view(self._stopper)
        # The last flush and the display refresh run on the loop (which owns the view's
        # state) and before stop() returns, in the caller's context: the refreshed
        # outputs are attributed to the cell that closed the view or its connection.
        if in_loop_thread():
            self._finish()
            return

        async def finish() -> None:
            self._finish()

        try:
            get_runtime().run(finish(), timeout=10)
        except Exception as exc:
            log.debug("rtnb view: final update skipped: %r", exc)

    def _finish(self) -> None:
        try:
            self._final_update()
        except Exception as exc:
            log.warning("rtnb view: final update failed: %s", exc)
        self._refresh_displays()

    def _final_update(self) -> None:
        """Called once when the view stops: show the last state (override)."""

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
        if not self._displays:
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
