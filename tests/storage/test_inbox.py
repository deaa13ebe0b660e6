"""The inbox on real SQLite and PostgreSQL: saved once per key, claimed in order per lane, done, failed,
released at start, purged after the retention; a locked or full database is StorageUnavailable."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from storage import inbox as inbox_module
from storage.engine import create_engine, on_sqlite_connect
from storage.inbox import DONE, FAILED, Inbox, Incoming
from storage.migrate import upgrade
from storage.repository import SqlRepository
from storage.tables import inbox as inbox_table
from tests.storage.conftest import SettableClock, require_pg
from workflow.ports import StorageUnavailable


def _item(key: int, lane: str | None = "chat-1") -> Incoming:
    return Incoming("telegram", str(key), lane, {"update_id": key, "message": {"text": f"№ {key}"}})


@pytest.fixture
def box(repo: SqlRepository, clock: SettableClock) -> Inbox:
    return Inbox(repo.engine, clock=clock)


async def _states(box: Inbox) -> dict[str, str]:
    async with box.engine.connect() as conn:
        rows = (await conn.execute(inbox_table.select().order_by(inbox_table.c.id))).all()
        await conn.rollback()
    return {row.key: row.state for row in rows}


async def test_a_batch_is_saved_once_per_key(box: Inbox) -> None:
    assert await box.save_batch([_item(1), _item(2)]) == 2
    # Telegram delivers 2 again (its confirmation was lost) together with 3: 2 is not stored twice.
    assert await box.save_batch([_item(2), _item(3)]) == 1
    assert await box.pending() == 3
    assert list(await _states(box)) == ["1", "2", "3"]


async def test_claims_go_in_id_order_and_skip_busy_lanes(box: Inbox) -> None:
    await box.save_batch([_item(1, "a"), _item(2, "a"), _item(3, "b"), _item(4, None)])
    first = await box.claim("w")
    assert first is not None and first.key == "1" and first.attempts == 1
    assert first.raw == {"update_id": 1, "message": {"text": "№ 1"}}
    # Lane "a" is being handled: its next row waits; lane "b" and the laneless row go ahead.
    second = await box.claim("w", busy_lanes={"a"})
    third = await box.claim("w", busy_lanes={"a", "b"})
    assert second is not None and second.key == "3"
    assert third is not None and third.key == "4"
    assert await box.claim("w", busy_lanes={"a", "b"}) is None
    await box.mark_done(first.id)
    nxt = await box.claim("w", busy_lanes={"b"})
    assert nxt is not None and nxt.key == "2"


async def test_claim_many_takes_the_first_row_of_each_free_lane_and_any_laneless_row(box: Inbox) -> None:
    await box.save_batch(
        [_item(1, "a"), _item(2, "a"), _item(3, "b"), _item(4, None), _item(5, "c"), _item(6, None), _item(7, "d")]
    )
    taken = await box.claim_many("w", busy_lanes={"c"}, limit=4)
    # Lane "a" gives its first row only (its second waits for it); "c" is busy; the limit stops before "d".
    assert [r.key for r in taken] == ["1", "3", "4", "6"]
    assert all(r.attempts == 1 for r in taken)
    rest = await box.claim_many("w", busy_lanes={"a", "b", "c"}, limit=10)
    assert [r.key for r in rest] == ["7"]  # the claimed rows are not handed out again
    assert await box.claim_many("w", busy_lanes={"a", "b", "c", "d"}, limit=10) == []
    await box.mark_done(taken[0].id)
    assert [r.key for r in await box.claim_many("w", busy_lanes={"b", "c", "d"}, limit=10)] == ["2"]
    assert await box.claim_many("w", limit=0) == []


async def test_done_failed_and_released_rows(box: Inbox) -> None:
    await box.save_batch([_item(1), _item(2, "x"), _item(3, "y")])
    one, two, three = [await box.claim("w") for _ in range(3)]
    assert one and two and three
    await box.mark_done(one.id)
    await box.mark_failed(two.id, "ValueError: poison")
    # A storage outage does not count as an attempt: the row comes back with the same count.
    await box.release(three.id, count=False)
    again = await box.claim("w")
    assert again is not None and again.key == "3" and again.attempts == 1
    await box.release(again.id, error="RuntimeError: boom")
    assert (await box.claim("w")) is not None  # counted this time
    assert await _states(box) == {"1": DONE, "2": FAILED, "3": "pending"}
    assert await box.claim("w") is None  # claimed, not handed out twice


async def test_claims_of_a_dead_run_are_released_at_start(box: Inbox) -> None:
    await box.save_batch([_item(1), _item(2, "other")])
    assert await box.claim("dead") is not None
    assert await box.claim("dead", busy_lanes={"chat-1"}) is not None
    assert await box.claim("new") is None
    assert await box.release_claims() == 2
    row = await box.claim("new")
    assert row is not None and row.key == "1" and row.attempts == 2


async def test_purge_keeps_recent_failed_and_pending_rows(box: Inbox, clock: SettableClock) -> None:
    await box.save_batch([_item(1, "a"), _item(2, "b"), _item(3, "c"), _item(4, "d")])
    old_done, old_failed = await box.claim("w"), await box.claim("w", busy_lanes={"a"})
    assert old_done and old_failed
    await box.mark_done(old_done.id)
    await box.mark_failed(old_failed.id, "poison")
    clock.advance(timedelta(days=8))
    recent = await box.claim("w", busy_lanes={"a", "b"})
    assert recent is not None
    await box.mark_done(recent.id)
    assert await box.purge(timedelta(days=7)) == 1
    assert await _states(box) == {"2": FAILED, "3": DONE, "4": "pending"}


async def test_a_locked_sqlite_file_is_storage_unavailable(tmp_path: Path, clock: SettableClock) -> None:
    path = tmp_path / "locked.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", busy_timeout_ms=50)
    try:
        await upgrade(engine)
        box = Inbox(engine, clock=clock)
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(StorageUnavailable):
                await box.save_batch([_item(1)])
            with pytest.raises(StorageUnavailable):
                async with SqlRepository(engine, clock=clock).transaction() as tx:
                    await tx.kv_set("k", "v")
        finally:
            holder.rollback()
            holder.close()
        assert await box.save_batch([_item(1)]) == 1
    finally:
        await engine.dispose()


async def test_a_full_sqlite_file_is_storage_unavailable(tmp_path: Path, clock: SettableClock) -> None:
    path = tmp_path / "full.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
        box = Inbox(engine, clock=clock)
        pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]
        await engine.dispose()  # the limit is per connection: new pooled connections get it below

        def limit(dbapi_connection: object) -> None:
            dbapi_connection.cursor().execute(f"PRAGMA max_page_count={pages}")  # type: ignore[attr-defined]

        # Every connection, the writer's too (it is the one that writes the batch): the disk is full for all.
        remove = on_sqlite_connect(engine, limit)
        big = [Incoming("telegram", str(i), "a", {"text": "ж" * 4000}) for i in range(50)]
        with pytest.raises(StorageUnavailable):
            await box.save_batch(big)
        remove()
        await engine.dispose()
        assert await box.save_batch(big) == 50
    finally:
        await engine.dispose()


async def test_a_constraint_violation_is_not_an_outage(repo: SqlRepository) -> None:
    with pytest.raises(IntegrityError):
        async with repo.transaction() as tx:
            await tx.kv_set("k", "v")
            await tx._exec(inbox_table.insert().values(source="t", key="1", raw={}, state="x"))


async def test_postgresql_unreachable_is_storage_unavailable(clock: SettableClock) -> None:
    require_pg()
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/test")  # nothing listens on port 1
    try:
        with pytest.raises(StorageUnavailable):
            await Inbox(engine, clock=clock).save_batch([_item(1)])
        with pytest.raises(StorageUnavailable):
            async with SqlRepository(engine, clock=clock).reading() as tx:
                await tx.kv_get("k")
    finally:
        await engine.dispose()


async def test_a_write_in_our_read_only_transaction_is_a_fault_not_an_outage(repo: SqlRepository) -> None:
    if repo.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's READ ONLY transaction")
    with pytest.raises(Exception) as caught:
        async with repo.reading() as tx:
            await tx.kv_set("k", "v")
    assert not isinstance(caught.value, StorageUnavailable)


async def _inbox_workload(
    path: Path, *, direct: bool, writer: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[Any], list[Any]]:
    """Saves, claims (busy lanes, limits, a lane's second row), done, failed and released rows on a SQLite
    file (through its writer thread or, `writer` off, on the pooled aiosqlite connections), the hot claims and
    marks as fixed SQL (`direct`) or through SQLAlchemy: what was claimed, and every inbox row as stored."""
    with monkeypatch.context() as patch:
        if not direct:
            patch.setattr(Inbox, "_sqlite_direct", lambda _self: False)
        else:  # claim_many builds no SQLAlchemy statement on SQLite
            patch.setattr(inbox_module, "select", None)
        engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_writer=writer)
        try:
            await upgrade(engine)
            clock = SettableClock(datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC))
            box = Inbox(engine, clock=clock)
            await box.save_batch([_item(n, lane) for n, lane in enumerate(["a", "a", "b", None, "c", None, "d"])])
            claimed: list[Any] = []
            for owner, busy, limit in [("w", {"c"}, 4), ("w", set(), 1), ("v", {"a", "b"}, 10), ("w", set(), 3)]:
                clock.advance(timedelta(seconds=7, microseconds=1))
                taken = await box.claim_many(owner, busy, limit=limit)
                claimed.append(taken)
                for row in taken[:2]:
                    await box.mark_done(row.id)
                if len(taken) > 2:
                    await box.mark_failed(taken[2].id, "ValueError: poison")
                for row in taken[3:]:
                    await box.release(row.id, error="boom")
            claimed.append(await box.claim_many("w", limit=10))
            async with engine.connect() as conn:
                stored = (await conn.exec_driver_sql("SELECT * FROM inbox ORDER BY id")).all()
                await conn.rollback()
            return claimed, [tuple(row) for row in stored]
        finally:
            await engine.dispose()


@pytest.mark.parametrize("writer", [True, False])
async def test_sqlite_claims_and_marks_store_and_return_what_sqlalchemy_did(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: bool
) -> None:
    """SQLite claims and marks rows by fixed SQL on the driver (the writer's thread): the same rows claimed,
    byte for byte the same rows stored as through SQLAlchemy's statements."""
    claimed, stored = await _inbox_workload(
        tmp_path / "direct.sqlite3", direct=True, writer=writer, monkeypatch=monkeypatch
    )
    claimed_before, stored_before = await _inbox_workload(
        tmp_path / "before.sqlite3", direct=False, writer=writer, monkeypatch=monkeypatch
    )
    assert claimed == claimed_before
    assert sum(len(taken) for taken in claimed) >= 7 and any(r.attempts == 2 for t in claimed for r in t)
    assert stored == stored_before
    assert {row[6] for row in stored} == {DONE, FAILED}
