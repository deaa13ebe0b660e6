"""storage/direct.py: SQLite's hot statements convert instants exactly as SQLAlchemy's column type does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import insert
from sqlalchemy.dialects import sqlite

from storage import direct
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository, SqlTransaction
from storage.tables import cases, outbox, terms
from storage.types import NaiveDatetimeError
from tests.storage.conftest import SettableClock

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
