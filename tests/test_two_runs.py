"""Two real `otklik run` on one SQLite file against the loopback emulator: the second refuses, naming the first;
once the first is SIGKILLed and its heartbeat is stale, a new one takes over.

Staleness is made by rewriting the dead holder's heartbeat instant in the file (no minute of waiting); the
processes are real, the console script the one beside sys.executable.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from emulators.telegram import TelegramEmulator


def otklik() -> str:
    path = Path(sys.executable).with_name("otklik")
    assert path.is_file(), f"the otklik console script is not installed beside {sys.executable}"
    return str(path)


async def start(config: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        otklik(), "run", "--config", str(config),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def holder(db: Path) -> tuple[str, int] | None:
    if not db.exists():
        return None
    with sqlite3.connect(db, timeout=10) as conn:
        try:
            row = conn.execute("SELECT host, pid FROM poller_lock WHERE name = 'poller'").fetchone()
        except sqlite3.OperationalError:  # the migrations have not run yet
            return None
    return (row[0], row[1]) if row else None


async def wait_holder(db: Path, proc: asyncio.subprocess.Process, timeout: float = 90) -> None:
    """Until the row names `proc` (the process's start-up: imports, migrations, the lock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (got := holder(db)) is None or got[1] != proc.pid:
        assert proc.returncode is None, "the process ended before taking the lock"
        assert loop.time() < deadline, f"no lock row for PID {proc.pid}: {got}"
        await asyncio.sleep(0.1)


async def test_second_run_refuses_then_takes_over_a_dead_one(tmp_path: Path) -> None:
    db = tmp_path / "otklik.sqlite3"
    async with TelegramEmulator() as emu:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "sqlite+aiosqlite:///{db}"\n\n'
            f'[telegram]\ntoken = "{emu.token}"\napi_base = "{emu.base_url}"\nrate_limits = false\n',
            encoding="utf-8",
        )
        first = await start(config)
        try:
            await wait_holder(db, first)

            second = await start(config)
            _, err = await asyncio.wait_for(second.communicate(), 90)
            text = err.decode()
            assert second.returncode == 2, text
            assert "Traceback" not in text
            assert text.count("\n") == 1, text
            assert text.startswith(
                f"otklik: ошибка: Отклик уже запущен: {socket.gethostname()}, PID {first.pid}, с "
            )
            assert text.endswith("; второй экземпляр не запускается\n")
            assert holder(db) == (socket.gethostname(), first.pid)

            first.send_signal(signal.SIGKILL)
            await first.wait()
            # Its heartbeat is two minutes old now: what a minute of waiting would give.
            stale = (datetime.now(UTC) - timedelta(minutes=2)).replace(tzinfo=None)
            with sqlite3.connect(db, timeout=10) as conn:
                conn.execute(
                    "UPDATE poller_lock SET heartbeat_at = ?", (stale.strftime("%Y-%m-%d %H:%M:%S.%f"),)
                )

            third = await start(config)
            try:
                await wait_holder(db, third)
            finally:
                third.send_signal(signal.SIGTERM)
                _, err = await asyncio.wait_for(third.communicate(), 60)
            text = err.decode()
            assert third.returncode == 0, text
            assert "Traceback" not in text
            takeover = [line for line in text.splitlines() if "перехвачена" in line]
            assert len(takeover) == 1 and f"PID {first.pid}" in takeover[0], text
            assert holder(db) is None  # released on the normal stop
        finally:
            if first.returncode is None:
                first.kill()
                await first.wait()
