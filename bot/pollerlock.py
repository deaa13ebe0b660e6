"""One poller per database: the lock row with its heartbeat, plus an advisory lock on PostgreSQL.

Two `otklik run` on one database both polled and duplicated cases. At start the process takes the lock
(storage/poller_lock.py): free, its heartbeat older than STALE_AFTER, or its process gone from this very host
(the holder died; a supervisor's restart need not wait a minute) -> ours, with one log line naming the dead
holder; otherwise start-up stops with one line naming the running one. A heartbeat
renews the row every HEARTBEAT_SECONDS; if it finds the row taken by another owner (we were presumed dead,
say the machine slept), the process stops rather than run two pollers. On PostgreSQL a session advisory lock
on a connection held for the process's life makes the check race-free and frees itself when the process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.shutdown import cancel_and_wait, wait_at_most
from bot.startup import StartupError
from storage import poller_lock as rows
from storage.poller_lock import Holder, Refused
from workflow.ports import Clock, StorageUnavailable

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)
HEARTBEAT_SECONDS = 15.0
RELEASE_SECONDS = 2.0  # what freeing the lock may take in a stop
# pg_try_advisory_lock(class, key): the class is "otkP" in ASCII; the key is the schema's hash, so two Otkliks
# in different schemas of one database (the tests do that) do not exclude each other.
_PG_LOCK_CLASS = 0x6F746B50

Sleep = Callable[[float], Awaitable[None]]


def process_gone(pid: int) -> bool:
    """True when no live process has this PID here; a reused PID reads as alive (the safe side: wait)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # someone else's live process
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The state follows the parenthesised command name; Z is killed but not yet reaped.
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


class PollerLockLost(StartupError):
    """Our lock row was taken over by another process: this one stops."""


class PollerLock:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        tz: tzinfo | None = None,
        stale_after: timedelta = STALE_AFTER,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        sleep: Sleep = asyncio.sleep,
        host: str | None = None,
        pid: int | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.tz = tz
        self.stale_after = stale_after
        self.heartbeat_seconds = heartbeat_seconds
        self._sleep = sleep
        self.host = host or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.owner = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:12]}"
        self.started_at = clock.now()
        self.lost_to: Holder | None = None
        self._held = False
        self._advisory: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def acquire(self) -> None:
        """Take the lock or raise StartupError with one line naming the running process."""
        on_pg = self.engine.dialect.name == "postgresql"
        if on_pg and not await self._take_advisory():
            holder = await rows.read_holder(self.engine)
            raise StartupError(self.refusal(holder))
        me = Holder(self.owner, self.host, self.pid, self.started_at, self.clock.now())
        # On PostgreSQL the advisory lock proves any previous holder gone: its row is taken over at once.
        stale_before = None if on_pg else self.clock.now() - self.stale_after
        try:
            outcome = await rows.take(self.engine, me, stale_before=stale_before)
        except BaseException:
            await self._drop_advisory()
            raise
        if isinstance(outcome, Refused) and self._died_here(outcome.holder):
            # A crashed run on this very machine: waiting out its heartbeat would only delay the restart.
            outcome = await rows.take(self.engine, me, stale_before=None)
        if isinstance(outcome, Refused):
            await self._drop_advisory()
            raise StartupError(self.refusal(outcome.holder))
        self._held = True
        if outcome.previous is not None:
            dead = outcome.previous
            log.warning(
                "блокировка опроса перехвачена у остановившегося экземпляра: %s, PID %d, запущен %s, "
                "последний признак жизни %s",
                dead.host, dead.pid, self._when(dead.started_at), self._when(dead.heartbeat_at),
            )  # fmt: skip

    def _died_here(self, holder: Holder) -> bool:
        """The holder ran on this host and its process is gone (or is a zombie, or was our own PID before)."""
        if holder.host != self.host:
            return False
        return holder.pid == self.pid or process_gone(holder.pid)

    def start_heartbeat(self, on_lost: Callable[[], None]) -> None:
        self._task = asyncio.create_task(self._heartbeat(on_lost), name="poller-lock-heartbeat")

    async def beat_once(self) -> bool:
        """One heartbeat; False when another process holds the row now."""
        if await rows.beat(self.engine, self.owner, self.clock.now()):
            return True
        self.lost_to = await rows.read_holder(self.engine) or Holder(
            "?", "?", 0, self.started_at, self.started_at
        )
        self._held = False
        return False

    async def _heartbeat(self, on_lost: Callable[[], None]) -> None:
        while True:
            await self._sleep(self.heartbeat_seconds)
            try:
                alive = await self.beat_once()
            except (StorageUnavailable, SQLAlchemyError, OSError) as exc:
                # The database is down: the inbox waits it out; the next beat tries again.
                log.warning("блокировка опроса: признак жизни не записан: %s", str(exc).splitlines()[0])
                continue
            if not alive:
                log.error("%s", self.lost_message())
                on_lost()
                return

    def lost_message(self) -> str:
        other = self.lost_to
        who = f"{other.host}, PID {other.pid}" if other is not None else "другой экземпляр"
        return (
            f"Отклик остановлен: блокировку опроса занял другой экземпляр ({who}), "
            "пока этот не подавал признаков жизни; два экземпляра не работают одновременно"
        )

    def raise_if_lost(self) -> None:
        if self.lost_to is not None:
            raise PollerLockLost(self.lost_message())

    async def release(self) -> None:
        """Stop the heartbeat and free the lock (if still ours); safe to call when it was never taken."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        if self._held:
            self._held = False
            # Bounded: a stop must not wait out the busy timeout (nor a cancelled write's clean-up, which
            # asyncio.wait_for would). Not freed, the lock is taken over by the next start: at once on this host
            # (the PID is gone), elsewhere once the heartbeat is stale.
            released = rows.release(self.engine, self.owner)
            if not await wait_at_most(released, RELEASE_SECONDS, "блокировка опроса не снята"):
                log.warning("блокировка опроса не снята за %.0f с: её займёт следующий запуск", RELEASE_SECONDS)
        await self._drop_advisory()

    def refusal(self, holder: Holder | None) -> str:
        if holder is None:
            return "Отклик уже запущен на этой базе данных; второй экземпляр не запускается"
        return (
            f"Отклик уже запущен: {holder.host}, PID {holder.pid}, с {self._when(holder.started_at)}; "
            "второй экземпляр не запускается"
        )

    def _when(self, instant: datetime) -> str:
        local = instant.astimezone(self.tz) if self.tz is not None else instant.astimezone()
        now = self.clock.now().astimezone(local.tzinfo)
        return f"{local:%H:%M}" if local.date() == now.date() else f"{local:%d.%m.%Y %H:%M}"

    async def _take_advisory(self) -> bool:
        conn = await self.engine.connect()
        try:
            got = await conn.scalar(
                text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"), {"cls": _PG_LOCK_CLASS}
            )
            await conn.commit()  # a session lock outlives the transaction; the connection stays ours
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._advisory = conn
        return True

    async def _drop_advisory(self) -> None:
        conn, self._advisory = self._advisory, None
        if conn is None:
            return
        try:
            await conn.execute(
                text("SELECT pg_advisory_unlock(:cls, hashtext(current_schema()))"), {"cls": _PG_LOCK_CLASS}
            )
            await conn.commit()
        except (SQLAlchemyError, OSError):
            pass  # the connection is gone, and the lock with it
        finally:
            with contextlib.suppress(SQLAlchemyError, OSError):
                await conn.close()
