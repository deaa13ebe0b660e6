"""storage/direct.py: SQLite's hot statements convert instants exactly as SQLAlchemy's column type does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from storage import direct, repository
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository, SqlTransaction
from storage.tables import cases, metadata, outbox, terms
from storage.types import NaiveDatetimeError
from tests.storage.conftest import SettableClock
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import open_case
from workflow.model import Actor, Case, InboundMessage, Procedure, Role, Source, TermStart
from workflow.ports import Point
from workflow.rules import DEFAULT_RULES
from workflow.services import Services
from workflow.services.clusters import SpikeSettings

_DIALECT = sqlite.dialect()
T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
_SA_BIND = terms.c.due.type.dialect_impl(_DIALECT).bind_processor(_DIALECT)
_SA_RESULT = terms.c.due.type.dialect_impl(_DIALECT).result_processor(_DIALECT, None)

instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.timezones()
).filter(lambda d: d.utcoffset() is not None)


@given(instants)
def test_instant_text_is_what_sqlalchemy_stores(value: datetime) -> None:
    assert _SA_BIND is not None and _SA_RESULT is not None
    text = direct.instant_text(value)
    assert text == _SA_BIND(value)
    back = direct.instant_from_text(text)
    # Compared in UTC: Python calls an ambiguous local time (fold) unequal to any other zone's (PEP 495).
    assert back == _SA_RESULT(text) == value.astimezone(UTC)
    assert back is not None and back.tzinfo is UTC


def test_instant_text_keeps_time_order_and_refuses_naive() -> None:
    a = datetime(2026, 12, 2, 9, 0, tzinfo=timezone(timedelta(hours=7)))
    b = datetime(2026, 12, 2, 2, 0, 0, 1, tzinfo=UTC)
    assert str(direct.instant_text(a)) < str(direct.instant_text(b))
    assert direct.instant_text(None) is None and direct.instant_from_text(None) is None
    with pytest.raises(NaiveDatetimeError):
        direct.instant_text(datetime(2026, 12, 2, 9, 0))


def test_insert_statement_for_any_number_of_rows() -> None:
    insert = direct.Insert(
        terms, ("case_id", "due"), _DIALECT, returning="id", suffix=" ON CONFLICT DO NOTHING"
    )
    assert (
        insert.sql(2)
        == "INSERT INTO terms (case_id, due) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING RETURNING id"
    )
    at = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert insert.params([{"case_id": 1, "due": at}, {"case_id": 2, "due": None}]) == [
        1,
        "2026-12-02 09:00:00.000000",
        2,
        None,
    ]


async def _cards_workload(
    path: Path, monkeypatch: pytest.MonkeyPatch, *, fixed_sql: bool, writer: bool
) -> list[tuple[str, list[tuple[object, ...]]]]:
    """Delivery's bookkeeping of cards and deliveries on a SQLite file, through the writer or a pooled connection,
    as fixed SQL on the driver (`fixed_sql`: no SQLAlchemy statement at all) or through SQLAlchemy: every row of
    the tables it writes, as stored."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_writer=writer)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(
                insert(cases),
                [{"id": i, "procedure": "open_sources", "status": "new", "version": 1, "t0": T0, "state": {},
                  "created_at": T0, "updated_at": T0} for i in (1, 2)],
            )  # fmt: skip
            await conn.execute(
                insert(outbox),
                [{"id": i, "dedup_key": f"k{i}", "case_id": 1, "kind": "new", "to_role": "operator", "at": T0,
                  "payload": {}, "attempts": 0, "claimed_by": "me", "claimed_until": T0} for i in (1, 2, 3)],
            )  # fmt: skip
        clock = SettableClock(T0)
        repo = SqlRepository(engine, clock=clock)
        if not fixed_sql:
            repo._direct = None  # the statements through SQLAlchemy, as before storage/direct.py took them
        else:

            async def refused(*_args: object) -> None:
                raise AssertionError("a card's bookkeeping went through SQLAlchemy")

            monkeypatch.setattr(SqlTransaction, "_exec", refused)
        said: list[object] = []

        async def step(body: Callable[[SqlTransaction], Awaitable[object]]) -> None:
            clock.advance(timedelta(seconds=3, microseconds=7))
            async with repo.transaction() as tx:
                said.append(await body(tx))

        at = T0 + timedelta(minutes=1, microseconds=3)
        await step(lambda tx: tx.begin_card_post(1, -100, at))
        await step(lambda tx: tx.begin_card_post(1, -100, at + timedelta(seconds=1)))  # again: a later since
        await step(lambda tx: tx.begin_card_post(2, -100, at))
        await step(lambda tx: tx.set_card(1, -100, 55, 3))
        await step(lambda tx: tx.set_card(1, -100, 56, None))  # a repost: the same card row, new message
        await step(lambda tx: tx.set_card(2, -200, 57))
        await step(lambda tx: tx.end_card_post(2, -100))
        await step(lambda tx: tx.record_delivery(1, -100, 55, at))
        await step(lambda tx: tx.record_delivery(1, -100, 56, at))  # the same chat: recorded once
        await step(lambda tx: tx.record_delivery(2, -200, None, at))
        await step(lambda tx: tx.mark_delivered(1, at))
        await step(lambda tx: tx.mark_delivered(1, at + timedelta(hours=1)))  # delivered already: unchanged
        await step(lambda tx: tx.mark_delivered(2, at))
        if writer:  # the same statements in the writer's thread (SqlRepository.write)
            await repo.write(lambda tx: cast(SqlTransaction, tx).set_card(2, -300, 58, 4))
            said.append(await repo.write(lambda tx: cast(SqlTransaction, tx).record_delivery(3, -300, 58, at)))
            await repo.write(lambda tx: cast(SqlTransaction, tx).mark_delivered(3, at))
        monkeypatch.undo()
        found: list[tuple[str, list[tuple[object, ...]]]] = [("said", [tuple(said)])]
        async with engine.connect() as conn:
            for table in ("cards", "card_posts", "deliveries", "outbox"):
                rows = (await conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2")).all()
                found.append((table, [tuple(row) for row in rows]))
            await conn.rollback()
        return found
    finally:
        await engine.dispose()


@pytest.mark.parametrize("writer", [True, False])
async def test_card_bookkeeping_stores_what_sqlalchemy_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: bool
) -> None:
    """set_card, begin_card_post, end_card_post, record_delivery and mark_delivered on SQLite run as fixed SQL
    on the driver: byte for byte the same rows, the same answers, as through SQLAlchemy's statements."""
    now = await _cards_workload(tmp_path / "now.sqlite3", monkeypatch, fixed_sql=True, writer=writer)
    before = await _cards_workload(tmp_path / "before.sqlite3", monkeypatch, fixed_sql=False, writer=writer)
    assert now == before
    stored = dict(now)
    assert len(stored["cards"]) == len(stored["deliveries"]) == 2 + writer and stored["card_posts"] == []
    assert stored["said"] == [(None,) * 7 + (True, False, True) + (None,) * 3 + ((True,) if writer else ())]


_NSK = ZoneInfo("Asia/Novosibirsk")
_OPERATOR = Actor(user_id=1, roles=frozenset({Role.OPERATOR}), name="test")


def _storm_message(n: int, at: datetime) -> InboundMessage:
    return InboundMessage(
        source=Source.VK, source_id=f"wall-1_{n}", procedure=Procedure.OPEN_SOURCES,
        text=f"Сообщение № {n}: на улице Ленина у дома {n % 3} яма на дороге, когда отремонтируют?",
        received_at=at, author="Житель района",
    )  # fmt: skip


async def _add_case_before(self: SqlTransaction, case: Case, message: InboundMessage) -> Case:
    """add_case as before the lastrowid: the case's id by RETURNING."""
    assert self._direct is not None
    now = self._clock.now()
    values = {**repository._case_values(case), "created_at": now, "updated_at": now}
    insert_case = direct.Insert(cases, repository._CASE_KEYS, self._sa_dialect, returning="id")
    ((case_id,),) = await self._fetch(insert_case.sql(1), insert_case.params([values]))
    row = {"case_id": case_id, **repository._message_values(message)}
    await self._fetch(self._direct.message.sql(1), self._direct.message.params([row]))
    await self._write_assignments(case_id, case.assignments)
    return replace(case, id=case_id)


async def _open_terms_before(
    self: SqlTransaction, case_id: int, starts: Sequence[tuple[TermStart, Sequence[Point]]]
) -> list[int]:
    """open_terms as before the lastrowid: one multi-row INSERT, the ids by RETURNING."""
    rows = [repository._term_values(case_id, s, points[0][1] if points else None) for s, points in starts]
    insert_terms = direct.Insert(terms, repository._TERM_KEYS, self._sa_dialect, returning="id")
    found = await self._fetch(insert_terms.sql(len(rows)), insert_terms.params(rows)) if rows else []
    ids = sorted(row[0] for row in found)
    await self._insert_points(list(zip(ids, (points for _, points in starts), strict=True)))
    return ids


async def _registrations(
    path: Path, monkeypatch: pytest.MonkeyPatch, *, before: bool, writer: bool
) -> dict[str, list[tuple[object, ...]]]:
    """Registrations of a storm (clusters, a spike, repeats) on a SQLite file, the case's and its terms' ids
    read as lastrowid or (`before`) by RETURNING: every row of every table."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_writer=writer)
    try:
        await upgrade(engine)
        start = datetime(2026, 12, 2, 15, 0, 0, 250_001, tzinfo=_NSK)
        clock = SettableClock(start)
        repo = SqlRepository(engine, clock=clock)
        services = Services(
            repo=repo, clock=clock, calendar=WorkingCalendar(), rules=DEFAULT_RULES, spikes=SpikeSettings()
        )
        with monkeypatch.context() as patch:
            if before:
                patch.setattr(SqlTransaction, "add_case", _add_case_before)
                patch.setattr(SqlTransaction, "open_terms", _open_terms_before)
            for n in range(12):
                clock.advance(timedelta(seconds=41, microseconds=n))
                await services.register(_storm_message(n, clock.now()), _OPERATOR)
        found: dict[str, list[tuple[object, ...]]] = {}
        async with engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = (await conn.exec_driver_sql(f'SELECT * FROM "{table.name}" ORDER BY 1')).all()
                found[table.name] = sorted((tuple(row) for row in rows), key=repr)
            await conn.rollback()
        return found
    finally:
        await engine.dispose()


@pytest.mark.parametrize("writer", [True, False])
async def test_registrations_store_what_the_returning_statements_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: bool
) -> None:
    """A registration's rows on SQLite (the case and its message, terms, points, events, outbox, signatures,
    clusters), its ids read as lastrowid: byte for byte what the statements with RETURNING stored."""
    now = await _registrations(tmp_path / "now.sqlite3", monkeypatch, before=False, writer=writer)
    before = await _registrations(tmp_path / "before.sqlite3", monkeypatch, before=True, writer=writer)
    for table in ("cases", "messages", "terms", "term_points", "events", "outbox", "case_signatures", "clusters"):
        assert now[table], table
    assert now == before


async def test_open_terms_inserts_one_row_a_statement_without_returning(tmp_path: Path) -> None:
    """SQLite reads the ids of a new case and of its terms as the driver's lastrowid: in a registration's
    transaction a multi-row INSERT into `terms` with RETURNING cost three times one plain INSERT per row."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'otklik.sqlite3'}", sqlite_writer=False)
    try:
        await upgrade(engine)
        clock = SettableClock(T0)
        repo = SqlRepository(engine, clock=clock)
        services = Services(repo=repo, clock=clock, calendar=WorkingCalendar(), rules=DEFAULT_RULES)
        sent: list[str] = []
        async with repo.transaction() as tx:
            driver = await tx._driver_connection()
            await driver.set_trace_callback(sent.append)
            opened = open_case(
                _storm_message(1, T0), 0, T0, actor=_OPERATOR, rules=DEFAULT_RULES, calendar=services.calendar
            )
            case = await tx.add_case(opened.case, _storm_message(1, T0))
            starts: list[tuple[TermStart, Sequence[Point]]] = [(start, []) for start in opened.starts]
            ids = await tx.open_terms(case.id, starts)
            await driver.set_trace_callback(None)
        assert len(ids) == len(opened.starts) > 1 and ids == sorted(ids)
        inserts = [s for s in sent if s.startswith(("INSERT INTO cases", "INSERT INTO terms"))]
        assert len(inserts) == 1 + len(ids) and not any("RETURNING" in s for s in inserts)
        async with repo.reading() as reading:
            assert [t.id for t in await reading.terms(case.id)] == ids
    finally:
        await engine.dispose()
