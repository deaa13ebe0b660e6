"""Which database a maintenance command works on: `--db PATH` (an SQLite file that must exist) or the settings'.

For `otklik pd …` and `otklik backup` (issue 14): a command asked about a database that is not there says so
in one line and creates nothing (SQLite would create an empty file at a mistyped path).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from bot.settings import Settings
from bot.startup import StartupError, check_database_url


def chosen_database(settings: Settings, db: str | None) -> URL:
    """The database URL, checked: a wrong driver or a missing SQLite file is a StartupError (one line)."""
    if db is not None:
        path = Path(db)
        if not path.is_file():
            raise StartupError(f"--db: файла базы данных нет: {path}")
        return check_database_url(f"sqlite+aiosqlite:///{path.resolve()}")
    url = check_database_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        name = url.database or ""
        if not name or ":memory:" in name:
            raise StartupError("database.url: база SQLite в памяти — с ней этой команде работать не с чем")
        if not Path(name).is_file():
            raise StartupError(
                f"database.url: файла базы данных нет: {name} (бот ещё ни разу не запускался?)"
            )
    return url
