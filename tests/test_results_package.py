"""The shape of bot.features.results: one module per flow, flows import only shared modules of
their own package (never another flow, never another feature), and the read model /task uses
(progress) imports no flow. Read from the source, so a new import that breaks it fails here."""

from __future__ import annotations

import ast
from pathlib import Path

import bot.features.results as package

PACKAGE = Path(package.__file__).parent
FLOWS = {"guided", "review", "guidance", "evidence", "overview", "followup", "export"}
FLOWS |= {"checkin", "verify"}
SHARED = {"board", "views", "stage", "progress", "entry", "reminders"}


def imported(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("bot.features")}


def test_every_module_is_a_flow_or_shared() -> None:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert modules == FLOWS | SHARED


def test_no_module_imports_a_flow_or_another_feature() -> None:
    for module in FLOWS | SHARED:
        for name in imported(module):
            parts = name.split(".")
            if name in ("bot.features", "bot.features.results") or parts[2] == "common":
                continue
            assert parts[2] == "results" and parts[3] in SHARED, (module, name)


def test_the_read_models_import_no_flow_and_no_telegram() -> None:
    for module in ("board", "progress", "stage"):
        assert "telegram" not in (PACKAGE / f"{module}.py").read_text(), module
        assert {".".join(n.split(".")[2:4]) for n in imported(module)} <= {"results.board"}, module


def test_the_package_still_offers_what_other_code_imports() -> None:
    assert callable(package.register)
    assert callable(package.task_progress) and callable(package.verify_start)
    assert package.Progress.__name__ == "Progress"
