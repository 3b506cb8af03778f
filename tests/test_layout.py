"""The layout rule (docs/architecture.md): collab's parts depend on each other one way.

From the bottom up: `yjs` and `infra` know nothing of the others; `storage` builds
on them; `access` on storage; `history` (versions, authorship, restore) on those;
the real-time engine (`realtime`) on all of those;
`moderation` on access and storage; the pages (`pages`) and the admin on top. The
engine never imports the view layer, and the pages never reach into the engine:
they change the database, and every worker's ticker carries that to live rooms.
"""

from __future__ import annotations

import ast
from pathlib import Path

COLLAB = Path(__file__).resolve().parent.parent / "collab"
SHARED = {"models", "exceptions", "apps"}  # Django's conventional modules and the close codes
ALLOWED = {
    "yjs": set(),
    "infra": set(),
    "storage": {"yjs", "infra"},
    "access": {"storage", "infra"},
    "history": {"yjs", "storage", "access"},
    "discussion": {"yjs", "storage", "access", "history"},
    "webhooks": {"access", "storage", "infra"},
    "realtime": {"yjs", "infra", "storage", "access", "history", "discussion", "webhooks"},
    "moderation": {"access", "storage", "history", "discussion", "api"},  # api: the token service, collab.api.tokens
    "pages": {"access", "storage", "moderation", "history", "discussion", "api", "webhooks", "infra"},
    "api": {"access", "storage", "history", "discussion", "webhooks"},
}
VIEW_LAYER = ("django.http", "django.shortcuts", "django.views", "django.template", "django.contrib.admin")


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import; use absolute imports (collab.<part>.<module>)"
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def part_of(module: str) -> str | None:
    """'collab.realtime.room' -> 'realtime'; None outside collab."""
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "collab" and len(pieces) > 1 else None


def violations(root: Path = COLLAB) -> list[str]:
    found = []
    for part, allowed in ALLOWED.items():
        for path in sorted((root / part).rglob("*.py")):
            for name in sorted(imports_of(path)):
                target = part_of(name)
                where = f"{path.relative_to(root.parent)} imports {name}"
                if target and target != part and target not in allowed | SHARED:
                    found.append(where)
                if part not in ("pages", "api") and name.startswith(VIEW_LAYER):
                    found.append(where)
    return found


def test_every_part_of_collab_imports_only_the_parts_below_it():
    assert violations() == []


def test_each_part_is_a_folder_and_no_module_is_left_beside_them():
    assert sorted(p.name for p in COLLAB.iterdir() if p.is_dir() and (p / "__init__.py").exists()) == sorted(
        [*ALLOWED, "management", "migrations", "templatetags"]
    )
    assert sorted(p.stem for p in COLLAB.glob("*.py")) == sorted(["__init__", "admin", *SHARED])


def test_the_rule_would_catch_the_engine_importing_the_pages(tmp_path):
    (tmp_path / "collab" / "realtime").mkdir(parents=True)
    for part in ALLOWED:
        (tmp_path / "collab" / part).mkdir(exist_ok=True)
    (tmp_path / "collab" / "realtime" / "room.py").write_text(
        "from collab.pages.views import home\nfrom django.shortcuts import render\nfrom collab.storage import db\n"
    )
    assert violations(tmp_path / "collab") == [
        "collab/realtime/room.py imports collab.pages.views",
        "collab/realtime/room.py imports collab.pages.views.home",
        "collab/realtime/room.py imports django.shortcuts",
        "collab/realtime/room.py imports django.shortcuts.render",
    ]
