"""Live views in JupyterLab in headless Chromium: the page's main-thread cost and responsiveness.

    python -m benchmarks.bench_browser_views            # 400 and 10k msg/s, 12 s per case
    python -m benchmarks.bench_browser_views --quick    # one case briefly, as the suite does

It re-runs itself inside the loopback-only namespace (scripts/test-netns).
One JupyterLab serves one notebook per case: a cell starts rtnb's server and
connects to its ticker (4 symbols) at the case's rate, the next cells display
the views. Once every view has drawn, the page is measured for a fixed time:

- long tasks: the share of the measured time the main thread spent in tasks
  over 50 ms (``PerformanceObserver('longtask')``; 0% is an idle page);
- round trip: a trivial ``page.evaluate`` from Playwright, every 200 ms, timed
  from the call to its answer (median and worst), which is how late the page
  answers a click or a key press.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from ._common import ROOT, free_port, machine, table

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SYMBOLS = 4

TABLE = "c.table()"
PANEL = "c.panel()"
MPL = "c.plot('price', by='symbol', window=30)"
CANVAS = "c.plot('price', by='symbol', window=30, backend='canvas')"
#: (name, cells of views); each cell displays one view.
CASES: list[tuple[str, list[str]]] = [
    ("no views", []),
    ("table", [TABLE]),
    ("panel", [PANEL]),
    ("matplotlib plot", [MPL]),
    ("canvas plot", [CANVAS]),
    ("table + both plots", [TABLE, MPL, CANVAS]),
    ("panel + table + both plots", [PANEL, TABLE, MPL, CANVAS]),
]
TEN = ("ten views", [PANEL, TABLE, TABLE, TABLE, MPL, MPL, CANVAS, CANVAS, CANVAS, TABLE])

OBSERVE = """() => {
  window.__rtnbLong = [];
  window.__rtnbObs?.disconnect();
  window.__rtnbObs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__rtnbLong.push([e.startTime, e.duration]);
  });
  window.__rtnbObs.observe({ type: "longtask" });
  return performance.now();
}"""
COLLECT = """(t0) => {
  const t1 = performance.now();
  window.__rtnbObs?.disconnect();
  let busy = 0, n = 0;
  for (const [s, d] of window.__rtnbLong) {
    const a = Math.max(s, t0), b = Math.min(s + d, t1);
    if (b > a) { busy += b - a; n++; }
  }
  return { busy, n, span: t1 - t0 };
}"""
VIEWS_DRAWN = """(n) => {
  // every cell ran, and the first view drew (views out of sight wait until they show)
  const nb = window.jupyterapp?.shell?.currentWidget?.node;
  if (!nb) return false;
  const prompts = [...nb.querySelectorAll('.jp-Cell .jp-InputPrompt')].map((p) => p.textContent);
  if (prompts.length < n + 1 || !prompts.every((t) => /\\[\\d+\\]/.test(t))) return false;
  const first = nb.querySelectorAll('.jp-Notebook .jp-Cell')[1];
  return n === 0 || !!first?.querySelector('.rtnb-table tr.rtnb-row, '
    + '.rtnb-canvas canvas[data-frames], .jp-OutputArea-output img');
}"""


def notebook(rate: float, views: list[str]) -> dict[str, Any]:
    """A notebook: a setup cell, then one cell per view."""
    per_symbol = rate / SYMBOLS
    setup = (
        "import rtnb\n"
        "srv = rtnb.serve()\n"
        "syms = 'AAPL,MSFT,GOOG,AMZN'\n"
        f"c = rtnb.connect('ws', srv.url_for(f'/ws/ticker?symbols={{syms}}&rate={per_symbol:g}'),"
        " name='ticks')\n"
        "c.wait_open(10);"
    )
    cells = [setup, *views]
    return {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": s,
                "outputs": [],
                "execution_count": None,
            }
            for s in cells
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


class Lab:
    """One JupyterLab on loopback with its own config dirs."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.port, self.token = free_port(), secrets.token_hex(16)
        env = dict(os.environ)
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
            env[var] = str(work / var.lower())
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
        self.log = open(work / "lab.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                "--allow-root",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={work}",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{self.base}/api/status?token={self.token}", timeout=2)
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("JupyterLab did not start") from None
                time.sleep(0.3)

    def api(self, method: str, path: str) -> Any:
        req = urllib.request.Request(
            f"{self.base}{path}?token={self.token}", method=method, data=None
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for k in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{k['id']}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def measure(page: Any, lab: Lab, name: str, rate: float, views: list[str], secs: float) -> dict:
    """Open the case's notebook, run it, wait for its views, measure for ``secs`` seconds."""
    stem = f"case_{abs(hash((name, rate))) % 10**8}"
    (lab.work / f"{stem}.ipynb").write_text(json.dumps(notebook(rate, views)))
    # ?reset: a fresh workspace, without the previous case's notebook
    page.goto(f"{lab.base}/lab/tree/{stem}.ipynb?reset&token={lab.token}")
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session"
        "?.kernel?.status === 'idle'",
        timeout=120_000,
    )
    page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    try:
        page.wait_for_function(VIEWS_DRAWN, arg=len(views), timeout=120_000)
    except Exception:
        page.screenshot(path=str(lab.work.parent / f"{stem}-failed.png"))
        outputs = page.evaluate(
            "() => [...document.querySelectorAll('.jp-OutputArea')].map((o) => o.innerText)"
        )
        raise RuntimeError(f"{name} at {rate:g} msg/s: views did not draw: {outputs}") from None
    time.sleep(2.0)  # past the first full draws
    t0 = page.evaluate(OBSERVE)
    trips = []
    end = time.monotonic() + secs
    while time.monotonic() < end:
        a = time.perf_counter()
        page.evaluate("() => 1")
        trips.append((time.perf_counter() - a) * 1000)
        time.sleep(0.2)
    got = page.evaluate(COLLECT, t0)
    return {
        "long": 100 * got["busy"] / got["span"],
        "tasks": got["n"],
        "rt_p50": statistics.median(trips),
        "rt_max": max(trips),
    }


def run(quick: bool, only: list[str], secs: float) -> None:
    from playwright.sync_api import sync_playwright

    if quick:
        plan = [(400.0, ("table", [TABLE]))]
        secs = 3.0
    else:
        plan = [(400.0, case) for case in CASES]
        plan += [(10_000.0, case) for case in CASES[1:]] + [(10_000.0, TEN)]
    if only:
        plan = [p for p in plan if any(o in f"{p[0]:g} {p[1][0]}" for o in only)]
    rows = []
    with tempfile.TemporaryDirectory(prefix="rtnb-bench-lab-") as tmp:
        lab = Lab(Path(tmp))
        try:
            with sync_playwright() as pw:
                ctx = pw.chromium.launch_persistent_context(
                    str(Path(tmp) / "profile"),
                    executable_path=CHROMIUM,
                    headless=True,
                    args=FLAGS,
                    viewport={"width": 1280, "height": 1600},
                )
                try:
                    for rate, (name, views) in plan:
                        page = ctx.new_page()  # a fresh page per case: no dialog left over
                        try:
                            r = measure(page, lab, name, rate, views, secs)
                        finally:
                            page.close()
                            lab.shutdown_kernels()
                        rows.append(
                            [
                                f"{rate:,.0f}",
                                name,
                                f"{r['long']:.1f}%",
                                r["tasks"],
                                f"{r['rt_p50']:.0f}",
                                f"{r['rt_max']:.0f}",
                            ]
                        )
                        print(" | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
                finally:
                    ctx.close()
        finally:
            lab.stop()
    print(f"machine: {machine()}; {secs:g} s measured per case")
    print(
        table(
            ["msg/s", "views", "long tasks", "tasks >50 ms", "round trip p50 ms", "max ms"],
            rows,
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float, default=12.0, help="measured per case")
    parser.add_argument("only", nargs="*", help="substrings of '<rate> <case>' to run")
    args = parser.parse_args()
    if os.environ.get("RTNB_IN_NETNS") != "1":
        cmd = [str(ROOT / "scripts" / "test-netns"), sys.executable, "-m", __spec__.name]
        return subprocess.call(cmd + sys.argv[1:], cwd=ROOT)
    run(args.quick, args.only, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
