"""Schema migrations, run in-process: `await upgrade(url)` at start and by `otklik db upgrade`.

No alembic.ini: the configuration is built here and points at the migrations next to this file, so it works
the same from a checkout and from an installed package.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (and the PostgreSQL dialect it pulls in: ~9 MiB resident) is imported only when a migration runs or a
# revision is asked of it: `otklik run` on a database already at the head reads alembic_version itself and
# never imports it (issue 16).

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default; env.py does not rename it
_REVISION = re.compile(r"""^revision(?:\s*:[^=\n]*)?\s*=\s*["']([^"'\n]+)["']\s*$""", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"""^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|["']([^"'\n]+)["'])\s*$""", re.MULTILINE
)

# pg_advisory_xact_lock key ("otklik" in ASCII): two processes starting at once upgrade one after the other.
_PG_LOCK_KEY = 0x6F746B6C696B


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def plain_head(versions: Path = VERSIONS_DIR) -> str | None:
    """The head of a plain chain of revision files (each `revision = "…"` and `down_revision = "…"` or None),
    read without Alembic; None when the files are anything else (a merge, a branch, a form not recognised):
    then only Alembic can say, and `upgrade` asks it."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision = _REVISION.findall(source)
        down = _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1 or revision[0] in revisions:
            return None
        revisions.add(revision[0])
        if down[0]:
            parents.add(down[0])
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


def _stored_revisions(connection: Connection) -> list[str] | None:
    """alembic_version's rows; None when there is no such table (an empty database)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return [str(row[0]) for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}"))]


async def _at_plain_head(engine: AsyncEngine) -> bool:
    """True when the database is at the head of a plain chain; False means: ask Alembic (it decides)."""
    head = plain_head()
    if head is None:
        return False
    async with engine.connect() as conn:
        stored = await conn.run_sync(_stored_revisions)
    return stored == [head]


async def upgrade(target: str | AsyncEngine, revision: str = "head") -> None:
    """Bring the database at `target` (a URL or an engine) up to `revision`; a no-op when it is there.

    The whole upgrade is one transaction (DDL is transactional on SQLite and PostgreSQL): a failed migration
    leaves the previous schema in place.
    """
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        if revision == "head" and await _at_plain_head(engine):
            return  # what Alembic would conclude, without importing it (a restart's usual case)
        async with engine.begin() as conn:  # BEGIN IMMEDIATE on SQLite: concurrent starters queue up
            if conn.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            await conn.run_sync(_upgrade, revision)
    finally:
        if isinstance(target, str):
            await engine.dispose()


async def current_revision(target: str | AsyncEngine) -> str | None:
    """The revision the database is at; None for an empty database."""
    engine = create_engine(target) if isinstance(target, str) else target
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_current)
    finally:
        if isinstance(target, str):
            await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection  # env.py runs on this connection, inside our transaction
    command.upgrade(config, revision)


def _current(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
