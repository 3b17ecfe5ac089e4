"""README and docs point only inside the repository: a pip user has nothing else.

Every relative Markdown link in README.md, docs/*.md and the samples' READMEs
must name a file or folder that the repository ships, and no text may send
the reader to the development tree beside it (``../shared``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "samples").glob("*/README.md")]
)
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_name_files_the_repository_ships(document: Path) -> None:
    text = document.read_text(encoding="utf-8")
    assert "../shared" not in text
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # an absolute URL or an anchor in the same page
        path = (document.parent / target.split("#", 1)[0]).resolve()
        if not path.exists() or ROOT not in path.parents:
            broken.append(target)
    assert not broken, f"{document.name} links to what the repository does not ship: {broken}"
