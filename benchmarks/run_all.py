"""Run every benchmark in this folder, one after the other, and print their tables.

    python -m benchmarks.run_all            # the full set (about 10 minutes on 2 cores)
    python -m benchmarks.run_all --quick    # each one briefly, as the test suite does

WebRTC benchmarks re-run themselves inside the loopback-only namespace
(scripts/test-netns) when this is not already in one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def benchmarks() -> list[str]:
    """Module names of every ``bench_*.py`` here, sorted."""
    return sorted(f"benchmarks.{p.stem}" for p in HERE.glob("bench_*.py"))


def command(module: str, quick: bool) -> list[str]:
    """The command that runs ``module`` (inside the netns for WebRTC ones)."""
    cmd = [sys.executable, "-m", module] + (["--quick"] if quick else [])
    if "webrtc" in module and os.environ.get("RTNB_IN_NETNS") != "1":
        cmd = [str(ROOT / "scripts" / "test-netns"), *cmd]
    return cmd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("only", nargs="*", help="substrings of benchmark names to run")
    args = parser.parse_args()
    failed = []
    t_all = time.monotonic()
    for module in benchmarks():
        if args.only and not any(s in module for s in args.only):
            continue
        print(f"\n## {module}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(command(module, args.quick), cwd=ROOT)
        print(f"({time.monotonic() - t0:.0f} s)", flush=True)
        if proc.returncode != 0:
            failed.append(module)
    print(f"\nall benchmarks: {time.monotonic() - t_all:.0f} s", flush=True)
    if failed:
        print("FAILED:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
