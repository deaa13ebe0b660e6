"""The poller lock's rows: one process polls Telegram per database (issue 8, item 5).

A row per lock name names its holder (host, pid, start) and carries a heartbeat. Taking it is a conditional
write: free, held by us, or its heartbeat older than the staleness window (the holder is presumed dead).
On PostgreSQL the caller also holds an advisory lock (bot/pollerlock.py); the row is what names the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.tables import poller_lock

POLLER = "poller"


@dataclass(frozen=True)
class Holder:
    owner: str  # unique per process start
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class Taken:
    """The lock is ours; `previous` is the (dead) holder we took it over from, if any."""

    previous: Holder | None


@dataclass(frozen=True)
class Refused:
    """Someone alive holds the lock."""

    holder: Holder


async def read_holder(engine: AsyncEngine, name: str = POLLER) -> Holder | None:
    async with engine.connect() as conn:
        return await _read(conn, name)


async def take(
    engine: AsyncEngine, me: Holder, *, stale_before: datetime | None, name: str = POLLER
) -> Taken | Refused:
    """Take the lock for `me` if it is free, ours, or its heartbeat is older than `stale_before`.

    `stale_before=None` takes it over whatever the heartbeat (the PostgreSQL advisory lock already proved the
    holder gone). One transaction; the UPDATE's own WHERE is the guard, so two takers cannot both win.
    """
    async with engine.begin() as conn:
        current = await _read(conn, name)
        values = {
            "owner": me.owner,
            "host": me.host,
            "pid": me.pid,
            "started_at": me.started_at,
            "heartbeat_at": me.heartbeat_at,
        }
        if current is None:
            try:
                async with conn.begin_nested():
                    await conn.execute(insert(poller_lock).values(name=name, **values))
            except IntegrityError:
                # Another process inserted first; it is alive (it just started).
                holder = await _read(conn, name)
                assert holder is not None
                return Refused(holder)
            return Taken(None)
        guard = poller_lock.c.owner == me.owner
        if stale_before is not None:
            guard = or_(guard, poller_lock.c.heartbeat_at < stale_before)
        else:
            guard = or_(guard, poller_lock.c.owner == current.owner)
        result = await conn.execute(
            update(poller_lock).where(and_(poller_lock.c.name == name, guard)).values(**values)
        )
        if result.rowcount != 1:
            holder = await _read(conn, name)
            return Refused(holder or current)
        return Taken(None if current.owner == me.owner else current)


async def beat(engine: AsyncEngine, owner: str, now: datetime, *, name: str = POLLER) -> bool:
    """Renew our heartbeat; False when the row is no longer ours (we were presumed dead and taken over)."""
    async with engine.begin() as conn:
        result = await conn.execute(
            update(poller_lock)
            .where(and_(poller_lock.c.name == name, poller_lock.c.owner == owner))
            .values(heartbeat_at=now)
        )
        return result.rowcount == 1


async def release(engine: AsyncEngine, owner: str, *, name: str = POLLER) -> None:
    """Free the lock if it is still ours (a successor's row is left alone)."""
    async with engine.begin() as conn:
        await conn.execute(
            delete(poller_lock).where(and_(poller_lock.c.name == name, poller_lock.c.owner == owner))
        )


async def _read(conn: AsyncConnection, name: str) -> Holder | None:
    row = (await conn.execute(select(poller_lock).where(poller_lock.c.name == name))).first()
    if row is None:
        return None
    return Holder(
        owner=row.owner, host=row.host, pid=row.pid, started_at=row.started_at, heartbeat_at=row.heartbeat_at
    )
