"""`otklik backup PATH`: a consistent copy of the SQLite database while the bot runs (issue 14 item 6).

SQLite's online backup API (`sqlite3.Connection.backup`) copies the database in one step under one read
transaction: with WAL the bot's writers go on meanwhile and the copy is the database as of one commit, never
half a transaction. The copy is written next to PATH under a temporary name, checked (`PRAGMA
integrity_check`) and then renamed to PATH, so PATH is either a whole checked copy or untouched. An existing
PATH is not overwritten (it may be yesterday's copy, or the database itself). For PostgreSQL the command makes
no copy and explains `pg_dump` instead.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.database_choice import chosen_database
from bot.settings import Settings

PG_DUMP_HELP = (
    "база данных — PostgreSQL: её копию делает сам PostgreSQL, а не Отклик. Во время работы бота выполните "
    "pg_dump --format=custom --file=otklik-ГГГГ-ММ-ДД.dump «адрес базы» (например postgresql://otklik@localhost/"
    "otklik): pg_dump снимает согласованный снимок и не мешает боту писать. Восстановление — в пустую базу: "
    "createdb otklik_restored, затем pg_restore --no-owner --dbname=otklik_restored otklik-ГГГГ-ММ-ДД.dump; "
    "после этого укажите новую базу в database.url и запустите otklik run. Подробнее — в README, раздел "
    "«Резервные копии и восстановление»."
)


_UNWRITABLE = "нет прав на запись в эту папку, она только для чтения или на диске нет места"
_REASONS = {
    errno.EACCES: "нет прав на запись в эту папку",
    errno.EPERM: "нет прав на запись в эту папку",
    errno.ENOSPC: "на диске нет места",
    errno.EROFS: "папка на диске только для чтения",
}


class BackupError(Exception):
    """No copy was made: printed as one line, exit code 2."""


@dataclass(frozen=True)
class BackupDone:
    path: Path
    size: int
    cases: int


def _tables_of(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def backup_sqlite(source: Path, target: Path) -> BackupDone:
    """Copy `source` to `target` with the online backup API; BackupError (one Russian line) when it cannot."""
    if target.exists():
        raise BackupError(f"файл {target} уже есть; укажите новое имя (копия не перезаписывает файлы)")
    folder = target.parent
    if not folder.is_dir():
        raise BackupError(f"папки {folder} нет; создайте её или укажите другой путь")
    with contextlib.suppress(OSError):
        if target.resolve() == source.resolve():
            raise BackupError("копия не может лечь на саму базу данных; укажите другой путь")
    partial = folder / f".{target.name}.partial"
    try:
        src = sqlite3.connect(source, timeout=30)  # only read; the file exists (bot.database_choice)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst, pages=-1)  # one step: one snapshot, whatever the bot writes meanwhile
                check = dst.execute("PRAGMA integrity_check").fetchone()
                cases = (
                    dst.execute("SELECT count(*) FROM cases").fetchone()[0]
                    if "cases" in _tables_of(dst)
                    else 0
                )
            finally:
                dst.close()
        finally:
            src.close()
        if check is None or check[0] != "ok":
            raise BackupError(
                f"копия не прошла проверку целостности ({check}); исходная база цела, повторите"
            )
        os.replace(partial, target)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        reason = _REASONS.get(exc.errno or 0, _UNWRITABLE) if isinstance(exc, OSError) else _UNWRITABLE
        raise BackupError(f"не удалось записать копию в {target}: {reason}") from None
    return BackupDone(target, target.stat().st_size, int(cases))


def run_backup(settings: Settings, target: str, *, db: str | None) -> int:
    url = chosen_database(settings, db)
    if url.get_backend_name() == "postgresql":
        raise BackupError(PG_DUMP_HELP)
    done = backup_sqlite(Path(url.database or ""), Path(target))
    megabytes = done.size / 1024 / 1024
    print(
        f"Резервная копия записана: {done.path} ({megabytes:.1f} МБ, сообщений: {done.cases}); проверка целостности пройдена."
    )
    return 0
