"""The registry of named connections: names, replacement, lookup, close_all, replay."""

from __future__ import annotations

from pathlib import Path

import pytest

import rtnb
from rtnb import registry
from rtnb.server import Server

from .conftest import free_port, wait_for


def test_default_names_count_per_prefix_and_skip_taken_ones(server: Server) -> None:
    ws = registry.default_name("ws")
    number = int(ws.removeprefix("ws"))
    assert registry.default_name("websocket") == f"ws{number + 1}"  # an alias counts as ws
    assert registry.default_name("webrtc").startswith("rtc")
    assert registry.default_name("sse").startswith("sse")
    taken = rtnb.connect("ws", server.url_for("/ws/echo"), name=f"ws{number + 2}")
    fresh = rtnb.connect("ws", server.url_for("/ws/echo"))
    assert fresh.name == f"ws{number + 3}" and taken.name == f"ws{number + 2}"
    with pytest.raises(ValueError, match="unknown connection kind"):
        registry.default_name("carrier-pigeon")


def test_a_new_connection_replaces_the_one_of_its_name(server: Server) -> None:
    first = rtnb.connect("ws", server.url_for("/ws/echo"), name="same")
    second = rtnb.connect("ws", server.url_for("/ws/echo"), name="same")
    assert first.state == "closed" and first.closing
    assert rtnb.connections()["same"] is second
    assert rtnb.get_connection("same") is second


def test_bad_arguments_leave_the_registered_connection_alone(server: Server) -> None:
    kept = rtnb.connect("ws", server.url_for("/ws/echo"), name="kept").wait_open(10)
    with pytest.raises(TypeError, match="unknown option"):
        rtnb.connect("ws", server.url_for("/ws/echo"), name="kept", colour="blue")
    assert rtnb.get_connection("kept") is kept and kept.state == "open"


def test_a_connection_leaves_the_registry_when_closed_not_when_it_fails() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws/echo"
    c = rtnb.connect("ws", url, name="doomed", reconnect=False)
    wait_for(lambda: c.state == "failed")
    assert rtnb.get_connection("doomed") is c  # kept, with its messages and last error
    c.close()
    with pytest.raises(KeyError, match=r"no connection named 'doomed' \(open ones: "):
        rtnb.get_connection("doomed")


def test_close_all_closes_every_registered_connection(server: Server) -> None:
    conns = [rtnb.connect("ws", server.url_for("/ws/echo")) for _ in range(3)]
    rtnb.close_all()
    assert all(c.state == "closed" for c in conns)
    assert not set(rtnb.connections()) & {c.name for c in conns}


def test_replay_is_registered_like_any_connection(tmp_path: Path) -> None:
    path = tmp_path / "two.jsonl"
    lines = [
        '{"ts": 1.0, "direction": "in", "data": "a"}',
        '{"ts": 1.1, "direction": "in", "data": "b"}',
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = rtnb.replay(path, speed=0)
    assert r.name.startswith("replay") and rtnb.get_connection(r.name) is r
    assert [r.recv(timeout=5).data, r.recv(timeout=5).data] == ["a", "b"]


def test_the_old_homes_of_the_registry_functions_still_work() -> None:
    import rtnb.connection

    assert rtnb.connection.connect is registry.connect is rtnb.connect  # type: ignore[attr-defined]
    assert rtnb.connection.connections is registry.connections  # type: ignore[attr-defined]
    assert rtnb.connection.get_connection is registry.get_connection  # type: ignore[attr-defined]
    assert rtnb.close_all is registry.close_all and rtnb.replay is registry.replay
