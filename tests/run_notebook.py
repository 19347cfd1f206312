"""Execute one notebook top to bottom with nbclient; exit 1 on any error output.

Run with the Python of the environment under test (the Binder one), so the
kernel is that environment's too:

    .binder-venv/bin/python tests/run_notebook.py examples/01-quickstart.ipynb [OUT.ipynb]

Cells tagged ``needs-internet`` are not executed (they reach public APIs).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

SKIP_TAG = "needs-internet"


def main(path: str, output: str | None = None) -> int:
    nb = nbformat.read(path, as_version=4)
    skipped = 0
    for cell in nb.cells:
        if SKIP_TAG in cell.get("metadata", {}).get("tags", []):
            cell["cell_type"] = "raw"
            skipped += 1
    scratch = tempfile.mkdtemp(prefix="rtnb-nb-")
    data = Path(path).resolve().parent / "data"
    if data.is_dir():  # the samples a notebook replays offline (07), beside it as in the repo
        shutil.copytree(data, Path(scratch) / "data")
    client = NotebookClient(
        nb,
        timeout=180,
        kernel_name="python3",
        # the kernel works in a scratch folder, so files a notebook writes
        # (exercises save results) never land in the checkout
        resources={"metadata": {"path": scratch}},
        allow_errors=True,
    )
    t0 = time.monotonic()
    client.execute()
    errors = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                errors.append(f"cell {i}: {out.get('ename')}: {out.get('evalue')}")
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out.get("text", "")
                if "Traceback" in text or "Error" in text.split(":")[0]:
                    errors.append(f"cell {i} stderr: {text[:300]}")
    took = time.monotonic() - t0
    if output:
        nbformat.write(nb, output)
    print(f"{path}: {len(nb.cells)} cells, {skipped} skipped, {took:.1f} s")
    for e in errors:
        print("ERROR", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))
