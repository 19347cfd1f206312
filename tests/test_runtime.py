"""The background loop: one thread, blocking and async helpers, clean shutdown."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

import pytest

from rtnb import runtime


def test_one_shared_loop_in_a_daemon_thread() -> None:
    rt = runtime.get_runtime()
    assert rt is runtime.get_runtime()
    assert rt.thread.daemon and rt.thread.is_alive()

    async def where() -> str:
        return threading.current_thread().name

    assert runtime.run(where(), timeout=5) == "rtnb-loop"


def test_run_propagates_exceptions_and_times_out() -> None:
    async def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        runtime.run(boom(), timeout=5)

    async def slow() -> None:
        await asyncio.sleep(10)

    with pytest.raises(TimeoutError):
        runtime.run(slow(), timeout=0.05)


def test_run_keeps_a_timeout_error_raised_by_the_coroutine() -> None:
    from rtnb.errors import RecvTimeout

    async def own_timeout() -> None:
        raise RecvTimeout("no message within 1 s")

    with pytest.raises(RecvTimeout, match="no message within 1 s"):
        runtime.run(own_timeout(), timeout=5)
    with pytest.raises(RecvTimeout, match="no message within 1 s"):
        runtime.run(own_timeout())


def test_arun_from_another_event_loop() -> None:
    async def on_rtnb() -> bool:
        return runtime.in_loop_thread()

    async def caller() -> bool:
        return await runtime.arun(on_rtnb())

    assert asyncio.run(caller()) is True


def test_blocking_from_the_loop_thread_is_refused() -> None:
    async def inner() -> None:
        return None

    async def outer() -> str:
        try:
            runtime.run(inner())
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    assert "async twin" in runtime.run(outer(), timeout=5)


def test_interpreter_exit_is_clean_with_open_connections_and_server() -> None:
    code = """
import rtnb
srv = rtnb.serve()
c = rtnb.connect("ws", srv.url_for("/ws/ticker?rate=50"))
c.wait_open(10)
c.recv(timeout=5)
d = rtnb.connect("ws", "ws://127.0.0.1:1/none")
print("ok")
"""
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
    assert "Task was destroyed" not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "was never awaited" not in proc.stderr


def test_bind_context_runs_a_callback_in_the_context_it_was_bound_in() -> None:
    import contextvars

    cell = contextvars.ContextVar("cell", default="none")
    cell.set("registering cell")
    bound = runtime.bind_context(lambda suffix: cell.get() + suffix)
    cell.set("another cell")

    async def on_the_loop() -> str:
        return bound("!")

    assert runtime.run(on_the_loop(), timeout=5) == "registering cell!"
    assert cell.get() == "another cell"


def test_quietly_drops_errors_but_not_cancellation() -> None:
    async def boom() -> None:
        raise OSError("already closed")

    async def main() -> bool:
        await runtime.quietly(boom())
        never = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(runtime.quietly(never))
        await asyncio.sleep(0)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert runtime.run(main(), timeout=5) is True
