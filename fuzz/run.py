"""Run one fuzz target under atheris (coverage-guided, libFuzzer options pass through).

python fuzz/run.py signaling -max_total_time=60 fuzz/corpus/signaling
python fuzz/run.py --list
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(2)
    try:
        import atheris
    except ImportError:
        sys.exit("atheris is not installed: pip install atheris")
    sys.path.insert(0, str(HERE))
    with atheris.instrument_imports(include=["rtnb", "targets"]):
        from targets import TARGETS
    name = sys.argv[1]
    if name == "--list":
        print("\n".join(sorted(TARGETS)))
        return
    if name not in TARGETS:
        sys.exit(f"unknown target {name!r}; one of: {', '.join(sorted(TARGETS))}")
    atheris.Setup([sys.argv[0], *sys.argv[2:]], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
