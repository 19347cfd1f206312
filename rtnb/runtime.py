"""The background loop: one asyncio loop in one daemon thread, shared by everything.

Connections and the in-kernel server live on this loop, not on the kernel's, so
streams keep flowing while a cell blocks and synchronous helpers work in any
cell without patching asyncio.

    >>> from rtnb.runtime import run
    >>> async def answer() -> int:
    ...     return 42
    >>> run(answer(), timeout=5)
    42
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar

__all__ = [
    "Runtime",
    "arun",
    "bind_context",
    "get_runtime",
    "in_loop_thread",
    "quietly",
    "run",
    "shutdown",
]

T = TypeVar("T")
P = ParamSpec("P")
log = logging.getLogger("rtnb")


class Closeable(Protocol):
    """Something the runtime must close at exit (connections, servers)."""

    async def _aclose_at_exit(self) -> None: ...


class Runtime:
    """Owns the background event loop and its daemon thread.

    Use :func:`get_runtime` rather than building one: rtnb shares a single loop.
    """

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._closeables: weakref.WeakSet[Closeable] = weakref.WeakSet()
        self._thread = threading.Thread(target=self._main, name="rtnb-loop", daemon=True)
        self._thread.start()
        self._ready.wait()
        self.closed = False

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The background event loop."""
        return self._loop

    @property
    def thread(self) -> threading.Thread:
        """The daemon thread that runs the loop."""
        return self._thread

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(_log_loop_exception)
        self._loop.call_soon(self._ready.set)
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def register(self, obj: Closeable) -> None:
        """Close ``obj`` (via ``_aclose_at_exit``) when the runtime shuts down."""
        self._closeables.add(obj)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop from any thread; return a concurrent future."""
        if self.closed:
            coro.close()
            raise RuntimeError("the rtnb runtime has shut down")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call_soon(self, fn: Callable[..., object], *args: object) -> None:
        """Call ``fn(*args)`` on the loop thread soon; safe from any thread."""
        if in_loop_thread():
            self._loop.call_soon(fn, *args)
        else:
            self._loop.call_soon_threadsafe(fn, *args)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block until it finishes.

        Raises:
            RuntimeError: when called from the loop thread itself (it would deadlock).
            TimeoutError: when ``timeout`` seconds pass first; the coroutine is cancelled.
        """
        if in_loop_thread():
            coro.close()
            raise RuntimeError(
                "blocking rtnb call made from the rtnb loop thread; use the async twin "
                "(for example arecv instead of recv) inside callbacks"
            )
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            # Since 3.11 this is the builtin TimeoutError, which the coroutine may
            # raise itself (ConnectTimeout, RecvTimeout): pass that one through.
            if fut.done():
                return fut.result()
            fut.cancel()
            raise TimeoutError(f"timed out after {timeout} s") from None

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` running on the background loop from another loop."""
        if in_loop_thread():
            return await coro
        return await asyncio.wrap_future(self.submit(coro))

    def shutdown(self, timeout: float = 5.0) -> None:
        """Close every registered object, cancel leftover tasks and stop the loop."""
        if self.closed:
            return
        try:
            self.run(self._shutdown(), timeout=timeout)
        except Exception as exc:  # the interpreter is exiting: report, don't raise
            log.debug("rtnb runtime shutdown: %r", exc)
        self.closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)

    async def _shutdown(self) -> None:
        closers = [obj._aclose_at_exit() for obj in list(self._closeables)]
        if closers:
            await asyncio.gather(*closers, return_exceptions=True)
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        await self._loop.shutdown_asyncgens()


def _log_loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    log.debug("rtnb loop: %s", context.get("message"), exc_info=exc)


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime() -> Runtime:
    """Return the shared runtime, starting its loop thread on first use."""
    global _runtime
    rt = _runtime
    if rt is not None and not rt.closed:
        return rt
    with _runtime_lock:
        if _runtime is None or _runtime.closed:
            _runtime = Runtime()
        return _runtime


def in_loop_thread() -> bool:
    """True when the caller runs on the rtnb loop thread."""
    rt = _runtime
    return rt is not None and threading.current_thread() is rt.thread


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the background loop and wait for its result (see :meth:`Runtime.run`)."""
    return get_runtime().run(coro, timeout)


async def arun(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the background loop from any other loop (top-level await works)."""
    return await get_runtime().arun(coro)


def bind_context(fn: Callable[P, T]) -> Callable[P, T]:
    """Wrap ``fn`` so that, wherever it is called, it runs in a copy of the caller's context.

    ipykernel keeps the current cell's parent header in context variables; a
    callback run on the loop thread would otherwise see the context of whatever
    started the loop's task (the cell that opened the connection). Binding a
    callback where it is registered attributes what it prints to that cell.
    """
    ctx = contextvars.copy_context()

    def bound(*args: P.args, **kwargs: P.kwargs) -> T:
        return ctx.run(fn, *args, **kwargs)

    return bound


async def quietly(aw: Awaitable[Any]) -> None:
    """Await ``aw`` (a cleanup, say), logging and dropping any error but a cancellation."""
    try:
        await aw
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("rtnb: ignored error while closing: %r", exc)


def shutdown() -> None:
    """Stop the shared runtime: close connections and servers, end the thread."""
    if _runtime is not None:
        _runtime.shutdown()


atexit.register(shutdown)
