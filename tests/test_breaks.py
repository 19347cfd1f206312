"""Cuts and resumes placed among a connection's messages (pure), and the table rows they make."""

from __future__ import annotations

import json

from rtnb.breaks import BREAK_LIMIT, TEXT_LIMIT, BreakBook
from rtnb.message import Message
from rtnb.rows import TableRows, rows_html


def msgs(*seqs: int) -> list[Message]:
    return [Message(json.dumps({"i": s}), seq=s, ts=1000.0 + s) for s in seqs]


def test_a_cut_then_a_resume_say_why_and_how_long() -> None:
    book = BreakBook()
    book.cut(seq=25, now=10.0, reason="stream broken:\n  peer closed")
    book.resume(seq=25, now=10.4, info={"last_event_id": "25"})
    cut, back = book.since(0)
    assert (cut.kind, cut.seq, cut.n, cut.text) == ("cut", 25, 1, "stream broken: peer closed")
    assert (back.kind, back.n) == ("resume", 2)
    assert back.text == "back after 0.40 s, resuming after Last-Event-ID 25"
    book.cut(seq=30, now=11.0, reason=None)
    book.resume(seq=31, now=11.1, info={"last_event_id": None})
    assert [b.text for b in book.since(2)] == ["the stream ended", "back after 0.10 s"]
    assert book.since(4) == []


def test_a_first_open_or_a_second_resume_marks_nothing() -> None:
    book = BreakBook()
    book.resume(seq=0, now=1.0)
    book.cut(seq=3, now=2.0, reason="x")
    book.resume(seq=3, now=2.5)
    book.resume(seq=3, now=2.6)
    assert [b.kind for b in book.since(0)] == ["cut", "resume"]


def test_the_book_is_bounded_and_since_counts_what_fell_off() -> None:
    book = BreakBook(limit=4)
    for i in range(10):
        book.cut(seq=i, now=float(i), reason="r" * (TEXT_LIMIT + 50))
    assert book.count == 10
    assert [b.n for b in book.since(0)] == [7, 8, 9, 10]  # the newest kept
    assert [b.n for b in book.since(8)] == [9, 10]
    assert all(len(b.text) == TEXT_LIMIT and b.text.endswith("…") for b in book.since(0))
    assert BreakBook()._items.maxlen == BREAK_LIMIT


def test_marks_sit_between_the_last_message_before_and_the_first_after() -> None:
    book = BreakBook()
    t = TableRows()
    first = t.add(msgs(0, 1))
    book.cut(seq=2, now=5.0, reason="gone")
    assert [r["mark"] for r in t.add([], marks=book.since(0))] == ["cut"]  # at once, at the end
    book.resume(seq=2, now=5.5)
    new = t.add(msgs(2, 3), marks=book.since(1))
    assert [r.get("mark", r["seq"]) for r in new] == ["resume", 2, 3]
    assert [r.get("mark", r["seq"]) for r in t.snapshot()] == [0, 1, "cut", "resume", 2, 3]
    assert first[0]["seq"] == 0


def test_a_filter_never_hides_a_mark_and_passed_over_marks_go() -> None:
    book = BreakBook()
    book.cut(seq=5, now=1.0, reason="a")
    book.resume(seq=5, now=1.1)
    book.cut(seq=95, now=2.0, reason="b")
    book.resume(seq=95, now=2.1)
    filtered = TableRows(filter="i=97")
    rows = filtered.add(msgs(*range(100)), marks=book.since(0))
    assert [r.get("mark", r.get("seq")) for r in rows] == ["cut", "resume"] * 2 + [97]
    assert [r["text"] for r in rows[2:4]] == ["b", "back after 0.10 s"]
    # messages 0..96 were kept by none but the bound: the marks among them are not shown
    bounded = TableRows(filter="i~9", max_rows=2)
    rows = bounded.add(msgs(*range(100)), marks=book.since(0))
    assert [r.get("mark", r.get("seq")) for r in rows] == [98, 99]
    small = TableRows(max_rows=3)
    book.cut(seq=98, now=3.0, reason="c")
    rows = small.add(msgs(*range(97, 100)), skipped=97, marks=book.since(0))
    assert [r.get("mark", r.get("seq")) for r in rows] == ["cut", 98, 99]  # bounded
    assert rows[0]["text"] == "c"


def test_a_static_table_shows_marks_and_counts_from_one() -> None:
    book = BreakBook()
    book.cut(seq=1, now=1.0, reason="<gone>")
    t = TableRows()
    t.add(msgs(0, 1), marks=book.since(0))
    html = rows_html(t.columns, t.snapshot())
    assert html.index("<tr><td>2</td>") < html.index("<b>cut</b>") < html.index("<tr><td>1</td>")
    assert "<b>cut</b> &lt;gone&gt;" in html and "colspan=2" in html
