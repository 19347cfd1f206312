"""The WebRTC signaling log: bounded, one line per message, states only when they change."""

from __future__ import annotations

from rtnb.signallog import SignalBook, summarise

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
