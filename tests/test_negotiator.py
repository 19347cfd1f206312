"""The offer/answer negotiator (pure): every event in every phase, for every role."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb import signaling
from rtnb.negotiator import (
    ANSWER_ONLY,
    NO_CANDIDATES,
    AcceptAnswer,
    Action,
    AddCandidate,
    AnswerOffer,
    ArmTimer,
    CancelTimer,
    DropPeer,
    End,
    Fail,
    MakeOffer,
    Negotiator,
    Note,
    Role,
    Send,
    StartOffer,
    has_candidates,
)
from rtnb.signaling import IceCandidate, Signal

BARE_SDP = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
SDP = BARE_SDP + "a=candidate:1 1 udp 1 127.0.0.2 5000 typ host\r\n"
CAND = IceCandidate("candidate:1 1 udp 2122 127.0.0.2 5000 typ host", "0", 0)
ROLES: tuple[Role, ...] = ("auto", "offer", "answer")


def sig(kind: str, **data: Any) -> Signal:
    return signaling.parse({"type": kind, **data})


def offer(tiebreak: int | None = None, sdp: str = SDP) -> Signal:
    return signaling.parse(signaling.description("offer", sdp, tiebreak))


def answer(sdp: str = SDP) -> Signal:
    return signaling.parse(signaling.description("answer", sdp))


def kinds(actions: list[Action]) -> list[type]:
    return [type(a) for a in actions if not isinstance(a, Note)]


def offering(role: Role = "auto", seed: int = 1) -> Negotiator:
    """A negotiator whose offer is out, waiting for the answer."""
    n = Negotiator(role, 0.5, random.Random(seed))
    n.start()
    n.offer_turn()
    n.offer_made(SDP)
    assert n.phase == "offering"
    return n


def answering(role: Role = "auto") -> Negotiator:
    n = Negotiator(role, 0.5)
    n.start()
    n.received(offer())
    n.answer_made(SDP)
    assert n.phase == "connecting"
    return n


def opened(role: Role = "auto") -> Negotiator:
    n = answering(role)
    n.channel_opened()
    assert n.phase == "open"
    return n


# --- starting ------------------------------------------------------------------------------


def test_start_by_role() -> None:
    auto, off, ans = (Negotiator(r, 0.25) for r in ROLES)
    assert auto.start() == [ArmTimer(0.25)] and auto.timer_armed
    assert auto.waiting_for == "an offer (0.25 s, then rtnb offers)"
    assert off.start() == [StartOffer()] and off.waiting_for == "a peer to offer or answer"
    assert ans.start() == [] and ans.waiting_for == "an offer"
    assert Negotiator("auto", 0).waiting_for == "the signaling server"


def test_timer_starts_an_offer_that_is_made_on_its_turn() -> None:
    n = Negotiator("auto", 0.5, random.Random(3))
    n.start()
    assert n.timer_fired() == [StartOffer()] and not n.timer_armed
    [make] = n.offer_turn()
    assert isinstance(make, MakeOffer) and 0 <= make.tiebreak < signaling.TIEBREAK_MAX
    assert n.phase == "offering"
    [send] = n.offer_made(SDP)
    assert send == Send(signaling.description("offer", SDP, make.tiebreak))
    assert n.role_used == "offer" and n.waiting_for == "an answer to rtnb's offer"


def test_an_explicit_offerer_always_uses_the_top_tiebreak() -> None:
    n = Negotiator("offer", 0.5)
    n.start()
    assert n.offer_turn() == [MakeOffer(signaling.TIEBREAK_MAX)]


def test_an_answerer_never_offers() -> None:
    n = Negotiator("answer", 0.5)
    n.start()
    assert kinds(n.offer_turn()) == [] and n.phase == "idle"


@pytest.mark.parametrize("phase", ["offering", "connecting", "open"])
def test_an_offer_turn_after_a_peer_connection_came_does_nothing(phase: str) -> None:
    n = {"offering": offering, "connecting": answering, "open": opened}[phase]()
    assert kinds(n.offer_turn()) == [] and n.phase == phase


def test_an_offer_without_candidates_fails_for_good() -> None:
    n = Negotiator("offer", 0)
    n.offer_turn()
    assert n.offer_made(BARE_SDP) == [Fail(NO_CANDIDATES, fatal=True)]
    assert n.phase == "done"
    assert kinds(n.received(offer())) == []  # nothing happens after the end


def test_an_offer_that_cannot_be_made_fails() -> None:
    n = Negotiator("auto", 0.5)
    n.start()
    assert kinds(n.offer_turn()) == [CancelTimer, MakeOffer]  # a join's timer, say
    assert n.offer_failed("OSError: no interface") == [
        Fail("could not create an offer: OSError: no interface"),
    ]


# --- the auto role's cues --------------------------------------------------------------


def test_hello_from_an_answerer() -> None:
    hello = sig("hello", role="answer")
    for role, expected in (
        ("auto", [CancelTimer(), StartOffer()]),
        ("offer", []),
        ("answer", [Fail(ANSWER_ONLY, fatal=True)]),
    ):
        n = Negotiator(role, 0.5)
        n.start()
        assert n.received(hello) == expected, role
    plain = Negotiator("answer", 0.5)
    assert plain.received(sig("hello")) == []  # a hello that does not say it only answers


def test_room_with_someone_there_offers_alone_waits() -> None:
    n = Negotiator("auto", 0.5)
    n.start()
    assert n.received(sig("room", room="r", peers=1)) == [CancelTimer(), StartOffer()]
    alone = Negotiator("auto", 0.5)
    alone.start()
    assert alone.received(sig("room", room="r", peers=0)) == [CancelTimer()]
    assert alone.waiting_for == "another peer to join the room" and not alone.timer_armed
    assert alone.received(sig("join", peers=1)) == [ArmTimer(0.5)]
    assert alone.timer_fired() == [StartOffer()]


@pytest.mark.parametrize("role", ["offer", "answer"])
def test_explicit_roles_ignore_room_join_and_hello_cues(role: Role) -> None:
    n = Negotiator(role, 0.5)
    n.start()
    for cue in (sig("room", peers=1), sig("room", peers=0), sig("join", peers=1)):
        assert n.received(cue) == []


@pytest.mark.parametrize("make", [offering, answering, opened])
def test_cues_after_a_peer_connection_exists_are_ignored(make: Any) -> None:
    n = make()
    for cue in (sig("hello", role="answer"), sig("room", peers=1), sig("join", peers=1)):
        assert kinds(n.received(cue)) == []


# --- offers and answers ----------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_an_offer_while_idle_is_answered(role: Role) -> None:
    n = Negotiator(role, 0.5)
    n.start()
    expected: list[Action] = [CancelTimer()] if role == "auto" else []
    assert n.received(offer(7)) == [*expected, AnswerOffer(SDP)]
    assert n.phase == "connecting" and n.role_used == "answer"
    assert n.answer_made(SDP) == [Send(signaling.description("answer", SDP))]
    assert n.waiting_for == "ICE and DTLS to connect"


def test_a_second_offer_before_open_replaces_the_first() -> None:
    n = answering()
    assert kinds(n.received(offer())) == [DropPeer, AnswerOffer]


def test_an_offer_after_open_is_refused_as_renegotiation() -> None:
    n = opened()
    [send] = n.received(offer())
    assert isinstance(send, Send) and "renegotiation" in send.message["error"]
    assert n.phase == "open"


def test_answers_that_fail_are_sent_back_and_fail_the_connection() -> None:
    n = Negotiator("answer", 0.5)
    n.received(offer())
    text = "the peer's offer was refused: ValueError: bad"
    assert n.answer_failed("ValueError: bad") == [
        Send(signaling.error(text)),
        Fail(text, refused=True),
    ]
    bare = Negotiator("answer", 0.5)
    bare.received(offer())
    assert bare.answer_made(BARE_SDP) == [
        Send(signaling.error("the answering peer has no ICE candidates")),
        Fail(NO_CANDIDATES, fatal=True),
    ]


def test_an_answer_to_our_offer_is_accepted_any_other_is_ignored() -> None:
    n = offering()
    assert n.received(answer()) == [AcceptAnswer(SDP)] and n.phase == "connecting"
    assert n.answer_accepted() == [] and n.waiting_for == "ICE and DTLS to connect"
    assert kinds(n.received(answer())) == []  # a second answer
    idle = Negotiator("auto", 0.5)
    assert kinds(idle.received(answer())) == [] and idle.phase == "idle"
    refused = offering()
    refused.received(answer())
    text = "the peer's answer was refused: ValueError: x"
    assert refused.answer_refused("ValueError: x") == [
        Send(signaling.error(text)),
        Fail(text, refused=True),
    ]


def test_candidates_go_to_a_peer_connection_and_are_dropped_without_one() -> None:
    for make in (offering, answering, opened):
        n = make()
        assert n.received(sig("candidate", candidate=CAND.to_json())) == [AddCandidate(CAND)]
        assert n.received(sig("candidate", candidate=None)) == [AddCandidate(None)]
    idle = Negotiator("auto", 0.5)
    assert kinds(idle.received(sig("candidate", candidate=CAND.to_json()))) == []


# --- glare -----------------------------------------------------------------------------


def test_glare_the_higher_tiebreak_keeps_its_offer() -> None:
    n = offering("offer")  # the top tie-break
    assert kinds(n.received(offer(5))) == [] and n.phase == "offering"
    low = offering("auto")
    assert kinds(low.received(offer(signaling.TIEBREAK_MAX))) == [DropPeer, AnswerOffer]
    assert low.role_used == "answer"


def test_glare_with_a_plain_page_offer_always_answers() -> None:
    n = offering("offer")
    assert kinds(n.received(offer(None))) == [DropPeer, AnswerOffer]


@given(st.integers(0, 2**20), st.integers(0, 2**20))
def test_glare_leaves_exactly_one_offer_standing(seed_a: int, seed_b: int) -> None:
    # Two auto peers that offered at once each get the other's offer: exactly one
    # answers (equal tie-breaks are settled by the SDP text, which differs).
    a = Negotiator("auto", 0.5, random.Random(seed_a))
    b = Negotiator("auto", 0.5, random.Random(seed_b))
    for n, sdp in ((a, SDP + "a=ice-ufrag:a\r\n"), (b, SDP + "a=ice-ufrag:b\r\n")):
        n.offer_turn()
        n.offer_made(sdp)
    offer_a = offer(a.tiebreak, a.local_sdp)
    offer_b = offer(b.tiebreak, b.local_sdp)
    answers = [AnswerOffer in kinds(a.received(offer_b)), AnswerOffer in kinds(b.received(offer_a))]
    assert sorted(answers) == [False, True]


# --- leaving and errors ----------------------------------------------------------------


def test_bye_ends_an_open_connection() -> None:
    n = opened()
    assert n.received(sig("bye")) == [End("the peer left (bye)")] and n.phase == "done"


@pytest.mark.parametrize("role", ROLES)
def test_bye_mid_negotiation_starts_over(role: Role) -> None:
    for make in (offering, answering) if role != "answer" else (answering,):
        n = make(role)
        expected = [DropPeer, StartOffer] if role == "offer" else [DropPeer]
        assert kinds(n.received(sig("bye"))) == expected
        assert n.phase == "idle"
        if role != "offer":
            assert n.waiting_for == "another peer"
    idle = Negotiator(role, 0.5)
    assert kinds(idle.received(sig("bye"))) == ([StartOffer] if role == "offer" else [])


def test_a_signaling_error_fails_an_opening_connection_only() -> None:
    n = Negotiator("auto", 0.5)
    n.start()
    assert n.received(sig("error", error="room 'r' is full")) == [
        CancelTimer(),
        Fail("signaling error: room 'r' is full"),
    ]
    assert kinds(opened().received(sig("error", error="late"))) == []


def test_unknown_messages_are_noted_not_acted_on() -> None:
    n = Negotiator("auto", 0.5)
    n.start()
    assert kinds(n.received(sig("weather", sunny=True))) == []
    assert n.timer_armed and n.phase == "idle"


def test_channel_open_stops_the_timer_and_the_waiting() -> None:
    n = Negotiator("auto", 0.5)
    n.start()
    n.received(sig("join", peers=1))
    n.received(offer())
    n.answer_made(SDP)
    assert n.channel_opened() == [] and n.waiting_for is None  # the offer disarmed it
    done = Negotiator("offer", 0.5)
    done.offer_turn()
    done.offer_made(BARE_SDP)
    assert done.channel_opened() == [] and done.phase == "done"


# --- exhaustive: any sequence keeps the invariants ---------------------------------------

#: Everything that may happen after start(), which the transport calls once, first.
EVENTS: list[tuple[str, Any]] = [
    ("timer", None),
    ("turn", None),
    ("offer_made", SDP),
    ("offer_made", BARE_SDP),
    ("offer_failed", "E"),
    ("answer_made", SDP),
    ("answer_failed", "E"),
    ("answer_accepted", None),
    ("answer_refused", "E"),
    ("opened", None),
    ("msg", offer(3)),
    ("msg", offer(None)),
    ("msg", answer()),
    ("msg", sig("candidate", candidate=None)),
    ("msg", sig("hello", role="answer")),
    ("msg", sig("room", peers=0)),
    ("msg", sig("room", peers=1)),
    ("msg", sig("join", peers=1)),
    ("msg", sig("bye")),
    ("msg", sig("error", error="x")),
]


def feed(n: Negotiator, event: tuple[str, Any]) -> list[Action]:
    name, arg = event
    handlers = {
        "timer": n.timer_fired,
        "turn": n.offer_turn,
        "answer_accepted": n.answer_accepted,
        "opened": n.channel_opened,
    }
    if name in handlers:
        return handlers[name]()
    if name == "msg":
        return n.received(arg)
    method = getattr(n, name)
    result: list[Action] = method(arg)
    return result


@pytest.mark.parametrize("role", ROLES)
def test_every_pair_of_events_in_every_phase_keeps_the_invariants(role: Role) -> None:
    starts = [Negotiator, answering, opened] + ([offering] if role != "answer" else [])
    for make, first, second in itertools.product(starts, EVENTS, EVENTS):
        n = make(role, 0.5) if make is Negotiator else make(role)
        if make is Negotiator:
            n.start()
        for event in (first, second):
            actions = feed(n, event)
            fails = [a for a in actions if isinstance(a, Fail)]
            assert len(fails) <= 1
            if fails:
                assert n.phase == "done" and actions[-1] is fails[0]
            if any(isinstance(a, ArmTimer | StartOffer) for a in actions):
                assert n.phase == "idle"
            if role != "auto":
                assert not any(isinstance(a, ArmTimer) for a in actions)
            if role == "answer":
                assert not any(isinstance(a, MakeOffer | StartOffer) for a in actions)
            makes = [a for a in actions if isinstance(a, MakeOffer | AnswerOffer)]
            assert len(makes) <= 1
            if n.timer_armed:
                assert role == "auto" and n.phase == "idle"


def test_has_candidates() -> None:
    assert has_candidates(SDP) and not has_candidates(BARE_SDP)
