"""The index page and the static browser demo pages under /demo/."""

from __future__ import annotations

import html
from importlib import resources

from aiohttp import web

from .config import ENDPOINTS, Endpoint, ServerConfig, config_of
from .security import static_name_ok, token_param

__all__ = ["render_index", "setup"]

STATIC = resources.files("rtnb.server") / "static"

MAGIC = {
    "ws": "%rt_connect ws {path}",
    "sse": "%rt_connect sse {path}",
    "webrtc": "%rt_connect webrtc {path}",
    "jsonrpc": "%rt_connect jsonrpc {path}",
    "graphql": '%rt_connect graphql {path} --query "subscription {{ ticks {{ symbol price }} }}"',
    "socketio": "%rt_connect socketio /",
    "mqtt": "%rt_connect mqtt {path} --topic 'ticks/#'",
}


def render_index(endpoints: list[Endpoint], token: str | None = None) -> str:
    """The HTML index: every endpoint, what it does, and the magic that reaches it."""
    esc = html.escape
    rows = []
    tok = token_param(token) if token else ""
    for ep in endpoints:
        magic = MAGIC.get(ep.kind, "").format(path=ep.path + ep.example)
        if ep.kind == "page":
            sep = "&" if "?" in ep.path else "?"
            # relative, so the link also works behind jupyter-server-proxy (/user/x/proxy/PORT/)
            href = ep.path.lstrip("/") + (sep + tok if tok else "")
            target = f"<a href='{esc(href)}'>{esc(ep.path)}</a>"
        else:
            target = f"<code>{esc(ep.path)}</code>"
        rows.append(
            f"<tr><td>{esc(ep.kind)}</td><td>{target}</td><td>{esc(ep.description)}</td>"
            f"<td><code>{esc(magic)}</code></td></tr>"
        )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rtnb server</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #1f2328; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #d0d7de; padding: .4rem .6rem; text-align: left; }}
code {{ background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; }}
</style></head><body>
<h1>rtnb in-kernel server</h1>
<p>WebSocket, Server-Sent Events and WebRTC endpoints to try from a notebook
(<code>%load_ext rtnb</code>) or a browser. Ticks come from a seeded random walk.</p>
<table><tr><th>kind</th><th>path</th><th>what</th><th>in a notebook</th></tr>
{"".join(rows)}
</table>
<h2>Query options</h2>
<ul>
<li><code>/ws/ticker</code>, <code>/sse/ticker</code>: <code>symbols=AAPL,MSFT</code>,
<code>rate</code> (ticks per second per symbol, 0 = as fast as possible), <code>seed</code>,
<code>count</code> (WebSocket: close after N ticks; SSE: a finite stream with ids 1..N, then
204).</li>
<li><code>/webrtc/signal</code>: <code>room=R</code> (two peers per room; a third is refused
with a JSON error and close code 1008).</li>
<li>Fault injection on <code>/ws/echo</code>, <code>/ws/chat</code>, <code>/ws/ticker</code>,
<code>/sse/clock</code> and <code>/sse/ticker</code>, to watch reconnects and resumes:
<code>latency</code> (ms each message waits before it is sent), <code>jitter</code> (up to
this many ms more, at random), <code>drop</code> (fraction 0-1 of messages silently not sent),
<code>cut_after</code> (cut the TCP connection, with no close frame, after N messages sent).
The random draws follow <code>seed</code>; a bad value is refused with HTTP 400 and the
reason. Example: <code>/ws/ticker?rate=20&amp;drop=0.1&amp;cut_after=200</code>.</li>
</ul>
</body></html>"""


async def index(request: web.Request) -> web.Response:
    """GET / : the endpoint list."""
    config = config_of(request)
    return web.Response(
        text=render_index(request.app[ENDPOINTS], config.token), content_type="text/html"
    )


async def demo_page(request: web.Request) -> web.StreamResponse:
    """GET /demo/NAME : a static page from rtnb/server/static."""
    name = request.match_info["name"]
    if not static_name_ok(name):  # security hook (issue 14): a 5,000-char name was a 500
        raise web.HTTPNotFound()
    target = STATIC / name
    if not target.is_file() and not name.endswith((".html", ".js", ".css")):
        target = STATIC / f"{name}.html"
    if not target.is_file():
        raise web.HTTPNotFound(text=f"no demo page {name!r}")
    ctype = {
        ".html": "text/html",
        ".js": "text/javascript",
        ".css": "text/css",
    }.get(target.name[target.name.rfind(".") :], "application/octet-stream")
    return web.Response(body=target.read_bytes(), content_type=ctype, charset="utf-8")


def setup(app: web.Application, config: ServerConfig, endpoints: list[Endpoint]) -> None:
    """Add / and /demo/{name}."""
    app.router.add_get("/", index)
    app.router.add_get("/demo/{name}", demo_page)
    pages = STATIC.iterdir() if STATIC.is_dir() else iter(())
    for entry in sorted(pages, key=lambda p: p.name):
        if entry.name.endswith(".html"):
            title = entry.name.removesuffix(".html")
            endpoints.append(Endpoint(f"/demo/{title}", "page", f"browser demo: {title}"))
