"""rtnb.signaling: the article's signaling messages, parsed and built (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtnb import signaling
from rtnb.signaling import IceCandidate, Signal, local_offer_wins, parse

SDP = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"
)
BROWSER_CANDIDATE = {
    "candidate": "candidate:1840965416 1 udp 2122260223 127.0.0.2 54321 typ host generation 0 "
    "ufrag abcd network-id 1",
    "sdpMid": "0",
    "sdpMLineIndex": 0,
    "usernameFragment": "abcd",
}


def test_offer_in_the_articles_format_parses() -> None:
    text = json.dumps({"type": "offer", "sdp": {"type": "offer", "sdp": SDP}})
    sig = parse(text)
    assert (sig.type, sig.sdp, sig.tiebreak) == ("offer", SDP, None)


def test_answer_with_bare_sdp_string_is_accepted() -> None:
    assert parse({"type": "answer", "sdp": SDP}).sdp == SDP


def test_built_description_round_trips_with_tiebreak() -> None:
    msg = signaling.description("offer", SDP, tiebreak=12)
    assert msg == {"type": "offer", "sdp": {"type": "offer", "sdp": SDP}, "tiebreak": 12}
    sig = parse(signaling.dumps(msg))
    assert (sig.sdp, sig.tiebreak) == (SDP, 12)


def test_browser_candidate_to_json_parses() -> None:
    sig = parse({"type": "candidate", "candidate": BROWSER_CANDIDATE})
    cand = sig.candidate
    assert cand is not None
    assert cand.sdp_mid == "0" and cand.sdp_mline_index == 0
    assert cand.host == "127.0.0.2"
    assert cand.sdp_value.startswith("1840965416 1 udp")
    assert cand.to_json() == BROWSER_CANDIDATE
    assert not sig.end_of_candidates


@pytest.mark.parametrize(
    "value", [None, {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}, {"candidate": None}]
)
def test_null_or_empty_candidate_means_end_of_candidates(value: object) -> None:
    sig = parse({"type": "candidate", "candidate": value})
    assert sig.end_of_candidates and sig.candidate is None
    assert signaling.candidate(None) == {"type": "candidate", "candidate": None}


def test_candidate_with_a_equals_prefix_is_accepted() -> None:
    raw = dict(BROWSER_CANDIDATE, candidate="a=" + BROWSER_CANDIDATE["candidate"])  # type: ignore[operator]
    cand = parse({"type": "candidate", "candidate": raw}).candidate
    assert cand is not None and cand.candidate.startswith("candidate:")


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ("{}", '"type"'),
        ('{"type": 3}', '"type"'),
        ('{"type": "offer"}', 'needs "sdp"'),
        ('{"type": "offer", "sdp": {"type": "answer", "sdp": "v=0"}}', "description of type"),
        ('{"type": "offer", "sdp": "hello"}', "v=0"),
        ('{"type": "answer", "sdp": {"type": "answer", "sdp": "v=0\\r\\ns=-\\r\\n"}}', "m= line"),
        ('{"type": "offer", "sdp": "v=0\\nm=x", "tiebreak": -1}', "tiebreak"),
        ('{"type": "offer", "sdp": "v=0\\nm=x", "tiebreak": true}', "tiebreak"),
        ('{"type": "candidate", "candidate": 5}', "candidate must be"),
        ('{"type": "candidate", "candidate": {"candidate": "hello", "sdpMid": "0"}}', "malformed"),
        ('{"type": "candidate", "candidate": {"candidate": 7}}', "must be a string"),
        (
            '{"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ '
            'host"}}',
            "sdpMid or sdpMLineIndex",
        ),
        (
            '{"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ '
            'host", "sdpMLineIndex": -1}}',
            "sdpMLineIndex",
        ),
        (
            '{"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ '
            'host", "sdpMid": 0}}',
            "sdpMid",
        ),
        (b"\xff\xfe", "UTF-8"),
        ("x" * (signaling.MAX_SIGNAL_SIZE + 1), "over"),
    ],
)
def test_invalid_messages_raise_one_clear_value_error(message: str | bytes, words: str) -> None:
    with pytest.raises(ValueError, match=None) as info:
        parse(message)
    text = str(info.value)
    assert words in text
    assert "\n" not in text


def test_control_messages_keep_their_data() -> None:
    sig = parse('{"type": "room", "room": "r", "peers": 1}')
    assert sig.type == "room" and sig.data["peers"] == 1
    assert parse(signaling.dumps(signaling.error("room full"))).text == "room full"
    assert parse(signaling.dumps(signaling.bye())).type == "bye"


def test_description_refuses_other_kinds() -> None:
    with pytest.raises(ValueError, match="offer or an answer"):
        signaling.description("pranswer", SDP)


def test_a_plain_browser_offer_always_wins_glare() -> None:
    browser = Signal("offer", sdp=SDP)
    assert not local_offer_wins(signaling.TIEBREAK_MAX, SDP + "a", browser)


@given(
    st.integers(0, signaling.TIEBREAK_MAX),
    st.integers(0, signaling.TIEBREAK_MAX),
    st.text(min_size=1, max_size=8),
    st.text(min_size=1, max_size=8),
)
def test_glare_has_exactly_one_winner(a: int, b: int, sdp_a: str, sdp_b: str) -> None:
    if (a, sdp_a) == (b, sdp_b):
        return  # identical offers cannot happen: each SDP has fresh ICE credentials
    a_wins = local_offer_wins(a, sdp_a, Signal("offer", sdp=sdp_b, tiebreak=b))
    b_wins = local_offer_wins(b, sdp_b, Signal("offer", sdp=sdp_a, tiebreak=a))
    assert a_wins != b_wins


@given(
    st.sampled_from(["udp", "tcp"]),
    st.integers(0, 2**32 - 1),
    st.ip_addresses(v=4).map(str),
    st.integers(1, 65535),
    st.sampled_from(["0", "data", None]),
    st.one_of(st.none(), st.integers(0, 3)),
)
def test_candidates_round_trip(
    proto: str, prio: int, ip: str, port: int, mid: str | None, index: int | None
) -> None:
    if mid is None and index is None:
        index = 0
    cand = IceCandidate(f"candidate:1 1 {proto} {prio} {ip} {port} typ host", mid, index)
    again = parse(signaling.dumps(signaling.candidate(cand))).candidate
    assert again == cand
    assert again is not None and again.host == ip


def test_docstring_examples_hold() -> None:
    import doctest

    assert doctest.testmod(signaling).failed == 0


def test_json_nested_too_deep_is_refused_with_the_stdlib_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rtnb import jsonfast

    monkeypatch.setattr(jsonfast, "loads", json.loads)  # the backend without orjson
    with pytest.raises(ValueError, match="signaling message is not JSON"):
        parse("[" * 100_000)
