"""Every relative link and image in the README and the notebooks points at a file."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_SRC = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def relative_targets(text: str) -> list[str]:
    found = LINK.findall(text) + HTML_SRC.findall(text)
    return [
        t.split("#")[0]
        for t in found
        if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#") and t.split("#")[0]
    ]


def markdown_sources() -> list[tuple[Path, str]]:
    docs = [(p, p.read_text()) for p in [ROOT / "README.md", *ROOT.glob("*/README.md")]]
    for nb_path in sorted((ROOT / "examples").glob("*.ipynb")):
        nb = json.loads(nb_path.read_text())
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
        docs.append((nb_path, text))
    return docs


def test_relative_links_and_images_exist() -> None:
    missing = []
    checked = 0
    for path, text in markdown_sources():
        for target in relative_targets(text):
            checked += 1
            if not (path.parent / target).exists():
                missing.append(f"{path.relative_to(ROOT)} -> {target}")
    assert checked > 0
    assert not missing, "broken links:\n" + "\n".join(missing)


def test_the_link_finder_sees_markdown_and_html_links() -> None:
    text = '[a](docs/x.png) ![b](y.svg "t") <img src="z.png"> [w](https://e.org) [h](#top)'
    assert relative_targets(text) == ["docs/x.png", "y.svg", "z.png"]
