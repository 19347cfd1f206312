"""The live signaling view in a real JupyterLab (headless Chromium): it fills in while it shows.

The notebook's cells wait for files this test writes, so each step (the second
peer joins, the connection closes) happens after the test saw the one before.
Run inside the loopback-only namespace:
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_signaling_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import require_netns
from .labpage import cell, jupyter_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def wait_file(name: str) -> str:
    return f"while not os.path.exists({name!r}): time.sleep(0.05)\n"


CELLS = [
    "import os, time, rtnb\n"
    "srv = rtnb.serve()\n"
    "room = srv.url_for('/webrtc/signal?room=live')\n"
    "left = rtnb.connect('webrtc', room, name='left')\n"
    "left.signaling(height=200)",
    wait_file("join") + "right = rtnb.connect('webrtc', room, name='right')\n"
    "left.wait_open(30); right.wait_open(30)",
    wait_file("close") + "left.close(); right.close()",
]
VIEW = f"{cell(1)} .rtnb-signaling"
LINES = f"{VIEW} .rtnb-sig-event"
ICE = f"{VIEW} .rtnb-sig-chip[data-state='ice']"


@pytest.fixture
def lab_folder(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    require_netns()
    write_notebook(tmp_path / "signaling.ipynb", CELLS)
    with jupyter_lab(tmp_path, height=1400) as lab:
        yield lab, tmp_path


def lines(page: Any) -> list[tuple[str, str, str]]:
    """Each line's direction arrow, type and summary, top to bottom."""
    return [
        tuple(line)
        for line in page.evaluate(
            "(s) => [...document.querySelectorAll(s)].map(e => ['dir', 'type', 'summary']"
            ".map(k => e.querySelector('.rtnb-sig-' + k).textContent))",
            LINES,
        )
    ]


def has_line(page: Any, kind: str, timeout: float = 30) -> None:
    page.wait_for_function(
        "([s, kind]) => [...document.querySelectorAll(s)].some(e => e.textContent === kind)",
        arg=[f"{LINES} .rtnb-sig-type", kind],
        timeout=timeout * 1000,
    )


def test_view_fills_in_live_then_shows_the_close(lab_folder: tuple[Any, Path]) -> None:
    lab, folder = lab_folder
    page = lab.open("signaling.ipynb", run_all=True)
    # alone in the room: the relay's "room" line, the chips not set yet
    has_line(page, "room", timeout=90)
    before = lines(page)
    assert before == [("←", "room", "room=live, peers=0")], before
    assert page.locator(f"{ICE} .rtnb-sig-chip-value").text_content() == "\N{EN DASH}"
    assert page.locator(f"{VIEW} .rtnb-sig-badge").is_hidden()

    (folder / "join").touch()  # the second peer joins: the shown view fills in
    page.wait_for_function(
        "(s) => document.querySelector(s)?.textContent === 'completed'",
        arg=f"{ICE} .rtnb-sig-chip-value",
        timeout=30_000,
    )
    has_line(page, "data channel")
    after = lines(page)
    assert after[: len(before)] == before  # the first lines stayed, new ones came after
    messages = [line[:2] for line in after if line[0] != "•"]
    assert messages == [("←", "room"), ("←", "join"), ("←", "offer"), ("→", "answer")], after
    assert "rtnb-sig-good" in (page.locator(ICE).get_attribute("class") or "")
    assert page.locator(f"{VIEW} [data-state='dtls'] .rtnb-sig-chip-value").text_content() == (
        "connected"
    )
    assert after[-1] == ("•", "data channel", "'chat' open")

    # a click on the offer's line shows its SDP, as text
    offer = page.locator(f"{LINES}:has(.rtnb-sig-type:text-is('offer'))")
    pre = offer.locator("pre.rtnb-sig-detail")
    assert pre.is_hidden()
    offer.locator("summary").click()
    assert pre.is_visible()
    sdp = pre.text_content() or ""
    assert sdp.startswith("v=0\n") and "a=candidate:" in sdp and "a=setup:actpass" in sdp

    (folder / "close").touch()  # the connections close: red chips and the badge
    page.wait_for_function(
        "(s) => document.querySelector(s)?.textContent === 'closed'",
        arg=f"{VIEW} .rtnb-sig-badge",
        timeout=30_000,
    )
    assert page.locator(f"{ICE} .rtnb-sig-chip-value").text_content() == "closed"
    assert "rtnb-sig-bad" in (page.locator(ICE).get_attribute("class") or "")
    assert page.locator(f"{VIEW} .rtnb-sig-badge").is_visible()
    closing = lines(page)[len(after) :]
    assert {("•", k, "closed") for k in ("signaling", "ice", "dtls", "connection")} <= set(
        closing
    ), closing
