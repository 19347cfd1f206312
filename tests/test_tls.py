"""TLS: ``serve(tls=True)`` with its self-signed certificate, and clients that trust it or not."""

from __future__ import annotations

import os
import ssl
import urllib.request
import warnings
from collections.abc import Iterator

import pytest

import rtnb
import rtnb.transports.tls as client_tls
from rtnb.errors import ConnectError
from rtnb.server import Server
from rtnb.server.tls import make_self_signed


@pytest.fixture(scope="module")
def tls_server() -> Iterator[Server]:
    srv = rtnb.serve(tls=True)
    yield srv
    srv.stop()


def test_tls_server_speaks_https_and_wss(tls_server: Server) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    assert tls_server.url_for("/ws/echo").startswith("wss://127.0.0.1:")
    assert tls_server.cafile is not None
    ctx = ssl.create_default_context(cafile=tls_server.cafile)
    with urllib.request.urlopen(tls_server.url + "/", context=ctx, timeout=10) as resp:
        assert resp.status == 200 and "/ws/echo" in resp.read().decode()


def test_wss_with_the_servers_cafile_works(tls_server: Server) -> None:
    c = rtnb.connect("ws", tls_server.url_for("/ws/echo"), cafile=tls_server.cafile)
    c.wait_open(10).send("secret")
    assert c.recv(timeout=5).data == "secret"


def test_certificate_names_localhost_too(tls_server: Server) -> None:
    url = f"wss://localhost:{tls_server.port}/ws/echo"
    c = rtnb.connect("ws", url, cafile=tls_server.cafile).wait_open(10)
    c.send(b"\x00\x01")
    assert c.recv(timeout=5).data == b"\x00\x01"


def test_without_cafile_the_certificate_is_refused_clearly(tls_server: Server) -> None:
    c = rtnb.connect("ws", tls_server.url_for("/ws/echo"))
    with pytest.raises(ConnectError, match=r"TLS certificate of 127\.0\.0\.1:\d+ not trusted") as e:
        c.wait_open(10)
    assert "self-signed certificate" in str(e.value) and "cafile=" in str(e.value)
    assert c.state == "failed" and c.stats.errors == 1  # fatal: no retry loop


def test_a_certificate_from_another_server_is_refused(tls_server: Server, tmp_path: str) -> None:
    cert, _key = make_self_signed()
    other = f"{tmp_path}/other.pem"
    with open(other, "wb") as f:
        f.write(cert)
    c = rtnb.connect("ws", tls_server.url_for("/ws/echo"), cafile=other)
    with pytest.raises(ConnectError, match="not trusted"):
        c.wait_open(10)


def test_a_cafile_that_cannot_be_used_is_named(tmp_path: str) -> None:
    missing = f"{tmp_path}/missing.pem"
    with pytest.raises(ValueError, match=r"cannot use cafile=.*missing\.pem.*No such file"):
        rtnb.connect("ws", "wss://127.0.0.1:1/ws/echo", cafile=missing)
    junk = f"{tmp_path}/junk.pem"
    with open(junk, "w") as f:
        f.write("not a certificate")
    with pytest.raises(ValueError, match=r"cannot use cafile=.*junk\.pem"):
        rtnb.connect("sse", "https://127.0.0.1:1/sse/clock", cafile=junk)


def test_a_ca_path_given_as_verify_points_to_cafile(tls_server: Server) -> None:
    with pytest.raises(TypeError, match=r"verify must be True or False.*cafile="):
        rtnb.connect("ws", tls_server.url_for("/ws/echo"), verify=tls_server.cafile)


def test_verify_false_works_and_warns_once(
    tls_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_tls, "_warned_insecure", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = rtnb.connect("ws", tls_server.url_for("/ws/echo"), verify=False)
        b = rtnb.connect("ws", tls_server.url_for("/ws/echo"), verify=False)
    insecure = [w for w in caught if "verification is off" in str(w.message)]
    assert len(insecure) == 1
    assert issubclass(insecure[0].category, UserWarning)
    assert "cafile=" in str(insecure[0].message)
    for c in (a, b):
        c.wait_open(10).send("ok")
        assert c.recv(timeout=5).data == "ok"


def test_verify_false_is_never_the_default(tls_server: Server) -> None:
    ctx = client_tls.client_ssl_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_plain_ws_to_a_tls_server_fails_clearly(tls_server: Server) -> None:
    url = tls_server.url_for("/ws/echo").replace("wss://", "ws://")
    c = rtnb.connect("ws", url, reconnect=False)
    with pytest.raises(ConnectError, match="WebSocket handshake failed"):
        c.wait_open(10)


def test_wss_to_a_plain_server_names_the_mismatch(server: Server) -> None:
    url = server.url_for("/ws/echo").replace("ws://", "wss://")
    c = rtnb.connect("ws", url)
    with pytest.raises(ConnectError, match=r"TLS handshake .* failed: .*is it a plain ws://"):
        c.wait_open(10)
    assert c.state == "failed"


def test_tls_server_with_token_keeps_both(tmp_path: str) -> None:
    srv = rtnb.serve(tls=True, token="tok")
    try:
        c = rtnb.connect("ws", srv.url_for("/ws/echo"), cafile=srv.cafile).wait_open(10)
        c.send("both")
        assert c.recv(timeout=5).data == "both"
        bare = rtnb.connect("ws", srv.url_for("/ws/echo", token=False), cafile=srv.cafile)
        with pytest.raises(ConnectError, match="HTTP 401"):
            bare.wait_open(10)
    finally:
        srv.stop()


def test_the_private_key_is_not_left_on_disk() -> None:
    from rtnb.server.tls import server_ssl_context

    _, cafile = server_ssl_context("127.0.0.1")
    assert os.listdir(os.path.dirname(cafile)) == ["cert.pem"]


# --- issue 14 item 5: SSE redirects never downgrade TLS or leak the caller's headers ------


@pytest.fixture(scope="module")
def redirects() -> Iterator[dict[str, object]]:
    """An https server that redirects (307) to a plain http one that records what it gets."""
    from aiohttp import web

    from rtnb.runtime import run
    from rtnb.server.tls import server_ssl_context

    got: list[tuple[str, dict[str, str], bytes]] = []

    async def plain(request: web.Request) -> web.StreamResponse:
        got.append((request.method, dict(request.headers), await request.read()))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b"data: plain\n\n")
        return resp

    runners: list[web.AppRunner] = []

    async def start() -> dict[str, object]:
        app = web.Application()
        app.router.add_route("*", "/s", plain)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        plain_port = runner.addresses[0][1]

        async def hop(request: web.Request) -> web.Response:
            where = request.query["to"]
            raise web.HTTPTemporaryRedirect(where.replace("PLAIN", str(plain_port)))

        tls_app = web.Application()
        tls_app.router.add_route("*", "/hop", hop)
        tls_app.router.add_route("*", "/s", plain)
        ctx, cafile = server_ssl_context("127.0.0.1")
        tls_runner = web.AppRunner(tls_app)
        await tls_runner.setup()
        await web.TCPSite(tls_runner, "127.0.0.1", 0, ssl_context=ctx).start()
        runners.extend([runner, tls_runner])
        return {
            "https": f"https://127.0.0.1:{tls_runner.addresses[0][1]}",
            "plain_port": plain_port,
            "cafile": cafile,
            "got": got,
        }

    yield run(start(), timeout=10)
    for r in runners:
        run(r.cleanup(), timeout=10)


SECRETS = {"Authorization": "Bearer t0k", "X-Api-Key": "k3y"}


def test_sse_refuses_a_redirect_from_https_to_http(redirects: dict[str, object]) -> None:
    got = redirects["got"]
    assert isinstance(got, list)
    got.clear()
    url = f"{redirects['https']}/hop?to=http://127.0.0.1:PLAIN/s"
    c = rtnb.connect(
        "sse",
        url,
        cafile=redirects["cafile"],
        method="POST",
        json={"secret": "body"},
        headers=SECRETS,
        reconnect=True,
    )
    with pytest.raises(ConnectError, match=r"refused a redirect from https://.* to http://"):
        c.wait_open(10)
    assert c.state == "failed"  # fatal: no retry
    assert got == []  # nothing, headers nor body, went out in cleartext


def test_sse_drops_caller_headers_on_a_cross_origin_redirect(
    redirects: dict[str, object],
) -> None:
    got = redirects["got"]
    assert isinstance(got, list)
    got.clear()
    base = str(redirects["https"])
    other = base.replace("127.0.0.1", "localhost")  # same server, another origin
    for target in (f"{base}/s", f"{other}/s"):
        c = rtnb.connect(
            "sse",
            f"{base}/hop?to={target}",
            cafile=redirects["cafile"],
            headers=SECRETS,
            reconnect=False,
        )
        assert c.recv(timeout=10).data == "plain"
        c.close()
    same, cross = got
    assert {k: same[1].get(k) for k in SECRETS} == SECRETS
    assert {k: cross[1].get(k) for k in SECRETS} == {"Authorization": None, "X-Api-Key": None}
    assert cross[1]["Accept"] == "text/event-stream"
