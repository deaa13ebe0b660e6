"""`otklik check`: every set-up finding at once, one Russian line each, for an administrator connecting a district.

It makes `otklik run`'s start-up checks (bot/startup.py: the token, the database URL, SQLite's folder and lock
or PostgreSQL's login) and the ones `run` only warns about (every configured chat reachable and readable, the
calendar data), plus two of its own: getMe asked once instead of waited for, and the schema migrated. Nothing
is written: no database file is created, no migration applied, nothing sent to any chat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.types import User
from sqlalchemy.engine import URL

from bot.directory import Directory
from bot.domain_setup import (
    build_calendar,
    build_rules,
    imported_calendar_files,
    pos_category_table,
    read_calendar_file,
)
from bot.max_session import NO_MIDS, MaxBot, MaxSession
from bot.ok_wiring import ok_findings
from bot.pos_mail import mailbox_config, mailbox_problem
from bot.settings import VK_SERVICE_KEY_ENV, VK_TOKEN_ENV, ConfigError, Settings, max_channel_problem
from bot.startup import (
    StartupError,
    check_database_url,
    check_postgres,
    check_sqlite,
    check_token,
)
from storage.engine import DEFAULT_BUSY_TIMEOUT_MS
from views.callbacks import MAX_UNITS
from views.privacy import FOREIGN_MESSENGERS
from workflow.calendar import CalendarError, shipped_calendar

# `otklik run` imports this module for the chat and calendar findings it warns about at start; VK's client stack
# (vk_api, requests), the IMAP client and Alembic are imported by the findings that need them (issue 16).

# From this day of the year on, terms started today can end next year: its calendar must be there by then.
NEXT_YEAR_NEEDED_FROM = (11, 1)
API_TIMEOUT_SECONDS = 15.0


class Level(Enum):
    OK = "✓"
    WARN = "⚠"  # worth fixing, but the bot works: not a problem for the exit code
    FAIL = "✗"


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str

    def line(self) -> str:
        return f"{self.level.value} {self.text}"


def ok(text: str) -> Finding:
    return Finding(Level.OK, text)


def warn(text: str) -> Finding:
    return Finding(Level.WARN, text)


def fail(text: str) -> Finding:
    return Finding(Level.FAIL, text)


# The config keys of the role chats, with what each chat is for (the intake chat is where cases come from).
_ROLE_CHATS = {
    "intake": "чат приёмной: сообщения граждан, которые регистрируют уполномоченные лица",
    "office_head": "чат начальника управления делами",
    "region_curator": "чат куратора ЦУР",
    "pos_curator": "чат куратора ПОС",
    "coordinator": "чат координатора",
    "head": "чат Главы района",
}


async def diagnose(settings: Settings, *, today: date, source: str) -> list[Finding]:
    """Every finding, in the order an administrator fixes them: config, Telegram, chats, database, calendar."""
    findings = [ok(f"настройки: {source}")]
    try:
        directory = Directory.from_settings(settings)
        pos_category_table(settings, build_rules(settings))
    except ConfigError as exc:
        return [fail(f"настройки: {exc}")]
    if settings.messenger.kind == "max":  # issue 15
        findings += await max_findings(settings, directory)
    else:
        findings += await telegram_findings(settings, directory)
    findings += await max_channel_findings(settings)
    findings += await vk_findings(settings)
    findings += await vk_long_poll_findings(settings)
    findings += await pos_mail_findings(settings)
    findings += [{"ok": ok, "warn": warn, "fail": fail}[lvl](text) for lvl, text in await ok_findings(settings)]
    findings += await database_findings(settings)
    findings += calendar_findings(settings, today)
    findings += privacy_findings(settings)
    findings += unit_findings(settings)
    return findings


# --- units the keyboards can show ------------------------------------------------------------------------------


def unit_findings(settings: Settings) -> list[Finding]:
    """A warning when more units are configured than a unit toggle's data can name (views/callbacks.MAX_UNITS):
    the keyboards show the first ones only, a case cannot be sent to the others by a button."""
    if len(settings.units) <= MAX_UNITS:
        return []
    rest = ", ".join(list(settings.units)[MAX_UNITS:])
    return [
        warn(
            f"units: задано {len(settings.units)} подразделений, кнопки выбора показывают первые {MAX_UNITS}: "
            f"в {rest} сообщение кнопками не направить"
        )
    ]


# --- personal data in a foreign messenger (issue 15 item 4) ---------------------------------------------------


def privacy_findings(settings: Settings) -> list[Finding]:
    """A warning when the staff messenger is a foreign one and the cards show citizens' personal data."""
    kind = settings.staff_messenger
    if kind not in FOREIGN_MESSENGERS:
        return []
    if settings.privacy.mask_personal_data:
        return [ok("персональные данные авторов в Telegram скрыты (privacy.mask_personal_data = true)")]
    return [
        warn(
            "персональные данные авторов (имя, id, телефон, адрес) уходят в Telegram — иностранный мессенджер "
            "(149-ФЗ ст. 10 ч. 8): если запрет касается администрации, задайте privacy.mask_personal_data = true "
            "или перейдите на MAX"
        )
    ]


# --- Telegram -------------------------------------------------------------------------------------------------


async def telegram_findings(settings: Settings, directory: Directory) -> list[Finding]:
    try:
        check_token(settings.telegram.token)
    except StartupError as exc:
        return [fail(str(exc))]
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram.api_base), timeout=API_TIMEOUT_SECONDS
    )
    bot = Bot(settings.telegram.token, session=session)
    try:
        try:
            me = await bot.get_me()
        except (TelegramUnauthorizedError, TelegramNotFound):
            return [
                fail("telegram.token: Telegram не принимает токен (Unauthorized); проверьте его у @BotFather")
            ]
        except (TelegramAPIError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return [
                fail(f"telegram.api_base: Bot API {settings.telegram.api_base} не отвечает: {_short(exc)}")
            ]
        findings = [ok(f"telegram.token: бот @{me.username} (id {me.id}) принимает токен")]
        if me.can_read_all_group_messages:
            findings.append(ok("режим приватности бота выключен: он видит все сообщения групп"))
        else:
            findings.append(
                warn(
                    "режим приватности бота включён: в группе, где он не администратор, он видит только "
                    "команды и ответы на свои сообщения (@BotFather → /setprivacy → Disable, "
                    "или сделайте бота администратором чатов)"
                )
            )
        findings += missing_chat_findings(directory)
        findings += await chat_findings(bot, me, settings)
        findings += await telegram_channel_findings(bot, me, settings)
        return findings
    finally:
        await session.close()


# --- MAX (issue 15) -------------------------------------------------------------------------------------------


async def max_findings(settings: Settings, directory: Directory) -> list[Finding]:
    """The MAX token (GET /me) and, for each configured group, the bot's membership and rights."""
    m = settings.messenger
    if not m.max_token:
        return [fail("messenger.max_token: не задан токен бота MAX (задайте OTKLIK_MESSENGER__MAX_TOKEN)")]
    session = MaxSession(m.max_token, NO_MIDS, api_url=m.max_api_base, timeout=API_TIMEOUT_SECONDS)
    bot = MaxBot(session)
    try:
        try:
            me = await bot.get_me()
        except (TelegramUnauthorizedError, TelegramNotFound):
            return [fail("messenger.max_token: MAX не принимает токен; проверьте его в кабинете бота")]
        except (TelegramAPIError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return [fail(f"messenger.max_api_base: MAX Bot API {m.max_api_base} не отвечает: {_short(exc)}")]
        findings = [ok(f"messenger.max_token: бот MAX @{me.username} (id {me.id}) принимает токен")]
        if settings.channels.telegram.enabled:
            findings.append(fail('channels.telegram: канал Telegram читает бот Telegram, а messenger.kind = "max"'))
        findings += missing_chat_findings(directory)
        findings += await chat_findings(bot, me, settings)
        return findings
    finally:
        await session.close()


async def max_channel_findings(settings: Settings) -> list[Finding]:
    """`[channels.max]` (issue 15 item 3): the citizens' MAX bot takes its token (GET /me), and reads the group
    named for citizens. With the staff on MAX and no token of its own it is the staff's bot, checked above."""
    mx = settings.channels.max
    if not mx.enabled:
        return []
    problem = max_channel_problem(settings)
    if problem is not None:
        return [fail(problem)]
    shared = settings.messenger.kind == "max"
    token, base = (settings.messenger.max_token, settings.messenger.max_api_base) if shared else (mx.token, mx.api_base)
    if shared and not token:
        return []  # the staff's token is missing: max_findings said so
    session = MaxSession(token, NO_MIDS, api_url=base, timeout=API_TIMEOUT_SECONDS)
    bot = MaxBot(session)
    try:
        try:
            me = await bot.get_me()
        except (TelegramUnauthorizedError, TelegramNotFound):
            return [fail("channels.max.token: MAX не принимает токен бота для граждан; проверьте его в кабинете бота")]
        except (TelegramAPIError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            return [fail(f"channels.max.api_base: MAX Bot API {base} не отвечает: {_short(exc)}")]
        whose = "бот сотрудников" if shared else "бот"
        findings = [ok(f"channels.max: обращения граждан принимает {whose} MAX @{me.username} (id {me.id})")]
        if mx.group_id is not None:
            findings.append(await _chat_finding(bot, me, "channels.max.group_id", mx.group_id,
                                                "группа MAX, сообщения в которой — обращения граждан"))  # fmt: skip
        return findings
    finally:
        await session.close()


def configured_chats(settings: Settings) -> list[tuple[str, int, str]]:
    """(config key, chat id, what it is for) of every chat set in config.toml."""
    chats = settings.chats
    found = [
        (f"chats.{key}", chat_id, what)
        for key, what in _ROLE_CHATS.items()
        if (chat_id := getattr(chats, key)) is not None
    ]
    for unit, chat_id in chats.units.items():
        found.append(
            (f"chats.units.{unit}", chat_id, f"чат подразделения «{settings.units.get(unit, unit)}»")
        )
    return found


def missing_chat_findings(directory: Directory) -> list[Finding]:
    """Chats nobody set: without the intake chat nothing comes in; without another, its role hears nothing."""
    findings: list[Finding] = []
    for key in directory.missing_chats():
        text = f"{key}: чат не задан в настройках — уведомления этой роли некуда доставить"
        findings.append(fail(text) if key == "chats.intake" else warn(text))
    return findings


async def chat_findings(bot: Bot, me: User, settings: Settings) -> list[Finding]:
    """Each configured chat: the bot can reach it (getChat), is in it, and reads it (administrator or privacy
    off). The intake chat unread is a problem (operators' posts never arrive); elsewhere a warning (replies to
    the bot's messages and commands still do)."""
    return [
        await _chat_finding(bot, me, key, chat_id, what) for key, chat_id, what in configured_chats(settings)
    ]


async def _chat_finding(bot: Bot, me: User, key: str, chat_id: int, what: str) -> Finding:
    where = f"{key} = {chat_id}"
    try:
        chat = await bot.get_chat(chat_id)
        member = await bot.get_chat_member(chat_id, me.id)
    except TelegramNetworkError as exc:
        return fail(f"{where}: не проверен, Bot API не отвечает: {_short(exc)}")
    except TelegramAPIError as exc:
        return fail(
            f"{where}: бот не может открыть чат ({exc.message}): добавьте бота в чат или исправьте id "
            "(id чата покажет команда /id, отправленная в самом чате)"
        )
    title = chat.title or chat.full_name
    if chat.type == ChatType.PRIVATE:
        return ok(f"{where}: личный чат «{title}» ({what})")
    status = member.status
    if status in (ChatMemberStatus.LEFT, ChatMemberStatus.KICKED):
        return fail(f"{where}: бота нет в чате «{title}»: добавьте его туда ({what})")
    if status == ChatMemberStatus.RESTRICTED and not getattr(member, "can_send_messages", True):
        return fail(f"{where}: боту запрещено писать в чат «{title}»: снимите ограничение ({what})")
    admin = status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR)
    if chat.type == ChatType.CHANNEL and not admin:
        return fail(f"{where}: «{title}» — канал, в нём бот должен быть администратором")
    if admin:
        return ok(f"{where}: «{title}», бот — администратор и видит все сообщения ({what})")
    if me.can_read_all_group_messages:
        return ok(f"{where}: «{title}», бот видит все сообщения ({what})")
    text = (
        f"{where}: «{title}»: бот не видит обычные сообщения чата — сделайте его администратором чата "
        f"или выключите режим приватности ({what})"
    )
    return fail(text) if key == "chats.intake" else warn(text)


# --- the Telegram channel (issue 11) --------------------------------------------------------------------------


async def telegram_channel_findings(bot: Bot, me: User, settings: Settings) -> list[Finding]:
    """When [channels.telegram] is enabled: the channel's linked discussion group is the configured one
    (getChat(channel).linked_chat_id), and the bot is an administrator there (it sees comments only so)."""
    tg = settings.channels.telegram
    if not tg.enabled:
        return []
    if tg.group_id is None:
        return [fail("channels.telegram.group_id: не указан id группы обсуждения канала")]
    findings: list[Finding] = []
    if tg.channel_id is None:
        findings.append(
            warn("channels.telegram.channel_id: не указан id канала: связь канала с группой не проверена")
        )
    else:
        where = f"channels.telegram.channel_id = {tg.channel_id}"
        try:
            channel = await bot.get_chat(tg.channel_id)
        except TelegramNetworkError as exc:
            findings.append(fail(f"{where}: не проверен, Bot API не отвечает: {_short(exc)}"))
        except TelegramAPIError as exc:
            findings.append(
                fail(f"{where}: бот не видит канал ({exc.message}): добавьте бота в администраторы канала")
            )
        else:
            if channel.linked_chat_id == tg.group_id:
                findings.append(ok(f"канал «{channel.title}» связан с группой обсуждения {tg.group_id}"))
            elif channel.linked_chat_id is None:
                findings.append(
                    fail(f"{where}: у канала «{channel.title}» нет группы обсуждения: комментарии выключены")
                )
            else:
                findings.append(
                    fail(
                        f"{where}: группа обсуждения канала «{channel.title}» — {channel.linked_chat_id}, "
                        f"а в настройках group_id = {tg.group_id}"
                    )
                )
    where = f"channels.telegram.group_id = {tg.group_id}"
    try:
        member = await bot.get_chat_member(tg.group_id, me.id)
    except TelegramNetworkError as exc:
        findings.append(fail(f"{where}: не проверен, Bot API не отвечает: {_short(exc)}"))
        return findings
    except TelegramAPIError as exc:
        findings.append(
            fail(f"{where}: бот не может открыть группу обсуждения ({exc.message}): добавьте его туда")
        )
        return findings
    if member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR):
        findings.append(ok(f"{where}: бот — администратор группы обсуждения и видит комментарии"))
    else:
        findings.append(
            fail(
                f"{where}: бот не администратор группы обсуждения: он не увидит комментарии — назначьте его администратором"
            )
        )
    return findings


# --- VK (issue 11) --------------------------------------------------------------------------------------------


async def vk_findings(settings: Settings) -> list[Finding]:
    """When [channels.vk] is enabled: the community token's rights (groups.getTokenPermissions) and one
    service-key call of the reconciliation sweep."""
    vk = settings.channels.vk
    if not vk.enabled:
        return []
    if vk.group_id is None:
        return [fail("channels.vk.group_id: не указан номер сообщества ВКонтакте")]
    if not vk.token:
        return [fail(f"channels.vk.token: не задан ключ доступа сообщества (задайте {VK_TOKEN_ENV})")]
    import requests
    from vk_api.exceptions import VkApiError

    from channels.vk import NEEDED_PERMISSIONS, make_api, service_key_works, token_permissions
    from channels.vk_session import vk_session

    findings: list[Finding] = []
    try:
        granted = await asyncio.to_thread(token_permissions, make_api(vk.token, vk_session(vk.api_base)))
    except VkApiError as exc:
        return [fail(f"channels.vk.token: ВКонтакте отклонил ключ сообщества: {_short(exc)}")]
    except (requests.RequestException, ValueError) as exc:
        return [fail(f"channels.vk: API ВКонтакте не отвечает ({vk.api_base}): {_short(exc)}")]
    # docs: the attachments of citizens' comments and messages (a setting); without them wall and messages do.
    needed = [name for name in NEEDED_PERMISSIONS if name != "docs" or vk.attachments]
    missing = [name for name in needed if name not in granted]
    if missing:
        findings.append(
            fail(
                f"channels.vk.token: у ключа сообщества нет прав: {', '.join(missing)} — выдайте их в настройках "
                "сообщества (Работа с API → Ключи доступа)"
            )
        )
    else:
        findings.append(
            ok(f"ВКонтакте: ключ сообщества {vk.group_id}, права: {', '.join(needed)}")
        )
    if not vk.service_key:
        findings.append(
            warn(
                f"channels.vk.service_key: не задан сервисный ключ ({VK_SERVICE_KEY_ENV}): комментарии, "
                "пропущенные при перерыве в связи, не найдутся сверкой"
            )
        )
        return findings
    try:
        await asyncio.to_thread(
            service_key_works, make_api(vk.service_key, vk_session(vk.api_base)), vk.group_id
        )
    except (VkApiError, requests.RequestException, ValueError) as exc:
        findings.append(fail(f"channels.vk.service_key: сервисный ключ не работает: {_short(exc)}"))
    else:
        findings.append(ok("ВКонтакте: сервисный ключ читает стену сообщества (сверка)"))
    return findings


async def vk_long_poll_findings(settings: Settings) -> list[Finding]:
    """In long-poll mode: Long Poll API is on for the community and every event type Otklik reads is enabled
    (groups.getLongPollSettings); a type switched off is a comment or an edit that never arrives."""
    vk = settings.channels.vk
    if not vk.enabled or vk.mode != "longpoll" or vk.group_id is None or not vk.token:
        return []  # the lines above already say what is missing; callback mode has its own settings page
    import requests
    from vk_api.exceptions import VkApiError

    from channels.vk import API_VERSION, LONG_POLL_EVENTS, long_poll_settings, make_api
    from channels.vk_session import vk_session

    try:
        answer = await asyncio.to_thread(
            long_poll_settings, make_api(vk.token, vk_session(vk.api_base)), vk.group_id
        )
    except (VkApiError, requests.RequestException, ValueError) as exc:
        return [fail(f"channels.vk: настройки Long Poll API не прочитаны: {_short(exc)}")]
    where = "в настройках сообщества (Работа с API → Long Poll API)"
    if not answer.enabled:
        return [fail(f"channels.vk: Long Poll API выключен — включите его {where}")]
    findings: list[Finding] = []
    off = [kind for kind in LONG_POLL_EVENTS if kind not in answer.events_on]
    if off:
        findings.append(
            fail(f"channels.vk: в Long Poll API не включены события: {', '.join(off)} — включите их {where}")
        )
    else:
        findings.append(ok(f"ВКонтакте: Long Poll API включён, события: {', '.join(LONG_POLL_EVENTS)}"))
    if answer.api_version and answer.api_version != API_VERSION:
        findings.append(
            warn(
                f"channels.vk: версия Long Poll API {answer.api_version}, «Отклик» читает {API_VERSION} — выберите её {where}"
            )
        )
    return findings


# --- the database ---------------------------------------------------------------------------------------------


async def pos_mail_findings(settings: Settings) -> list[Finding]:
    """When [channels.pos_mail] is enabled: the login works and the folder exists (nothing is read or flagged)."""
    mail = settings.channels.pos_mail
    if not mail.enabled:
        return []
    problem = mailbox_problem(mail)
    if problem is not None:
        return [fail(problem)]
    from channels.pos.mail import ImapMailbox, MailboxError

    try:
        line = await ImapMailbox(mailbox_config(mail)).check()
    except MailboxError as exc:
        return [fail(f"почта ПОС ({mail.user}): {exc}")]
    return [ok(f"почта ПОС ({mail.user}): {line}")]


async def database_findings(settings: Settings) -> list[Finding]:
    from alembic.script import ScriptDirectory

    from storage.migrate import alembic_config, current_revision, head_revision

    try:
        url = check_database_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            await asyncio.to_thread(check_sqlite, url, DEFAULT_BUSY_TIMEOUT_MS / 1000)
        else:
            await check_postgres(url)
    except StartupError as exc:
        return [fail(str(exc))]
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and _sqlite_file_missing(url):
        return [
            fail(
                f"database.url: базы данных ещё нет ({url.database}): создайте её командой otklik db upgrade"
            )
        ]
    try:
        current = await current_revision(settings.database_url)
    except Exception as exc:  # reachable a moment ago: say what the driver says, in one line
        return [fail(f"database.url: версия схемы не читается: {_short(exc)}")]
    head = head_revision()
    if current == head:
        return [ok(f"база данных {shown}: схема актуальна ({head})")]
    known = {rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current is None:
        problem = "схема не создана"
    elif current in known:
        problem = f"не применены миграции: схема {current}, нужна {head}"
    else:
        return [
            fail(
                f"database.url: схема базы ({current}) новее этой версии Отклика: обновите Отклик "
                "или укажите другую базу"
            )
        ]
    return [
        fail(
            f"database.url: {problem}; выполните otklik db upgrade (otklik run применяет их сам при запуске)"
        )
    ]


def _sqlite_file_missing(url: URL) -> bool:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return False
    return not Path(database).exists()


# --- the calendar ---------------------------------------------------------------------------------------------


def calendar_years(settings: Settings) -> set[int]:
    """The years with production calendar data: shipped with Отклик, or imported by `otklik calendar import`."""
    years = set(shipped_calendar())
    for path in imported_calendar_files(settings):
        years.add(read_calendar_file(path)[0])
    return years


def calendar_findings(settings: Settings, today: date) -> list[Finding]:
    try:
        build_calendar(settings, warn=lambda _message: None)
        years = calendar_years(settings)
    except CalendarError as exc:
        return [fail(f"календарь: {exc}")]
    this, following = today.year, today.year + 1
    findings: list[Finding] = []
    load = "загрузите официальный календарь: otklik calendar import ru-{year}.xml"
    if this in years:
        findings.append(ok(f"производственный календарь на {this} год есть"))
    else:
        findings.append(fail(f"производственного календаря на {this} год нет: {load.format(year=this)}"))
    if following in years:
        findings.append(ok(f"производственный календарь на {following} год есть"))
    elif (today.month, today.day) >= NEXT_YEAR_NEEDED_FROM:
        findings.append(
            fail(
                f"производственного календаря на {following} год нет, а сроки, начатые сейчас, уходят в него: "
                + load.format(year=following)
            )
        )
    else:
        findings.append(
            warn(
                f"производственного календаря на {following} год пока нет: до 1 ноября {load.format(year=following)}"
            )
        )
    return findings


def _short(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__


async def run_check(
    settings: Settings, *, today: date, source: str, out: Callable[[str], None] = print
) -> int:
    """Print every finding; 0 when nothing failed, 2 otherwise."""
    findings = await diagnose(settings, today=today, source=source)
    for finding in findings:
        out(finding.line())
    failed = sum(f.level is Level.FAIL for f in findings)
    if failed:
        out(f"Найдено проблем: {failed}. Исправьте их и запустите otklik check снова.")
        return 2
    out("Всё готово: запускайте otklik run.")
    return 0
