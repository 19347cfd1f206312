"""A WebRTC connection's signaling log: offer, answer, candidates and states, bounded (pure).

The transport notes each signaling message it sends or receives and each
signaling, ICE, DTLS and connection state change; ``c.stats.signaling_log``
shows them as a small table with times relative to the first event, and the
live view (``c.signaling()``) follows the book by its ``version``::

    >>> book = SignalBook(limit=3)
    >>> book.note("out", "offer", "SDP 12 lines, 1 candidate", now=10.0)
    >>> book.note("in", "answer", "SDP 11 lines, 1 candidate", now=10.25)
    >>> print(book.snapshot())
       +0.000 s  out  offer   SDP 12 lines, 1 candidate
       +0.250 s  in   answer  SDP 11 lines, 1 candidate
    >>> book.version, [e.type for e in book.since(1)]
    (2, ['answer'])
"""

from __future__ import annotations

import html
import json
from collections import deque
from typing import Any, NamedTuple

__all__ = ["SignalBook", "SignalEvent", "SignalingLog", "describe", "summarise"]

#: How many events a connection keeps (the oldest go first).
SIGNAL_LOG_LIMIT = 100
#: An event's detail (the whole message) is cut after this many characters.
DETAIL_LIMIT = 16_000


class SignalEvent(NamedTuple):
    """One line of the log.

    Attributes:
        t: wall time (``time.time()`` seconds).
        direction: ``"out"`` (sent), ``"in"`` (received) or ``"state"`` (a change seen here).
        type: the message type (``offer``, ``answer``, ``candidate``, ...) or the
            state's name (``ice``, ``dtls``, ``connection``).
        summary: one short line about it.
        detail: the whole message, readable (an offer's or answer's SDP, a
            candidate's line); empty for a state. See :func:`describe`.
    """

    t: float
    direction: str
    type: str
    summary: str
    detail: str = ""


class SignalingLog(tuple[SignalEvent, ...]):
    """The events, oldest first; prints as a small table (HTML in notebooks)."""

    __slots__ = ()

    def _rows(self) -> list[tuple[str, str, str, str]]:
        t0 = self[0].t if self else 0.0
        return [(f"+{e.t - t0:.3f} s", e.direction, e.type, e.summary) for e in self]

    def __repr__(self) -> str:
        rows = self._rows()
        if not rows:
            return "(no signaling yet)"
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        return "\n".join(
            f"{r[0]:>{widths[0] + 3}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}"
            for r in rows
        )

    __str__ = __repr__

    def _repr_html_(self) -> str:
        colour = {"out": "#0969da", "in": "#8250df", "state": "#57606a"}
        body = "".join(
            f"<tr><td style='text-align:right'>{t}</td>"
            f"<td style='color:{colour.get(d, '#57606a')}'>{html.escape(d)}</td>"
            f"<td style='text-align:left'><b>{html.escape(k)}</b></td>"
            f"<td style='text-align:left;font-family:monospace'>{html.escape(s)}</td></tr>"
            for t, d, k, s in self._rows()
        )
        return (
            "<table class='rtnb-signaling-log' style='font-size:12px'>"
            "<thead><tr><th>time</th><th>dir</th><th style='text-align:left'>type</th>"
            f"<th style='text-align:left'>what</th></tr></thead><tbody>{body}</tbody></table>"
        )


class SignalBook:
    """The live, bounded log a transport writes to (on its loop).

    Read it on the loop that writes it (a live view's flusher does): ``version``
    and ``since(n)`` are then consistent with each other.

    Attributes:
        limit: how many events are kept (the oldest go first).
        version: how many events were ever noted (kept or not).
        started: wall time of the first event ever noted (``None`` before).
    """

    def __init__(self, limit: int = SIGNAL_LOG_LIMIT) -> None:
        self.limit = limit
        self._events: deque[SignalEvent] = deque(maxlen=limit)
        self._states: dict[str, str] = {}
        self.version = 0
        self.started: float | None = None

    def note(self, direction: str, kind: str, summary: str, now: float, detail: str = "") -> None:
        """Add one event at wall time ``now``; ``detail``: the whole message (:func:`describe`)."""
        self._events.append(SignalEvent(now, direction, kind, summary, detail))
        if self.started is None:
            self.started = now
        self.version += 1

    def state(self, name: str, value: str | None, now: float) -> None:
        """Note a state (``ice``, ``dtls``, ...) only when it changed."""
        if value is None or self._states.get(name) == value:
            return
        self._states[name] = value
        self.note("state", name, value, now)

    def snapshot(self) -> SignalingLog:
        """The events so far, oldest first."""
        return SignalingLog(self._events)

    def since(self, n: int) -> SignalingLog:
        """The events noted after the first ``n`` (those still kept), oldest first.

        >>> book = SignalBook(limit=2)
        >>> for i in range(4):
        ...     book.note("in", "candidate", f"c{i}", now=float(i))
        >>> [e.summary for e in book.since(1)], [e.summary for e in book.since(3)]
        (['c2', 'c3'], ['c3'])
        >>> book.since(book.version)
        (no signaling yet)
        """
        events = tuple(self._events)
        new = max(0, self.version - max(0, n))
        return SignalingLog(events[len(events) - min(new, len(events)) :])

    @property
    def states(self) -> dict[str, str]:
        """The latest value of each state noted so far (a copy), e.g. ``{"ice": "completed"}``."""
        return dict(self._states)


def summarise(message: dict[str, Any]) -> tuple[str, str]:
    """A signaling message's type and one short line about it.

    >>> summarise({"type": "candidate", "candidate": {"candidate":
    ...     "candidate:1 1 udp 2130706431 127.0.0.2 50000 typ host", "sdpMid": "0"}})
    ('candidate', 'host udp 127.0.0.2:50000')
    >>> summarise({"type": "candidate", "candidate": None})
    ('candidate', 'end of candidates')
    """
    kind = str(message.get("type", "?"))
    if kind in ("offer", "answer"):
        sdp = message.get("sdp")
        text = sdp.get("sdp", "") if isinstance(sdp, dict) else str(sdp or "")
        return kind, _sdp_summary(text)
    if kind == "candidate":
        cand = message.get("candidate")
        line = cand.get("candidate", "") if isinstance(cand, dict) else ""
        return kind, _candidate_summary(line) if line else "end of candidates"
    rest = {k: v for k, v in message.items() if k != "type"}
    return kind, ", ".join(f"{k}={v}" for k, v in rest.items())[:80]


def describe(message: dict[str, Any], limit: int = DETAIL_LIMIT) -> str:
    """A signaling message whole and readable: its SDP, its candidate, or compact JSON.

    Text over ``limit`` characters is cut, and says how much was left out.

    >>> print(describe({"type": "answer", "sdp": {"type": "answer", "sdp": "v=0\\r\\ns=-\\r\\n"}}))
    v=0
    s=-
    >>> print(describe({"type": "candidate", "candidate": {"candidate":
    ...     "candidate:1 1 udp 2130706431 127.0.0.2 50000 typ host", "sdpMid": "0",
    ...     "sdpMLineIndex": 0}}))
    candidate:1 1 udp 2130706431 127.0.0.2 50000 typ host
    sdpMid: 0
    sdpMLineIndex: 0
    >>> describe({"type": "room", "peers": 2})
    '{"type":"room","peers":2}'
    >>> describe({"type": "error", "text": "x" * 50}, limit=20)
    '{"type":"error","tex… (56 more characters)'
    """
    kind = message.get("type")
    if kind in ("offer", "answer"):
        sdp = message.get("sdp")
        raw = sdp.get("sdp", "") if isinstance(sdp, dict) else sdp
        text = "\n".join(str(raw or "").splitlines())
    elif kind == "candidate":
        cand = message.get("candidate")
        if isinstance(cand, dict) and cand.get("candidate"):
            text = "\n".join(
                [str(cand["candidate"])]
                + [f"{k}: {cand[k]}" for k in ("sdpMid", "sdpMLineIndex") if k in cand]
            )
        else:
            text = "end of candidates"
    else:
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def _sdp_summary(sdp: str) -> str:
    lines = [ln.strip() for ln in sdp.splitlines() if ln.strip()]
    cands = [ln[2:] for ln in lines if ln.startswith("a=candidate:")]  # "a=" off
    setup = next((ln.split(":", 1)[1] for ln in lines if ln.startswith("a=setup:")), "?")
    parts = [f"SDP {len(lines)} lines", f"DTLS role {setup}", f"{len(cands)} candidate(s)"]
    if cands:
        parts.append(_candidate_summary(cands[0]) + (" ..." if len(cands) > 1 else ""))
    return ", ".join(parts)


def _candidate_summary(line: str) -> str:
    """``candidate:F C udp P ADDR PORT typ host ...`` as ``host udp ADDR:PORT``."""
    parts = line.removeprefix("candidate:").split()
    if len(parts) < 8 or parts[6] != "typ":
        return line[:60]
    return f"{parts[7]} {parts[2].lower()} {parts[4]}:{parts[5]}"
