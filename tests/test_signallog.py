"""The WebRTC signaling log: bounded, one line per message, states only when they change."""

from __future__ import annotations

from rtnb.signallog import DETAIL_LIMIT, SignalBook, SignalEvent, describe, summarise

OFFER_SDP = "\n".join(
    [
        "v=0",
        "a=setup:actpass",
        "a=candidate:1 1 udp 2130706431 127.0.0.2 50000 typ host",
        "a=candidate:2 1 udp 1694498815 10.0.0.1 50001 typ srflx raddr 127.0.0.2 rport 50000",
    ]
)


def test_offer_summary_names_lines_role_and_candidates() -> None:
    kind, text = summarise({"type": "offer", "sdp": {"type": "offer", "sdp": OFFER_SDP}})
    assert kind == "offer"
    assert text == "SDP 4 lines, DTLS role actpass, 2 candidate(s), host udp 127.0.0.2:50000 ..."
    assert summarise({"type": "answer", "sdp": "v=0"})[1].startswith("SDP 1 lines")


def test_other_messages_show_their_fields_briefly() -> None:
    assert summarise({"type": "room", "room": "r", "peers": 1}) == ("room", "room=r, peers=1")
    assert summarise({"type": "candidate", "candidate": {"candidate": "garbage"}}) == (
        "candidate",
        "garbage",
    )


def test_book_is_bounded_and_notes_a_state_once() -> None:
    book = SignalBook(limit=3)
    for i in range(5):
        book.state("ice", "checking", now=float(i))
    assert len(book.snapshot()) == 1
    for i in range(5):
        book.note("in", "candidate", f"c{i}", now=float(i))
    log = book.snapshot()
    assert [e.summary for e in log] == ["c2", "c3", "c4"]
    assert repr(log).splitlines()[0].strip().startswith("+0.000 s")
    assert repr(SignalBook().snapshot()) == "(no signaling yet)"
    assert "<script>" not in SignalBook().snapshot()._repr_html_()
    book.note("in", "<script>", "x", now=9.0)
    assert "&lt;script&gt;" in book.snapshot()._repr_html_()


def test_version_counts_every_event_and_since_returns_the_new_ones_still_kept() -> None:
    book = SignalBook(limit=3)
    assert (book.version, book.started, list(book.since(0))) == (0, None, [])
    book.note("out", "offer", "o", now=5.0, detail="v=0")
    book.state("ice", "new", now=5.5)
    book.state("ice", "new", now=5.6)  # unchanged: not an event
    assert book.version == 2 and book.started == 5.0
    assert [e.type for e in book.since(0)] == ["offer", "ice"]
    assert [e.type for e in book.since(1)] == ["ice"]
    assert list(book.since(2)) == [] and list(book.since(7)) == []
    for i in range(4):
        book.note("in", "candidate", f"c{i}", now=6.0 + i)
    assert book.version == 6 and book.started == 5.0  # the first event is gone, not its time
    assert [e.summary for e in book.since(0)] == ["c1", "c2", "c3"]  # bounded by what is kept
    assert [e.summary for e in book.since(4)] == ["c2", "c3"]
    assert book.since(0)[0].detail == "" and book.snapshot() == book.since(-5)


def test_states_are_the_latest_values_and_a_copy() -> None:
    book = SignalBook()
    book.state("ice", "checking", now=1.0)
    book.state("dtls", "connecting", now=1.1)
    book.state("ice", "completed", now=1.2)
    states = book.states
    assert states == {"ice": "completed", "dtls": "connecting"}
    states["ice"] = "failed"
    assert book.states["ice"] == "completed"


def test_event_keeps_its_positional_fields_and_adds_detail_last() -> None:
    old = SignalEvent(1.0, "in", "answer", "SDP 1 lines")
    assert old.detail == "" and tuple(old)[:4] == (1.0, "in", "answer", "SDP 1 lines")
    assert SignalEvent(1.0, "in", "answer", "s", "v=0").detail == "v=0"


def test_describe_shows_the_sdp_the_candidate_or_compact_json() -> None:
    offer = {"type": "offer", "sdp": {"type": "offer", "sdp": OFFER_SDP.replace("\n", "\r\n")}}
    assert describe(offer) == OFFER_SDP  # CRLF lines as plain lines, nothing else changed
    assert describe({"type": "answer", "sdp": "v=0\r\n"}) == "v=0"
    cand = {"candidate": "candidate:1 1 udp 1 127.0.0.2 5 typ host", "sdpMLineIndex": 0}
    assert describe({"type": "candidate", "candidate": cand}).splitlines() == [
        cand["candidate"],
        "sdpMLineIndex: 0",
    ]
    assert describe({"type": "candidate", "candidate": None}) == "end of candidates"
    assert describe({"type": "candidate", "candidate": {"candidate": ""}}) == "end of candidates"
    assert (
        describe({"type": "room", "room": "é", "peers": 1})
        == '{"type":"room","room":"é","peers":1}'
    )


def test_describe_caps_a_huge_message_and_says_how_much_is_cut() -> None:
    sdp = "\n".join(f"a=candidate:{i} 1 udp 1 10.0.0.1 {i} typ host" for i in range(2000))
    text = describe({"type": "offer", "sdp": {"type": "offer", "sdp": sdp}})
    assert len(text) < DETAIL_LIMIT + 40
    assert text.startswith("a=candidate:0 ") and text.endswith(
        f"… ({len(sdp) - DETAIL_LIMIT} more characters)"
    )
    assert describe({"type": "x", "text": "y" * 10}, limit=100).endswith('"}')
