"""A real Chromium EventSource (the /demo/sse page) against rtnb's /sse/ticker.

Run inside the loopback-only namespace:
``scripts/test-netns /work/venv/bin/python -m pytest tests/test_sse_browser.py``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import rtnb
from rtnb.runtime import run
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


def test_rtnb_and_chromium_send_the_same_request_and_resume_alike(context: Any) -> None:
    # Interop with the reference client: Chromium's EventSource and rtnb against one
    # recording server. Both must send Accept and Cache-Control alike (issue 15.4),
    # the non-ASCII last event id as the same UTF-8 bytes (15.1), and wait at least
    # the server's retry: before reconnecting (15.2).
    seen: dict[str, list[tuple[float, dict[str, str], bytes | None]]] = {}
    page_html = (
        "<!doctype html><script>window.got = [];"
        "const es = new EventSource('/events?who=chromium');"
        "es.onmessage = (e) => { window.got.push([e.data, e.lastEventId]);"
        " if (window.got.length >= 3) es.close(); };</script>"
    )

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=page_html, content_type="text/html")

    async def events(request: web.Request) -> web.StreamResponse:
        raw = next((v for k, v in request.raw_headers if k.lower() == b"last-event-id"), None)
        seen.setdefault(request.query["who"], []).append(
            (time.monotonic(), dict(request.headers), raw)
        )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write("retry: 300\nid: …ü\ndata: x\n\n".encode())
        return resp

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    runner = web.AppRunner(app, shutdown_timeout=0.5)

    async def start() -> int:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return int(runner.addresses[0][1])

    base = f"http://127.0.0.1:{run(start(), timeout=10)}"
    try:
        tab = context.new_page()
        tab.goto(base + "/")
        assert wait_for(tab, "window.got.length >= 3 && window.got") == [["x", "…ü"]] * 3
        c = rtnb.connect("sse", base + "/events?who=rtnb")
        deadline = time.monotonic() + 10
        while len(seen.get("rtnb", [])) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        c.close()
    finally:
        run(runner.cleanup(), timeout=10)
    for who in ("chromium", "rtnb"):
        reqs = seen[who][:3]
        assert [raw for _, _, raw in reqs] == [None, "…ü".encode(), "…ü".encode()], who
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(reqs)]
        assert min(gaps) >= 0.3, (who, gaps)
    for name in ("Accept", "Cache-Control"):
        assert seen["rtnb"][0][1][name] == seen["chromium"][0][1][name], name
    assert seen["rtnb"][0][1]["Cache-Control"] == "no-cache"
