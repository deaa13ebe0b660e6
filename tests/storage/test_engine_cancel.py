"""A transaction cancelled while its BEGIN waits for SQLite's write lock leaves no transaction behind.

A stop cancels the workers; one of them may be inside `engine.begin()`, its BEGIN IMMEDIATE queued in
aiosqlite's thread behind another process's lock. The thread still runs the BEGIN once the lock is free; if
nothing undid it, the pooled connection would keep the write lock and every other writer would wait out its
busy timeout (a SIGTERM that took 24 s, «cannot start a transaction within a transaction» in a worker).
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from storage.engine import create_engine


async def test_a_begin_cancelled_while_waiting_for_the_lock_leaves_the_connection_clean(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cancel.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=5_000, pool_size=1, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (x INTEGER)"))

    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    holder.execute("BEGIN EXCLUSIVE")
    entered = asyncio.Event()

    async def write() -> None:
        entered.set()
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))

    task = asyncio.create_task(write())
    await entered.wait()
    # Let the BEGIN reach aiosqlite's thread, where it waits on the busy handler (not a deadline: any moment
    # inside the wait shows the fault; 0.3 s of the 5 s timeout).
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.sleep(0)  # the cancellation reaches the task (its ROLLBACK queues behind the BEGIN)
    holder.execute("ROLLBACK")  # the other process lets go: the queued BEGIN runs, then the ROLLBACK
    await asyncio.gather(task, return_exceptions=True)

    # The one pooled connection works, and it holds no lock: another process takes the write lock at once.
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))
    probe = sqlite3.connect(path, isolation_level=None, timeout=0.5)
    probe.execute("BEGIN IMMEDIATE")
    probe.execute("ROLLBACK")
    assert probe.execute("SELECT x FROM t").fetchall() == [(2,)]
    probe.close()
    holder.close()
    await engine.dispose()
