"""Every example after "Run All" in a real JupyterLab (headless Chromium): no errors, and the
views are still live when the run ends (the streams are not closed by a last cell).

Run inside the loopback-only namespace (offline: 07 replays its samples):
``scripts/test-netns env PYTHONPATH=$PWD .venv/bin/python -m pytest tests/test_examples_browser.py``

With ``RTNB_UPDATE_SCREENSHOT=1`` it writes ``docs/examples/NN.png`` (the README's).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, require_netns
from .labpage import Lab, jupyter_lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))
SHOTS = ROOT / "docs" / "examples"
ERRORS = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_netns()
    work = tmp_path_factory.mktemp("examples")
    for path in EXAMPLES:
        shutil.copy(path, work / path.name)
    shutil.copytree(ROOT / "examples" / "data", work / "data")
    with jupyter_lab(work, width=1100, height=1400) as running:
        yield running


def run_all(lab: Lab, name: str) -> Any:
    page = lab.open(name)
    page.wait_for_timeout(1500)  # the run starts
    lab.wait_idle(page, timeout=240)
    return page


def texts(page: Any, selector: str) -> list[str]:
    # textContent, not innerText: cells scrolled out of view render no layout text
    return list(
        page.evaluate(
            "(sel) => [...document.querySelectorAll(sel)].map(e => e.textContent)", selector
        )
    )


def ended_views(page: Any) -> list[str]:
    states = texts(page, ".rtnb-panel-state")
    return [s for s in states if s.lower().startswith(("closed", "failed"))]


def screenshot(page: Any, path: Path) -> None:
    """The whole notebook, scaled to 800 px wide with a 256-colour palette (small files)."""
    from PIL import Image, ImageChops

    top = (
        "() => { let h = 0; for (const e of document.querySelectorAll('.jp-WindowedPanel-outer'))"
        " { e.scrollTop = 0; h = Math.max(h, e.scrollHeight); } return h; }"
    )
    page.set_viewport_size({"width": 1100, "height": 9000})  # tall: every cell in view
    page.wait_for_timeout(1000)
    height = page.evaluate(top)
    page.set_viewport_size({"width": 1100, "height": min(16000, max(1400, height + 200))})
    page.wait_for_timeout(2000)  # the layout follows, views redraw
    page.evaluate(top)
    raw = path.with_suffix(".raw.png")
    page.locator(".jp-Notebook").screenshot(path=str(raw))
    image = Image.open(raw).convert("RGB")
    blank = Image.new("RGB", image.size, image.getpixel((image.width - 1, image.height - 1)))
    box = ImageChops.difference(image, blank).getbbox()  # the content, without the blank end
    if box is not None:
        image = image.crop((0, 0, image.width, min(image.height, box[3] + 16)))
    image = image.resize((800, round(image.height * 800 / image.width)), Image.LANCZOS)
    image.quantize(256).save(path, optimize=True)
    raw.unlink()


MARKED_RESUME = """() => {
  for (const table of document.querySelectorAll(".rtnb-table")) {
    const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent);
    const id = heads.indexOf("id");
    const back = table.querySelector("tr.rtnb-mark-resume");
    if (id < 0 || !back) continue;
    const cut = back.nextElementSibling; // newest first: the cut is below the resume
    const after = back.previousElementSibling;
    const before = cut && cut.nextElementSibling;
    if (!cut?.classList.contains("rtnb-mark-cut")) continue;
    if (!after?.classList.contains("rtnb-row") || !before?.classList.contains("rtnb-row")) continue;
    const cells = (tr) => [...tr.children].map((td) => td.textContent);
    const [a, b] = [cells(after), cells(before)];
    // pooled rows that showed a mark before show a message with every cell again
    const rows = [...table.querySelectorAll("tr.rtnb-row")];
    const squeezed = rows.filter((tr) => [...tr.children].some(
      (td) => td.colSpan !== 1 || td.style.display === "none")).length;
    const marks = { back: back.textContent, cut: cut.textContent, squeezed };
    return { after: [a[0], a[id]], before: [b[0], b[id]], ...marks };
  }
  return null;
}"""


def marked_resume(page: Any) -> dict[str, Any]:
    """The rows around a resume in 03's live table: the cut and resume marks, and on both
    sides a message whose ``#`` equals its SSE ``id`` and goes on by one."""
    tables = page.locator(".rtnb-table")
    tables.last.scroll_into_view_if_needed()  # views out of sight rest
    handle = page.wait_for_function(MARKED_RESUME, timeout=20_000)
    found: dict[str, Any] = handle.json_value()
    (n_after, id_after), (n_before, id_before) = found["after"], found["before"]
    assert n_after == id_after and n_before == id_before, found  # a fresh stream: ids from 1
    assert int(id_after) == int(id_before) + 1, found  # nothing lost or repeated
    assert found["cut"].startswith("✂") and "cut" in found["cut"], found
    assert f"Last-Event-ID {id_before}" in found["back"], found
    assert found["squeezed"] == 0, found
    return found


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_run_all_reads_well_and_leaves_live_views(lab: Lab, path: Path, tmp_path: Path) -> None:
    page = run_all(lab, path.name)
    assert page.locator(ERRORS).count() == 0, texts(page, ERRORS)
    assert ended_views(page) == []
    name = path.stem[:2]
    if name == "01":  # the table keeps moving after the run: its newest row changes
        rows = ".rtnb-table tbody tr.rtnb-row"
        page.locator(rows).first.scroll_into_view_if_needed()  # views out of sight rest
        first = page.locator(rows).first.get_attribute("data-seq")
        page.wait_for_function(
            "([sel, first]) => document.querySelector(sel)?.dataset.seq !== first",
            arg=[rows, first],
            timeout=15_000,
        )
    if name == "03":  # the cuts and resumes are marked, and # and id go on by one across them
        assert marked_resume(page) is not None
    if name == "04":  # the live signaling views (bot, left) filled in, states as chips
        views = texts(page, ".rtnb-signaling")
        assert len(views) == 2, views
        for log in views:
            for word in ("offer", "answer", "ice", "dtls", "connected", "data channel"):
                assert word in log, log[:400]
        ice = texts(page, ".rtnb-signaling .rtnb-sig-chip[data-state='ice'] .rtnb-sig-chip-value")
        assert ice and all(v in ("completed", "connected") for v in ice), ice
    if name == "06":
        bars = texts(page, ".rtnb-progress")
        assert bars and all("done" in b for b in bars), bars
    if name == "07":
        body = " ".join(texts(page, ".jp-Notebook"))
        assert "replaying data/coinbase-ticker-sample.jsonl" in body
        assert "Traceback" not in body
    time.sleep(2)  # the plots fill a little more for the picture
    out = SHOTS / f"{path.stem}.png" if os.environ.get("RTNB_UPDATE_SCREENSHOT") else None
    if out is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        screenshot(page, out)
    page.evaluate(
        "async () => { await window.jupyterapp.commands.execute('kernelmenu:shutdown');"
        " await window.jupyterapp.commands.execute('application:close-all'); }"
    )
    page.close()
