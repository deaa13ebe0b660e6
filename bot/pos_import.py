"""`otklik pos import FILE`: a ПОС export file registered row by row, with a line per row refused and a summary.

The rows become cases through the same `register` use case as the /pos dialogue, in this process; the cases'
cards and notices are written to the outbox in the same transactions. This process sends nothing to
Telegram: a running `otklik run` claims those outbox rows in its periodic drain (`[scheduler] outbox_seconds`,
2 s by default), posting each new card before its notice (bot/delivery.py); a bot started later drains and
repairs the cards at start. So an import works with the bot running or not, and never sends a card twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.directory import Directory
from bot.domain_setup import build_calendar, build_rules, build_spikes, pos_category_table
from bot.events import LoggedServices
from bot.settings import Settings
from bot.startup import StartupError, check_database_url
from channels.pos.import_file import ImportFileError, check_mapping, load_mapping, read_file
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from workflow.model import Actor, Role
from workflow.ports import Clock, StorageUnavailable
from workflow.services.pos_import import ImportReport, import_items

# Who registered the rows: the system on behalf of whoever ran the command (the history says «импорт»).
IMPORT_ACTOR = Actor(user_id=0, roles=frozenset({Role.SYSTEM}), name="импорт выгрузки ПОС")


SUMMARY_REASONS = 10  # refused rows the summary line names; every one has its own line above it


@dataclass(frozen=True)
class ImportRun:
    report: ImportReport
    columns: dict[str, str]


async def import_file(
    settings: Settings, path: Path, *, mapping_path: Path | None, clock: Clock
) -> ImportRun:
    """Read and register the file; ImportFileError (or ConfigError) before anything is written."""
    calendar = build_calendar(settings)
    rules = build_rules(settings)
    table = pos_category_table(settings, rules)
    mapping = check_mapping(settings.pos.import_columns, "pos.import_columns")
    if mapping_path is not None:
        mapping.update(load_mapping(mapping_path))  # the file's names win over config's, field by field
    read = read_file(
        path, mapping, table=table, rules=rules, calendar=calendar, max_rows=settings.pos.import_max_rows
    )
    url = settings.database_url
    directory = Directory.from_settings(settings)
    parsed = check_database_url(url)  # a mistyped URL or a missing SQLite folder: StartupError, one line
    folder = Path(parsed.database or "").parent
    if parsed.get_backend_name() == "sqlite" and parsed.database and ":memory:" not in url and not folder.is_dir():
        raise StartupError(f"database.url: папки базы данных нет: {folder} (создайте её или исправьте путь)")
    try:
        await upgrade(url)
        engine = create_engine(url)
        try:
            repo = SqlRepository(engine, clock=clock)
            services = LoggedServices(repo=repo, clock=clock, calendar=calendar, rules=rules, people=directory,
                                      reach=directory, spikes=build_spikes(settings))  # fmt: skip
            report = await import_items(services, read.items, IMPORT_ACTOR)
        finally:
            await engine.dispose()
    except (StorageUnavailable, SQLAlchemyError, OSError) as exc:
        # Rows registered before the failure stay registered; a second run takes up the rest (the ПОС number
        # is the key), so the line says to run it again rather than to clean anything up.
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ImportFileError(f"база данных недоступна ({first}); повторите импорт, когда она заработает") from None
    return ImportRun(report, read.columns)


def summary_lines(run: ImportRun) -> list[str]:
    """The lines the command prints: each refused row, each unknown category, then the summary."""
    report = run.report
    lines = [f"строка {r.line}: отклонена: {r.reason}" for r in report.refused]
    lines += [
        f"строка {line}: категория «{name or 'не указана'}» не найдена в [pos] categories — "
        f"сообщение № {case_id} в самом строгом классе сроков; куратор ПОС уведомлён"
        for line, name, case_id in report.unknown_category
    ]
    reasons = "; ".join(f"строка {r.line}: {r.reason}" for r in report.refused[:SUMMARY_REASONS])
    if len(report.refused) > SUMMARY_REASONS:
        reasons += f"; и ещё {len(report.refused) - SUMMARY_REASONS} — см. строки выше"
    total = (
        f"Итого: зарегистрировано {len(report.registered)}, уже были {len(report.known)}, "
        f"отклонено {len(report.refused)}"
    )
    if report.unknown_category:
        total += f", с неизвестной категорией {len(report.unknown_category)}"
    lines.append(total + (f" ({reasons})" if reasons else ""))
    return lines


def run_import(
    settings: Settings,
    path: Path,
    *,
    mapping_path: Path | None,
    clock: Clock,
    out: Callable[[str], None] = print,
) -> int:
    run = asyncio.run(import_file(settings, path, mapping_path=mapping_path, clock=clock))
    for line in summary_lines(run):
        out(line)
    return 0
