"""storage/prepared.py: the hot reads compiled once and run through SQLite's driver give back exactly the rows
SQLAlchemy gives for the same statements (values and their types), on a case with every field set."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.dialects import sqlite

from storage import repository as r
from storage.prepared import CompiledSelect, CompiledSelects
from storage.repository import SqlRepository
from storage.tables import drafts
from tests.storage.strategies import non_default
from workflow.model import Assignment, Case, Event, InboundMessage, Network, Role, TermStart, TermStop
from workflow.ports import Notification, Publication

T0 = datetime(2025, 3, 3, 2, 0, 0, 123456, tzinfo=UTC)

STATEMENTS = {
    "case": r._CASE_BY_ID,
    "assignments": r._ASSIGNMENTS_OF_CASE,
    "message": r._MESSAGE_OF_CASE,
    "events": r._EVENTS_OF_CASE,
    "terms": r._TERMS_OF_CASE,
    "open terms": r._OPEN_TERMS_OF_CASE,
    "publication": r._LATEST_PUBLICATION,
    "draft": r._LATEST_DRAFT,
    "draft up to": r._LATEST_DRAFT_UPTO,
    "cards": r._CARDS_OF_CASE,
    "posted versions": r._POSTED_VERSIONS,
    "card posts": r._CARD_POSTS_OF_CASE,
    "deliveries": r._DELIVERED_CHATS,
}


async def _full_case(repo: SqlRepository) -> tuple[int, int]:
    """A case with every table the statements read filled; its id and its notice's outbox id."""
    case = replace(non_default(Case), repeat_of=None, assignments=(non_default(Assignment),))
    async with repo.transaction() as tx:
        case_id = (await tx.add_case(case, non_default(InboundMessage))).id
        await tx.append_events(case_id, [non_default(Event), replace(non_default(Event), undo=None, text="")])
        due = T0 + timedelta(hours=9)
        await tx.open_term(case_id, TermStart("os.route", due, Role.OPERATOR, started_at=T0), T0)
        await tx.open_term(case_id, TermStart("os.check", due, Role.OPERATOR, started_at=T0), None)
        await tx.close_terms(case_id, [TermStop("os.check")], T0 + timedelta(minutes=5), 42)
        await tx.add_draft(case_id, 1, "Черновик <b>ответа</b>", 42, T0)
        await tx.add_draft(case_id, 2, "Второй", 43, T0 + timedelta(seconds=1))
        await tx.add_publication(
            Publication(0, case_id, Network.VK, "wall-1_2", "https://vk.com/wall-1_2", "Ответ", next_at=T0), T0
        )
        await tx.begin_card_post(case_id, -100, T0)
        await tx.set_card(case_id, -200, 7, 3)
        await tx.set_card(case_id, -300, 8)
        await tx.enqueue([Notification("n1", case_id, "info", Role.OPERATOR, T0)])
        (item,) = await tx.claim_outbox(T0, "test", timedelta(minutes=1), 10)
        await tx.record_delivery(item.id, -200, 9, T0)
    return case_id, item.id


@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
async def test_direct_rows_are_sqlalchemys_rows(repo: SqlRepository) -> None:
    case_id, outbox_id = await _full_case(repo)
    params: dict[str, Any] = {"case_id": case_id, "upto": 1, "outbox_id": outbox_id}
    async with repo.reading() as tx:
        for name, stmt in STATEMENTS.items():
            direct_rows = await tx._rows(stmt, params)
            sqlalchemy_rows = (await tx._exec(stmt, {k: v for k, v in params.items() if k in _names(stmt)})).all()
            assert direct_rows, f"{name}: the case should have rows here"
            assert [tuple(row) for row in direct_rows] == [tuple(row) for row in sqlalchemy_rows], name
            for ours, theirs in zip(direct_rows, sqlalchemy_rows, strict=True):
                assert [type(v) for v in ours] == [type(v) for v in theirs], name
                assert ours._fields == tuple(theirs._fields), name
                for value in ours:
                    if isinstance(value, datetime):
                        assert value.tzinfo is UTC, name
        # A statement no row answers: none, on both paths.
        assert await tx._rows(r._CASE_BY_ID, {"case_id": case_id + 1000}) == []


def _names(stmt: Any) -> set[str]:
    return set(stmt.compile(dialect=sqlite.dialect()).binds)


def test_a_limit_keeps_its_own_value_and_a_missing_parameter_fails() -> None:
    stmt = select(drafts.c.text).where(drafts.c.case_id == bindparam("case_id")).limit(3)
    compiled = CompiledSelect(stmt, sqlite.dialect())
    assert compiled.sql.endswith("LIMIT ? OFFSET ?")
    assert compiled.params({"case_id": 9}) == [9, 3, 0]
    with pytest.raises(KeyError):
        compiled.params({})


def test_each_statement_compiled_once_and_never_confused_with_another() -> None:
    selects = CompiledSelects(sqlite.dialect())
    first = selects[r._CASE_BY_ID]
    assert selects[r._CASE_BY_ID] is first
    assert selects[r._MESSAGE_OF_CASE] is not first
    assert "FROM messages" in selects[r._MESSAGE_OF_CASE].sql
