"""The example notebooks run top to bottom, offline, in the environment Binder builds."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.ipynb"))
RUNNER = Path(__file__).parent / "run_notebook.py"


def binder_python() -> str:
    venv = os.environ.get("RTNB_BINDER_VENV", ".binder-venv")
    python = (
        (ROOT / venv / "bin" / "python") if not os.path.isabs(venv) else Path(venv) / "bin/python"
    )
    if not python.exists():
        pytest.fail(f"no Binder environment at {venv}: run scripts/build-binder-env")
    return str(python)


def test_the_binder_environment_matches_binder_files() -> None:
    """The environment the notebooks run in was built from today's binder/ files."""
    venv = Path(binder_python()).parent.parent
    stamp = venv / ".rtnb-binder-stamp"
    parts = [ROOT / "binder" / "requirements.txt", ROOT / "binder" / "postBuild"]
    want = hashlib.sha256(b"".join(p.read_bytes() for p in [*parts, ROOT / "pyproject.toml"]))
    assert stamp.exists(), "run scripts/build-binder-env"
    assert stamp.read_text().strip() == want.hexdigest(), "stale: run scripts/build-binder-env"
    proc = subprocess.run(
        [binder_python(), "-c", "import rtnb, jupyter_server_proxy, jupyterlab; print('ok')"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.strip() == "ok", proc.stderr


def test_there_are_numbered_examples() -> None:
    names = [p.stem for p in EXAMPLES]
    assert names == sorted(names)
    assert all(n[:2].isdigit() and n[2] == "-" for n in names)
    assert len(names) >= 7


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_notebooks_are_committed_small_and_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text())
    assert path.stat().st_size < 60_000
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} has committed outputs"
            assert cell.get("execution_count") is None
    first = "".join(nb["cells"][0]["source"])
    last = "".join(nb["cells"][-1]["source"])
    assert "learn" in first.lower(), f"{path.name} should open with what the reader will learn"
    assert "exercise" in last.lower(), f"{path.name} should end with exercises"


@pytest.mark.slow
@pytest.mark.kernel
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_notebook_runs_in_the_binder_environment(path: Path) -> None:
    proc = subprocess.run(
        [binder_python(), str(RUNNER), str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(proc.stdout, file=sys.stderr)
