"""`upgrade` at the head without Alembic (issue 16): the head read from the revision files is Alembic's own, a
chain it cannot read plainly goes to Alembic, and a database behind the head is still migrated. And
`upgrade_in_child` (the start of `otklik run`): Alembic migrates in a child process, never in the caller."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import (
    VERSIONS_DIR,
    MigrationFailed,
    current_revision,
    head_revision,
    plain_head,
    upgrade,
    upgrade_in_child,
)

ROOT = Path(__file__).resolve().parents[2]


def _revision_file(folder: Path, name: str, revision: str, down: str) -> None:
    (folder / f"{name}.py").write_text(
        f'"""{name}"""\n\nrevision: str = "{revision}"\ndown_revision: str | None = {down}\n',
        encoding="utf-8",
    )


def test_the_plain_head_of_the_shipped_migrations_is_alembics_head() -> None:
    assert plain_head() is not None
    assert plain_head() == head_revision()


def test_a_chain_not_read_plainly_has_no_plain_head(tmp_path: Path) -> None:
    _revision_file(tmp_path, "a", "0001", "None")
    _revision_file(tmp_path, "b", "0002", '"0001"')
    assert plain_head(tmp_path) == "0002"
    _revision_file(tmp_path, "c", "0003", '"0001"')  # a branch: two heads
    assert plain_head(tmp_path) is None
    (tmp_path / "c.py").unlink()
    _revision_file(tmp_path, "m", "0003", '("0001", "0002")')  # a merge revision
    assert plain_head(tmp_path) is None
    (tmp_path / "m.py").unlink()
    _revision_file(tmp_path, "d", "0003", '"9999"')  # a parent that is no file here
    assert plain_head(tmp_path) is None


def test_the_shipped_revision_files_are_all_read(tmp_path: Path) -> None:
    """Every shipped file declares its revision in the plain form (else the fast path would be off silently)."""
    for path in VERSIONS_DIR.glob("*.py"):
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    assert plain_head(tmp_path) == head_revision()


async def test_a_database_behind_the_head_is_migrated(engine: AsyncEngine) -> None:
    head = head_revision()
    assert head is not None
    await upgrade(engine, "0020")
    assert await current_revision(engine) == "0020"
    await upgrade(engine)
    assert await current_revision(engine) == head
    await upgrade(engine)  # at the head: nothing to do, nothing changed
    assert await current_revision(engine) == head


async def test_an_unknown_stored_revision_still_goes_to_alembic(engine: AsyncEngine) -> None:
    """A schema newer than this Otklik: the fast path does not take it for the head; Alembic refuses it."""
    await upgrade(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    try:
        await upgrade(engine)
    except Exception as exc:  # Alembic's own "Can't locate revision"
        assert "9999" in str(exc)
    else:
        raise AssertionError("an unknown revision was taken for the head")


def test_a_restart_on_a_database_at_the_head_does_not_import_alembic(tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    code = (
        "import asyncio, sys\n"
        "from storage.migrate import upgrade\n"
        f"asyncio.run(upgrade('sqlite+aiosqlite:///{db}'))\n"
        "print('alembic' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert first.stdout.strip() == "True"  # a new database: Alembic migrates it
    again = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert again.stdout.strip() == "False"


def test_upgrade_in_child_migrates_a_new_database_without_alembic_in_the_caller(tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    code = (
        "import asyncio, sys\n"
        "from storage.migrate import upgrade_in_child\n"
        f"asyncio.run(upgrade_in_child('sqlite+aiosqlite:///{db}'))\n"
        "print('alembic' in sys.modules, 'mako' in sys.modules)\n"
    )
    for _ in range(2):  # a new database (the child migrates it), then one at the head (nothing to do)
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert done.stdout.split() == ["False", "False"]
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(head_revision(),)]


async def test_upgrade_in_child_migrates_a_database_behind_the_head(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}"
    await upgrade(url, "0020")
    await upgrade_in_child(url)
    assert await current_revision(url) == head_revision()


async def test_a_failed_migration_in_the_child_raises_its_error_and_leaves_the_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}"
    await upgrade(url)
    with sqlite3.connect(tmp_path / "otklik.sqlite3") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(MigrationFailed) as failed:
        await upgrade_in_child(url)
    assert (
        failed.value.error is not None and "9999" in failed.value.error
    )  # Alembic's "Can't locate revision"
    assert failed.value.code == 1
    assert "Traceback" in failed.value.details
    assert await current_revision(url) == "9999"
