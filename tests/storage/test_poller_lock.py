"""The poller lock on real SQLite and PostgreSQL: take, refuse, heartbeat, take over a stale one, release.

Time is data: the lock reads instants from a settable clock, so "60 s without a heartbeat" is one advance().
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.pollerlock import PollerLock, PollerLockLost, process_gone
from bot.startup import StartupError
from storage import poller_lock as rows
from storage.migrate import upgrade
from tests.storage.conftest import SettableClock


@pytest.fixture
async def migrated(engine: AsyncEngine) -> AsyncEngine:
    await upgrade(engine)
    return engine


def lock(engine: AsyncEngine, clock: SettableClock, pid: int, host: str = "web1") -> PollerLock:
    return PollerLock(engine, clock, host=host, pid=pid)


async def test_take_then_a_second_is_refused_naming_the_first(
    migrated: AsyncEngine, clock: SettableClock
) -> None:
    first = lock(migrated, clock, 101)
    await first.acquire()
    second = lock(migrated, clock, 202, host="web2")
    with pytest.raises(StartupError) as refused:
        await second.acquire()
    message = str(refused.value)
    assert message.startswith("Отклик уже запущен: web1, PID 101, с ")
    assert message.endswith("; второй экземпляр не запускается")
    holder = await rows.read_holder(migrated)
    assert holder is not None and (holder.host, holder.pid) == ("web1", 101)
    await first.release()
    await second.release()  # never held: a no-op


async def test_release_frees_it(migrated: AsyncEngine, clock: SettableClock) -> None:
    first = lock(migrated, clock, 101)
    await first.acquire()
    await first.release()
    assert await rows.read_holder(migrated) is None
    second = lock(migrated, clock, 202)
    await second.acquire()
    await second.release()


async def test_heartbeat_keeps_it_fresh(migrated: AsyncEngine, clock: SettableClock) -> None:
    first = lock(migrated, clock, 101)
    await first.acquire()
    for _ in range(8):  # two minutes of 15 s beats: never stale
        clock.advance(timedelta(seconds=15))
        assert await first.beat_once()
    holder = await rows.read_holder(migrated)
    assert holder is not None and holder.heartbeat_at == clock.now()
    if migrated.dialect.name == "sqlite":  # on PostgreSQL the advisory lock decides, see below
        with pytest.raises(StartupError):
            await lock(migrated, clock, 202, host="web2").acquire()
    await first.release()


async def test_a_stale_holder_is_taken_over_with_one_line(
    migrated: AsyncEngine, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    # The dead process: its row stays, its heartbeat stops (and on PostgreSQL its connection is gone).
    dead = lock(migrated, clock, 101)
    await dead.acquire()
    dead._held = False  # it crashed: nothing releases the row
    await dead._drop_advisory()
    clock.advance(timedelta(seconds=30))
    if migrated.dialect.name == "sqlite":
        with pytest.raises(StartupError):  # 30 s: maybe only slow, not dead
            await lock(migrated, clock, 202, host="web2").acquire()
    clock.advance(timedelta(seconds=31))
    successor = lock(migrated, clock, 202, host="web2")
    with caplog.at_level(logging.WARNING, logger="bot.pollerlock"):
        await successor.acquire()
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.pollerlock"]
    assert len(lines) == 1 and "web1, PID 101" in lines[0], lines
    holder = await rows.read_holder(migrated)
    assert holder is not None and (holder.host, holder.pid) == ("web2", 202)
    # The presumed dead one wakes up: its heartbeat finds the row taken and it stops.
    dead._held = True
    assert not await dead.beat_once()
    with pytest.raises(PollerLockLost, match="web2, PID 202"):
        dead.raise_if_lost()
    await dead.release()  # leaves the successor's row alone
    holder = await rows.read_holder(migrated)
    assert holder is not None and holder.pid == 202
    await successor.release()


async def test_a_crashed_holder_on_this_host_is_taken_over_at_once(
    migrated: AsyncEngine, clock: SettableClock, caplog: pytest.LogCaptureFixture
) -> None:
    # A real process that has exited (and been reaped): its PID is gone, so its row is not waited out.
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = lock(migrated, clock, gone.pid)
    await dead.acquire()
    dead._held = False
    await dead._drop_advisory()
    successor = lock(migrated, clock, 202)
    with caplog.at_level(logging.WARNING, logger="bot.pollerlock"):
        await successor.acquire()  # no clock advance: at once
    holder = await rows.read_holder(migrated)
    assert holder is not None and holder.pid == 202
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.pollerlock"]
    assert len(lines) == 1 and f"PID {gone.pid}," in lines[0], lines
    await successor.release()


async def test_a_live_holder_on_this_host_is_refused(migrated: AsyncEngine, clock: SettableClock) -> None:
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        holder = lock(migrated, clock, alive.pid)
        await holder.acquire()
        if migrated.dialect.name == "postgresql":
            holder._advisory, kept = None, holder._advisory  # the live process keeps its advisory lock
        with pytest.raises(StartupError, match=f"PID {alive.pid}"):
            await lock(migrated, clock, 202).acquire()
        if migrated.dialect.name == "postgresql":
            holder._advisory = kept
        await holder.release()
    finally:
        alive.kill()
        alive.wait()


def test_process_gone_reads_zombies_and_reaped_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while not process_gone(child.pid):  # exited but not reaped (a zombie): gone already
        assert time.monotonic() < deadline, "the child did not exit"
        time.sleep(0.01)
    child.wait()
    assert process_gone(child.pid)
    assert not process_gone(os.getpid())


async def test_heartbeat_task_stops_the_process_when_taken_over(
    migrated: AsyncEngine, clock: SettableClock
) -> None:
    ticks: asyncio.Queue[None] = asyncio.Queue()

    async def fake_sleep(_seconds: float) -> None:
        await ticks.get()

    first = PollerLock(migrated, clock, host="web1", pid=101, sleep=fake_sleep)
    await first.acquire()
    stopped = asyncio.Event()
    first.start_heartbeat(on_lost=stopped.set)
    ticks.put_nowait(None)
    await asyncio.sleep(0.05)
    assert not stopped.is_set()
    async with migrated.begin() as conn:  # another process took it over while we were presumed dead
        await conn.execute(text("UPDATE poller_lock SET owner = 'other', host = 'web9', pid = 9"))
    ticks.put_nowait(None)
    await asyncio.wait_for(stopped.wait(), 5)
    assert first.lost_to is not None and first.lost_to.host == "web9"
    await first.release()


async def test_pg_advisory_lock_held_elsewhere_refuses_even_with_a_stale_row(
    migrated: AsyncEngine, clock: SettableClock
) -> None:
    if migrated.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: the advisory lock")
    first = lock(migrated, clock, 101)
    await first.acquire()
    clock.advance(timedelta(minutes=10))  # the row looks dead, but its connection still holds the lock
    with pytest.raises(StartupError, match="web1, PID 101"):
        await lock(migrated, clock, 202).acquire()
    # Another connection holding the advisory lock with no row at all is refused too.
    await first.release()
    async with migrated.connect() as other:
        await other.execute(
            text("SELECT pg_advisory_lock(:c, hashtext(current_schema()))"), {"c": 0x6F746B50}
        )
        with pytest.raises(StartupError, match="уже запущен"):
            await lock(migrated, clock, 303).acquire()
        await other.execute(
            text("SELECT pg_advisory_unlock(:c, hashtext(current_schema()))"), {"c": 0x6F746B50}
        )
    # Once the holder's connection is gone, a fresh row of a dead holder is taken over at once.
    dead = lock(migrated, clock, 404)
    await dead.acquire()
    dead._held = False
    await dead._drop_advisory()
    successor = lock(migrated, clock, 505)
    await successor.acquire()
    holder = await rows.read_holder(migrated)
    assert holder is not None and holder.pid == 505
    await successor.release()
