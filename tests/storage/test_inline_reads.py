"""storage/inline_reads.py: a short read on the event loop's thread sees what the writer committed, keeps its
snapshot, refuses writes, reuses its connection, and turns a failure into StorageUnavailable."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage import inline_reads
from storage.engine import create_engine, on_sqlite_connect
from storage.migrate import upgrade
from storage.repository import SqlRepository
from workflow.model import Case, InboundMessage, Procedure, Source
from workflow.ports import StorageUnavailable

T0 = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


class Clock:
    def now(self) -> datetime:
        return T0


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[SqlRepository]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
    await upgrade(engine)
    try:
        yield SqlRepository(engine, clock=Clock())
    finally:
        await engine.dispose()


async def _register(repo: SqlRepository, source_id: str) -> int:
    case = Case(id=0, procedure=Procedure.OPEN_SOURCES, status="new", version=1, t0=T0)
    message = InboundMessage(Source.VK, source_id, Procedure.OPEN_SOURCES, "Яма на дороге", T0)

    async def body(tx: Any) -> int:
        return int((await tx.add_case(case, message)).id)

    return await repo.write(body)


async def test_sees_what_the_writer_committed_and_keeps_its_snapshot(repo: SqlRepository) -> None:
    first = await _register(repo, "wall-1_1")
    async with repo.reading(inline=True) as tx:
        assert (await tx.get_case(first)) is not None
        second = await _register(repo, "wall-1_2")  # committed while the read is open
        assert await tx.get_case(second) is None, "a read keeps the snapshot it began with"
        async with repo.reading(inline=True) as other:  # a second read at once: its own connection
            assert await other.get_case(second) is not None
    async with repo.reading(inline=True) as tx:
        assert await tx.get_case(second) is not None


async def test_a_write_inside_fails_and_changes_nothing(repo: SqlRepository) -> None:
    case_id = await _register(repo, "wall-1_1")
    # SQLite calls it a read-only database, which storage/outage.py counts as an outage: loud either way.
    with pytest.raises(StorageUnavailable, match="readonly database"):
        async with repo.reading(inline=True) as tx:
            await tx.set_card(case_id, -100, 7)
    async with repo.reading(inline=True) as tx:
        assert await tx.cards(case_id) == {}


async def test_one_connection_serves_reads_one_after_another(repo: SqlRepository) -> None:
    opened: list[object] = []
    remove = on_sqlite_connect(repo.engine, opened.append)
    try:
        for _ in range(5):
            async with repo.reading(inline=True) as tx:
                await tx.get_case(1)
    finally:
        remove()
    assert len(opened) == 1


async def test_a_failing_read_is_an_outage_and_its_connection_is_not_kept(repo: SqlRepository) -> None:
    case_id = await _register(repo, "wall-1_1")
    reader = inline_reads.inline_reader_for(repo.engine)
    async with repo.reading(inline=True) as tx:  # a connection open and idle now
        await tx.get_case(case_id)

    with pytest.raises(StorageUnavailable):
        async with repo.reading(inline=True) as tx:
            # The database went away under the connection (as a disk or a mount going): SQLITE_IOERR-like.
            raise sqlite3.OperationalError("disk I/O error")
    assert reader._idle() == [], "a connection that failed a read is closed, not handed to the next read"
    async with repo.reading(inline=True) as tx:
        assert await tx.get_case(case_id) is not None


async def test_disposing_the_engine_closes_the_reader(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}")
    await upgrade(engine)
    repo = SqlRepository(engine, clock=Clock())
    async with repo.reading(inline=True) as tx:
        await tx.get_case(1)
    reader = inline_reads.inline_reader_for(engine)
    await engine.dispose()
    assert reader.closed
    assert inline_reads.inline_reader_for(engine) is not reader
