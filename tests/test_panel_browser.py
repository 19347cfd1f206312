"""The connection panel in a real JupyterLab (headless Chromium): state-aware buttons, badge,
'N new since pause', Disconnect/Reconnect and the filter box, clicked as a person would.

Run inside the loopback-only namespace:
``scripts/test-netns env PYTHONPATH=$PWD .venv/bin/python -m pytest tests/test_panel_browser.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ROOT, require_netns
from .labpage import cell, jupyter_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import rtnb\n"
    "srv = rtnb.serve()\n"
    "url = srv.url_for('/ws/ticker?symbols=AAPL,MSFT&rate=10')\n"
    "ticks = rtnb.connect('ws', url, name='ticks')\n"
    "clock = rtnb.connect('sse', srv.url_for('/sse/clock?interval=0.2'), name='clock')\n"
    "gone = rtnb.connect('ws', 'ws://nonexistent.invalid/x', name='gone')\n"
    "ticks.wait_open(10); clock.wait_open(10);",
    "ticks",
    "clock",
    "gone",
    "echo = rtnb.connect('ws', srv.url_for('/ws/echo'), name='echo').wait_open(10)\necho",
]
TICKS, CLOCK, GONE, ECHO = 2, 3, 4, 5
UPDATE = "RTNB_UPDATE_SCREENSHOT"  # =1: write docs/panel-states.png (the README's)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_netns()
    work = tmp_path_factory.mktemp("panel")
    write_notebook(work / "panel.ipynb", CELLS)
    with jupyter_lab(work, height=2000) as lab:
        pg = lab.open("panel.ipynb")
        pg.wait_for_selector(f"{cell(ECHO)} .rtnb-panel-controls", timeout=90_000)
        yield pg


def js(page: Any, expr: str, arg: Any = None, timeout: float = 30) -> Any:
    page.wait_for_function(expr, arg=arg, timeout=timeout * 1000)
    return page.evaluate(expr, arg)


def test_failed_connection_shows_a_badge_and_disables_send_and_pause(page: Any) -> None:
    p = f"{cell(GONE)} .rtnb-panel-controls"
    js(
        page,
        "(p) => document.querySelector(p + ' .rtnb-panel-state')?.textContent.startsWith('failed')",
        p,
    )
    state = page.locator(f"{p} .rtnb-panel-state")
    assert state.inner_text().lower().startswith("failed")  # CSS may upper-case it
    assert "rtnb-ended-failed" in (page.locator(p).get_attribute("class") or "")
    send = page.locator(f"{p} .rtnb-send-button")
    assert send.is_disabled() and "failed" in (send.get_attribute("title") or "")
    assert page.locator(f"{p} .rtnb-send-input").is_disabled()
    pause = page.locator(f"{p} .rtnb-pause-button")
    assert pause.is_disabled() and "nothing more will arrive" in (
        pause.get_attribute("title") or ""
    )
    assert page.locator(f"{p} .rtnb-conn-button").inner_text() == "Retry"
    assert "cannot resolve host" in page.locator(f"{p} .rtnb-panel-error").inner_text()


def test_one_way_connection_has_no_send_box_but_can_pause(page: Any) -> None:
    p = f"{cell(CLOCK)} .rtnb-panel-controls"
    assert not page.locator(f"{p} .rtnb-send-button").is_visible()
    assert "one-way" in page.locator(f"{p} .rtnb-panel-oneway").inner_text()
    assert page.locator(f"{p} .rtnb-pause-button").is_enabled()
    assert page.locator(f"{p} .rtnb-conn-button").inner_text() == "Disconnect"


def test_pause_counts_what_arrived_since(page: Any) -> None:
    p = f"{cell(CLOCK)} .rtnb-panel-controls"
    page.locator(f"{p} .rtnb-pause-button").click()
    text = js(
        page,
        "(p) => { const t = document.querySelector(p + ' .rtnb-panel-since').textContent;"
        " const n = parseInt((t.match(/(\\d+) new since pause/) || [])[1] || '0');"
        " return n >= 3 ? t : null; }",
        p,
    )
    assert text.startswith("paused · ")
    page.locator(f"{p} .rtnb-pause-button").click()
    js(page, "(p) => document.querySelector(p + ' .rtnb-panel-since').textContent === ''", p)


def test_filter_box_refilters_the_table(page: Any) -> None:
    box = page.locator(f"{cell(TICKS)} .rtnb-filter-input")
    box.fill("symbol=MSFT")
    box.press("Enter")
    rows = f"{cell(TICKS)} .rtnb-table tbody tr.rtnb-row"
    js(
        page,
        "(sel) => { const r = [...document.querySelectorAll(sel)];"
        " return r.length >= 3 && r.every(tr => tr.textContent.includes('MSFT')"
        " && !tr.textContent.includes('AAPL')); }",
        rows,
    )
    assert page.locator(f"{cell(TICKS)} .rtnb-table").count() == 1  # replaced, not added


def test_disconnect_then_reconnect(page: Any, tmp_path: Any) -> None:
    p = f"{cell(TICKS)} .rtnb-panel-controls"
    page.locator(f"{p} .rtnb-conn-button").click()
    js(
        page,
        "(p) => document.querySelector(p + ' .rtnb-conn-button')?.textContent === 'Reconnect'",
        p,
    )
    assert page.locator(f"{p} .rtnb-panel-state").inner_text().lower().startswith("closed")
    assert page.locator(f"{p} .rtnb-send-button").is_disabled()
    shot = ROOT / "docs" / "panel-states.png" if os.environ.get(UPDATE) else tmp_path / "p.png"
    top = page.locator(".jp-Notebook").bounding_box()
    end = page.locator(cell(GONE)).bounding_box()
    assert top is not None and end is not None
    clip = {**top, "height": end["y"] + end["height"] - top["y"] + 8}
    page.screenshot(path=str(shot), clip=clip)  # closed, one-way, failed (not the echo)
    page.locator(f"{p} .rtnb-conn-button").click()
    # the panel now shows the new connection: open again, with counters moving
    js(
        page,
        "(sel) => [...document.querySelectorAll(sel + ' .rtnb-panel-state')]"
        ".some(s => s.textContent === 'open')",
        cell(TICKS),
    )
    assert page.locator(f"{cell(TICKS)} .rtnb-panel-controls").count() == 1
    print("screenshots in", tmp_path)


def test_panel_and_its_table_count_alike(page: Any) -> None:
    p = f"{cell(ECHO)} .rtnb-panel-controls"
    page.locator(cell(ECHO)).scroll_into_view_if_needed()  # views out of sight rest
    for i in range(4):  # as a person would: type, Send
        page.locator(f"{p} .rtnb-send-input").fill(f'{{"n": {i}}}')
        page.locator(f"{p} .rtnb-send-button").click()
    bar = js(
        page,
        "(sel) => { const t = document.querySelector(sel)?.textContent || '';"
        " return t.includes('4 received') ? t : null; }",
        f"{cell(ECHO)} .rtnb-table-info",
    )
    # eight rows (four sent, four echoed) and the panel's own words and numbers
    assert bar.startswith("8 rows · 4 received · 4 sent"), bar
    counters = page.locator(f"{p} .rtnb-panel-counters").inner_text()
    assert "4 received" in counters and "4 sent" in counters, counters
