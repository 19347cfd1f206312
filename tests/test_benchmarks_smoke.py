"""Each benchmark runs briefly (--quick) so the suite keeps them working.

No timing is asserted here: the figures live in benchmarks/README.md.
"""

from __future__ import annotations

import subprocess

import pytest

from benchmarks.run_all import ROOT, benchmarks, command


def test_every_benchmark_is_listed() -> None:
    names = benchmarks()
    assert "benchmarks.bench_ws_ingest" in names
    assert len(names) >= 4


@pytest.mark.slow
@pytest.mark.parametrize("module", benchmarks())
def test_benchmark_runs_quickly_and_prints_a_table(module: str) -> None:
    proc = subprocess.run(
        command(module, quick=True), cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "| " in proc.stdout and "---" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr
