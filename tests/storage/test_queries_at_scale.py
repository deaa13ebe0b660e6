"""The read side is right with 100,000 other open cases (issue 16): /my of a person owing 1,000 of them, an
operator's queue, /overdue and a unit's /overdue, and a card, on SQLite and PostgreSQL.

The rows are written straight into the tables (tests/support/bulk.py), and what each list must show is computed
from the rows written, not by SQL. A coordinator's /my (the posting of approved ПОС answers) is checked too. The old read side answered /my from the first 10,000 open cases.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.migrate import upgrade
from storage.repository import SqlRepository
from tests.storage.conftest import DIALECTS, SettableClock, fresh_engine
from tests.support.bulk import MINE, NOW, Filled, fill
from workflow.calendar import WorkingCalendar
from workflow.model import Actor, Role
from workflow.ports import OwedBy
from workflow.rules import DEFAULT_RULES
from workflow.services.queries import QueryUseCases, owed_steps

pytestmark = pytest.mark.bulk

OTHERS = 100_000
OWED = 1_000
PAGE = 30


@pytest.fixture(params=DIALECTS)
async def filled(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[QueryUseCases, Filled]]:
    async with fresh_engine(request.param, tmp_path) as engine:
        await upgrade(engine)
        rows = await fill(engine, others=OTHERS, mine=OWED)
        clock = SettableClock(NOW)
        repo = SqlRepository(engine, clock=clock)
        yield QueryUseCases(repo=repo, clock=clock, calendar=WorkingCalendar(), rules=DEFAULT_RULES), rows


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [row["id"] for row in rows[:PAGE]]


async def test_lists_are_right_among_100k_other_open_cases(filled: tuple[QueryUseCases, Filled]) -> None:
    queries, rows = filled
    assert len(rows.open_terms) == OTHERS + OWED  # one open term a case
    executor = Actor(user_id=7, roles=frozenset({Role.EXECUTOR}), units=frozenset({MINE}))

    mine = await queries.my_terms(executor, PAGE)
    assert [t.id for t in mine.page.terms] == ids(rows.by_due(rows.mine))
    assert mine.page.total == OWED
    assert {t.case_id for t in mine.page.terms} <= {r["case_id"] for r in rows.mine}

    unit_overdue = await queries.overdue(PAGE, executor)
    expected = rows.overdue_of(MINE, NOW)
    assigned = {r["case_id"] for r in rows.mine}
    assert len(expected) > PAGE and any(r["case_id"] not in assigned for r in expected)  # proposed ones too
    assert [t.id for t in unit_overdue.page.terms] == ids(expected)
    assert unit_overdue.page.total == len(expected)

    overdue = await queries.overdue(PAGE)
    everything = rows.by_due([r for r in rows.open_terms if r["due"] <= NOW])
    assert [t.id for t in overdue.page.terms] == ids(everything)
    assert overdue.page.total == len(everything)

    async with queries.repo.reading() as tx:
        queue = await tx.owed_terms(
            OwedBy(roles=frozenset({Role.OPERATOR}), unit_roles=frozenset(), units=frozenset()), PAGE, now=NOW
        )
    assert [t.id for t in queue.terms] == ids(rows.by_due(rows.operator))
    assert queue.total == len(rows.operator)

    # Both: an operator who is an executor of MINE as well (walked and joined ways in one list).
    both = await queries.my_terms(
        Actor(user_id=9, roles=frozenset({Role.OPERATOR, Role.EXECUTOR}), units=frozenset({MINE})), PAGE
    )
    assert [t.id for t in both.page.terms] == ids(rows.by_due(rows.operator + rows.mine))
    assert both.page.total == len(rows.operator) + OWED

    # The coordinator owes the posting of approved ПОС answers, whose term the ПОС curator holds (a step's way).
    coordinator = Actor(user_id=8, roles=frozenset({Role.COORDINATOR}))
    steps = {
        (st.procedure, st.status, t) for st in owed_steps(coordinator, DEFAULT_RULES) for t in st.term_ids
    }
    posting = rows.by_due(
        [r for r in rows.open_terms if (*rows.status_of_case[r["case_id"]], r["term_id"]) in steps]
    )
    owed = await queries.my_terms(coordinator, PAGE)
    assert len(posting) > PAGE
    assert [t.id for t in owed.page.terms] == ids(posting)
    assert owed.page.total == len(posting)

    card = await queries.card_view(rows.a_case)
    assert card.case.id == rows.a_case and card.message is not None
    assert [t.id for t in card.open_terms] == [
        r["id"] for r in rows.open_terms if r["case_id"] == rows.a_case
    ]
