"""JupyterLab in headless Chromium for browser tests: start a lab on a folder, open a notebook.

    with jupyter_lab(folder) as lab:
        page = lab.open("nb.ipynb", run_all=True)

The recipe (token, settings in a temp dir, ``--allow-root``, waiting for an
idle kernel, running all cells without awaiting the command) is the one
every browser test of a notebook shares; run it inside the loopback-only namespace.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conftest import CHROMIUM, CHROMIUM_FLAGS, free_port

#: Lab settings for tests: every cell rendered (a screenshot sees the whole notebook), no
#: news prompt over the page.
_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook of these code cells, on the ``python3`` kernel, to ``path``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, str(path))
    return path


def cell(n: int) -> str:
    """The CSS selector of the notebook's ``n``-th cell (1-based)."""
    return f".jp-Notebook .jp-Cell:nth-child({n})"


@dataclass
class Lab:
    base: str
    token: str
    context: Any

    def open(self, name: str, run_all: bool = True, timeout: float = 90) -> Any:
        """A page with notebook ``name`` open (and all its cells started, by default)."""
        page = self.context.new_page()
        # ?reset: a fresh workspace, so tabs of earlier pages are not restored beside it
        page.goto(f"{self.base}/lab/tree/{name}?token={self.token}&reset")
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session"
            "?.kernel?.status === 'idle'",
            timeout=timeout * 1000,
        )
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        if run_all:
            page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        return page

    def wait_idle(self, page: Any, timeout: float = 120) -> None:
        """Until every cell has run (no ``[*]`` prompt left) and the kernel is idle."""
        page.wait_for_function(
            "() => document.querySelectorAll('.jp-Notebook .jp-Cell').length > 0 && "
            "![...document.querySelectorAll('.jp-InputArea-prompt')]"
            ".some(p => p.textContent.includes('*')) && "
            "window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status"
            " === 'idle'",
            timeout=timeout * 1000,
            polling=500,
        )


@contextlib.contextmanager
def jupyter_lab(folder: Path, width: int = 1280, height: int = 2400) -> Iterator[Lab]:
    """A JupyterLab serving ``folder`` and a headless Chromium context to look at it."""
    from playwright.sync_api import sync_playwright

    port, token = free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    state = folder / ".lab-state"
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        env[var] = str(state / var.lower())
    log_path = state / "lab.log"
    state.mkdir(parents=True, exist_ok=True)
    settings = state / "jupyterlab_settings_dir"
    for plugin, values in _SETTINGS.items():
        target = settings / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    with open(log_path, "wb") as log:
        lab = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={port}",
                "--allow-root",
                f"--IdentityProvider.token={token}",
                f"--ServerApp.root_dir={folder}",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if lab.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "JupyterLab did not start:\n" + log_path.read_text()
                    ) from None
                time.sleep(0.3)
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(state / "profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=[*CHROMIUM_FLAGS],
                viewport={"width": width, "height": height},
            )
            try:
                yield Lab(base, token, ctx)
            finally:
                ctx.close()
    finally:
        lab.terminate()
        try:
            lab.wait(20)
        except subprocess.TimeoutExpired:
            lab.kill()
