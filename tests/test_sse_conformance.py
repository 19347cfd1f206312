"""Server-Sent Events conformance: the WHATWG HTML standard, section 9.2, case by case.

The parser cases use the spec's own example streams (9.2.6 "Interpreting an event
stream" and 9.2.5 "Parsing an event stream"); the connection cases run end to end
against a loopback server that records each request (9.2.2-9.2.4: the request,
reconnection, Last-Event-ID, status handling). Deviations rtnb chooses are marked
as such and listed in the README.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

import rtnb
from rtnb.errors import ConnectError
from rtnb.runtime import run
from rtnb.sse_format import MAX_RETRY_MS, SSEEvent, SSEParser
from rtnb.stats import Backoff

from .conftest import wait_for

FAST = {"initial": 0.05, "factor": 1.0, "cap": 0.05, "jitter": 0.0}


def parse(*chunks: str) -> tuple[list[tuple[str, str | None]], SSEParser]:
    p = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += p.feed(chunk)
    return [(e.data, e.event) for e in events], p


# --- 9.2.5 parsing: line endings and the BOM ---------------------------------------------


@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_lines_end_with_crlf_lf_or_cr(eol: str) -> None:
    # 9.2.5: end-of-line = ( cr lf / cr / lf )
    assert parse(f"data: a{eol}data: b{eol}{eol}")[0] == [("a\nb", None)]


def test_a_crlf_is_one_line_end_whatever_the_chunks() -> None:
    text = "data: a\r\ndata: b\r\n\r\n"
    for cut in range(len(text) + 1):
        assert parse(text[:cut], "", text[cut:])[0] == [("a\nb", None)], cut


def test_an_empty_chunk_between_cr_and_lf_changes_nothing() -> None:
    # issue 15.6: feed("data: a\r"), feed(""), feed("\ndata: b\n\n") gave two events
    assert parse("data: a\r", "", "\ndata: b\n\n")[0] == [("a\nb", None)]


def test_one_leading_bom_is_skipped_a_second_is_not() -> None:
    # 9.2.5: stream = [ bom ] *event; the UTF-8 decode algorithm strips one BOM.
    assert parse("\ufeffdata: a\n\n")[0] == [("a", None)]
    # a second BOM is part of the first field name "\ufeffdata": unknown, ignored
    events, p = parse("\ufeff\ufeffdata: a\n\n")
    assert events == [] and p.ignored_lines == 1


def test_a_bom_only_counts_at_the_start_of_the_stream() -> None:
    events, p = parse("data: a\n\n", "\ufeffdata: b\n\n")
    assert events == [("a", None)] and p.ignored_lines == 1


# --- 9.2.6 interpreting: the spec's example streams --------------------------------------


def test_example_three_messages() -> None:
    # "This is the first message." / two data lines / the third; message type
    stream = (
        "data: This is the first message.\n\n"
        "data: This is the second message, it\n"
        "data: has two lines.\n\n"
        "data: This is the third message.\n\n"
    )
    assert parse(stream)[0] == [
        ("This is the first message.", None),
        ("This is the second message, it\nhas two lines.", None),
        ("This is the third message.", None),
    ]


def test_example_event_types() -> None:
    stream = (
        "event: add\ndata: 73857293\n\nevent: remove\ndata: 2153\n\nevent: add\ndata: 113411\n\n"
    )
    assert parse(stream)[0] == [("73857293", "add"), ("2153", "remove"), ("113411", "add")]


def test_example_comment_id_and_discarded_last_block() -> None:
    # "The first block has just a comment, and will fire nothing. The second block has
    # two fields with names "data" and "id" respectively; an event will be fired for
    # this block, with the data "first event", and will then set the last event ID to
    # "1" ... The third block fires an event with data "second event", and also has an
    # "id" field, this time with no value, which resets the last event ID to the empty
    # string ... The last block ... is discarded because it is not followed by a blank
    # line."
    p = SSEParser()
    assert p.feed(": test stream\n\n") == []
    assert p.feed("data: first event\nid: 1\n\n") == [SSEEvent("first event", None, "1")]
    assert p.last_event_id == "1"
    assert p.feed("data:second event\nid\n\n") == [SSEEvent("second event", None, None)]
    assert p.last_event_id == ""
    assert p.feed("data:  third event") == []
    assert p.pending()  # held, and dropped if the stream ends here


def test_example_empty_and_newline_data() -> None:
    # "The first block would fire events with the data set to the empty string, as
    # would the last block if it was followed by a blank line. The middle block would
    # fire an event with the data set to a single newline character. The last block
    # would be discarded because it is not followed by a blank line."
    events, p = parse("data\n\ndata\ndata\n\ndata:")
    assert events == [("", None), ("\n", None)]
    assert p.pending()


def test_example_one_leading_space_is_removed() -> None:
    # "would cause two identical events to be dispatched"
    assert parse("data:test\n\ndata: test\n\n")[0] == [("test", None), ("test", None)]


# --- 9.2.6 field rules ---------------------------------------------------------------


def test_only_one_leading_space_is_removed() -> None:
    assert parse("data:  two\n\n")[0] == [(" two", None)]


def test_a_line_without_colon_is_a_field_with_an_empty_value() -> None:
    # "If a line is not empty but does not contain any U+003A COLON characters, process
    # the field using the whole line as the field name, and the empty string as the
    # field value."
    assert parse("data\ndata: x\n\n")[0] == [("\nx", None)]


def test_field_names_are_case_sensitive_and_unknown_ones_ignored() -> None:
    # "Otherwise: The field is ignored."
    events, p = parse("Data: no\nDATA: no\nfoo: bar\ndata: yes\n\n")
    assert events == [("yes", None)] and p.ignored_lines == 3


def test_a_colon_first_is_a_comment() -> None:
    events, p = parse(":comment\n: another\ndata: x\n\n")
    assert events == [("x", None)] and p.ignored_lines == 0


def test_an_id_with_null_is_ignored() -> None:
    # id: "If the field value does not contain U+0000 NULL, then set the last event ID
    # buffer to the field value. Otherwise, ignore the field."
    events, p = parse("id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert p.last_event_id == "1" and p.ignored_lines == 1
    assert [e for e, _ in events] == ["a", "b"]


def test_an_id_is_kept_even_when_the_block_dispatches_nothing() -> None:
    # 9.2.6 dispatch step 1: "Set the last event ID string of the event source to the
    # value of the last event ID buffer" comes before "If the data buffer is an empty
    # string ... return".
    events, p = parse("id: 7\n\n")
    assert events == [] and p.last_event_id == "7"


def test_a_non_ascii_id_is_an_id() -> None:
    events, p = parse("id: …ü€\ndata: x\n\n")
    assert p.last_event_id == "…ü€" and events == [("x", None)]


@pytest.mark.parametrize("value", ["1.5", "-1", " 100", "1e3", "12a", "", "١٢"])
def test_retry_that_is_not_only_ascii_digits_is_ignored(value: str) -> None:
    # retry: "If the field value consists of only ASCII digits, then interpret the
    # field value as an integer in base ten ... Otherwise, ignore the field."
    _, p = parse(f"retry: 250\nretry: {value}\n\n")
    assert p.retry == 250 and p.ignored_lines == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("007", 7), ("3000", 3000), ("9" * 19, MAX_RETRY_MS), ("1" * 5000, MAX_RETRY_MS)],
)
def test_retry_of_any_length_sets_the_reconnection_time(value: str, expected: int) -> None:
    # issue 15.5: over 18 digits was ignored; the spec sets it (rtnb clamps).
    _, p = parse(f"retry: {value}\n\n")
    assert p.retry == expected and p.ignored_lines == 0


def test_event_type_resets_after_each_dispatch_and_empty_means_message() -> None:
    # dispatch: "Set the data buffer and the event type buffer to the empty string."
    assert parse("event: a\ndata: 1\n\ndata: 2\n\nevent:\ndata: 3\n\n")[0] == [
        ("1", "a"),
        ("2", None),
        ("3", None),
    ]


def test_a_block_without_data_resets_its_event_type() -> None:
    # "If the data buffer is an empty string, set the data buffer and the event type
    # buffer to the empty string and return."
    assert parse("event: lost\n\ndata: x\n\n")[0] == [("x", None)]


# --- 9.2.2-9.2.4 the connection, end to end ---------------------------------------------


@dataclass
class Seen:
    """One request the test server got: when, which headers, and when its response ended."""

    path: str
    at: float
    headers: dict[str, str]
    raw_last_event_id: bytes | None
    ended: float = field(default=0.0)


class Recorder:
    """A loopback aiohttp server whose routes write fixed bytes and record each request."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.routes: dict[str, tuple[int, dict[str, str], list[bytes]]] = {}
        self.url = ""

    def route(
        self, path: str, *blocks: bytes, status: int = 200, ctype: str = "text/event-stream"
    ) -> str:
        self.routes[path] = (status, {"Content-Type": ctype}, list(blocks))
        return self.url + path

    def requests(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = next(
            (v for k, v in request.raw_headers if k.lower() == b"last-event-id"),
            None,
        )
        seen = Seen(request.path, time.monotonic(), dict(request.headers), raw)
        self.seen.append(seen)
        status, headers, blocks = self.routes[request.path]
        try:
            if status != 200:
                return web.Response(status=status, headers=headers, body=b"".join(blocks))
            resp = web.StreamResponse(headers=headers)
            await resp.prepare(request)
            for block in blocks:
                await resp.write(block)
            return resp
        finally:
            seen.ended = time.monotonic()


@pytest.fixture(scope="module")
def rec() -> Iterator[Recorder]:
    recorder = Recorder()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", recorder.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)

    async def start() -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    recorder.url = f"http://127.0.0.1:{run(start(), timeout=10)}"
    yield recorder
    run(runner.cleanup(), timeout=10)


def test_request_headers_match_a_browsers(rec: Recorder) -> None:
    # 9.2.2: the request's Accept is text/event-stream and its cache mode "no-store",
    # which browsers send as Cache-Control: no-cache (issue 15.4: rtnb sent no-store).
    url = rec.route("/headers", b"data: x\n\n")
    c = rtnb.connect("sse", url, reconnect=False)
    assert c.recv(timeout=5).data == "x"
    first = rec.requests("/headers")[0]
    assert first.headers["Accept"] == "text/event-stream"
    assert first.headers["Cache-Control"] == "no-cache"
    assert "Last-Event-ID" not in first.headers  # 9.2.3: only when not empty


def test_last_event_id_is_sent_as_utf8(rec: Recorder) -> None:
    # 9.2.3: "... set (`Last-Event-ID`, lastEventIDValue) in request's header list",
    # "encoded as UTF-8". Issue 15.1: a non-ASCII id made every reconnect fail for
    # good ('ascii' codec can't encode).
    url = rec.route("/utf8", "id: …ü\ndata: x\n\n".encode(), b"retry: 20\n\n")
    c = rtnb.connect("sse", url)
    wait_for(lambda: len(rec.requests("/utf8")) >= 3, 10)
    c.close()
    raw = [s.raw_last_event_id for s in rec.requests("/utf8")]
    assert raw[0] is None and raw[1] == raw[2] == "…ü".encode()
    assert c.stats.errors == 0


def test_an_empty_id_stops_sending_last_event_id(rec: Recorder) -> None:
    url = rec.route("/reset", b"id: 5\ndata: a\n\nid\ndata: b\n\nretry: 20\n\n")
    c = rtnb.connect("sse", url, last_event_id="4")
    wait_for(lambda: len(rec.requests("/reset")) >= 2, 10)
    c.close()
    first, second = rec.requests("/reset")[:2]
    assert first.raw_last_event_id == b"4"
    assert second.raw_last_event_id is None


def test_reconnects_wait_the_servers_retry_and_never_less(rec: Recorder) -> None:
    # 9.2.3 reestablish the connection: "Wait a delay equal to the reconnection time of
    # the event source." Issue 15.2: with retry: 600, jitter made it 334-565 ms.
    # rtnb lets jitter add up to 10 % and never take away.
    url = rec.route("/retry", b"retry: 600\ndata: x\n\n")
    c = rtnb.connect("sse", url)
    wait_for(lambda: len(rec.requests("/retry")) >= 5, 10)
    c.close()
    seen = rec.requests("/retry")[:5]
    gaps = [(b.at - a.ended) * 1000 for a, b in itertools.pairwise(seen)]
    assert min(gaps) >= 600, gaps
    assert statistics.median(gaps) <= 660 + 20, gaps  # 10 %, plus a loopback connect
    assert max(gaps) <= 660 + 80, gaps


def test_backoff_after_a_server_delay_only_adds() -> None:
    b = Backoff(initial=0.5, factor=2, cap=30, jitter=0.5)
    for rand in (0.0, 0.3, 1.0):
        assert 0.6 <= b.delay_at_least(0.6, 0, rand) <= 0.66
    assert Backoff(jitter=0).delay_at_least(0.6, 0, rand=1.0) == 0.6
    # failed attempts may grow it (9.2.3 "Optionally, wait some more ... exponential
    # backoff"), up to the larger of cap and the server's delay
    assert b.delay_at_least(0.6, 2, rand=0.0) == pytest.approx(2.4)
    assert b.delay_at_least(60, 5, rand=0.0) == 60
    assert b.delay_at_least(0, 0, rand=0.0) == b.floor  # retry: 0 is no hot loop


def test_a_200_event_stream_with_parameters_is_accepted(rec: Recorder) -> None:
    url = rec.route("/charset", b"data: x\n\n", ctype="text/event-stream; charset=utf-8")
    c = rtnb.connect("sse", url, reconnect=False)
    assert c.recv(timeout=5).data == "x"


def test_bytes_are_decoded_as_utf8_with_replacement(rec: Recorder) -> None:
    # 9.2.5: "Event streams are always decoded as UTF-8"; invalid bytes become U+FFFD.
    url = rec.route("/bytes", b"data: \xff\xe2\x82\n\ndata: \xe2\x82", b"\xac\n\n")
    c = rtnb.connect("sse", url, reconnect=False)
    assert [c.recv(timeout=5).data for _ in range(2)] == ["\ufffd\ufffd", "€"]


def test_204_stops_reconnecting(rec: Recorder) -> None:
    # 9.2.3: a 204 No Content "fail[s] the connection" for good.
    url = rec.route("/204", status=204)
    c = rtnb.connect("sse", url, backoff=FAST)
    with pytest.raises(ConnectError, match="204"):
        c.wait_open(10)
    time.sleep(0.3)
    assert len(rec.requests("/204")) == 1


@pytest.mark.parametrize("status", [201, 205, 210, 299, 302, 304, 400, 404, 410])
def test_any_other_status_fails_the_connection(rec: Recorder, status: int) -> None:
    # 9.2.3: "if res's status is not 200, or if res's Content-Type is not
    # text/event-stream, then fail the connection." Issue 15.3: 205, 210 and 299
    # were retried.
    url = rec.route(f"/status{status}", b"data: x\n\n", status=status)
    c = rtnb.connect("sse", url, backoff=FAST, follow_redirects=False)
    with pytest.raises(ConnectError, match=f"HTTP {status}"):
        c.wait_open(10)
    time.sleep(0.3)
    assert c.state == "failed" and len(rec.requests(f"/status{status}")) == 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_deviation_server_errors_are_retried(rec: Recorder, status: int) -> None:
    # rtnb's documented deviation: 5xx, 408, 425 and 429 are retried with backoff
    # (a restart or overload is usually over in a moment); a browser would give up.
    url = rec.route(f"/retried{status}", b"busy", status=status)
    c = rtnb.connect("sse", url, backoff=FAST)
    wait_for(lambda: len(rec.requests(f"/retried{status}")) >= 3, 10)
    assert c.state in ("connecting", "reconnecting")
    c.close()


def test_a_wrong_content_type_fails_the_connection(rec: Recorder) -> None:
    url = rec.route("/html", b"<p>no</p>", ctype="text/html")
    c = rtnb.connect("sse", url, backoff=FAST)
    with pytest.raises(ConnectError, match="text/html"):
        c.wait_open(10)
    time.sleep(0.3)
    assert len(rec.requests("/html")) == 1


def test_a_redirect_is_followed_and_resumes_with_last_event_id(rec: Recorder) -> None:
    # 9.2.2: the fetch follows redirects; the stream then comes from the final URL.
    rec.route("/final", b"id: 9\ndata: moved\n\nretry: 20\n\n")
    url = rec.route("/moved", status=307)
    rec.routes["/moved"][1]["Location"] = "/final"
    c = rtnb.connect("sse", url, last_event_id="8")
    assert c.recv(timeout=5).data == "moved"
    wait_for(lambda: len(rec.requests("/final")) >= 2, 10)
    c.close()
    assert [s.raw_last_event_id for s in rec.requests("/final")[:2]] == [b"8", b"9"]


def test_the_stream_ending_mid_event_drops_it(rec: Recorder) -> None:
    # 9.2.6: "Once the end of the file is reached, any pending data must be discarded."
    url = rec.route("/partial", b"data: whole\n\ndata: half")
    c = rtnb.connect("sse", url, reconnect=False)
    wait_for(lambda: c.state == "closed", 10)
    assert [m.data for m in c.messages] == ["whole"]
