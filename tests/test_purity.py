"""The pure-logic modules import no I/O, event loop, IPython or widget library.

STYLE.md's layering: pure logic (message model, field paths, tick generator,
statistics, record and wire formats) is plain functions and classes, tested
directly; transports, the server and the views build on it, never the reverse.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RTNB = Path(__file__).resolve().parent.parent / "rtnb"

PURE = [
    "fields.py",
    "helptext.py",
    "stats.py",
    "ticker.py",
    "rows.py",
    "series.py",
    "sendtext.py",
    "options.py",
    "sse_format.py",
    "signaling.py",
    "signallog.py",
    "negotiator.py",
    "recordfmt.py",
    "lab/wire.py",
    "lab/numbers.py",
    "lab/claims.py",
    "lab/findings.py",
    "lab/report.py",
    "jsonfast.py",
    "lifecycle.py",
    "message.py",
    "localtrust.py",
    "source.py",
    "server/security.py",
    "server/sse_streams.py",
]

FORBIDDEN = {
    "asyncio",
    "socket",
    "ssl",
    "threading",
    "aiohttp",
    "websockets",
    "httpx",
    "httpx_sse",
    "aiortc",
    "aioice",
    "IPython",
    "ipykernel",
    "ipywidgets",
    "anywidget",
    "traitlets",
    "matplotlib",
}
#: The recv cursor's async twin and its cross-thread wakeup live beside the log.
ALLOWED = {"message.py": {"asyncio", "threading"}}
#: rtnb modules a pure module may lean on (themselves pure).
PURE_RTNB = {m.removesuffix(".py").replace("/", ".") for m in PURE} | {"errors"}


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: name it from the package root
                parts = path.relative_to(RTNB).parent.parts
                base = ".".join(parts[: len(parts) - node.level + 1])
                if node.module:
                    names.add("rtnb:" + ".".join(p for p in (base, node.module) if p))
                else:  # from .. import jsonfast
                    names.update(
                        "rtnb:" + ".".join(p for p in (base, a.name) if p) for a in node.names
                    )
            elif node.module:
                names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_module_imports_no_io(module: str) -> None:
    found = imports(RTNB / module)
    roots = {n.split(".")[0] for n in found if not n.startswith("rtnb:")}
    bad = roots & (FORBIDDEN - ALLOWED.get(module, set()))
    assert not bad, f"{module} imports {sorted(bad)}"
    ours = {n.removeprefix("rtnb:") for n in found if n.startswith("rtnb:")}
    ours |= {n.removeprefix("rtnb.") for n in found if n.startswith("rtnb.")}
    impure = {n for n in ours if n and n not in PURE_RTNB}
    assert not impure, f"{module} imports rtnb modules that do I/O: {sorted(impure)}"


def test_the_checker_sees_io_imports() -> None:
    found = imports(RTNB / "widgets" / "plot.py")
    assert {"ipywidgets", "anywidget"} <= {n.split(".")[0] for n in found}
    assert "rtnb:runtime" in imports(RTNB / "connection.py")
