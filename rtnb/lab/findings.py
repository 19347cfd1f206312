"""What the lab's probes found, in words: pure functions from what a phase saw to a row's fields.

:mod:`rtnb.lab.run` observes (messages, states, times); these functions say
what the observations mean, so the wording and the arithmetic are tested
without a network.

    >>> binary_finding(intact=1, sample=None, size=285)
    ('intact', '285 B with all 256 byte values arrived as bytes, intact')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Reconnect", "binary_finding", "reconnect_finding"]

#: How each family comes back after a cut, when it restarts from scratch.
_RESTART_HOW = {
    "ws": "backoff, then a new handshake",
    "webrtc": "a new offer/answer, ICE and DTLS",
}


def binary_finding(intact: int, sample: str | bytes | None, size: int) -> tuple[str, str]:
    """``(binary, detail)`` of the binary probe: ``intact``, ``altered`` or ``failed``.

    Args:
        intact: how many binary lab messages arrived byte for byte.
        sample: the first lab message that arrived, None when none did.
        size: the bytes the server sent.

    >>> binary_finding(0, "0000000000 0.000000 \\ufffd", 285)[0]
    'altered'
    """
    if intact:
        return "intact", f"{size} B with all 256 byte values arrived as bytes, intact"
    if sample is None:
        return "failed", "nothing arrived"
    kind = "text" if isinstance(sample, str) else "bytes"
    unit = "characters" if kind == "text" else "bytes"
    return "altered", (
        f"{size} raw bytes sent; arrived as {kind} of {len(sample)} {unit}, not the bytes sent"
    )


@dataclass(frozen=True)
class Reconnect:
    """What a client did after the server cut its connection.

    Attributes:
        text: one line for the report (``"resumed: ..."``, ``"restarted: ..."``
            or ``"did not reopen: ..."``).
        ms: cut to open again, None when it did not reopen.
        resumed: True when the stream went on where it stopped, False when it
            began again, None when it did not reopen.
    """

    text: str
    ms: float | None = None
    resumed: bool | None = None


def reconnect_finding(
    family: str,
    states: Sequence[tuple[float, str]],
    seqs: Sequence[int],
    finished: bool,
    first: int | None = None,
    last_event_id: str | None = None,
) -> Reconnect:
    """Read the cut probe: did the client reopen, and did the stream resume or restart?

    Args:
        family: ``"ws"``, ``"sse"`` or ``"webrtc"``.
        states: ``(time in s, state)`` as the connection reported them.
        seqs: the sequence numbers received, in order.
        finished: the stream's end-of-stream summary arrived.
        first: the summary's first sequence number (where the server went on).
        last_event_id: the summary's ``Last-Event-ID`` (SSE).

    >>> states = [(0.0, "open"), (1.0, "reconnecting"), (1.2, "open")]
    >>> f = reconnect_finding("ws", states, [0, 1, 2, 0, 1, 2, 3], True)
    >>> f.resumed, round(f.ms), f.text.split("; ")[1]
    (False, 200, 'the stream began again at 0, 3 repeated')
    >>> g = reconnect_finding("sse", states, [0, 1, 2, 3], True, 2, "1")
    >>> g.resumed, g.text.split(" and ")[1]
    (True, 'went on at 2 (Last-Event-ID 1), nothing lost or repeated')
    """
    opens = [t for t, s in states if s == "open"]
    cuts = [t for t, s in states if s == "reconnecting"]
    if not finished or len(opens) < 2 or not cuts:
        return Reconnect("did not reopen: states " + " -> ".join(s for _, s in states))
    ms = (opens[1] - cuts[0]) * 1000.0
    after_ms = f"reopened {ms:.0f} ms after the cut"
    restart = next((i for i in range(1, len(seqs)) if seqs[i] != seqs[i - 1] + 1), None)
    if restart is None:
        how = f"Last-Event-ID {last_event_id}" if last_event_id is not None else "the server"
        return Reconnect(
            f"resumed: {after_ms} and went on at {first} ({how}), nothing lost or repeated",
            ms,
            True,
        )
    before, after = seqs[restart - 1], seqs[restart]
    lost = max(0, after - before - 1)
    repeated = max(0, before - after + 1)
    why = _RESTART_HOW.get(family, "a new request")
    return Reconnect(
        f"restarted: {after_ms} ({why}); the stream began again at {after}"
        + (f", {repeated} repeated" if repeated else "")
        + (f", {lost} lost" if lost else ""),
        ms,
        False,
    )
