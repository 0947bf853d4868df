"""The draw package imports no other feature (so no import cycle between features runs
through it)."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.features.draw as draw

PACKAGE = Path(draw.__file__).parent


def features_imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("bot.features.")}
    return found


def test_draw_imports_only_common_and_itself() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) > 5
    for path in modules:
        for name in features_imported(path):
            assert name.startswith(("bot.features.common", "bot.features.draw")), (path, name)
