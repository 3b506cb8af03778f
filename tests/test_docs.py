"""The documentation's relative links point to files that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
# [text](target) and ![alt](target); the target ends at a space (a title may follow) or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)  # code blocks hold no links
    targets = [m.group(1) for m in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:|^#", t)]


def test_every_relative_link_in_the_docs_points_to_an_existing_file():
    broken = []
    for page in PAGES:
        for target in relative_links(page):
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_the_link_check_sees_links_and_would_catch_a_broken_one(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("See [ops](docs/operations.md#tls), ![pic](a.png), [web](https://x.org) and [top](#top).\n")
    assert relative_links(page) == ["docs/operations.md#tls", "a.png"]
