"""The import rules of ARCHITECTURE.md, read off every module's imports with `ast`.

Every import counts: top-level, inside a function, under TYPE_CHECKING. A rule broken here is a layer that
leaks: the domain reaching for a framework, a handler reaching past the use cases into SQL, a test tool
reaching into the product.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = frozenset(
    {"workflow", "storage", "views", "channels", "handlers", "bot", "emulators", "tests", "bench"}
)
# Which of our packages each package may import (itself always).
ALLOWED: Mapping[str, frozenset[str]] = {
    "workflow": frozenset(),
    "storage": frozenset({"workflow"}),
    "channels": frozenset({"workflow"}),
    "views": frozenset({"workflow"}),
    "handlers": frozenset({"workflow", "views", "channels"}),
    "emulators": frozenset(),
    "bot": frozenset({"workflow", "storage", "views", "channels", "handlers", "emulators"}),
}
# The domain is the standard library plus the holidays package, nothing else.
WORKFLOW_THIRD_PARTY = frozenset({"holidays"})


def parse(source: str) -> ast.Module:
    """`ast.parse`, once more if CPython 3.11 raises its spurious «AST constructor recursion depth mismatch»
    (python/cpython#106905, seen in threaded programs; here once in a long run, never alone): not our code's fault."""
    try:
        return ast.parse(source)
    except SystemError:
        return ast.parse(source)


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """(line, top-level module) of every absolute import in `source`; relative imports stay in the package."""
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(package: str, source: str, where: str = "<source>") -> list[str]:
    found: list[str] = []
    for line, module in imported_modules(source):
        if module == package or module == "__future__":
            continue
        if module in OURS:
            if module not in ALLOWED[package]:
                found.append(f"{where}:{line}: {package} imports {module}")
        elif (
            package == "workflow"
            and module not in sys.stdlib_module_names
            and module not in WORKFLOW_THIRD_PARTY
        ):
            found.append(f"{where}:{line}: workflow imports the framework {module}")
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_layers(package: str) -> None:
    assert _modules(package), f"{package}/ has no modules"
    found = [
        v
        for path in _modules(package)
        for v in violations(package, path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert found == []


def test_no_test_tool_inside_a_product_package() -> None:
    assert not (ROOT / "bot" / "emulator").exists()
    for package in ("workflow", "storage", "views", "channels", "handlers", "bot"):
        names = {p.stem for p in _modules(package)}
        assert not names & {"scratch", "fakes", "emulator"}, package


# --- the checker itself ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("workflow", "import aiogram\n"),
        ("workflow", "from sqlalchemy import select\n"),
        ("workflow", "def f():\n    from storage.repository import SqlRepository\n"),
        (
            "workflow",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bot.app import OtklikApp\n",
        ),
        ("handlers", "from storage.repository import SqlRepository\n"),
        ("handlers", "from bot import texts\n"),
        ("views", "import handlers.buttons\n"),
        ("storage", "from views.cards import render_card\n"),
        ("emulators", "from workflow.model import Case\n"),
    ],
)
def test_checker_catches_a_wrong_import(package: str, source: str) -> None:
    assert violations(package, source)


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("workflow", "import holidays\nfrom datetime import datetime\nfrom workflow.model import Case\n"),
        (
            "handlers",
            "from aiogram import Router\nfrom views import texts\nfrom workflow.services import Services\n",
        ),
        ("bot", "from storage.engine import create_engine\nfrom handlers import build_routers\n"),
        ("emulators", "from aiohttp import web\nfrom .records import EmuUser\n"),
    ],
)
def test_checker_lets_a_right_import_pass(package: str, source: str) -> None:
    assert violations(package, source) == []
