"""Lists of open terms (/my, a queue, /overdue, a unit's /overdue): one statement each, whatever is open.

A list is the union of the ways a term can be on it ("ways"): owed by one of the person's roles, owed by a unit
role in one of his units, owed by a unit role with no unit in a case assigned to one of his units, completed by
a step of his own; overdue in a case assigned or proposed to a unit. Each way is a select over open terms that a
partial index of migration 0017 answers (storage/tables.py), so one statement reads

* the page: each way's first `limit` terms by (due, case_id, id), merged, the first `limit` of them;
* the count: the distinct term ids of every way (a term may be on a list by two ways),

the ways that are joins (through a unit's cases) read once for both (see `_parts`),

in one round trip. Both cost what the person's own terms cost; the other open cases are never walked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    FromClause,
    Select,
    and_,
    any_,
    cast,
    func,
    not_,
    select,
    union,
    union_all,
)

from storage.tables import assignments, cases, has_proposal, terms
from workflow.ports import OwedBy

_ORDER = (terms.c.due, terms.c.case_id, terms.c.id)


@dataclass(frozen=True)
class Way:
    """Open terms of `source` (terms, or terms joined to what decides) that satisfy `where`; `joined`: found by
    way of other rows (a unit's cases), not walked by an index in due order."""

    where: ColumnElement[bool]
    source: FromClause = terms
    joined: bool = False


def owed_ways(owed: OwedBy, dialect: str) -> list[Way]:
    """The ways a person owes an open term (workflow.ports.OwedBy)."""
    ways: list[Way] = []
    if owed.roles:
        ways.append(Way(terms.c.owner.in_(sorted(r.value for r in owed.roles))))  # ix_terms_open_owner
    if owed.unit_roles and owed.units:
        unit_roles, units = sorted(r.value for r in owed.unit_roles), sorted(owed.units)
        ways.append(Way(and_(terms.c.unit.in_(units), terms.c.owner.in_(unit_roles))))  # ix_terms_open_unit
        # A unit role's common term (no unit): owed by the units the case is assigned to. The planner joins the
        # units' cases (ix_assignments_unit, ix_terms_open_case) or these terms (ix_terms_open_unit) to the
        # assignments' key, whichever it finds cheaper; read once for page and count (joined).
        ways.append(
            Way(
                and_(terms.c.unit.is_(None), terms.c.owner.in_(unit_roles), assignments.c.unit.in_(units)),
                terms.join(assignments, assignments.c.case_id == terms.c.case_id),
                joined=True,
            )
        )
    for step in owed.steps:  # the cases in the step's status (ix_cases_status), then their open terms
        in_step = _case_in(
            cases.c.id, and_(cases.c.status == step.status, cases.c.procedure == step.procedure), dialect
        )
        ways.append(Way(and_(in_step, terms.c.term_id.in_(sorted(step.term_ids))), joined=True))
    return ways


def unit_overdue_ways(
    now: datetime, units: frozenset[str], dialect: str, proposed: ColumnElement[bool]
) -> list[Way]:
    """Open terms past due of the cases assigned to one of `units` (ix_assignments_unit, then ix_terms_open_case)
    or proposed to one (`proposed`: the dialect's test of the `cases` row's state, made only on the few cases
    with a proposal, ix_cases_proposed)."""
    due = terms.c.due <= now
    in_proposal = _case_in(cases.c.id, and_(has_proposal(dialect), proposed), dialect)
    return [
        Way(
            and_(assignments.c.unit.in_(sorted(units)), due),
            terms.join(assignments, assignments.c.case_id == terms.c.case_id),
            joined=True,
        ),
        Way(and_(in_proposal, due), joined=True),
    ]


def _case_in(case_id: ColumnElement[int], where: ColumnElement[bool], dialect: str) -> ColumnElement[bool]:
    """The term's case is one of the `case_id`s of the rows that satisfy `where`, which are read first and handed
    to the terms' index.

    Left to itself a planner joins a few cases to every open term when it misjudges how few they are (no
    statistics cover a JSON predicate; the generic plan of a prepared statement knows no unit): PostgreSQL gets
    the ids as one array (an InitPlan; `= ANY` of it is an index condition), SQLite as an IN list.
    """
    if dialect == "postgresql":
        ids = select(func.array_agg(case_id)).where(where).scalar_subquery()
        return terms.c.case_id == any_(cast(ids, ARRAY(BigInteger)))  # «= ANY (array)», not a subquery
    return terms.c.case_id.in_(select(case_id).where(where))


def _of(way: Way, excluded: ColumnElement[bool] | None, *columns: Any) -> Select[Any]:
    where = and_(terms.c.closed_at.is_(None), way.where)
    if excluded is not None:
        where = and_(where, not_(excluded))
    return select(*columns).select_from(way.source).where(where)


def _parts(
    ways: Sequence[Way], excluded: ColumnElement[bool] | None, limit: int
) -> tuple[list[Select[Any]], list[Select[Any]]]:
    """Each way's share of the page (its first `limit` ids by due) and of the count (all its ids).

    A way that reads terms alone is walked by its index in due order, so its share of the page stops at `limit`
    rows and its count reads the index (a list of any length: /overdue, a queue). The ways that are joins (a
    unit's cases, a step's) find few rows, but a planner asked for their first rows by due would rather walk
    every open term in due order: their rows are read once (a CTE), counted and sorted.
    """
    pages: list[Select[Any]] = []
    ids: list[Select[Any]] = []
    for way in ways:
        if not way.joined:
            first = _of(way, excluded, *_ORDER).order_by(*_ORDER).limit(limit).subquery()
            pages.append(select(first.c.id))
            ids.append(_of(way, excluded, terms.c.id))
    joined = [_of(way, excluded, *_ORDER) for way in ways if way.joined]
    if joined:
        listed = (union(*joined) if len(joined) > 1 else joined[0]).cte("listed")
        first = (
            select(listed.c.id).order_by(listed.c.due, listed.c.case_id, listed.c.id).limit(limit).subquery()
        )
        pages.append(select(first.c.id))
        ids.append(select(listed.c.id))
    return pages, ids


def _count(ids: list[Select[Any]]) -> Select[Any]:
    """How many distinct terms (a term may be on a list by two ways)."""
    every = (union(*ids) if len(ids) > 1 else ids[0]).subquery()
    return select(func.count()).select_from(every)


def count_statement(ways: Sequence[Way], excluded: ColumnElement[bool] | None = None) -> Select[Any]:
    if not ways:
        raise ValueError("a list needs at least one way")
    return _count(_parts(ways, excluded, 1)[1])


def page_statement(
    ways: Sequence[Way], limit: int, excluded: ColumnElement[bool] | None = None
) -> Select[Any]:
    """The first `limit` terms of the list, each row with the list's `total` (no row: the list is empty).

    `excluded`: terms left off every way (a return-only term that lapsed).
    """
    if not ways or limit <= 0:
        raise ValueError("a page needs at least one way and one row")
    pages, ids = _parts(ways, excluded, limit)
    page_ids = union_all(*pages) if len(pages) > 1 else pages[0]
    total = _count(ids).scalar_subquery()
    return select(terms, total.label("total")).where(terms.c.id.in_(page_ids)).order_by(*_ORDER).limit(limit)
