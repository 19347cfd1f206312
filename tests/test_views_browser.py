"""The live views in a real JupyterLab opened by headless Chromium.

One JupyterLab, one notebook, one page for the whole module (they are slow on
two shared cores). Run inside the loopback-only namespace:
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_views_browser.py``.
Takes a screenshot of the panel, table and plot as it goes; with
``RTNB_UPDATE_SCREENSHOT=1`` it replaces ``docs/screenshot.png`` (the README's).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, require_netns
from .labpage import cell, jupyter_lab, write_notebook

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CELLS = [
    "import rtnb\n"
    "srv = rtnb.serve()\n"
    "ticks = rtnb.connect('ws', srv.url_for('/ws/ticker?symbols=AAPL,MSFT,GOOG&rate=8'),"
    " name='ticks')\n"
    "echo = rtnb.connect('ws', srv.url_for('/ws/echo'), name='echo')\n"
    "ticks.wait_open(10); echo.wait_open(10);",
    "ticks.panel(max_rows=12, height=300)",
    "ticks.plot('price', by='symbol', window=15)",
    "ticks.plot('price', by='symbol', window=15, backend='canvas')",
    "echo",
    "quiet = rtnb.connect('ws', srv.url_for('/ws/echo'), name='quiet', max_messages=200_000)\n"
    "quiet.wait_open(10)\n"
    "big = quiet.plot('v', x='i', window=None, backend='canvas', title='100,000 points')\n"
    "big.batch_points = 200_000  # no decimation: the browser gets every point\n"
    "big",
    "import math\n"
    "def fill():\n"
    "    for i in range(100_000):\n"
    "        v = 100 + 10 * math.sin(i / 700) + i % 97 / 50\n"
    '        quiet._ingest(\'{"i": %d, "v": %.3f}\' % (i, v))\n'
    "rtnb.runtime.get_runtime().call_soon(fill)",
    "import time\n"
    "fast = rtnb.connect('ws', srv.url_for('/ws/ticker?symbols=AAPL,MSFT,GOOG,AMZN&rate=100'),"
    " name='fast')\n"
    "fast.wait_open(10); time.sleep(1)\n"
    "fast.send({'type': 'subscribe', 'symbols': ['TSLA']})  # its ack is one odd message\n"
    "fast.table(max_rows=2000, height=260)",
    "import threading\n"
    "brief = rtnb.connect('ws', srv.url_for('/ws/ticker?symbols=AAPL&rate=20'), name='brief')\n"
    "brief.wait_open(10)\n"
    "views = [brief.table(height=100), brief.plot('price', width=400, height=160),"
    " brief.plot('price', backend='canvas', width=400, height=160)]\n"
    "threading.Timer(3, brief.close).start()\n"
    "for v in views: display(v)",
]
PANEL, MPL, CANVAS, ECHO, BIG = 2, 3, 4, 5, 6  # 1-based cell positions
FAST, BRIEF = 8, 9


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_netns()
    work = tmp_path_factory.mktemp("lab")
    write_notebook(work / "views.ipynb", CELLS)
    with jupyter_lab(work) as lab:
        pg = lab.open("views.ipynb", run_all=True)
        pg.wait_for_selector(f"{cell(ECHO)} .rtnb-panel-controls", timeout=90_000)
        pg.started = time.monotonic()
        yield pg


def wait_for(page: Any, expression: str, arg: Any = None, timeout: float = 30) -> Any:
    page.wait_for_function(expression, arg=arg, timeout=timeout * 1000)
    return page.evaluate(expression, arg)


def test_table_rows_change_and_show_the_fields(page: Any) -> None:
    rows = f"{cell(PANEL)} .rtnb-table tbody tr.rtnb-row"
    page.wait_for_selector(rows, timeout=30_000)
    heads = page.locator(f"{cell(PANEL)} .rtnb-table thead th").all_inner_texts()
    assert heads[:3] == ["#", "time", ""] and {"symbol", "price"} <= set(heads)
    first = page.locator(rows).first.get_attribute("data-seq")
    wait_for(
        page,
        "([sel, first]) => document.querySelector(sel)?.dataset.seq !== first",
        [rows, first],
    )
    texts = " ".join(page.locator(f"{rows} td.rtnb-cell").all_inner_texts())
    assert {"AAPL", "MSFT", "GOOG"} & set(texts.split())
    assert page.locator(rows).count() <= 12
    counters = page.locator(f"{cell(PANEL)} .rtnb-panel-counters").inner_text()
    assert "received" in counters and "msg/s" in counters
    state = page.locator(f"{cell(PANEL)} .rtnb-panel-state").inner_text()
    assert state == "open"


def test_clicking_a_row_shows_the_whole_payload(page: Any) -> None:
    # Pick and click the row in one step: the table re-renders ten times a
    # second, so a separate read and click could land on different rows.
    seq, number = page.evaluate(
        """(sel) => {
          const row = document.querySelectorAll(sel)[2];
          row.click();
          return [row.dataset.seq, row.firstElementChild.textContent];
        }""",
        f"{cell(PANEL)} .rtnb-table tbody tr.rtnb-row",
    )
    assert int(number) == int(seq) + 1  # the # column counts from 1
    detail = page.locator(f"{cell(PANEL)} .rtnb-table-detail pre")
    detail.wait_for(timeout=20_000)
    # the pane outlives the row: at 24 msg/s the row leaves a 12-row table in
    # about half a second, the payload stays readable
    wait_for(
        page,
        "(sel) => document.querySelector(sel)?.textContent.includes('\"price\"')",
        f"{cell(PANEL)} .rtnb-table-detail pre",
    )
    assert '"symbol"' in detail.inner_text()
    title = page.locator(f"{cell(PANEL)} .rtnb-table-detail-bar span").inner_text()
    assert title == f"message #{number} (seq {seq})"
    time.sleep(1.0)
    assert page.locator(f"{cell(PANEL)} tr.rtnb-row[data-seq='{seq}']").count() == 0
    assert '"price"' in detail.inner_text()
    page.locator(f"{cell(PANEL)} .rtnb-table-detail-bar button").click()
    wait_for(
        page,
        "(sel) => document.querySelector(sel)?.style.display === 'none'",
        f"{cell(PANEL)} .rtnb-table-detail",
    )


PRESSED = """(sel) => {
  window.__rtnbPressed = [];
  document.querySelector(sel).addEventListener("pointerdown", (e) => {
    window.__rtnbPressed.push(e.target.closest("tr.rtnb-row")?.dataset.seq);
  }, true);
}"""


def test_a_held_click_on_a_fast_table_opens_the_row_pressed(page: Any) -> None:
    table = f"{cell(FAST)} .rtnb-table"
    rows = f"{table} tbody tr.rtnb-row"
    page.locator(cell(FAST)).scroll_into_view_if_needed()
    page.wait_for_selector(rows, timeout=30_000)
    page.evaluate(PRESSED, table)  # the row under the pointer when the button went down
    opened = []
    for i in range(6):  # like a person: aim, press for ~100 ms, release
        box = page.locator(rows).nth(1 + i).bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 60, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.wait_for_timeout(100)
        page.mouse.up()
        pressed = page.evaluate("() => window.__rtnbPressed.at(-1)")
        title = f"{table} .rtnb-table-detail-bar span"
        wait_for(
            page,
            "([sel, want]) => document.querySelector(sel)?.textContent === want",
            [title, f"message #{int(pressed) + 1} (seq {pressed})"],
            timeout=10,
        )
        wait_for(
            page,
            "(sel) => document.querySelector(sel)?.textContent.includes('\"price\"')",
            f"{table} .rtnb-table-detail pre",
            timeout=10,
        )
        opened.append(pressed)
        page.locator(f"{table} .rtnb-table-detail-bar button").click()
    assert len(set(opened)) == 6


def test_a_fast_table_keeps_its_dom_small_and_its_columns_stable(page: Any) -> None:
    table = f"{cell(FAST)} .rtnb-table"
    page.locator(cell(FAST)).scroll_into_view_if_needed()
    wait_for(
        page,
        "(sel) => document.querySelector(sel)?.textContent.startsWith('2,000 rows')",
        f"{table} .rtnb-table-info",
    )
    assert page.locator(f"{table} tbody tr.rtnb-row").count() < 40  # only rows in sight
    heads = page.locator(f"{table} thead th").all_inner_texts()
    # the subscribe ack's fields (type, channel, symbols.0, ...) are no columns
    assert [h.strip() for h in heads[:6]] == ["#", "time", "", "t", "symbol", "price"]
    assert not {"type", "channel", "symbols.0"} & {h.strip() for h in heads}
    price = page.locator(f"{table} tbody tr.rtnb-row td.rtnb-num").first
    assert page.evaluate("(e) => getComputedStyle(e).textAlign", price.element_handle()) == "right"
    when = page.locator(f"{table} tbody tr.rtnb-row td.rtnb-when").first.inner_text()
    assert when.count(":") == 2  # the epoch field t shows as a time
    # pinning a column from its header
    page.locator(f"{table} thead th[data-col='price']").click()
    wait_for(
        page,
        "(sel) => document.querySelector(sel)?.dataset.col === 'price'",
        f"{table} thead th[data-col]",
    )
    page.locator(f"{table} thead th[data-col='price']").click()  # and unpinning it
    wait_for(
        page,
        "(sel) => document.querySelector(sel)?.dataset.col === 't'",
        f"{table} thead th[data-col]",
    )


def test_views_of_a_closed_connection_say_so(page: Any) -> None:
    page.locator(cell(BRIEF)).scroll_into_view_if_needed()
    for badge in (".rtnb-table-ended", ".rtnb-canvas-ended"):
        wait_for(
            page,
            "(sel) => document.querySelector(sel)?.textContent === 'closed'",
            f"{cell(BRIEF)} {badge}",
        )
        assert page.locator(f"{cell(BRIEF)} {badge}").is_visible()


def test_matplotlib_image_changes(page: Any) -> None:
    img = f"{cell(MPL)} .jp-OutputArea-output img"
    page.wait_for_selector(img, timeout=30_000)
    first = page.locator(img).get_attribute("src")
    wait_for(page, "([sel, first]) => document.querySelector(sel)?.src !== first", [img, first])
    box = page.locator(img).bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 150


CANVAS_PIXELS = """(sel) => {
  const c = document.querySelector(sel);
  if (!c || !c.width) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let inked = 0, coloured = 0, hash = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 0) inked++;
    const [r, g, b] = [d[i], d[i + 1], d[i + 2]];
    if (d[i + 3] > 200 && Math.max(r, g, b) - Math.min(r, g, b) > 60) coloured++;
    hash = (hash * 31 + d[i] + 7 * d[i + 1] + 13 * d[i + 2] + d[i + 3]) >>> 0;
  }
  return { inked, coloured, hash, frames: Number(c.dataset.frames || 0) };
}"""


def test_canvas_plot_draws_changing_lines(page: Any) -> None:
    sel = f"{cell(CANVAS)} .rtnb-canvas canvas"
    page.locator(cell(CANVAS)).scroll_into_view_if_needed()  # views out of sight do not draw
    page.wait_for_selector(sel, timeout=30_000)
    wait_for(page, f"(sel) => ({CANVAS_PIXELS})(sel)?.coloured > 50", sel)
    first = page.evaluate(CANVAS_PIXELS, sel)
    wait_for(page, f"([sel, h]) => ({CANVAS_PIXELS})(sel)?.hash !== h", [sel, first["hash"]])
    later = page.evaluate(CANVAS_PIXELS, sel)
    assert later["coloured"] > 50 and later["frames"] > first["frames"]
    legend = page.locator(f"{cell(CANVAS)} .rtnb-canvas-legend").inner_text()
    assert {"AAPL", "MSFT", "GOOG"} <= set(legend.split())


def test_canvas_plot_draws_100k_points(page: Any) -> None:
    sel = f"{cell(BIG)} .rtnb-canvas canvas"
    page.locator(cell(BIG)).scroll_into_view_if_needed()
    page.wait_for_selector(sel, timeout=30_000)
    wait_for(page, "(sel) => document.querySelector(sel)?.dataset.points === '100000'", sel, 60)
    wait_for(page, f"(sel) => ({CANVAS_PIXELS})(sel)?.coloured > 200", sel)
    info = page.locator(f"{cell(BIG)} .rtnb-canvas-info").inner_text()
    assert info == "100,000 points"
    times = []
    for _ in range(5):  # redraws of the full 100k-point line (resize forces one)
        page.evaluate(
            "(sel) => { document.querySelector(sel).closest('.rtnb-canvas').style.width ="
            " (600 + Math.random() * 100) + 'px'; }",
            sel,
        )
        page.wait_for_timeout(100)
        times.append(
            float(page.evaluate("(sel) => document.querySelector(sel).dataset.drawMs", sel))
        )
    print(f"canvas redraw of 100,000 points: {sorted(times)[2]:.1f} ms median")


def test_send_box_sends_and_the_echo_appears(page: Any) -> None:
    page.locator(cell(ECHO)).scroll_into_view_if_needed()
    box = page.locator(f"{cell(ECHO)} .rtnb-send-input")
    box.fill('{"hello": "from the browser"}')
    box.press("Enter")
    echoed = f"{cell(ECHO)} .rtnb-table tr.rtnb-in"
    page.wait_for_selector(echoed, timeout=30_000)
    assert "from the browser" in page.locator(echoed).first.inner_text()
    assert page.locator(f"{cell(ECHO)} .rtnb-table tr.rtnb-out").count() == 1
    feedback = page.locator(f"{cell(ECHO)} .rtnb-panel-feedback")
    wait_for(
        page,
        "(sel) => document.querySelector(sel)?.textContent.startsWith('sent #')",
        f"{cell(ECHO)} .rtnb-panel-feedback",
    )
    box.fill('{"hello": }')
    page.locator(f"{cell(ECHO)} .rtnb-send-button").click()
    assert feedback.inner_text().startswith("not valid JSON")
    assert "rtnb-bad" in (feedback.get_attribute("class") or "")
    time.sleep(1)
    assert page.locator(f"{cell(ECHO)} .rtnb-table tr.rtnb-out").count() == 1  # not sent


def test_screenshot_of_panel_table_and_plot(page: Any, tmp_path: Path) -> None:
    time.sleep(max(0.0, 16 - (time.monotonic() - page.started)))  # let the plot window fill
    page.locator(cell(CANVAS)).screenshot(path=str(tmp_path / "canvas.png"))
    page.locator(cell(ECHO)).screenshot(path=str(tmp_path / "echo.png"))
    print("more screenshots in", tmp_path)
    top = page.locator(cell(PANEL))
    bottom = page.locator(cell(MPL))
    top.scroll_into_view_if_needed()
    a, b = top.bounding_box(), bottom.bounding_box()
    assert a is not None and b is not None
    clip = {
        "x": a["x"],
        "y": a["y"],
        "width": max(a["width"], b["width"]),
        "height": b["y"] + b["height"] - a["y"],
    }
    # The README's picture is refreshed only when asked: a test run leaves the
    # checkout as it found it.
    update = os.environ.get("RTNB_UPDATE_SCREENSHOT") == "1"
    out = ROOT / "docs" / "screenshot.png" if update else tmp_path / "screenshot.png"
    page.screenshot(path=str(out), clip=clip, full_page=True)
    assert out.stat().st_size > 20_000


def test_after_a_page_reload_the_views_show_their_current_state(page: Any) -> None:
    page.evaluate("() => { window.jupyterapp.commands.execute('docmanager:save'); }")
    wait_for(page, "() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    page.reload()
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session"
        "?.kernel?.status === 'idle'",
        timeout=90_000,
    )
    rows = f"{cell(PANEL)} .rtnb-table tbody tr.rtnb-row"
    page.wait_for_selector(rows, timeout=60_000)
    assert int(page.locator(rows).first.get_attribute("data-seq") or 0) > 100
    echo_rows = f"{cell(ECHO)} .rtnb-table tr.rtnb-row"
    page.wait_for_selector(echo_rows, timeout=60_000)  # that cell may render after the panel's
    texts = page.locator(echo_rows).all_inner_texts()
    assert any("from the browser" in r for r in texts)  # rows from before the reload
    sel = f"{cell(CANVAS)} .rtnb-canvas canvas"
    page.locator(cell(CANVAS)).scroll_into_view_if_needed()
    wait_for(page, f"(sel) => ({CANVAS_PIXELS})(sel)?.coloured > 50", sel)
