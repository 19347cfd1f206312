"""WebRTC signaling messages in the article's JSON format: parse, validate, build (pure).

Peers exchange these over a WebSocket (the server's ``/webrtc/signal`` relay or
``/webrtc/bot``). The format is the one plain browser ``RTCPeerConnection`` code
sends, so a page and rtnb interoperate:

- ``{"type": "offer"|"answer", "sdp": {"type": "offer"|"answer", "sdp": "v=0..."}}``
  (``sdp`` is what ``pc.localDescription`` serialises to);
- ``{"type": "candidate", "candidate": {"candidate": "candidate:...", "sdpMid": "0",
  "sdpMLineIndex": 0}}`` (``RTCIceCandidate.toJSON()``); a ``null`` candidate, or
  one whose ``candidate`` is ``""``, means end of candidates;
- control messages rtnb's server adds, which plain pages may ignore:
  ``{"type": "hello", "role": "answer"}`` (the bot will answer),
  ``{"type": "room", "room": R, "peers": N}`` (you joined; N others are there),
  ``{"type": "join", "peers": N}`` (someone joined), ``{"type": "bye"}`` (a peer
  left), ``{"type": "error", "error": "..."}``.

An rtnb offer also carries ``"tiebreak"``: an integer used when both peers offer
at once (glare). See :func:`local_offer_wins`.

    >>> sig = parse({"type": "offer", "sdp": {"type": "offer", "sdp": "v=0\\nm=application"}})
    >>> sig.type, sig.tiebreak
    ('offer', None)
    >>> parse({"type": "candidate", "candidate": None}).end_of_candidates
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import jsonfast

__all__ = [
    "MAX_SIGNAL_SIZE",
    "TIEBREAK_MAX",
    "IceCandidate",
    "Signal",
    "bye",
    "candidate",
    "description",
    "dumps",
    "error",
    "local_offer_wins",
    "parse",
]

#: Largest signaling message accepted, in bytes (an SDP is a few KiB).
MAX_SIGNAL_SIZE = 256 * 1024

#: Tie-break values lie in ``[0, TIEBREAK_MAX]`` (fits a JavaScript number exactly).
TIEBREAK_MAX = 2**53 - 1

_DESCRIPTION_TYPES = ("offer", "answer")


@dataclass(frozen=True)
class IceCandidate:
    """One trickled ICE candidate, as ``RTCIceCandidate.toJSON()`` gives it.

    Attributes:
        candidate: the attribute value, ``"candidate:1 1 udp 2122 127.0.0.2 5000 typ host"``.
        sdp_mid: the media section's ``mid`` (``"0"``), or None.
        sdp_mline_index: the media section's index, or None.
        username_fragment: the ICE ufrag, when the sender gave it.
    """

    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None
    username_fragment: str | None = None

    @property
    def sdp_value(self) -> str:
        """The part after ``candidate:``, what an SDP parser takes."""
        return self.candidate.split(":", 1)[1]

    @property
    def host(self) -> str:
        """The candidate's address (an IP or an mDNS ``*.local`` name)."""
        parts = self.sdp_value.split()
        return parts[4] if len(parts) > 4 else ""

    def to_json(self) -> dict[str, Any]:
        """The ``RTCIceCandidateInit`` dictionary a browser passes to ``addIceCandidate``."""
        out: dict[str, Any] = {
            "candidate": self.candidate,
            "sdpMid": self.sdp_mid,
            "sdpMLineIndex": self.sdp_mline_index,
        }
        if self.username_fragment is not None:
            out["usernameFragment"] = self.username_fragment
        return out


@dataclass(frozen=True)
class Signal:
    """One parsed signaling message.

    Attributes:
        type: ``"offer"``, ``"answer"``, ``"candidate"``, ``"bye"``, ``"error"``,
            ``"hello"``, ``"room"``, ``"join"`` or any other string a peer sends.
        sdp: the session description text for offers and answers.
        candidate: the candidate for ``"candidate"`` messages; None means end of
            candidates.
        tiebreak: an rtnb offer's glare tie-break value; None from other peers.
        data: the whole message as parsed.
    """

    type: str
    sdp: str | None = None
    candidate: IceCandidate | None = None
    tiebreak: int | None = None
    data: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def end_of_candidates(self) -> bool:
        """True for a ``"candidate"`` message that ends the candidates."""
        return self.type == "candidate" and self.candidate is None

    @property
    def text(self) -> str:
        """The ``error`` text of an error message (or the message type)."""
        err = self.data.get("error") or self.data.get("message")
        return str(err) if err else self.type


def parse(message: str | bytes | dict[str, Any]) -> Signal:
    """Parse and check one signaling message.

    Accepts JSON text or an already-decoded dict. An offer or answer may also
    carry the SDP text directly (``"sdp": "v=0..."``), as some pages send it.

    Raises:
        ValueError: with one sentence saying what is wrong (not JSON, not an
            object, no ``type``, a malformed description or candidate, too big).
    """
    if isinstance(message, bytes | bytearray):
        if len(message) > MAX_SIGNAL_SIZE:
            raise ValueError(f"signaling message over {MAX_SIGNAL_SIZE} bytes")
        try:
            message = bytes(message).decode()
        except UnicodeDecodeError:
            raise ValueError("signaling messages are UTF-8 JSON text") from None
    if isinstance(message, str):
        if len(message) > MAX_SIGNAL_SIZE:
            raise ValueError(f"signaling message over {MAX_SIGNAL_SIZE} bytes")
        try:
            obj = jsonfast.loads(message)
        except (ValueError, RecursionError):  # RecursionError: stdlib json, nested too deep
            snippet = message[:40] + ("..." if len(message) > 40 else "")
            raise ValueError(f"signaling message is not JSON: {snippet!r}") from None
    else:
        obj = message
    if not isinstance(obj, dict):
        raise ValueError(
            f"a signaling message is a JSON object with a 'type', not {type(obj).__name__}"
        )
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError('a signaling message needs a "type" string (offer, answer, candidate)')
    if kind in _DESCRIPTION_TYPES:
        return Signal(kind, sdp=_sdp_text(kind, obj.get("sdp")), tiebreak=_tiebreak(obj), data=obj)
    if kind == "candidate":
        return Signal(kind, candidate=_candidate(obj.get("candidate", None)), data=obj)
    return Signal(kind, data=obj)


def _sdp_text(kind: str, value: Any) -> str:
    if isinstance(value, dict):
        inner_type = value.get("type")
        if inner_type is not None and inner_type != kind:
            raise ValueError(f"{kind} message carries a description of type {inner_type!r}")
        value = value.get("sdp")
    if not isinstance(value, str):
        raise ValueError(
            f'{kind} message needs "sdp": {{"type": "{kind}", "sdp": "v=0..."}} '
            "(the session description)"
        )
    text = value.lstrip()
    if not text.startswith("v=0"):
        raise ValueError(f"{kind} SDP must start with 'v=0', got {value[:20]!r}")
    if "\nm=" not in text:
        raise ValueError(f"{kind} SDP has no media section (m= line)")
    return value


def _tiebreak(obj: dict[str, Any]) -> int | None:
    value = obj.get("tiebreak")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= TIEBREAK_MAX:
        raise ValueError(f"tiebreak must be an integer in [0, 2**53-1], not {value!r}")
    return value


def _candidate(value: Any) -> IceCandidate | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = {"candidate": value}
    if not isinstance(value, dict):
        raise ValueError(
            'candidate must be {"candidate": "candidate:...", "sdpMid": ..., '
            f'"sdpMLineIndex": ...}} or null, not {type(value).__name__}'
        )
    line = value.get("candidate", "")
    if line is None or line == "":
        return None  # RTCIceCandidateInit with an empty candidate: end of candidates
    if not isinstance(line, str):
        raise ValueError("candidate.candidate must be a string like 'candidate:1 1 udp ...'")
    line = line.strip()
    if line.startswith("a="):
        line = line[2:]
    if not line.startswith("candidate:") or len(line.split()) < 8:
        raise ValueError(
            f"malformed ICE candidate {line[:60]!r}: expected "
            "'candidate:FOUNDATION COMPONENT PROTOCOL PRIORITY ADDRESS PORT typ TYPE'"
        )
    mid = value.get("sdpMid")
    index = value.get("sdpMLineIndex")
    if mid is not None and not isinstance(mid, str):
        raise ValueError(f"candidate.sdpMid must be a string or null, not {mid!r}")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or index < 0):
        raise ValueError(f"candidate.sdpMLineIndex must be an integer >= 0 or null, not {index!r}")
    if mid is None and index is None:
        raise ValueError("a candidate needs sdpMid or sdpMLineIndex")
    ufrag = value.get("usernameFragment")
    return IceCandidate(line, mid, index, ufrag if isinstance(ufrag, str) else None)


def description(kind: str, sdp: str, tiebreak: int | None = None) -> dict[str, Any]:
    """An offer or answer message: ``{"type": kind, "sdp": {"type": kind, "sdp": sdp}}``.

    >>> description("answer", "v=0\\r\\n")["sdp"]["type"]
    'answer'

    Raises:
        ValueError: for a kind other than offer/answer.
    """
    if kind not in _DESCRIPTION_TYPES:
        raise ValueError(f"a description is an offer or an answer, not {kind!r}")
    msg: dict[str, Any] = {"type": kind, "sdp": {"type": kind, "sdp": sdp}}
    if tiebreak is not None:
        msg["tiebreak"] = tiebreak
    return msg


def candidate(value: IceCandidate | None) -> dict[str, Any]:
    """A candidate message; ``None`` gives the end-of-candidates message.

    >>> candidate(None)
    {'type': 'candidate', 'candidate': None}
    """
    return {"type": "candidate", "candidate": None if value is None else value.to_json()}


def error(text: str) -> dict[str, Any]:
    """An error message, ``{"type": "error", "error": text}``."""
    return {"type": "error", "error": text}


def bye() -> dict[str, Any]:
    """The message a relay sends when a peer leaves."""
    return {"type": "bye"}


def dumps(message: dict[str, Any]) -> str:
    """Serialise a message to compact JSON text."""
    return jsonfast.dumps(message)


def local_offer_wins(local_tiebreak: int, local_sdp: str, remote: Signal) -> bool:
    """Resolve glare: both peers sent an offer; True if ours stands.

    The peer whose offer loses discards its own (aiortc has no rollback, so it
    starts a fresh peer connection) and answers the other's. The rule is the
    same on both sides, so exactly one offer survives:

    - an offer without a tie-break (a plain browser page, which never rolls
      back) always wins;
    - otherwise the higher tie-break wins, and on equal tie-breaks the offer
      whose SDP text sorts higher (SDPs differ: each has random ICE credentials).

    >>> remote = Signal("offer", sdp="v=0 b", tiebreak=5)
    >>> local_offer_wins(7, "v=0 a", remote), local_offer_wins(3, "v=0 a", remote)
    (True, False)
    >>> local_offer_wins(TIEBREAK_MAX, "v=0 a", Signal("offer", sdp="v=0 b"))
    False
    """
    if remote.tiebreak is None:
        return False
    return (local_tiebreak, local_sdp) > (remote.tiebreak, remote.sdp or "")
