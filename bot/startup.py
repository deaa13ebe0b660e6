"""Start-up checks of `otklik run`: every set-up problem ends with one Russian line and exit code 2.

They run before anything is written (no SQLite file created, no migration, no table touched): a malformed or
synchronous database URL, a malformed or wrong token, a SQLite folder or file that cannot be written, a SQLite
file locked by another process, PostgreSQL unreachable, its database missing or the login refused. The Bot API
unreachable at start is not a set-up error (the network may come up later): getMe is retried with back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import sqlite3
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from bot.max_session import NO_MIDS, MaxBot, MaxSession
from bot.settings import Settings
from storage.engine import DEFAULT_BUSY_TIMEOUT_MS, create_engine

log = logging.getLogger(__name__)

# Telegram's tokens: the bot's numeric id, a colon, 35 characters of a URL-safe alphabet.
TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{35}$")
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
PG_CONNECT_TIMEOUT_SECONDS = 10.0
_EXAMPLES = "sqlite+aiosqlite:///путь/к/otklik.sqlite3 или postgresql+asyncpg://пользователь@сервер/база"

Sleep = Callable[[float], Awaitable[None]]


class StartupError(Exception):
    """A set-up problem found at start: one line naming what to fix; `otklik run` exits with code 2."""


async def check_setup(settings: Settings, *, sleep: Sleep = asyncio.sleep) -> None:
    """Every check, cheapest first; returns once the Bot API has accepted the token."""
    on_max = settings.messenger.kind == "max"
    if on_max:
        if not settings.messenger.max_token:
            raise StartupError(
                "messenger.max_token: не задан токен бота MAX (задайте OTKLIK_MESSENGER__MAX_TOKEN)"
            )
    else:
        check_token(settings.telegram.token)
    url = check_database_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        await asyncio.to_thread(check_sqlite, url, DEFAULT_BUSY_TIMEOUT_MS / 1000)
    else:
        await check_postgres(url)
    if on_max:
        await wait_for_max_api(settings.messenger.max_token, settings.messenger.max_api_base, sleep=sleep)
    else:
        await wait_for_bot_api(settings.telegram.token, settings.telegram.api_base, sleep=sleep)


# --- the token ------------------------------------------------------------------------------------------------


def check_token(token: str) -> None:
    if not token:
        raise StartupError("telegram.token: не задан токен бота (задайте OTKLIK_TELEGRAM__TOKEN)")
    if not TOKEN_RE.match(token):
        raise StartupError(
            "telegram.token: это не токен бота (ожидается «число:35 знаков из A-Z a-z 0-9 _ -», "
            "как его выдаёт @BotFather)"
        )


async def wait_for_bot_api(token: str, api_base: str, *, sleep: Sleep = asyncio.sleep) -> None:
    """getMe until Telegram answers: a refused token is fatal, an unreachable API is waited out."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    bot = Bot(token, session=session)
    try:
        await retry_get_me(bot.get_me, api_base, sleep=sleep)
    finally:
        await session.close()


async def wait_for_max_api(token: str, api_base: str, *, sleep: Sleep = asyncio.sleep) -> None:
    """GET /me of the MAX Bot API until it answers (issue 15): a refused token is fatal."""
    session = MaxSession(token, NO_MIDS, api_url=api_base)
    bot = MaxBot(session)
    try:
        await retry_get_me(bot.get_me, api_base, sleep=sleep,
                           refused="messenger.max_token: MAX не принимает токен; проверьте его в кабинете бота")  # fmt: skip
    finally:
        await session.close()


async def retry_get_me(
    get_me: Callable[[], Awaitable[object]], api_base: str, *, sleep: Sleep,
    refused: str = "telegram.token: Telegram не принимает токен (Unauthorized); проверьте его у @BotFather",
) -> None:  # fmt: skip
    delay = FIRST_RETRY_SECONDS
    attempt = 1
    while True:
        try:
            await get_me()
            return
        except (TelegramUnauthorizedError, TelegramNotFound):
            raise StartupError(refused) from None
        except TelegramRetryAfter as exc:
            wait = float(exc.retry_after)
            why = f"просит подождать {exc.retry_after} с"
        except (TelegramNetworkError, TelegramServerError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            wait = delay
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            why = _short(exc)
        log.warning(
            "Bot API %s не отвечает (попытка %d: %s); следующая через %g с", api_base, attempt, why, wait
        )
        attempt += 1
        await sleep(wait)


# --- the database URL -----------------------------------------------------------------------------------------


def check_database_url(raw: str) -> URL:
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        raise StartupError(
            f"database.url: не разбирается как адрес базы данных; пример: {_EXAMPLES}"
        ) from None
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "sqlite":
        if driver != "aiosqlite":
            fixed = url.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=True)
            raise StartupError(
                f"database.url: драйвер {url.drivername} синхронный, Отклику нужен асинхронный: укажите {fixed}"
            )
        return url
    if backend == "postgresql":
        if driver != "asyncpg":
            fixed = url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=True)
            raise StartupError(
                f"database.url: драйвер {url.drivername} не подходит, Отклику нужен asyncpg: укажите {fixed}"
            )
        if not url.database:
            raise StartupError("database.url: не указано имя базы PostgreSQL (…/имя_базы в конце адреса)")
        return url
    raise StartupError(f"database.url: база {url.drivername} не поддерживается; укажите {_EXAMPLES}")


# --- SQLite ---------------------------------------------------------------------------------------------------


def check_sqlite(url: URL, busy_timeout: float) -> None:
    """The folder and file can be written and no other process holds the write lock; nothing is created."""
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return
    path = Path(database)
    folder = path.parent
    if not folder.exists():
        raise StartupError(f"database.url: папки базы данных нет: {folder} (создайте её или исправьте путь)")
    if not folder.is_dir():
        raise StartupError(f"database.url: {folder} — не папка, а файл; исправьте путь к базе данных")
    # SQLite writes its -wal and -shm files beside the database, so the folder must be writable even when the
    # file exists. os.access misses what root is refused anyway (/proc, an immutable folder): a probe file
    # created and removed at once tells for sure.
    if not os.access(folder, os.W_OK | os.X_OK) or not _can_create_in(folder):
        raise StartupError(
            f"database.url: в папку базы данных нельзя записать: {folder} "
            "(дайте право записи пользователю, от которого запущен Отклик)"
        )
    if not path.exists():
        return  # created by the first migration
    if path.is_dir():
        raise StartupError(f"database.url: {path} — папка, а не файл базы данных; исправьте путь")
    if not os.access(path, os.R_OK | os.W_OK) or not _can_open_for_writing(path):
        raise StartupError(
            f"database.url: файл базы данных только для чтения: {path} "
            "(дайте право записи пользователю, от которого запущен Отклик)"
        )
    _check_write_lock(path, busy_timeout)


def _can_create_in(folder: Path) -> bool:
    try:
        handle, probe = tempfile.mkstemp(prefix=".otklik-probe-", dir=folder)
    except OSError:
        return False
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(probe)
    return True


def _can_open_for_writing(path: Path) -> bool:
    try:
        handle = os.open(path, os.O_RDWR)  # no O_CREAT, no write: only asks for the permission
    except OSError:
        return False
    os.close(handle)
    return True


def _check_write_lock(path: Path, busy_timeout: float) -> None:
    # BEGIN IMMEDIATE takes the write lock (waiting busy_timeout, as the bot's own engine does) and ROLLBACK
    # gives it back: nothing is written to the database.
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise StartupError(f"database.url: база данных {path} не открывается: {exc}") from None
    try:
        conn.isolation_level = None
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        message = str(exc).lower()
        if "locked" in message or "busy" in message:
            raise StartupError(
                f"database.url: база данных {path} занята другим процессом дольше {busy_timeout:g} с "
                "(остановите программу, которая её держит)"
            ) from None
        if "readonly" in message or "read-only" in message:
            raise StartupError(f"database.url: файл базы данных только для чтения: {path}") from None
        if "not a database" in message:
            raise StartupError(f"database.url: {path} — не файл базы данных SQLite") from None
        raise StartupError(f"database.url: база данных {path} не открывается: {exc}") from None
    finally:
        conn.close()


# --- PostgreSQL -----------------------------------------------------------------------------------------------


async def check_postgres(url: URL) -> None:
    """One connection and SELECT 1: the server answers, the database exists, the login is accepted."""
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    engine = create_engine(url, connect_args={"timeout": PG_CONNECT_TIMEOUT_SECONDS}, pool_pre_ping=False)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (DBAPIError, OSError, TimeoutError) as exc:
        raise StartupError(_pg_problem(exc, url, where)) from None
    finally:
        await engine.dispose()


def _pg_problem(exc: BaseException, url: URL, where: str) -> str:
    cause = _root(exc)
    name = type(cause).__name__
    if name == "InvalidCatalogNameError":
        return (
            f"database.url: на сервере PostgreSQL {where} нет базы {url.database!r} (создайте её: createdb)"
        )
    if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
        return (
            f"database.url: PostgreSQL {where} не пускает пользователя {url.username!r}: {_short(cause)} "
            "(проверьте имя, пароль и pg_hba.conf)"
        )
    if isinstance(cause, socket.gaierror):
        return f"database.url: сервер PostgreSQL {url.host!r} не найден (проверьте имя сервера)"
    if isinstance(cause, (OSError, TimeoutError)):
        return f"database.url: PostgreSQL на {where} не отвечает (сервер не запущен или недоступен)"
    return f"database.url: PostgreSQL {where} не принимает подключение: {_short(cause)}"


def _root(exc: BaseException) -> BaseException:
    seen = exc
    for _ in range(10):  # DBAPIError -> the adapter's error -> asyncpg's own
        nxt = getattr(seen, "orig", None) or seen.__cause__
        if nxt is None or nxt is seen:
            break
        seen = nxt
    return seen


def _short(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return first[0] if first else type(exc).__name__
