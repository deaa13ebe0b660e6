"""The inbox: every update saved before it is confirmed to its source, handled from here, marked when done.

One row per (source, key). A whole getUpdates batch is written in one short transaction with insert-or-ignore
on the key, so an update Telegram delivers again (its confirmation was lost in a crash) is not stored twice.
Workers claim the oldest pending rows of lanes (chats) nobody is handling, several at once, and mark each done or
failed; at start every claim is released, so whatever a dead process held is handled again. On a SQLite file every
write goes through the engine's one writer (storage/writer.py), group-committed with the use cases' writes: a
write of its own would wait for SQLite's write lock against the writer, which a burst of comments holds nearly all
the time (busy_timeout sleeps of up to 100 ms each). A network's batch (VK long poll) is
written with its cursor in the same transaction (`channel_cursors`), so a crash before the write re-reads the
batch and one after it reads on from the cursor: nothing lost, nothing twice. Every method raises
StorageUnavailable when the database is down (storage/outage.py), so callers wait and retry.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Dialect, and_, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import direct
from storage.engine import SQLITE_BEGIN
from storage.outage import translated
from storage.prepared import result_processor
from storage.tables import channel_cursors, inbox
from storage.writer import write_with
from workflow.ports import Clock

log = logging.getLogger(__name__)

PENDING, DONE, FAILED = "pending", "done", "failed"
_ERROR_MAX = 2000
# Candidates read per row wanted by `claim`: rows of a lane already taken are skipped, so read a few more.
_CANDIDATES_PER_ROW = 4

_T = TypeVar("_T")

# SQLite: the worker loop's claims and marks as fixed SQL on the driver connection (storage/direct.py), in the
# writer's thread: through SQLAlchemy Core, building, compiling and caching each statement cost more CPU than
# SQLite spent running it, on the thread every registration waits for. Parameters pass through the columns'
# own processors (storage/direct.py), rows come back through them, so the same bytes are stored and read.
_CLAIMED_COLUMNS = ("id", "source", "key", "lane", "raw", "attempts", "received_at")
_CANDIDATES_SQLITE = (
    f"SELECT {', '.join(_CLAIMED_COLUMNS)} FROM inbox WHERE state = ? AND claimed_by IS NULL{{lanes}}"
    " ORDER BY id LIMIT ?"
)
_CLAIM_SQLITE = (
    "UPDATE inbox SET claimed_by = ?, attempts = attempts + 1"
    " WHERE id IN ({ids}) AND claimed_by IS NULL AND state = ? RETURNING id"
)
_MARK_DONE_SQLITE = "UPDATE inbox SET state = ?, claimed_by = NULL, done_at = ?, last_error = NULL WHERE id = ?"


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _driver_rows(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """SQLite: one statement on the driver connection under `conn`, in its transaction; its rows as stored."""
    raw = conn.connection.dbapi_connection
    if isinstance(raw, sqlite3.Connection):  # the writer's (storage/writer.py): no hop, no SQLAlchemy
        return direct.fetchall_now(raw, sql, params)
    # A pooled aiosqlite connection (an in-memory database, the writer off): as text, still no compiling.
    result = conn.exec_driver_sql(sql, tuple(params))
    return [tuple(row) for row in result] if result.returns_rows else []


def _claimed_processors(dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    """The result processors of the claimed columns (the JSON decoding, the UTC instant), as SQLAlchemy's."""
    return [result_processor(inbox.c[key].type, dialect) for key in _CLAIMED_COLUMNS]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One update to save: its source, its key there, the lane it is ordered in, the raw JSON."""

    source: str
    key: str
    lane: str | None
    raw: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InboxRow:
    id: int
    source: str
    key: str
    lane: str | None
    raw: dict[str, Any]
    attempts: int  # with this claim
    # When the inbox saved it: when Otklik first saw it (a network item's T0).
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a network's feed was read up to, saved with the batch that led there."""

    channel: str
    value: str


class Inbox:
    def __init__(self, engine: AsyncEngine, *, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock
        self._processors: list[Callable[[Any], Any] | None] | None = None

    def _sqlite_direct(self) -> bool:
        """Whether the hot claims and marks go as fixed SQL on the driver (SQLite; tests compare both ways)."""
        return self.engine.dialect.name == "sqlite"

    async def _write(self, work: Callable[[Connection], _T]) -> _T:
        """Run `work` in one writing transaction: on the SQLite writer's thread, or on a pooled connection."""
        async with translated():
            return await write_with(self.engine, work)

    def _insert(self) -> Any:
        if self.engine.dialect.name == "postgresql":
            return postgresql.insert(inbox).on_conflict_do_nothing(index_elements=["source", "key"])
        return sqlite.insert(inbox).on_conflict_do_nothing(index_elements=["source", "key"])

    def _upsert_cursor(self, cursor: Cursor, now: datetime) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        stmt = dialect.insert(channel_cursors).values(
            channel=cursor.channel, cursor=cursor.value, updated_at=now
        )
        return stmt.on_conflict_do_update(
            index_elements=["channel"], set_={"cursor": cursor.value, "updated_at": now}
        )

    async def save_batch(self, items: Sequence[Incoming], *, cursor: Cursor | None = None) -> int:
        """Save the batch in one transaction, with `cursor` when given; updates already there are left as they
        are. Returns how many were new."""
        if not items and cursor is None:
            return 0
        now = self.clock.now()
        rows = [
            {"source": i.source, "key": i.key, "lane": i.lane, "raw": i.raw, "received_at": now,
             "state": PENDING, "attempts": 0}
            for i in items
        ]  # fmt: skip
        insert, upsert = self._insert(), None if cursor is None else self._upsert_cursor(cursor, now)

        def save(conn: Connection) -> int:
            new = conn.execute(insert.returning(inbox.c.id), rows).all() if rows else []
            if upsert is not None:
                conn.execute(upsert)
            return len(new)

        return await self._write(save)

    async def cursor(self, channel: str) -> str | None:
        """The cursor saved for `channel`; None before its first batch."""
        async with translated(), self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                await conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})
            value = await conn.scalar(
                select(channel_cursors.c.cursor).where(channel_cursors.c.channel == channel)
            )
            await conn.rollback()
        return None if value is None else str(value)

    async def claim(self, owner: str, busy_lanes: Collection[str] = ()) -> InboxRow | None:
        """The oldest pending, unclaimed row whose lane is not in `busy_lanes`, claimed by `owner` (`claim_many`)."""
        rows = await self.claim_many(owner, busy_lanes, limit=1)
        return rows[0] if rows else None

    async def claim_many(self, owner: str, busy_lanes: Collection[str] = (), *, limit: int) -> list[InboxRow]:
        """Up to `limit` of the oldest pending, unclaimed rows, claimed by `owner` in one transaction: the first
        pending row of each lane not in `busy_lanes`, at most one per lane (rows with no lane: any number).

        The caller passes the lanes its workers are handling: with the id order, one chat's updates are handled
        one at a time, in the order they arrived (one poller per database: bot/pollerlock.py).
        """
        if limit < 1:
            return []
        if self._sqlite_direct():
            return await self._claim_many_sqlite(owner, busy_lanes, limit)
        stmt = (
            select(
                inbox.c.id,
                inbox.c.source,
                inbox.c.key,
                inbox.c.lane,
                inbox.c.raw,
                inbox.c.attempts,
                inbox.c.received_at,
            )
            .where(inbox.c.state == PENDING, inbox.c.claimed_by.is_(None))
            .order_by(inbox.c.id)
            .limit(limit if limit == 1 else limit * _CANDIDATES_PER_ROW)
        )
        if busy_lanes:
            stmt = stmt.where(inbox.c.lane.is_(None) | inbox.c.lane.not_in(list(busy_lanes)))

        def take(conn: Connection) -> list[Any]:
            chosen, lanes = [], set()
            for found in conn.execute(stmt):
                # A lane's later rows wait for its first: skipping them keeps its order.
                if found.lane is not None and found.lane in lanes:
                    continue
                if found.lane is not None:
                    lanes.add(found.lane)
                chosen.append(found)
                if len(chosen) == limit:
                    break
            if not chosen:
                return []
            # Conditional: on PostgreSQL another process may have taken a row in between; it is left out.
            taken = {
                r.id
                for r in conn.execute(
                    update(inbox)
                    .where(
                        inbox.c.id.in_([r.id for r in chosen]),
                        inbox.c.claimed_by.is_(None),
                        inbox.c.state == PENDING,
                    )
                    .values(claimed_by=owner, attempts=inbox.c.attempts + 1)
                    .returning(inbox.c.id)
                )
            }
            return [r for r in chosen if r.id in taken]

        return [
            InboxRow(r.id, r.source, r.key, r.lane, dict(r.raw), r.attempts + 1, r.received_at)
            for r in await self._write(take)
        ]

    async def _claim_many_sqlite(self, owner: str, busy_lanes: Collection[str], limit: int) -> list[InboxRow]:
        """`claim_many` on SQLite: the same rows chosen and claimed, by fixed SQL (`_driver_rows`)."""
        lanes = list(busy_lanes)
        where = f" AND (lane IS NULL OR lane NOT IN ({_marks(len(lanes))}))" if lanes else ""
        select_sql = _CANDIDATES_SQLITE.format(lanes=where)
        select_params = [PENDING, *lanes, limit if limit == 1 else limit * _CANDIDATES_PER_ROW]
        processors = self._processors
        if processors is None:  # built once: rebuilding them per claim was 0.5 % of the intake bench (py-spy)
            processors = self._processors = _claimed_processors(self.engine.dialect)

        def take(conn: Connection) -> list[tuple[Any, ...]]:
            chosen, seen = [], set()
            for found in _driver_rows(conn, select_sql, select_params):
                lane = found[3]
                if lane is not None and lane in seen:  # a lane's later rows wait for its first
                    continue
                if lane is not None:
                    seen.add(lane)
                chosen.append(found)
                if len(chosen) == limit:
                    break
            if not chosen:
                return []
            ids = [found[0] for found in chosen]
            claim = _CLAIM_SQLITE.format(ids=_marks(len(ids)))
            taken = {row[0] for row in _driver_rows(conn, claim, [owner, *ids, PENDING])}
            return [found for found in chosen if found[0] in taken]

        claimed = []
        for found in await self._write(take):
            row_id, source, key, lane, raw, attempts, received_at = (
                value if process is None else process(value)
                for value, process in zip(found, processors, strict=True)
            )
            claimed.append(InboxRow(row_id, source, key, lane, dict(raw), attempts + 1, received_at))
        return claimed

    async def mark_done(self, row_id: int) -> None:
        if self._sqlite_direct():
            params = (DONE, direct.instant_text(self.clock.now()), row_id)
            await self._write(lambda conn: _driver_rows(conn, _MARK_DONE_SQLITE, params))
            return
        stmt = (
            update(inbox)
            .where(inbox.c.id == row_id)
            .values(state=DONE, claimed_by=None, done_at=self.clock.now(), last_error=None)
        )
        await self._write(lambda conn: conn.execute(stmt))

    async def release(self, row_id: int, *, error: str | None = None, count: bool = True) -> None:
        """Give the row back for another try. `count=False`: the try does not count (storage was down)."""
        values: dict[str, Any] = {"claimed_by": None}
        if error is not None:
            values["last_error"] = error[:_ERROR_MAX]
        if not count:
            values["attempts"] = inbox.c.attempts - 1
        stmt = update(inbox).where(inbox.c.id == row_id).values(**values)
        await self._write(lambda conn: conn.execute(stmt))

    async def mark_failed(self, row_id: int, error: str) -> None:
        """Give up on a poison update: it is never handled again (the error stays for the administrator)."""
        stmt = (
            update(inbox)
            .where(inbox.c.id == row_id)
            .values(state=FAILED, claimed_by=None, last_error=error[:_ERROR_MAX], done_at=self.clock.now())
        )
        await self._write(lambda conn: conn.execute(stmt))

    async def release_claims(self) -> int:
        """At start: every claim is a dead run's, so every unfinished row is handled again."""
        stmt = (
            update(inbox)
            .where(inbox.c.state == PENDING, inbox.c.claimed_by.is_not(None))
            .values(claimed_by=None)
        )
        return await self._write(lambda conn: int(conn.execute(stmt).rowcount or 0))

    async def pending(self) -> int:
        """Rows not yet handled (claimed or not)."""
        async with translated(), self.engine.connect() as conn:
            if self.engine.dialect.name == "sqlite":
                await conn.execution_options(**{SQLITE_BEGIN: "DEFERRED"})  # a read takes no write lock
            count = await conn.scalar(select(func.count()).select_from(inbox).where(inbox.c.state == PENDING))
            await conn.rollback()
        return int(count or 0)

    async def purge(self, older_than: timedelta) -> int:
        """Delete done rows finished more than `older_than` ago (failed ones stay for the administrator)."""
        cutoff: datetime = self.clock.now() - older_than
        stmt = delete(inbox).where(and_(inbox.c.state == DONE, inbox.c.done_at < cutoff))
        return await self._write(lambda conn: int(conn.execute(stmt).rowcount or 0))
