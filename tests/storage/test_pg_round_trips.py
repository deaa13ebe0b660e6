"""PostgreSQL registrations in fewer round trips (issue 16, item 3): the merged statements, sent straight through
asyncpg (storage/pg_direct.py), store exactly what the SQLAlchemy statements they replaced stored, and a
registration sends the number of statements it is meant to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine

from storage import engine as engine_module
from storage import pg_direct, repository
from storage.clusters import ClusterStatements, terms_of
from storage.migrate import upgrade
from storage.repository import SqlTransaction
from storage.tables import case_signatures, metadata, outbox, signature_terms, term_points
from tests.storage.conftest import SettableClock, pg_schema_engine, require_pg
from tests.storage.test_writer import workload_on
from workflow.calendar import WorkingCalendar
from workflow.clusters import signature
from workflow.model import Actor, Case, Event, InboundMessage, Procedure, Role, Source, TermStart
from workflow.ports import Notification, Point, SignatureRow
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

START = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
OPERATOR = Actor(user_id=1, roles=frozenset({Role.OPERATOR}), name="operator")


async def _add_case_before(self: SqlTransaction, case: Case, message: InboundMessage) -> Case:
    """add_case as it was on PostgreSQL before the CTE: the case, then its message (two statements)."""
    now = self._clock.now()
    values = {**repository._case_values(case), "created_at": now, "updated_at": now}
    case_id = (await self._exec(repository._INSERT_CASE, values)).scalar_one()
    await self._exec(repository._INSERT_MESSAGE, {"case_id": case_id, **repository._message_values(message)})
    await self._write_assignments(case_id, case.assignments)
    return replace(case, id=case_id)


async def _add_signature_before(self: ClusterStatements, procedure: str, row: SignatureRow) -> None:
    """add_signature as it was on PostgreSQL before the CTE: the signature, then its terms (two statements)."""
    values = {
        "case_id": row.case_id, "procedure": procedure, "at": row.at, "stems": row.stems,
        "address": row.address or None, "author": row.author or None,
    }  # fmt: skip
    terms = [
        {"case_id": row.case_id, "term": term, "procedure": procedure, "at": row.at}
        for term in terms_of(row.stems, row.address)
    ]
    await self._exec(insert(case_signatures).values(values))
    if terms:
        await self._exec(insert(signature_terms), terms)


async def _open_terms_before(
    self: SqlTransaction, case_id: int, starts: Sequence[tuple[TermStart, Sequence[Point]]]
) -> list[int]:
    """open_terms as it was on PostgreSQL before the CTE: the terms through SQLAlchemy, then their points."""
    if not starts:
        return []
    rows = [
        repository._term_values(case_id, start, points[0][1] if points else None) for start, points in starts
    ]
    ids = list((await self._exec(repository._INSERT_TERMS, rows)).scalars())
    points = [
        {"term_row_id": row_id, "n": n, "key": key, "at": at}
        for row_id, (_, term_points_) in zip(ids, starts, strict=True)
        for n, (key, at) in enumerate(term_points_)
    ]
    if points:
        await self._exec(term_points.insert(), points)
    return ids


async def _append_events_before(self: SqlTransaction, case_id: int, items: Sequence[Event]) -> None:
    """append_events through SQLAlchemy, as before storage/pg_direct.py."""
    rows = [repository._event_values(case_id, event) for event in items]
    if rows:
        await self._exec(repository._INSERT_EVENT, rows)


async def _enqueue_before(self: SqlTransaction, notifications: Sequence[Notification]) -> int:
    """enqueue through SQLAlchemy, one row each, as before the JSON parameter (the same rows, ON CONFLICT alike)."""
    unique: dict[str, Notification] = {}
    for n in notifications:
        unique.setdefault(n.dedup_key, n)
    added = 0
    for n in unique.values():
        stmt = (
            postgresql.insert(outbox)
            .values(repository._notification_values(n))
            .on_conflict_do_nothing(index_elements=["dedup_key"])
        )
        added += (await self._exec(stmt)).rowcount
    return added


async def dump(engine: AsyncEngine) -> dict[str, list[str]]:
    """Every row of every table as PostgreSQL prints it (the stored values), in a fixed order."""
    found: dict[str, list[str]] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            result = await conn.execute(text(f'SELECT t::text FROM "{table.name}" AS t ORDER BY 1'))
            found[table.name] = [row[0] for row in result]
    return found


async def run_workload(seed: int) -> tuple[list[str], dict[str, list[str]]]:
    async with pg_schema_engine() as engine:
        await upgrade(engine)
        said = await workload_on(engine, seed)
        return said, await dump(engine)


@contextmanager
def statements_before(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The transaction's writes as they were before the merged statements (the SQLAlchemy ones)."""
    with monkeypatch.context() as patch:
        patch.setattr(SqlTransaction, "add_case", _add_case_before)
        patch.setattr(SqlTransaction, "add_signature", _add_signature_before)
        patch.setattr(SqlTransaction, "open_terms", _open_terms_before)
        patch.setattr(SqlTransaction, "append_events", _append_events_before)
        patch.setattr(SqlTransaction, "enqueue", _enqueue_before)
        yield


@pytest.mark.parametrize("seed", [1, 2])
async def test_a_random_workload_stores_the_same_rows_as_the_statements_the_ctes_replaced(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    said_now, stored_now = await run_workload(seed)
    with statements_before(monkeypatch):
        said_before, stored_before = await run_workload(seed)
    assert said_now == said_before
    assert sum(" ok " in line for line in said_now) > 50  # the workload did work, not only refusals
    assert stored_now["messages"] and stored_now["signature_terms"]  # the merged statements wrote rows
    assert stored_now == stored_before


@asynccontextmanager
async def migrated_services() -> AsyncIterator[tuple[AsyncEngine, SettableClock, Services]]:
    """Services on a migrated scratch schema of its own, at START."""
    async with pg_schema_engine() as engine:
        await upgrade(engine)
        clock = SettableClock(START)
        services = Services(
            repo=repository.SqlRepository(engine, clock=clock), clock=clock, calendar=WorkingCalendar(),
            rules=DEFAULT_RULES,
        )  # fmt: skip
        yield engine, clock, services


async def run_registrations() -> dict[str, list[str]]:
    """Registrations of messages just received (so their terms have points ahead) over a working day."""
    async with migrated_services() as (engine, clock, services):
        for n in range(30):
            clock.advance(timedelta(minutes=7))
            received = replace(message(n % 7), source_id=f"wall-1_{n}", received_at=clock.now())
            await services.register(received, OPERATOR)
        return await dump(engine)


async def test_registrations_store_the_same_terms_points_events_and_outbox_as_through_sqlalchemy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stored_now = await run_registrations()
    with statements_before(monkeypatch):
        stored_before = await run_registrations()
    for table in ("term_points", "terms", "events", "outbox", "messages", "signature_terms", "clusters"):
        assert stored_now[table], table  # the registrations wrote rows of each kind they write
    assert stored_now == stored_before


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)


def message(n: int) -> InboundMessage:
    return InboundMessage(
        source=Source.VK, source_id=f"wall-1_{n}", procedure=Procedure.OPEN_SOURCES,
        text=f"На улице Ленина у дома {n} яма на дороге, когда отремонтируют?", received_at=START,
        author="Житель района",
    )  # fmt: skip


async def test_a_first_message_takes_seven_statements_and_stores_its_message_and_terms() -> None:
    async with migrated_services() as (engine, _clock, services):
        with statements(engine) as sent:
            outcome = await services.register(message(1), OPERATOR)
        # lookup by source, repeat lookup, case+message, terms+points, events+outbox, signature+terms, the
        # window's candidates (14 statements before the CTEs: 11 + BEGIN, COMMIT and the pre-ping; 8 before
        # the events went with the outbox's statement)
        assert len(sent) == 7, sent
        assert sum(s.startswith("WITH e AS (INSERT INTO events") and "INSERT INTO outbox" in s for s in sent) == 1
        async with engine.connect() as conn:
            stored = (await conn.execute(
                text("SELECT count(*) FROM messages WHERE case_id = :id"), {"id": outcome.case.id}
            )).scalar_one()  # fmt: skip
            terms = (await conn.execute(
                text("SELECT count(*) FROM signature_terms WHERE case_id = :id"), {"id": outcome.case.id}
            )).scalar_one()  # fmt: skip
        sign = signature(message(1).text)
        assert stored == 1 and terms == len(terms_of(sign.stored(), sign.address)) > 1
        async with engine.connect() as conn:
            points = (await conn.execute(
                text("SELECT count(*) FROM term_points AS p JOIN terms AS t ON t.id = p.term_row_id"
                     " WHERE t.case_id = :id"), {"id": outcome.case.id}
            )).scalar_one()  # fmt: skip
        assert points > 0  # the terms' points came with them


async def test_a_pooled_connection_the_server_ended_is_replaced_at_its_one_round_trip_ping() -> None:
    """storage/engine.py pings a pooled connection with one `SELECT 1` instead of SQLAlchemy's three round
    trips; a connection whose backend is gone must still be found dead there and replaced."""
    async with pg_schema_engine() as engine:
        await upgrade(engine)
        assert engine.dialect.do_ping is engine_module._ping_once
        async with engine.connect() as conn:
            pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        admin = engine_module.create_engine(require_pg())
        try:
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):  # the backend exits shortly after the signal
                async with admin.connect() as other:
                    gone = (await other.execute(
                        text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                    )).scalar_one()  # fmt: skip
                if gone:
                    break
                await asyncio.sleep(0.05)
        finally:
            await admin.dispose()
        assert gone
        repo = repository.SqlRepository(engine, clock=SettableClock(START))
        async with repo.transaction() as tx:
            assert await tx.find_case_by_source("vk", "nothing") is None
            pids = await tx.connection.execute(text("SELECT pg_backend_pid()"))
            assert pids.scalar_one() != pid


def note(n: int) -> Event:
    return Event(action=f"note_{n}", actor_id=1, actor_role=Role.OPERATOR, at=START, text=f"заметка {n}")


async def test_events_held_for_the_outbox_are_sent_before_any_other_statement_and_before_the_commit() -> None:
    """append_events on PostgreSQL holds its rows for the next statement (enqueue takes them along): a read in
    the same transaction still sees them, a transaction without notifications still stores them, and the raw
    connection is refused while they wait (its statements would overtake them)."""
    async with migrated_services() as (engine, _clock, services):
        case_id = (await services.register(message(1), OPERATOR)).case.id
        repo = repository.SqlRepository(engine, clock=SettableClock(START))
        async with repo.transaction() as tx:
            before = len(await tx.events(case_id))
            await tx.append_events(case_id, [note(1), note(2)])
            with pytest.raises(RuntimeError):
                _ = tx.connection
            seen = [e.action for e in await tx.events(case_id)]  # sent first, then read
            assert seen[before:] == ["note_1", "note_2"]
            await tx.append_events(case_id, [note(3)])  # no statement after it: the commit sends it
        async with repo.transaction() as tx:
            stored = [e.action for e in await tx.events(case_id)]
            assert stored[before:] == ["note_1", "note_2", "note_3"]
            await tx.append_events(case_id, [note(4)])
            with statements(engine) as sent:
                queued = await tx.enqueue([
                    Notification(dedup_key="held:1", case_id=case_id, kind="notice", to_role=Role.OPERATOR,
                                 at=START, payload={"text": "ок"}),
                ])  # fmt: skip
            assert queued == 1 and len(sent) == 1 and sent[0].startswith("WITH e AS (INSERT INTO events")
        with pytest.raises(ZeroDivisionError):
            async with repo.transaction() as tx:
                await tx.append_events(case_id, [note(5)])
                _ = 1 / 0  # the body fails: the held event goes nowhere
        async with repo.transaction() as tx:
            assert [e.action for e in await tx.events(case_id)][before:] == [f"note_{n}" for n in range(1, 5)]


async def test_without_what_pg_direct_relies_on_the_statements_go_through_sqlalchemy_and_store_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An adapter without asyncpg's internals that storage/pg_direct.py uses: each transaction asks once, then
    sends the same SQL through SQLAlchemy's driver-level execution."""
    stored_now = await run_registrations()
    asked: list[object] = []

    def unavailable(adapted: object) -> bool:
        asked.append(adapted)
        return False

    monkeypatch.setattr(pg_direct, "available", unavailable)
    with monkeypatch.context() as patch:
        patch.setattr(pg_direct, "fetch", None)  # never called: it would fail loudly
        stored_fallback = await run_registrations()
    assert stored_fallback == stored_now
    assert 30 <= len(asked) <= 31  # once per registration's transaction, not once per statement
