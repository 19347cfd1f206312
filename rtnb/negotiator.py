"""Who offers and who answers on a WebRTC signaling channel (pure: events in, actions out).

A sans-I/O state machine: the WebRTC transport tells a :class:`Negotiator`
what happened (signaling is up, a message arrived, a timer fired, an offer or
answer was made, the channel opened) and performs the actions it returns
(arm a timer, make an offer, answer one, send a message, fail). It holds the
role rules and the glare rule and never touches a socket, a clock or aiortc.

How ``role="auto"`` picks a side (the rule is documented in the README):

- an offer that arrives is answered;
- the bot says ``{"type": "hello", "role": "answer"}``: offer at once;
- the relay says ``{"type": "room", "peers": N}``: with N >= 1 the newcomer offers
  at once, alone it waits; ``{"type": "join"}`` (someone came) starts a short
  wait (``auto_wait``) for their offer, then offers;
- from any other signaling server: offer after ``auto_wait``.

When both sides offer at once (glare) :func:`rtnb.signaling.local_offer_wins`
decides; the loser drops its peer connection (aiortc has no rollback) and
answers. A plain page's offer (no tie-break) always wins.

    >>> n = Negotiator("auto", auto_wait=0.5)
    >>> n.start()
    [ArmTimer(delay=0.5)]
    >>> n.received(Signal("hello", data={"type": "hello", "role": "answer"}))
    [CancelTimer(), StartOffer()]
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import signaling
from .signaling import IceCandidate, Signal

__all__ = [
    "ANSWER_ONLY",
    "NO_CANDIDATES",
    "AcceptAnswer",
    "Action",
    "AddCandidate",
    "AnswerOffer",
    "ArmTimer",
    "CancelTimer",
    "DropPeer",
    "End",
    "Fail",
    "MakeOffer",
    "Negotiator",
    "Note",
    "Phase",
    "Role",
    "Send",
    "StartOffer",
    "has_candidates",
]

Role = Literal["auto", "offer", "answer"]

Phase = Literal["idle", "offering", "connecting", "open", "done"]
"""``idle``: no peer connection; ``offering``: ours is offered, no answer yet;
``connecting``: both descriptions are set, ICE and DTLS run; ``open``: the data
channel is open; ``done``: negotiation failed or the peer left (nothing more)."""

NO_CANDIDATES = (
    "no local ICE candidates: aiortc found no usable network address (it never uses "
    "127.0.0.1); connect this machine to a network, or on a loopback-only system add "
    "one with 'ip addr add 127.0.0.2/8 dev lo'"
)
ANSWER_ONLY = (
    "this peer only answers and so does rtnb with role='answer'; use role='auto' or 'offer'"
)


def has_candidates(sdp: str) -> bool:
    """True when a description carries at least one ICE candidate (aiortc puts all in it)."""
    return "a=candidate:" in sdp


# --- actions: what the transport does for the negotiator ---------------------------------


@dataclass(frozen=True)
class ArmTimer:
    """(Re)arm the auto-role timer; when it fires, call :meth:`Negotiator.timer_fired`."""

    delay: float


@dataclass(frozen=True)
class CancelTimer:
    """Disarm the auto-role timer."""


@dataclass(frozen=True)
class StartOffer:
    """Start an offer in the background: it waits its turn at the signaling, then
    calls :meth:`Negotiator.offer_turn` (which may find an offer no longer wanted)."""


@dataclass(frozen=True)
class MakeOffer:
    """Make a peer connection with the data channel, create and apply its offer, then
    report :meth:`Negotiator.offer_made` or :meth:`Negotiator.offer_failed`."""

    tiebreak: int


@dataclass(frozen=True)
class AnswerOffer:
    """Make a peer connection, apply the remote offer and answer it, then report
    :meth:`Negotiator.answer_made` or :meth:`Negotiator.answer_failed`."""

    sdp: str


@dataclass(frozen=True)
class AcceptAnswer:
    """Apply the remote answer to our offer, then report
    :meth:`Negotiator.answer_accepted` or :meth:`Negotiator.answer_refused`."""

    sdp: str


@dataclass(frozen=True)
class AddCandidate:
    """Give the peer connection a trickled candidate (None: end of candidates)."""

    candidate: IceCandidate | None


@dataclass(frozen=True)
class DropPeer:
    """Close the current peer connection and forget its channel and candidates."""


@dataclass(frozen=True)
class Send:
    """Send this signaling message."""

    message: dict[str, Any]


@dataclass(frozen=True)
class Fail:
    """The connection cannot open: ``refused`` means the peer's description was
    unusable (a protocol error), ``fatal`` that trying again cannot help."""

    text: str
    fatal: bool = False
    refused: bool = False


@dataclass(frozen=True)
class End:
    """The open connection is over (the peer left)."""

    reason: str


@dataclass(frozen=True)
class Note:
    """Nothing to do; why, for a debug log."""

    text: str


Action = (
    ArmTimer
    | CancelTimer
    | StartOffer
    | MakeOffer
    | AnswerOffer
    | AcceptAnswer
    | AddCandidate
    | DropPeer
    | Send
    | Fail
    | End
    | Note
)


class Negotiator:
    """The offer/answer decisions of one signaling session.

    Args:
        role: ``"auto"``, ``"offer"`` or ``"answer"``.
        auto_wait: seconds ``"auto"`` waits for an offer before it offers.
        rng: draws an auto offer's glare tie-break (an explicit offerer always
            uses the largest, so it keeps its offer).

    Attributes:
        phase: where the negotiation is (see :data:`Phase`).
        role_used: ``"offer"`` or ``"answer"`` once rtnb took a side.
        waiting_for: what the connection waits for, for error messages.
        timer_armed: the auto-role timer is running.
    """

    def __init__(self, role: Role, auto_wait: float, rng: random.Random | None = None) -> None:
        self.role: Role = role
        self.auto_wait = auto_wait
        self.rng = rng or random.Random()
        self.phase: Phase = "idle"
        self.role_used: str | None = None
        self.waiting_for: str | None = "the signaling server"
        self.timer_armed = False
        self.tiebreak = 0
        self.local_sdp = ""

    # --- events from the transport -------------------------------------------------------

    def start(self) -> list[Action]:
        """The signaling WebSocket is open."""
        self.waiting_for = "an offer" if self.role == "answer" else "a peer to offer or answer"
        if self.role == "offer":
            return [StartOffer()]
        if self.role == "auto":
            return self._arm()
        return []

    def timer_fired(self) -> list[Action]:
        """The auto-role timer ran out: offer (unless a peer connection came meanwhile)."""
        if not self.timer_armed:
            return [Note("no timer was armed")]
        self.timer_armed = False  # only ever armed while idle: any way out disarms it
        return [StartOffer()]

    def offer_turn(self) -> list[Action]:
        """A started offer has its turn: make it, unless a peer connection came first."""
        if self.role == "answer":
            return [Note("an answering peer never offers")]
        if self.phase != "idle":
            return [Note(f"no offer: already {self.phase}")]
        self.phase = "offering"
        self.local_sdp = ""
        self.tiebreak = (
            signaling.TIEBREAK_MAX
            if self.role == "offer"
            else self.rng.randint(0, signaling.TIEBREAK_MAX - 1)
        )
        return [*self._disarm(), MakeOffer(self.tiebreak)]

    def offer_made(self, sdp: str) -> list[Action]:
        """Our offer is applied locally (``sdp`` holds its candidates): send it."""
        if not has_candidates(sdp):
            return self._fail(Fail(NO_CANDIDATES, fatal=True))
        self.local_sdp = sdp
        self.role_used = "offer"
        self.waiting_for = "an answer to rtnb's offer"
        return [Send(signaling.description("offer", sdp, self.tiebreak))]

    def offer_failed(self, why: str) -> list[Action]:
        """Creating our offer failed (e.g. no network interface to gather on)."""
        return self._fail(Fail(f"could not create an offer: {why}"))

    def answer_made(self, sdp: str) -> list[Action]:
        """Our answer to the peer's offer is applied locally: send it."""
        if not has_candidates(sdp):
            return [
                Send(signaling.error("the answering peer has no ICE candidates")),
                *self._fail(Fail(NO_CANDIDATES, fatal=True)),
            ]
        self.waiting_for = "ICE and DTLS to connect"
        return [Send(signaling.description("answer", sdp))]

    def answer_failed(self, why: str) -> list[Action]:
        """The peer's offer could not be applied or answered."""
        text = f"the peer's offer was refused: {why}"
        return [Send(signaling.error(text)), *self._fail(Fail(text, refused=True))]

    def answer_accepted(self) -> list[Action]:
        """The peer's answer to our offer is applied."""
        self.waiting_for = "ICE and DTLS to connect"
        return []

    def answer_refused(self, why: str) -> list[Action]:
        """The peer's answer could not be applied."""
        text = f"the peer's answer was refused: {why}"
        return [Send(signaling.error(text)), *self._fail(Fail(text, refused=True))]

    def channel_opened(self) -> list[Action]:
        """The data channel is open: negotiation is over."""
        if self.phase == "done":
            return []
        self.phase = "open"
        self.waiting_for = None
        return self._disarm()

    def received(self, sig: Signal) -> list[Action]:
        """A signaling message from the server or the peer."""
        if self.phase == "done":
            return [Note(f"{sig.type} after the negotiation ended")]
        handlers: dict[str, Callable[[Signal], list[Action]]] = {
            "offer": self._on_offer,
            "answer": self._on_answer,
            "candidate": self._on_candidate,
            "hello": self._on_hello,
            "room": self._on_room,
            "join": self._on_join,
            "bye": self._on_bye,
            "error": self._on_error,
        }
        handler = handlers.get(sig.type)
        if handler is None:
            return [Note(f"ignored signaling message of type {sig.type!r}")]
        return handler(sig)

    # --- signaling messages --------------------------------------------------------------

    def _on_offer(self, sig: Signal) -> list[Action]:
        assert sig.sdp is not None
        actions: list[Action] = []
        if self.phase == "offering":
            if signaling.local_offer_wins(self.tiebreak, self.local_sdp, sig):
                return [Note("glare, our offer stands")]
            actions += [Note("glare, answering the peer's offer"), DropPeer()]
        elif self.phase == "open":
            return [Send(signaling.error("renegotiation is not supported; close and reconnect"))]
        elif self.phase == "connecting":
            actions.append(DropPeer())
        actions += self._disarm()
        self.phase = "connecting"
        self.role_used = "answer"
        actions.append(AnswerOffer(sig.sdp))
        return actions

    def _on_answer(self, sig: Signal) -> list[Action]:
        assert sig.sdp is not None
        if self.phase != "offering":
            return [Note("ignored an answer to no pending offer")]
        self.phase = "connecting"
        return [AcceptAnswer(sig.sdp)]

    def _on_candidate(self, sig: Signal) -> list[Action]:
        if self.phase == "idle":
            return [Note("candidate for an offer we did not take")]
        return [AddCandidate(sig.candidate)]

    def _on_hello(self, sig: Signal) -> list[Action]:
        if sig.data.get("role") == "answer" and self.role == "answer":
            return self._fail(Fail(ANSWER_ONLY, fatal=True))
        if self.role == "auto" and self.phase == "idle":
            return [*self._disarm(), StartOffer()]
        return []

    def _on_room(self, sig: Signal) -> list[Action]:
        if self.role != "auto" or self.phase != "idle":
            return []
        peers = sig.data.get("peers")
        if isinstance(peers, int) and peers >= 1:
            return [*self._disarm(), StartOffer()]
        self.waiting_for = "another peer to join the room"
        return self._disarm()

    def _on_join(self, sig: Signal) -> list[Action]:
        if self.role == "auto" and self.phase == "idle":
            return self._arm()
        return []

    def _on_bye(self, sig: Signal) -> list[Action]:
        if self.phase == "open":
            self.phase = "done"
            return [End("the peer left (bye)")]
        # The peer went away mid-negotiation: start over and wait for the next one.
        actions: list[Action] = [] if self.phase == "idle" else [DropPeer()]
        self.phase = "idle"
        if self.role == "offer":
            actions.append(StartOffer())
        else:
            self.waiting_for = "another peer"
        return actions

    def _on_error(self, sig: Signal) -> list[Action]:
        if self.phase == "open":
            return [Note(f"signaling error after open: {sig.text}")]
        return self._fail(Fail(f"signaling error: {sig.text}"))

    # --- helpers -------------------------------------------------------------------------

    def _arm(self) -> list[Action]:
        self.timer_armed = True
        self.waiting_for = f"an offer ({self.auto_wait} s, then rtnb offers)"
        return [ArmTimer(self.auto_wait)]

    def _disarm(self) -> list[Action]:
        if not self.timer_armed:
            return []
        self.timer_armed = False
        return [CancelTimer()]

    def _fail(self, fail: Fail) -> list[Action]:
        self.phase = "done"
        return [*self._disarm(), fail]
