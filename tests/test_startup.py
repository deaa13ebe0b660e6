"""`otklik run` with a broken set-up: one Russian line on stderr, exit 2, no traceback, nothing written.

Every case runs the real console script (the one beside sys.executable). The tests run as root, who ignores
file modes: an unwritable folder is /proc (or an immutable folder), a read-only file an immutable one
(`chattr +i`, which binds root too); where chattr is not available those two are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiogram.exceptions import TelegramNetworkError, TelegramServerError
from aiogram.methods import GetMe

from bot.startup import StartupError, check_token, retry_get_me, wait_for_bot_api
from emulators.telegram import TelegramEmulator
from tests.support.pg import PG_URL

TOKEN = "123456789:" + "A" * 35
DEAD_API = "http://127.0.0.1:9"  # nothing listens there; the checks that fail first never reach it


def otklik() -> str:
    path = Path(sys.executable).with_name("otklik")
    assert path.is_file(), f"the otklik console script is not installed beside {sys.executable}"
    return str(path)


def write_config(folder: Path, *, url: str, token: str = TOKEN, api_base: str = DEAD_API) -> Path:
    config = folder / "config.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n\n[telegram]\ntoken = "{token}"\napi_base = "{api_base}"\n',
        encoding="utf-8",
    )
    return config


def run(config: Path | str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [otklik(), "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
    )


def assert_one_line(done: subprocess.CompletedProcess[str], *words: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    err = done.stderr
    assert "Traceback" not in err, err
    assert err.startswith("otklik: ошибка: ") and err.count("\n") == 1 and err.endswith("\n"), err
    for word in words:
        assert word in err, err
    return err


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# --- the database URL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("это не адрес", ["database.url", "не разбирается"]),
        ("sqlite:///{db}", ["синхронный", "sqlite+aiosqlite:///"]),
        ("sqlite+pysqlite:///{db}", ["синхронный", "sqlite+aiosqlite:///"]),
        ("postgresql://postgres@127.0.0.1/test", ["postgresql+asyncpg://postgres@127.0.0.1/test"]),
        ("postgresql+psycopg2://u:secret@db/otklik", ["postgresql+asyncpg://u:***@db/otklik"]),
        ("mysql+aiomysql://u@db/otklik", ["не поддерживается"]),
    ],
)
def test_bad_database_url(tmp_path: Path, url: str, words: list[str]) -> None:
    config = write_config(tmp_path, url=url.format(db=tmp_path / "otklik.sqlite3"))
    err = assert_one_line(run(config), *words)
    assert "secret" not in err
    assert files(tmp_path) == {"config.toml"}


# --- the token -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["", "123456:short", "abc:" + "A" * 35, "123456789:" + "A" * 34 + "!"])
def test_malformed_token(tmp_path: Path, token: str) -> None:
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}", token=token)
    assert_one_line(run(config), "telegram.token")
    assert files(tmp_path) == {"config.toml"}


def test_token_format() -> None:
    check_token("123456789:AAH-dk_39" + "x" * 26)
    with pytest.raises(StartupError):
        check_token("123456789:AAH-dk_39" + "x" * 27)


async def test_wrong_token_is_refused_by_the_emulator(tmp_path: Path) -> None:
    async with TelegramEmulator() as emu:
        assert emu.token != TOKEN
        config = write_config(
            tmp_path, url=f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}", api_base=emu.base_url
        )
        proc = await asyncio.create_subprocess_exec(
            otklik(), "run", "--config", str(config),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert [c.method.lower() for c in emu.calls()] == ["getme"]
    done = subprocess.CompletedProcess([], proc.returncode or 0, out.decode(), err.decode())
    assert_one_line(done, "telegram.token", "Unauthorized")
    assert files(tmp_path) == {"config.toml"}


async def test_a_failed_migration_stops_the_start_with_one_line(tmp_path: Path) -> None:
    """Alembic runs in a child process at start (issue 16); its failure is one line and exit 2 all the same."""
    db = tmp_path / "otklik.sqlite3"
    upgrade_db = f"import asyncio\nfrom storage.migrate import upgrade\nasyncio.run(upgrade('sqlite+aiosqlite:///{db}'))"
    subprocess.run([sys.executable, "-c", upgrade_db], check=True)
    with sqlite3.connect(db) as conn:  # a schema newer than this Otklik: Alembic cannot find its revision
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    async with TelegramEmulator() as emu:
        config = write_config(
            tmp_path, url=f"sqlite+aiosqlite:///{db}", token=emu.token, api_base=emu.base_url
        )
        proc = await asyncio.create_subprocess_exec(
            otklik(), "run", "--config", str(config),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 90)
    done = subprocess.CompletedProcess([], proc.returncode or 0, out.decode(), err.decode())
    assert_one_line(done, "миграции схемы", "9999", "otklik db upgrade")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("9999",)]


# --- the SQLite folder and file ------------------------------------------------------------------------------


def test_sqlite_folder_missing(tmp_path: Path) -> None:
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{tmp_path / 'nope' / 'otklik.sqlite3'}")
    assert_one_line(run(config), "папки базы данных нет", str(tmp_path / "nope"))
    assert files(tmp_path) == {"config.toml"}


def test_sqlite_folder_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("")
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'otklik.sqlite3'}")
    assert_one_line(run(config), "не папка")


def test_sqlite_file_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "otklik.sqlite3").mkdir()
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
    assert_one_line(run(config), "папка, а не файл")


def test_sqlite_folder_not_writable_even_for_root(tmp_path: Path) -> None:
    # /proc exists and os.access says "writable" to root, yet no file can be created there.
    config = write_config(tmp_path, url="sqlite+aiosqlite:////proc/otklik.sqlite3")
    assert_one_line(run(config), "нельзя записать", "/proc")
    assert not Path("/proc/otklik.sqlite3").exists()


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """chattr +i: not even root may write (or, for a folder, create entries in) it."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not available here: {done.stderr.decode().strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_sqlite_folder_immutable(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{data / 'otklik.sqlite3'}")
    with immutable(data):
        assert_one_line(run(config), "нельзя записать", str(data))
    assert files(data) == set()


def test_sqlite_file_read_only(tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    sqlite3.connect(db).close()
    db.chmod(0o444)  # what a non-root user would see; root needs the immutable flag as well
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{db}")
    with immutable(db):
        assert_one_line(run(config), "только для чтения", str(db))
    assert files(tmp_path) == {"config.toml", "otklik.sqlite3"}
    assert db.stat().st_size == 0  # no migration ran


def test_sqlite_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    db.write_bytes(b"this is not SQLite" * 100)
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{db}")
    assert_one_line(run(config), "не файл базы данных SQLite")


def test_sqlite_locked_longer_than_the_busy_timeout(tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # held for the whole run of the child: past its 10 s busy timeout
    try:
        config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{db}")
        assert_one_line(run(config), "занята другим процессом", str(db))
    finally:
        holder.execute("ROLLBACK")
    tables = {r[0] for r in holder.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    holder.close()
    assert tables == {"t"}  # no migration ran


# --- PostgreSQL ----------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_postgres_unreachable(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, url=f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    assert_one_line(run(config), "не отвечает", f"127.0.0.1:{port}")


def need_pg() -> None:
    if not PG_URL:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")


def test_postgres_database_missing(tmp_path: Path) -> None:
    need_pg()
    config = write_config(tmp_path, url="postgresql+asyncpg://postgres@127.0.0.1:5432/otklik_no_such_db")
    assert_one_line(run(config), "нет базы", "otklik_no_such_db")


def test_postgres_login_refused(tmp_path: Path) -> None:
    # The server here trusts local logins, so a wrong password cannot be shown; an unknown role can.
    need_pg()
    config = write_config(tmp_path, url="postgresql+asyncpg://otklik_no_such_role@127.0.0.1:5432/test")
    assert_one_line(run(config), "не пускает пользователя", "otklik_no_such_role")


# --- the config file (kept from before) -------------------------------------------------------------------


def test_config_missing_or_broken(tmp_path: Path) -> None:
    assert_one_line(run(tmp_path / "nope.toml"), "файл настроек не найден")
    broken = tmp_path / "broken.toml"
    broken.write_text("[database\n", encoding="utf-8")
    assert_one_line(run(broken), "не читается как TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[database]\nurll = 1\n", encoding="utf-8")
    assert_one_line(run(unknown), "database.urll")


# --- the Bot API unreachable at start: waited out, not fatal -----------------------------------------------


async def test_retry_doubles_from_1_s_to_60_s_with_one_line_per_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[Exception] = [
        *(TelegramNetworkError(GetMe(), "connection refused") for _ in range(7)),
        TelegramServerError(GetMe(), "Bad Gateway"),
        TimeoutError(),
    ]
    slept: list[float] = []

    async def get_me() -> object:
        if failures:
            raise failures.pop(0)
        return object()

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    with caplog.at_level(logging.WARNING, logger="bot.startup"):
        await retry_get_me(get_me, "http://api", sleep=fake_sleep)
    assert slept == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.startup"]
    assert len(lines) == 9 and all("не отвечает" in line for line in lines)


async def test_unreachable_then_up() -> None:
    """Nothing listens at first; the emulator comes up on that port during the third pause."""
    port = free_port()
    emu = TelegramEmulator(port=port)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 3:
            await emu.start()

    try:
        await wait_for_bot_api(emu.token, f"http://127.0.0.1:{port}", sleep=fake_sleep)
        assert slept == [1, 2, 4]
        assert [c.method.lower() for c in emu.calls()] == ["getme"]
    finally:
        await emu.stop()


async def test_wrong_token_after_waiting_is_still_fatal() -> None:
    port = free_port()
    emu = TelegramEmulator(port=port)

    async def fake_sleep(seconds: float) -> None:
        await emu.start()

    try:
        with pytest.raises(StartupError, match="Unauthorized"):
            await wait_for_bot_api(TOKEN, f"http://127.0.0.1:{port}", sleep=fake_sleep)
    finally:
        await emu.stop()


async def test_console_script_waits_for_the_bot_api_then_runs(tmp_path: Path) -> None:
    """A real `otklik run` with nothing at api_base: one line per attempt, no exit; up comes the emulator, on it runs."""
    port = free_port()
    db = tmp_path / "otklik.sqlite3"
    config = write_config(tmp_path, url=f"sqlite+aiosqlite:///{db}", api_base=f"http://127.0.0.1:{port}")
    emu = TelegramEmulator(port=port)
    config.write_text(config.read_text(encoding="utf-8").replace(TOKEN, emu.token), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        otklik(), "run", "--config", str(config),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert proc.stderr is not None
    try:
        retries: list[str] = []
        while len(retries) < 2:  # the 1 s and 2 s pauses: real, but short
            line = (await asyncio.wait_for(proc.stderr.readline(), 90)).decode()
            assert line, "the process ended while the Bot API was down"
            assert "Traceback" not in line
            retries.append(line)
        assert all("не отвечает" in line for line in retries), retries
        assert "попытка 1" in retries[0] and "попытка 2" in retries[1]
        assert not db.exists()  # nothing written while waiting
        await emu.start()
        while True:
            line = (await asyncio.wait_for(proc.stderr.readline(), 90)).decode()
            assert line and "Traceback" not in line, line
            if "Отклик запущен" in line:
                break
        proc.send_signal(signal.SIGTERM)
        rest = (await asyncio.wait_for(proc.stderr.read(), 60)).decode()
        assert await proc.wait() == 0, rest
        assert "Traceback" not in rest
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await emu.stop()
