"""A real Chromium EventSource (the /demo/sse page) against rtnb's /sse/ticker.

Run inside the loopback-only namespace:
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_sse_browser.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import rtnb
from rtnb.server import Server

from .conftest import CHROMIUM, CHROMIUM_FLAGS, require_netns

pytestmark = pytest.mark.browser

FLAGS = [*CHROMIUM_FLAGS]


@pytest.fixture
def context(tmp_path: Path) -> Iterator[Any]:
    require_netns()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield ctx
        finally:
            ctx.close()


def wait_for(page: Any, expression: str, timeout: float = 20) -> Any:
    page.wait_for_function(expression, timeout=timeout * 1000)
    return page.evaluate(expression)


def test_event_source_receives_ticks_and_resumes_after_drops(context: Any, server: Server) -> None:
    page = context.new_page()
    page.goto(server.url_for("/demo/sse?symbols=AAPL,MSFT&rate=40&cut_after=6&retry=50&seed=31"))
    wait_for(page, "window.rtnbSSE.ids.length >= 30 && window.rtnbSSE.opens >= 4")
    stats = page.evaluate("window.rtnbSSE")
    ids = stats["ids"]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no gap, no duplicate
    assert stats["errors"] >= 3  # the drops the browser saw and recovered from
    assert stats["gaps"] == 0 and stats["dups"] == 0
    assert stats["gapEvents"] == []
    assert page.locator("#ticks tr").count() > 0
    assert page.locator("#status").inner_text() in ("open", "connecting")


def test_event_source_with_a_token_and_a_finite_stream_stops_on_204(
    context: Any,
) -> None:
    srv = rtnb.serve(token="browser-token")
    try:
        page = context.new_page()
        page.goto(srv.url_for("/demo/sse?symbols=GOOG&rate=200&count=25&retry=50"))
        wait_for(page, "document.getElementById('status').textContent === 'closed'")
        stats = page.evaluate("window.rtnbSSE")
        assert stats["ids"] == list(range(1, 26))
        assert "closed for good" in page.locator("#log").inner_text()
    finally:
        srv.stop()


def test_demo_page_works_under_a_proxy_path_prefix(context: Any, server: Server) -> None:
    # As behind jupyter-server-proxy: only /user/x/proxy/PORT/... reaches rtnb.
    prefix = f"/user/x/proxy/{server.port}"

    def proxy(route: Any) -> None:
        url = route.request.url
        base = server.url + prefix
        if url.startswith(base + "/"):
            route.continue_(url=server.url + url[len(base) :])
        else:
            route.fulfill(status=404, body="not behind the proxy")

    context.route("**/*", proxy)
    page = context.new_page()
    page.goto(server.url + prefix + "/demo/sse?symbols=AAPL&rate=200&count=5&retry=50")
    wait_for(page, "document.getElementById('status').textContent === 'closed'")
    assert page.evaluate("window.rtnbSSE.ids") == [1, 2, 3, 4, 5]
