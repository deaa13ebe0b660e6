"""Schema migrations: `await upgrade(url)` in-process (`otklik db upgrade`, the tools), and
`await upgrade_in_child(url)` at the start of `otklik run`: the same upgrade in a child process
(`python -m storage.migrate`), so that Alembic never enters the long-running bot.

No alembic.ini: the configuration is built here and points at the migrations next to this file, so it works
the same from a checkout and from an installed package.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic (and the PostgreSQL dialect it pulls in: ~9 MiB resident) is imported only when a migration runs or a
# revision is asked of it: `otklik run` on a database already at the head reads alembic_version itself, and
# one that needs migrating is migrated by a child process (`upgrade_in_child`), so the bot never imports it
# (issue 16).

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
VERSION_TABLE = "alembic_version"  # Alembic's default; env.py does not rename it
_REVISION = re.compile(r"""^revision(?:\s*:[^=\n]*)?\s*=\s*["']([^"'\n]+)["']\s*$""", re.MULTILINE)
_DOWN_REVISION = re.compile(
    r"""^down_revision(?:\s*:[^=\n]*)?\s*=\s*(?:None|["']([^"'\n]+)["'])\s*$""", re.MULTILINE
)

# pg_advisory_xact_lock key ("otklik" in ASCII): two processes starting at once upgrade one after the other.
_PG_LOCK_KEY = 0x6F746B6C696B
# The folder that holds the `storage` package: the child finds it even from a checkout that is not installed.
_PACKAGES_ROOT = Path(__file__).resolve().parent.parent


class MigrationFailed(Exception):
    """The child's upgrade failed and the schema is left as it was: `error` is the last line of its traceback
    (the exception's type and message; None when it died without one), `details` all it wrote, `code` its exit
    code."""

    def __init__(self, error: str | None, details: str, code: int) -> None:
        super().__init__(error or f"exit code {code}")
        self.error = error
        self.details = details
        self.code = code


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


async def upgrade_in_child(url: str) -> None:
    """`upgrade(url)` to the head, in a child process when there is anything to do (issue 16).

    Alembic, Mako and the PostgreSQL dialect they bring stay resident once imported (~9 MiB), so the bot's own
    process only reads alembic_version, as `upgrade` does first; a new or older database is migrated by
    `python -m storage.migrate`, which runs the very same `upgrade` (one transaction, the same locks) and exits.
    The URL goes on its stdin, not on its command line (a password would show in `ps`). A failure raises
    MigrationFailed with the child's error and its whole traceback.
    """
    engine = create_engine(url)
    try:
        if await _at_plain_head(engine):
            return
    finally:
        await engine.dispose()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_PACKAGES_ROOT), env.get("PYTHONPATH")]))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "storage.migrate", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    try:
        _, err = await child.communicate(url.encode("utf-8"))
    except BaseException:  # interrupted or cancelled: the child's transaction rolls back as it dies
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    code = child.returncode
    details = err.decode("utf-8", errors="replace").strip()
    if code != 0:
        lines = details.splitlines()
        raise MigrationFailed(lines[-1] if lines else None, details, -1 if code is None else code)
    if details:  # a warning of the migration's: shown as it would have been in this process
        print(details, file=sys.stderr)


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


def _child_main() -> int:
    """`python -m storage.migrate`: the URL on stdin, the upgrade to the head; on failure the traceback on
    stderr (its last line is what the parent reports) and exit code 1."""
    url = sys.stdin.read().strip()
    try:
        asyncio.run(upgrade(url))
    except Exception:
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())
