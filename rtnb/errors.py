"""The errors rtnb raises, all under one root.

::

    RTError                      anything rtnb raises on purpose
    ├── ConnectError             a connection could not be opened (message says why)
    │   └── ConnectTimeout       ... within the time asked for (also a TimeoutError)
    ├── ConnectionClosed         the connection is closed or failed; reopen it with connect()
    ├── ProtocolError            the peer broke the protocol (bad frame, bad SSE, bad SDP)
    ├── RPCError                 a request/response peer answered a call with an error
    │                            (.code, .message, .data: JSON-RPC, Socket.IO, GraphQL)
    ├── MessagesMissed           a recv() cursor fell behind the log's bound
    ├── RecvTimeout              recv() saw no message in time (also a TimeoutError)
    ├── SendNotSupported         the kind cannot send (SSE is server-to-client; also a TypeError)
    ├── ServerError              the in-kernel server could not start or serve
    ├── RecordFormatError        a recording's line is not a message record (also a ValueError;
    │                            defined in rtnb.recordfmt)
    └── EventTooLarge            an SSE event or line went past max_event_size (also a
                                 ValueError; defined in rtnb.sse_format)

Errors from the underlying libraries are chained (``raise ... from exc``) so the
original cause stays visible. In IPython and Jupyter an rtnb error shows as one
line, ``ConnectError: cannot resolve host 'x'`` (IPython honours
``_render_traceback_``); set ``rtnb.errors.SHORT_TRACEBACKS = False`` to see the
full, chained traceback again. Bad arguments raise ``ValueError`` / ``TypeError``.
:func:`describe` turns any exception into the one line rtnb shows for it (in
``stats.last_error``, a magic's answer, the command line's message).

    >>> describe(ConnectError("server refused the WebSocket handshake: HTTP 404"))
    'server refused the WebSocket handshake: HTTP 404'
    >>> describe(ConnectionRefusedError(111, "Connect call failed"))
    'ConnectionRefusedError: [Errno 111] Connect call failed'
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "ConnectError",
    "ConnectTimeout",
    "ConnectionClosed",
    "MessagesMissed",
    "ProtocolError",
    "RPCError",
    "RTError",
    "RecvTimeout",
    "SendNotSupported",
    "ServerError",
    "connect_error",
    "describe",
]


#: Show rtnb's errors as one line in IPython/Jupyter (False: the full traceback).
SHORT_TRACEBACKS = True


class RTError(Exception):
    """Root of every error rtnb raises on purpose.

    Its text is a sentence for the reader, so IPython shows it as one line
    (``Name: text``) instead of a traceback through rtnb's internals.
    """

    @property
    def _render_traceback_(self) -> Callable[[], list[str]]:
        """IPython's hook for custom tracebacks: absent when ``SHORT_TRACEBACKS`` is off."""
        if not SHORT_TRACEBACKS:
            raise AttributeError("_render_traceback_")  # IPython then shows the full traceback
        return self._one_line

    def _one_line(self) -> list[str]:
        """The line IPython shows for this error: its type in red, then its sentence."""
        text = str(self).strip()
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m" + (f": {text}" if text else "")]


class ConnectError(RTError):
    """A connection could not be opened.

    Attributes:
        fatal: True when retrying cannot help (a 404, a 204 from an SSE server,
            a refused subprotocol); reconnect stops for such errors.
        finished: True when the server said the stream is over (an SSE 204
            after events were received): the connection ends ``closed``, not
            ``failed``.
    """

    def __init__(self, message: str, *, fatal: bool = False, finished: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal or finished
        self.finished = finished


class ConnectTimeout(ConnectError, TimeoutError):
    """The connection did not open within the time asked for."""


class ConnectionClosed(RTError):
    """The connection is closed (or failed) and cannot carry messages."""


class ProtocolError(RTError):
    """The peer sent something the protocol does not allow."""


class RPCError(RTError):
    """The peer answered a call with an error (JSON-RPC 2.0 section 5.1 error object).

    Attributes:
        code: the error's code (an int for JSON-RPC; ``None`` when the protocol has none).
        message: the peer's one-line description.
        data: any extra detail the peer sent (``None`` if none).

    Example:
        >>> str(RPCError(-32601, "Method not found", {"method": "sub"}))
        'Method not found (code -32601)'
    """

    def __init__(self, code: int | None, message: str, data: object = None) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data


class MessagesMissed(RTError):
    """A ``recv()`` cursor fell behind the log's bound.

    Attributes:
        missed: how many messages were dropped from the log before they were read.
    """

    def __init__(self, missed: int, bound: int) -> None:
        super().__init__(
            f"recv() fell behind: {missed} message(s) were dropped from the log "
            f"(max_messages={bound}) before they were read; the cursor now points at "
            "the oldest kept message. Read faster or raise max_messages."
        )
        self.missed = missed


class RecvTimeout(RTError, TimeoutError):
    """``recv()`` saw no new message within its timeout."""


class SendNotSupported(RTError, TypeError):
    """The connection's kind cannot send (SSE is one-way, replay is read-only)."""


class ServerError(RTError):
    """The in-kernel server could not start or serve."""


#: Exceptions whose text is a sentence written for the reader (rtnb's own, and the
#: bad-argument errors rtnb raises): :func:`describe` shows that text alone.
_SENTENCES = (RTError, ValueError, TypeError, KeyError)


def describe(exc: BaseException, sentences: tuple[type[BaseException], ...] = ()) -> str:
    """One line that says what went wrong, for a log line, a stats field or a message.

    rtnb's errors and the ``ValueError`` / ``TypeError`` / ``KeyError`` raised for
    bad arguments carry a sentence for the reader: its first line is returned as
    is (a ``KeyError``'s without the quotes ``str()`` adds). Any other exception (a
    library's, the operating system's) is prefixed with its type, since its text
    alone is often cryptic (``[Errno 111] Connect call failed``).

    Args:
        exc: the exception to describe.
        sentences: more exception types whose text is written for the reader
            (the magics' ``UsageError``).

    Returns:
        One line, never empty: the type's name when the exception has no text.
    """
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    lines = text.strip().splitlines()
    name = type(exc).__name__
    if not lines:
        return name
    line = lines[0].strip()
    if isinstance(exc, _SENTENCES + sentences) or line.startswith(name):
        return line
    return f"{name}: {line}"


def connect_error(
    exc: BaseException, open_timeout: float, waiting_for: object = None
) -> ConnectError:
    """``exc``, raised while opening, as the :class:`ConnectError` a connection records.

    A timeout says how long it waited and for what; anything else keeps its one line.

        >>> connect_error(TimeoutError(), 15.0, "the answer").args[0]
        'no answer within open_timeout=15.0 s (was waiting for the answer)'
    """
    if isinstance(exc, ConnectError):
        return exc
    err: ConnectError
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        err = ConnectTimeout(
            f"no answer within open_timeout={open_timeout} s"
            + (f" (was waiting for {waiting_for})" if waiting_for else "")
        )
    else:
        err = ConnectError(describe(exc))
    err.__cause__ = exc
    return err
