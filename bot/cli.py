"""`otklik` command line: run the bot, check the set-up, the demo, the term calculator, the calendar, the
database, the simulator, the п.18 report.

Every failure a user can cause (a bad date, a broken config, an unknown term, a mistyped option) ends with one
Russian line on stderr and exit code 2, never a traceback. Without `--config`, `./config.toml` is read when it
exists (the file `otklik run` and `otklik check` are meant to find in the folder they are started from).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.settings import Settings

from bot.argparse_ru import Parser, russian

# Each command imports what it needs when it runs (aiogram, SQLAlchemy, pydantic are heavy): `otklik --version`
# and `otklik … --help` build the parsers only (issue 16).

EXIT_USAGE = 2
DEFAULT_CONFIG = Path("config.toml")


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


def config_path(args: argparse.Namespace) -> Path | None:
    """`--config`, else ./config.toml when there is one, else None (the defaults and OTKLIK_… variables)."""
    if args.config:
        return Path(args.config)
    return DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None


def _settings(args: argparse.Namespace) -> Settings:
    from bot.settings import load_settings

    return load_settings(config_path(args))


def package_version() -> str:
    try:
        return version("otklik")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "неизвестна (пакет не установлен)"


def _parse_instant(value: str, what: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(
            f"{what}: не дата и время ISO 8601: {value!r} (пример: 2026-12-30T16:00+07:00)"
        ) from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise CliError(f"{what}: укажите часовой пояс, например {value}+07:00")
    return instant


def _print_json(obj: object) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _screen_text(line: str) -> str:
    """A line is plain text, or JSON Lines {"text": ...}; anything else JSON-looking is taken as plain text."""
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            return line
        text = obj.get("text") if isinstance(obj, dict) else None
        if isinstance(text, str):
            return text
    return line


_FLAG_RU = {"obscenity": "нецензурная брань", "insult": "оскорбление", "threat": "угроза", "harm": "намерение причинить вред"}


def cmd_screen(args: argparse.Namespace) -> int:
    from workflow.screening import screen

    try:
        if args.file is None:
            lines = sys.stdin.read().splitlines()
        else:
            lines = Path(args.file).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise CliError(f"не удалось прочитать файл {args.file}: нет такого файла или нет доступа") from exc
    for line in lines:
        found = screen(_screen_text(line))
        if args.json:
            print(json.dumps(found.as_json(), ensure_ascii=False))
            continue
        verdict = "исключить (п.15): " + ", ".join(_FLAG_RU[f] for f in found.flags) if found.exclude else "в работу"
        if found.significant:
            verdict += "; общественно значимое"
        words = ", ".join(sorted({m.text for m in found.matches if m.flag != "significant"}))
        print(verdict + (f" — «{words}»" if words else ""))
    return 0


def cmd_term(args: argparse.Namespace) -> int:
    from bot.domain_setup import build_calendar, build_rules
    from workflow.rules import RulesError

    settings = _settings(args)
    calendar = build_calendar(settings, warn=_warn)
    rules = build_rules(settings)
    start = _parse_instant(args.from_, "--from")
    try:
        due = rules.due(args.term_id, start, calendar, category=args.category)
        rule = rules.term(args.term_id)
    except RulesError as exc:
        raise CliError(str(exc)) from None
    local_from = start.astimezone(calendar.tz)
    if args.json:
        _print_json({"term": args.term_id, "from": local_from.isoformat(), "due": due.isoformat()})
    else:
        left = calendar.working_time_between(local_from, due)
        hours, minutes = divmod(int(left.total_seconds()) // 60, 60)
        print(f"{rule.title} ({args.term_id})")
        print(f"  отсчёт от: {local_from:%d.%m.%Y %H:%M}")
        print(f"  срок:      {due:%d.%m.%Y %H:%M} ({calendar.tz.key})")
        print(f"  рабочего времени от отсчёта до срока: {hours} ч {minutes:02d} мин")
    return 0


def cmd_calendar_day(args: argparse.Namespace) -> int:
    from bot.domain_setup import build_calendar

    try:
        day = date.fromisoformat(args.date)
    except ValueError:
        raise CliError(f"дата должна быть в виде ГГГГ-ММ-ДД, получено {args.date!r}") from None
    calendar = build_calendar(_settings(args), warn=_warn)
    info = calendar.day(day)
    windows = [[start.strftime("%H:%M"), end.strftime("%H:%M")] for start, end in info.windows]
    if args.json:
        _print_json(
            {"date": day.isoformat(), "working": info.working, "short": info.short, "windows": windows}
        )
    else:
        kind = "рабочий" if info.working else "выходной"
        if info.short:
            kind = "рабочий, сокращённый на час"
        hours = ", ".join(f"{a}–{b}" for a, b in windows) or "нет рабочего времени"
        print(f"{day:%d.%m.%Y}: {kind}; {hours}")
    return 0


def cmd_calendar_import(args: argparse.Namespace) -> int:
    from bot.domain_setup import import_calendar_file

    settings = _settings(args)
    year, target = import_calendar_file(settings, Path(args.file))
    print(f"Производственный календарь на {year} год загружен: {target}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    import asyncio

    from storage.migrate import upgrade

    settings = _settings(args)
    asyncio.run(upgrade(settings.database_url))
    print("База данных обновлена до последней версии схемы.")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from bot.simulate import run_simulation

    settings = _settings(args)
    return run_simulation(settings, Path(args.scenario), db=args.db, as_json=args.json)


def cmd_pos_import(args: argparse.Namespace) -> int:
    from bot.app import SystemClock
    from bot.domain_setup import build_calendar
    from bot.pos_import import run_import

    settings = _settings(args)
    clock = SystemClock(build_calendar(settings).tz)
    mapping = Path(args.mapping) if args.mapping else None
    return run_import(settings, Path(args.file), mapping_path=mapping, clock=clock)


def cmd_report(args: argparse.Namespace) -> int:
    """The п.18 report of a period (bot/reports.py); `--db` reads that SQLite file instead of the config's."""
    from bot.reports import run_report

    return run_report(_settings(args), first=args.from_, last=args.to, db=args.db, as_json=args.json, xlsx=args.xlsx,
                      png=args.png)  # fmt: skip


def cmd_run(args: argparse.Namespace) -> int:
    from bot.aiogram_schemas import defer_aiogram_schemas

    defer_aiogram_schemas()  # before anything imports aiogram: its models are built as the bot uses them
    from bot.app import run_app

    return run_app(_settings(args), verbose=args.verbose)


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from bot.check import run_check
    from bot.settings import ConfigError, load_settings

    path = config_path(args)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        print(f"✗ настройки: {exc}")
        print("Найдено проблем: 1. Исправьте настройки и запустите otklik check снова.")
        return EXIT_USAGE
    source = str(path) if path is not None else f"файла {DEFAULT_CONFIG} нет: умолчания и переменные OTKLIK_…"
    return asyncio.run(run_check(settings, today=date.today(), source=source))


def cmd_demo(args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo(args.db, messenger=args.messenger)


def _warn(message: str) -> None:
    print(f"внимание: {message}", file=sys.stderr)


def cmd_check_answer(args: argparse.Namespace) -> int:
    """Answer checks for drafts, one per line (plain text or JSON Lines); see bot/check_answer.py."""
    from bot.check_answer import run_check_answer

    return run_check_answer(args.file, procedure=args.procedure, repeat=args.repeat, as_json=args.json)


# --- issue 14, personal data and backups (helper D) ----------------------------------------------------------


def cmd_pd_export(args: argparse.Namespace) -> int:
    from bot.pd_cli import run_pd_export

    return run_pd_export(_settings(args), author=args.author, db=args.db)


def cmd_pd_erase(args: argparse.Namespace) -> int:
    from bot.pd_cli import run_pd_erase

    return run_pd_erase(_settings(args), author=args.author, db=args.db)


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.backup import run_backup

    return run_backup(_settings(args), args.path, db=args.db)


def _add_personal_data(sub: Any, with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser]) -> None:
    """`otklik pd export|erase --author ID` and `otklik backup PATH`, each with --config or --db."""

    def database(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
        with_config(command)
        command.add_argument("--db", metavar="PATH", help="файл SQLite вместо базы из настроек")
        return command

    pd = sub.add_parser("pd", help="персональные данные авторов сообщений", description="персональные данные "
                        "авторов сообщений: выгрузка и удаление по запросу гражданина (152-ФЗ)")  # fmt: skip
    pd_sub = pd.add_subparsers(dest="pd_command", required=True, metavar="ДЕЙСТВИЕ", title="действия")
    author_help = "id автора в соцсети или имя, как в сообщении (целиком)"
    export_help = "выгрузить в JSON всё, что хранится об авторе (и кто это видел); отмечается в истории"
    export = database(pd_sub.add_parser("export", help=export_help, description=export_help))
    export.set_defaults(handler=cmd_pd_export)
    export.add_argument("--author", required=True, metavar="ID", help=author_help)
    erase_help = "удалить персональные данные автора из его сообщений, работа с которыми закончена; отмечается в истории"
    erase = database(pd_sub.add_parser("erase", help=erase_help, description=erase_help))
    erase.set_defaults(handler=cmd_pd_erase)
    erase.add_argument("--author", required=True, metavar="ID", help=author_help)
    backup_help = "резервная копия базы SQLite (можно при работающем боте); для PostgreSQL — как сделать pg_dump"
    backup = database(sub.add_parser("backup", help=backup_help, description=backup_help))
    backup.set_defaults(handler=cmd_backup)
    backup.add_argument("path", metavar="PATH", help="файл копии (не должен существовать)")


def build_parser() -> argparse.ArgumentParser:
    """The parsers; built inside `russian()` so argparse's own words come out in Russian."""
    parser = Parser(
        prog="otklik",
        description="Отклик: работа с сообщениями граждан по Порядку № 746 (открытые источники и ПОС).",
    )
    parser.add_argument(
        "--version", action="version", version=f"otklik {package_version()}", help="показать версию и выйти"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="КОМАНДА", title="команды")

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_, description=help_)
        command.set_defaults(handler=handler)
        return command

    def with_config(command: argparse.ArgumentParser) -> argparse.ArgumentParser:
        command.add_argument(
            "--config",
            metavar="PATH",
            help="файл настроек; без него — ./config.toml, если он есть, иначе умолчания",
        )
        return command

    run = with_config(add("run", cmd_run, "запустить бота, планировщик сроков и отправку уведомлений"))
    run.add_argument(
        "--verbose",
        action="store_true",
        help="подробный журнал: и сообщения библиотек (aiogram, APScheduler, SQLAlchemy)",
    )
    with_config(
        add(
            "check",
            cmd_check,
            "проверить настройки: токен, чаты, базу данных, календарь (код выхода 2 — есть проблемы)",
        )
    )
    demo = add("demo", cmd_demo, "показать рабочий день на встроенных эмуляторах сетей и почты ПОС, без токена и сети")
    demo.add_argument("--db", metavar="PATH", help="сохранить базу демонстрации в этот файл (для otklik report)")
    demo.add_argument("--messenger", choices=("telegram", "max"), default="telegram",
                      help="мессенджер сотрудников: telegram (по умолчанию) или max")  # fmt: skip

    term = with_config(add("term", cmd_term, "рассчитать срок по Порядку"))
    term.add_argument("term_id", metavar="TERM_ID", help="например os.publish, pos.answer")
    term.add_argument(
        "--from", dest="from_", required=True, metavar="ISO8601", help="момент отсчёта (для *.draft — T0)"
    )
    term.add_argument("--category", help="категория ПОС: federal_fast, local_fast, other")
    term.add_argument("--json", action="store_true", help="ответ одним объектом JSON")

    calendar = sub.add_parser(
        "calendar", help="производственный календарь", description="производственный календарь"
    )
    calendar_sub = calendar.add_subparsers(
        dest="calendar_command", required=True, metavar="ДЕЙСТВИЕ", title="действия"
    )
    day_help = "рабочий ли день и его часы"
    day = with_config(calendar_sub.add_parser("day", help=day_help, description=day_help))
    day.set_defaults(handler=cmd_calendar_day)
    day.add_argument("date", metavar="ГГГГ-ММ-ДД", help="дата")
    day.add_argument("--json", action="store_true", help="ответ одним объектом JSON")
    import_help = "загрузить официальный календарь года (XML xmlcalendar)"
    imp = with_config(calendar_sub.add_parser("import", help=import_help, description=import_help))
    imp.set_defaults(handler=cmd_calendar_import)
    imp.add_argument("file", metavar="FILE", help="файл ru-ГГГГ.xml")

    db = sub.add_parser("db", help="база данных", description="база данных")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ДЕЙСТВИЕ", title="действия")
    up = with_config(
        db_sub.add_parser("upgrade", help="применить миграции схемы", description="применить миграции схемы")
    )
    up.set_defaults(handler=cmd_db_upgrade)

    pos = sub.add_parser("pos", help="сообщения ПОС", description="сообщения ПОС")
    pos_sub = pos.add_subparsers(dest="pos_command", required=True, metavar="ДЕЙСТВИЕ", title="действия")
    pos_help = "зарегистрировать сообщения из выгрузки ПОС (XLSX или CSV); повторный импорт ничего не меняет"
    pos_import = with_config(pos_sub.add_parser("import", help=pos_help, description=pos_help))
    pos_import.set_defaults(handler=cmd_pos_import)
    pos_import.add_argument("file", metavar="FILE", help="файл .xlsx или .csv")
    pos_import.add_argument(
        "--mapping", metavar="PATH", help="TOML: поле = \"заголовок столбца\" (по умолчанию [pos.import_columns])"
    )
    scr = add("screen", cmd_screen, "проверить сообщения по п.15/п.17: брань, оскорбления, угрозы, значимость")
    scr.add_argument("file", nargs="?", metavar="FILE", help="по сообщению на строку (текст или JSON Lines); без него — stdin")
    scr.add_argument("--json", action="store_true", help="по объекту JSON на строку")
    chk = add("check-answer", cmd_check_answer, "проверить черновики ответов: по одному на строку")
    chk.add_argument(
        "file", nargs="?", metavar="FILE", help="текст или JSON Lines; без него — стандартный ввод"
    )
    chk.add_argument("--procedure", choices=["open_sources", "pos"], default="open_sources", help="порядок")
    chk.add_argument("--repeat", action="store_true", help="повторное обращение")
    chk.add_argument("--json", action="store_true", help="по объекту JSON на строку")

    _add_personal_data(sub, with_config)  # issue 14 (helper D)
    rep = add("report", cmd_report, "отчёт о соблюдении сроков (п. 18) за период: сводка, JSON, XLSX, PNG")
    rep.add_argument("--from", dest="from_", required=True, metavar="ГГГГ-ММ-ДД", help="первый день периода")
    rep.add_argument("--to", required=True, metavar="ГГГГ-ММ-ДД", help="последний день периода (включительно)")
    source = rep.add_mutually_exclusive_group()
    source.add_argument("--config", metavar="PATH", help="файл настроек; без него — ./config.toml, если он есть")
    source.add_argument("--db", metavar="PATH", help="файл базы SQLite вместо базы из настроек")
    rep.add_argument("--json", action="store_true", help="отчёт одним объектом JSON")
    rep.add_argument("--xlsx", metavar="PATH", help="записать книгу Excel с диаграммами")
    rep.add_argument("--png", metavar="DIR", help="записать диаграмму PNG в эту папку")

    sim = with_config(add("simulate", cmd_simulate, "проиграть сценарий на виртуальных часах"))
    sim.add_argument("scenario", metavar="SCENARIO.toml", help="файл сценария")
    sim.add_argument("--db", metavar="PATH", help="файл SQLite (по умолчанию — временный)")
    sim.add_argument("--json", action="store_true", help="по объекту JSON на строку")
    return parser


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    with russian():
        return build_parser().parse_args(argv)


# The errors a user can cause, by module: (module, class name, how its line is taken). A module the command never
# imported raised nothing, so only the modules already loaded are looked at (nothing is imported to check).
_USER_ERRORS: tuple[tuple[str, str, str], ...] = (
    ("bot.demo", "DemoError", "demo"),
    ("bot.settings", "ConfigError", "str"),
    ("workflow.calendar", "CalendarError", "str"),
    ("bot.simulate", "ScenarioError", "str"),
    ("bot.startup", "StartupError", "str"),
    ("channels.pos.import_file", "ImportFileError", "str"),
    ("bot.reports", "ReportCliError", "str"),
    ("workflow.model", "DomainError", "message"),
    ("bot.pd_cli", "PdError", "str"),  # issue 14 (helper D): personal data and backups
    ("bot.backup", "BackupError", "str"),
)


def _user_error(exc: Exception) -> str | None:
    """The one line for an error a user caused, or None for a bug (raised on, with its traceback)."""
    if isinstance(exc, CliError):
        return str(exc)
    for module_name, class_name, how in _USER_ERRORS:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(exc, cls):
            if how == "demo":
                return f"демонстрация остановилась: {exc}"
            if how == "message":
                return str(getattr(exc, "message", exc))
            return str(exc)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as done:  # --help, --version (0) or a usage error, already printed (2)
        return done.code if isinstance(done.code, int) else EXIT_USAGE
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`otklik simulate … | head`): stop quietly, as other command line tools do.
        # Python would complain again while flushing stdout at exit, so stdout is pointed at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a tool stopped by a closed pipe
    except Exception as exc:
        message = _user_error(exc)
        if message is None:
            raise
        print(f"otklik: ошибка: {message}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
