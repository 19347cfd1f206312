"""Browser links through jupyter-server-proxy (Binder, JupyterHub) vs direct."""

from __future__ import annotations

import importlib.util

import pytest

from rtnb.server import Server, proxy_prefix_for


def test_direct_links_without_a_proxy(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTNB_PROXY_PREFIX", raising=False)
    monkeypatch.delenv("JUPYTERHUB_SERVICE_PREFIX", raising=False)
    assert server.proxy_prefix is None
    assert server.browser_url("/demo/x") == f"{server.url}/demo/x"


def test_explicit_proxy_prefix(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RTNB_PROXY_PREFIX", "/user/ann/proxy/")
    assert server.browser_url("/demo/x") == f"/user/ann/proxy/{server.port}/demo/x"
    assert f"/user/ann/proxy/{server.port}/" in server._repr_html_()
    # kernel-side connections keep using loopback
    assert server.url_for("/ws/echo").startswith("ws://127.0.0.1:")


def test_jupyterhub_prefix_needs_jupyter_server_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RTNB_PROXY_PREFIX", raising=False)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/bob/")
    installed = importlib.util.find_spec("jupyter_server_proxy") is not None
    expected = "/user/bob/proxy/8765/" if installed else None
    assert proxy_prefix_for(8765) == expected
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    assert proxy_prefix_for(8765) == "/user/bob/proxy/8765/"
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert proxy_prefix_for(8765) is None
