"""The option tables: one per kind, checking connect() options and building both parsers."""

from __future__ import annotations

import argparse
import dataclasses
import doctest
import inspect
import warnings
from typing import Any

import pytest

import rtnb
import rtnb.options
from rtnb.cli import build_parser
from rtnb.connection import Connection
from rtnb.flags import add_connect_arguments, connect_options, deprecated_flags, parse_args
from rtnb.magics import RTMagics
from rtnb.options import (
    CommonOptions,
    GraphQLOptions,
    JSONRPCOptions,
    MQTTOptions,
    Options,
    ReplayOptions,
    SocketIOOptions,
    SSEOptions,
    WebRTCOptions,
    WSOptions,
    check_options,
)
from rtnb.transports import KINDS, kind, kind_names, option_tables, transport_class
from rtnb.transports import check_options as check_kind_options

TABLES = [
    WSOptions,
    SSEOptions,
    WebRTCOptions,
    ReplayOptions,
    JSONRPCOptions,
    GraphQLOptions,
    SocketIOOptions,
    MQTTOptions,
]


def ingest(data: Any, event: Any = None, id: Any = None, channel: Any = None) -> None:
    """A transport's ingest callback that keeps nothing (the transports are not opened)."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="t", exit_on_error=False)
    add_connect_arguments(p, TABLES)
    return p


def parsed(*argv: str) -> dict[str, Any]:
    args, notes = parse_args(parser(), list(argv))
    assert notes == []
    return connect_options(args, TABLES)


# --- the registry and the tables agree ------------------------------------------------------


def test_every_kind_is_registered_once_with_its_table_and_transport() -> None:
    assert kind_names() == (
        "ws",
        "sse",
        "webrtc",
        "replay",
        "jsonrpc",
        "graphql",
        "socketio",
        "mqtt",
    )
    assert option_tables() == tuple(TABLES)
    for name, k in KINDS.items():
        cls = transport_class(name)
        assert cls.kind == name == k.options.kind
        assert cls.options == k.options.names(), name  # the transport's list is the table's
    assert kind("WebSocket").name == "ws" and kind("rtc").name == "webrtc"


def test_the_unknown_kind_message_names_every_kind() -> None:
    with pytest.raises(ValueError) as info:
        kind("smoke")
    assert str(info.value) == (
        "unknown connection kind 'smoke'; use one of 'ws', 'sse', 'webrtc', 'replay', "
        "'jsonrpc', 'graphql', 'socketio', 'mqtt'"
    )


def test_common_options_are_the_connection_keywords() -> None:
    params = inspect.signature(Connection.__init__).parameters.values()
    keywords = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert CommonOptions.names() == keywords
    defaults = {p.name: p.default for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    for f in dataclasses.fields(CommonOptions):
        if f.name == "name":  # connect() leaves it None; the registry then picks ws1, ws2, ...
            assert f.default is None and defaults["name"] is inspect.Parameter.empty
            continue
        assert f.default == defaults[f.name], f.name


def test_table_defaults_are_what_the_transports_use() -> None:
    ws = transport_class("ws")("ws://h/x", ingest, {})
    d = WSOptions()
    for name in ("compression", "ping_interval", "ping_timeout", "max_size", "proxy"):
        assert ws._connect_kwargs[name] == getattr(d, name), name  # type: ignore[attr-defined]
    sse = transport_class("sse")("http://h/x", ingest, {})
    assert (sse.method, sse.max_event_size) == (SSEOptions().method, SSEOptions().max_event_size)  # type: ignore[attr-defined]
    rtc = transport_class("webrtc")("ws://h/x", ingest, {})
    w = WebRTCOptions()
    assert (rtc.label, rtc.role, rtc.ordered, rtc.auto_wait) == (  # type: ignore[attr-defined]
        w.channel,
        w.role,
        w.ordered,
        w.auto_wait,
    )
    rp = transport_class("replay")("x.jsonl", ingest, {})
    r = ReplayOptions()
    assert (rp.speed, rp.loop, rp.directions) == (r.speed, r.loop, (r.direction,))  # type: ignore[attr-defined]


@pytest.mark.parametrize("table", [CommonOptions, *TABLES])
def test_every_option_has_help_in_its_docstring(table: type[Options]) -> None:
    doc = table.__doc__ or ""
    for f in dataclasses.fields(table):
        text = table.help(f.name)
        assert len(text) > 10, f.name
        assert f"        {f.name}: {text}" in doc


# --- checking connect() options -------------------------------------------------------------


def test_an_unknown_option_is_named_with_a_close_one_and_the_known_ones() -> None:
    with pytest.raises(TypeError) as info:
        check_options("ws", {"ping_intervall": 5, "zzz": 1}, WSOptions)
    text = str(info.value)
    assert text.startswith(
        "unknown option(s) for ws connections: ping_intervall (did you mean ping_interval?), zzz;"
    )
    assert "ws knows cafile, compression, engine, headers," in text
    assert "and every kind backoff, max_messages, name, open_timeout, reconnect, send_on_open" in (
        text
    )


def test_a_common_option_given_to_the_wrong_place_is_suggested() -> None:
    with pytest.raises(TypeError, match=r"max_mesages \(did you mean max_messages\?\)"):
        check_kind_options("sse", {"max_mesages": 5})


def test_known_options_come_back_as_a_frozen_table() -> None:
    opts = check_kind_options("sse", {"method": "POST", "json": {"a": 1}})
    assert isinstance(opts, SSEOptions) and opts.json == {"a": 1} and opts.timeout == 10.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.method = "GET"  # type: ignore[misc]


def test_connect_refuses_an_unknown_option_before_connecting() -> None:
    before = dict(rtnb.connections())
    with pytest.raises(TypeError, match=r"unknown option\(s\) for replay connections: verify"):
        rtnb.connect("replay", "nothing.jsonl", verify=False)
    with pytest.raises(TypeError, match=r"subprotocol \(did you mean subprotocols\?\)"):
        rtnb.connect("ws", "ws://127.0.0.1:1/", subprotocol="chat")
    assert rtnb.connections() == before


# --- the flags ------------------------------------------------------------------------------


def test_no_flag_given_means_no_option() -> None:
    assert parsed() == {}


def test_flags_become_connect_options() -> None:
    assert parsed(
        "--name",
        "t",
        "-H",
        "X-A: 1",
        "--header",
        "X-B:two words",
        "--no-reconnect",
        "--send-on-open",
        '{"type": "subscribe"}',
        "--send-on-open",
        "hello",
        "--max-messages",
        "5",
        "--no-verify",
        "--cafile",
        "ca.pem",
        "--subprotocol",
        "chat",
        "--method",
        "post",
        "--json-body",
        '{"q": [1]}',
        "--last-event-id",
        "7",
        "--role",
        "offer",
        "--ice-server",
        "stun:h",
        "--speed",
        "0",
        "--loop",
    ) == {
        "name": "t",
        "headers": [("X-A", "1"), ("X-B", "two words")],
        "reconnect": False,
        "send_on_open": ['{"type": "subscribe"}', "hello"],
        "max_messages": 5,
        "verify": False,
        "cafile": "ca.pem",
        "subprotocols": ["chat"],
        "method": "POST",
        "json": {"q": [1]},
        "last_event_id": "7",
        "role": "offer",
        "ice_servers": ["stun:h"],
        "speed": 0.0,
        "loop": True,
    }
    assert parsed("--reconnect", "--verify") == {"reconnect": True, "verify": True}


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["-H", "nocolon"], "a header is written 'Name: value', not 'nocolon'"),
        (["--send-on-open", '{"a":'], "--send-on-open looks like JSON but does not parse"),
        (["--json-body", "{x"], "--json-body is not valid JSON"),
    ],
)
def test_a_value_that_does_not_convert_is_a_sentence(argv: list[str], words: str) -> None:
    args, _ = parse_args(parser(), argv)
    with pytest.raises(ValueError, match="^" + words.replace("(", r"\(")):
        connect_options(args, TABLES)


@pytest.mark.parametrize(
    ("old", "value", "new", "option", "expected"),
    [
        ("--insecure", None, "--no-verify", "verify", False),
        ("-k", None, "--no-verify", "verify", False),
        ("--send", "hi", "--send-on-open", "send_on_open", ["hi"]),
        ("--json", '{"a": 1}', "--json-body", "json", {"a": 1}),
    ],
)
def test_an_old_spelling_still_works_and_warns(
    old: str, value: str | None, new: str, option: str, expected: Any
) -> None:
    assert deprecated_flags(TABLES)[old] == new
    argv = [old] if value is None else [old, value]
    with pytest.warns(FutureWarning, match=f"^{old} is deprecated and will be removed; use {new}$"):
        args = parser().parse_args(argv)
    assert connect_options(args, TABLES) == {option: expected}
    args, notes = parse_args(parser(), argv)  # what the magics and the CLI show
    assert notes == [f"{old} is deprecated and will be removed; use {new}"]
    assert connect_options(args, TABLES) == {option: expected}


def test_old_and_new_spellings_of_a_repeatable_flag_add_up() -> None:
    args, notes = parse_args(parser(), ["--send", "a", "--send-on-open", "b", "--send", "c"])
    assert connect_options(args, TABLES) == {"send_on_open": ["a", "b", "c"]}
    assert notes == ["--send is deprecated and will be removed; use --send-on-open"]  # said once


def test_a_warnings_filter_still_applies_to_old_spellings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        with pytest.raises(FutureWarning):
            parse_args(parser(), ["--insecure"])
        warnings.simplefilter("ignore", FutureWarning)
        args, notes = parse_args(parser(), ["--insecure"])
    assert notes == [] and connect_options(args, TABLES) == {"verify": False}


def test_an_old_spelling_the_frontend_uses_itself_is_left_to_it() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--json", action="store_true", help="print records")
    add_connect_arguments(p, TABLES)
    args, notes = parse_args(p, ["--json", "--json-body", "[1]"])
    assert args.json is True and notes == []
    assert connect_options(args, TABLES) == {"json": [1]}


def _flags(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings if a.help != argparse.SUPPRESS}


def test_magics_and_cli_spell_every_connection_flag_the_same() -> None:
    table_flags = set()
    for table in [CommonOptions, *TABLES]:
        for f in dataclasses.fields(table):
            if f.metadata["flag"] is not None:
                flag = f.metadata["flag"]
                table_flags |= set(flag.names)
                if flag.action == "bool":
                    table_flags.add("--no-" + flag.names[0][2:])
    magic = _flags(RTMagics.rt_connect.parser)  # type: ignore[attr-defined]
    subs = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    tail, record = _flags(subs.choices["tail"]), _flags(subs.choices["record"])
    assert table_flags <= magic
    assert table_flags - {"--name", "-n"} <= tail  # rtnb tail binds no variable; -n is --count
    assert table_flags - {"--name", "-n"} <= record
    assert magic - table_flags == {"--quiet", "-q", "--timeout"}  # the magic's own
    assert tail - table_flags == {"-h", "--help", "--json", "--count", "--timeout"}  # and -n


def test_flags_are_spelled_after_their_option() -> None:
    # the flag is the option's name with dashes, singular when it repeats
    irregular = {
        "json": "--json-body",  # --json is rtnb tail's "print records"
        "topic": "--send-topic",  # --topic subscribes (mqtt's topics)
    }
    for table in [CommonOptions, *TABLES]:
        for f in dataclasses.fields(table):
            flag = f.metadata["flag"]
            if flag is None:
                continue
            spelled = "--" + f.name.replace("_", "-")
            if flag.action == "append" and spelled.endswith("s"):
                spelled = spelled[:-1]
            assert flag.names[0] == irregular.get(f.name, spelled), f.name


def test_docstring_examples() -> None:
    result = doctest.testmod(rtnb.options)
    assert result.failed == 0 and result.attempted > 0
