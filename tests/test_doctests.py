"""The examples in the pure modules' docstrings run and stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

PURE_MODULES = [
    "rtnb.breaks",
    "rtnb.fields",
    "rtnb.message",
    "rtnb.stats",
    "rtnb.ticker",
    "rtnb.server.security",
    "rtnb.localtrust",
    "rtnb.connection",
    "rtnb.mqttwire",
    "rtnb.transports.mqtt",
    "rtnb.transports.socketio",
    "rtnb.signallog",
    "rtnb.helptext",
    "rtnb.lab.plot",
    "rtnb.lab.progress",
]


@pytest.mark.parametrize("name", PURE_MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
