"""rtnb.lab.findings: what the binary and cut probes observed, in words."""

from __future__ import annotations

import doctest

import pytest

import rtnb.lab.findings
from rtnb.lab.findings import Reconnect, binary_finding, reconnect_finding
from rtnb.lab.wire import HEADER_SIZE, lab_payload

SIZE = HEADER_SIZE + 256
CUT = [(0.0, "connecting"), (0.01, "open"), (0.2, "reconnecting"), (0.5, "open")]


def test_binary_that_arrives_as_text_is_altered() -> None:
    sent = lab_payload(0, 1.0, SIZE, binary=True)
    assert isinstance(sent, bytes)
    as_text = sent.decode("utf-8", "replace")
    status, detail = binary_finding(0, as_text, SIZE)
    assert status == "altered"
    assert detail == (
        f"{SIZE} raw bytes sent; arrived as text of {len(as_text)} characters, not the bytes sent"
    )
    assert binary_finding(0, sent[:-1], SIZE)[1].endswith(
        f"bytes of {SIZE - 1} bytes, not the bytes sent"
    )
    assert binary_finding(0, None, SIZE) == ("failed", "nothing arrived")
    assert binary_finding(2, sent, SIZE)[0] == "intact"


def test_a_stream_that_goes_on_after_the_cut_resumed() -> None:
    f = reconnect_finding("sse", CUT, list(range(40)), True, first=20, last_event_id="19")
    assert f.resumed is True and f.ms == pytest.approx(300.0)
    assert f.text == (
        "resumed: reopened 300 ms after the cut and went on at 20 (Last-Event-ID 19), "
        "nothing lost or repeated"
    )
    assert "(the server)" in reconnect_finding("ws", CUT, [0, 1], True, first=2).text


@pytest.mark.parametrize(
    ("family", "seqs", "tail"),
    [
        (
            "ws",
            [*range(20), *range(40)],
            "(backoff, then a new handshake); the stream began again at 0, 20 repeated",
        ),
        (
            "webrtc",
            [0, 1, 2, 10, 11],
            "(a new offer/answer, ICE and DTLS); the stream began again at 10, 7 lost",
        ),
        ("sse", [5, 6, 6], "(a new request); the stream began again at 6, 1 repeated"),
    ],
)
def test_a_stream_that_starts_over_restarted(family: str, seqs: list[int], tail: str) -> None:
    f = reconnect_finding(family, CUT, seqs, True)
    assert f.resumed is False and f.ms == pytest.approx(300.0)
    assert f.text == "restarted: reopened 300 ms after the cut " + tail


def test_no_second_open_means_it_did_not_reopen() -> None:
    states = [(0.0, "connecting"), (0.01, "open"), (0.2, "reconnecting"), (5.0, "closed")]
    assert reconnect_finding("ws", states, [0, 1], True) == Reconnect(
        "did not reopen: states connecting -> open -> reconnecting -> closed"
    )
    # Reopened, but the stream never finished: nothing can be said about resuming.
    assert reconnect_finding("ws", CUT, [0, 1], False).resumed is None


def test_docstring_examples() -> None:
    result = doctest.testmod(rtnb.lab.findings, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
