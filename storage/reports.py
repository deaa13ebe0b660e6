"""The п.18 report read from the database: every figure aggregated in SQL, the same on SQLite and PostgreSQL.

The definitions are workflow/reports.py's (`compute_report` is the reference this must agree with). Nothing here
loads cases or terms as objects: the terms are one GROUP BY scan (by unit, person, term id and whole minutes to
close; the medians and 90th percentiles come from those minute counts), the cases are GROUP BY counts, the cases
per week one GROUP BY over a CASE of the week boundaries. What comes back to Python is grouped rows, streamed,
the reworks by case and the bounded list of missed terms.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import assignments, cases, events, messages, terms
from workflow.reports import (
    ANSWER_TERMS,
    EXCLUDED,
    NOT_ANSWERED_STATUSES,
    RETURN_ACTIONS,
    RETURNED,
    REWORK_ACTIONS,
    SHORTCOMINGS_LIMIT,
    CaseCount,
    CaseFigures,
    Period,
    Report,
    Shortcoming,
    TermFigures,
    histogram_percentiles,
    week_starts,
)


def _minutes(dialect: str) -> ColumnElement[Any]:
    """A closed term's whole minutes from start to close, cut down (workflow.reports.minutes_between)."""
    if dialect == "sqlite":
        # Instants are naive UTC text; julianday reads them as a day count (a double, ~50 µs precise), so a
        # hair is added before cutting down: an exact 30 minutes never comes out as 29.
        days = func.julianday(terms.c.closed_at) - func.julianday(terms.c.started_at)
        return cast(days * 1440.0 + 1e-6, Integer)
    return cast(func.floor(func.extract("epoch", terms.c.closed_at - terms.c.started_at) / 60), Integer)


def _counted(
    period: Period, return_only: frozenset[str], units: frozenset[str] | None
) -> ColumnElement[bool]:
    """The terms the period counts: due in it, not return-only, not cancelled; of `units` when narrowed."""
    where = and_(
        terms.c.due >= period.start,
        terms.c.due < period.end,
        or_(terms.c.closed_at.is_(None), terms.c.met.is_not(None)),
    )
    if return_only:
        where = and_(where, terms.c.term_id.not_in(sorted(return_only)))
    if units is not None:
        where = and_(where, terms.c.unit.in_(sorted(units)))
    return where


def _case_visible(units: frozenset[str] | None) -> ColumnElement[bool]:
    if units is None:
        return true()
    return exists().where(assignments.c.case_id == cases.c.id, assignments.c.unit.in_(sorted(units)))


def _flag(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.sum(case((condition, 1), else_=0))


_GROUPS = ("unit", "person", "term_id")
_PARTITION = 10_000  # grouped rows fetched at a time


class _Acc:
    """One group's counts and its durations counted by whole minute."""

    __slots__ = ("met", "minutes", "missed", "terms")

    def __init__(self) -> None:
        self.terms = self.met = self.missed = 0
        self.minutes: dict[int, int] = {}

    def add(self, n: int, met: int, missed: int, minutes: int | None) -> None:
        self.terms += n
        self.met += met
        self.missed += missed
        if minutes is not None:
            self.minutes[minutes] = self.minutes.get(minutes, 0) + n

    def figures(self, key: str) -> TermFigures:
        median, top = histogram_percentiles(self.minutes)
        return TermFigures(key=key, terms=self.terms, met=self.met, missed=self.missed, median_minutes=median,
                           p90_minutes=top)  # fmt: skip


async def _term_groups(
    conn: AsyncConnection, where: ColumnElement[bool], now: datetime
) -> dict[str, dict[str, _Acc]]:
    """One scan of the counted terms, grouped in SQL by (unit, person, term id, whole minutes to close): a row
    per combination, folded here into the whole, by unit, by person and by term id. The medians and 90th
    percentiles come from the minute counts, so no group's durations are ever sorted or held one by one."""
    missed = or_(terms.c.met == false(), and_(terms.c.closed_at.is_(None), terms.c.due < now))
    minutes = _minutes(conn.dialect.name).label("minutes")
    stmt = (
        select(
            terms.c.unit,
            terms.c.person,
            terms.c.term_id,
            minutes,
            func.count().label("n"),
            _flag(terms.c.met == true()).label("met"),
            _flag(missed).label("missed"),
        )
        .where(where)
        .group_by(terms.c.unit, terms.c.person, terms.c.term_id, minutes)
    )
    whole = _Acc()
    by_unit: dict[str, _Acc] = {}
    by_person: dict[str, _Acc] = {}
    by_term: dict[str, _Acc] = {}
    result = await conn.stream(stmt)
    async for rows in result.partitions(_PARTITION):  # streamed; each batch folded without an await per row
        for unit, person, term_id, took, n, met, miss in rows:
            for acc in (
                whole,
                None if unit is None else by_unit.get(unit) or by_unit.setdefault(unit, _Acc()),
                by_person.get(person) or by_person.setdefault(person, _Acc()) if person else None,
                by_term.get(term_id) or by_term.setdefault(term_id, _Acc()),
            ):
                if acc is not None:
                    acc.add(n, met or 0, miss or 0, took)
    found = {"": {"": whole}, "unit": by_unit, "person": by_person, "term_id": by_term}
    return found


def _figures(accs: dict[str, _Acc]) -> tuple[TermFigures, ...]:
    return tuple(acc.figures(key) for key, acc in sorted(accs.items()))


async def _case_figures(conn: AsyncConnection, in_period: ColumnElement[bool]) -> CaseFigures:
    answer = and_(terms.c.case_id == cases.c.id, terms.c.term_id.in_(sorted(ANSWER_TERMS)))
    done = exists().where(answer, terms.c.closed_at.is_not(None), terms.c.met.is_not(None))
    late = exists().where(answer, terms.c.met == false())
    answered = and_(cases.c.status.not_in(sorted(NOT_ANSWERED_STATUSES)), done)
    stmt = select(
        func.count().label("registered"),
        _flag(answered).label("answered"),
        _flag(and_(answered, not_(late))).label("on_time"),
        _flag(cases.c.status == EXCLUDED).label("excluded"),
        _flag(cases.c.status == RETURNED).label("returned"),
    ).where(in_period)
    row = (await conn.execute(stmt)).one()
    return CaseFigures(
        registered=int(row.registered),
        answered=int(row.answered or 0),
        answered_on_time=int(row.on_time or 0),
        excluded=int(row.excluded or 0),
        returned=int(row.returned or 0),
    )


async def _count_by(
    conn: AsyncConnection, column: ColumnElement[Any], in_period: ColumnElement[bool]
) -> dict[str, int]:
    stmt = (
        select(column.label("k"), func.count().label("n"))
        .select_from(cases.join(messages, messages.c.case_id == cases.c.id))
        .where(in_period, column.is_not(None))
        .group_by(column)
    )
    return dict(sorted((str(row.k), int(row.n)) for row in await conn.execute(stmt)))


async def _per_week(
    conn: AsyncConnection, period: Period, in_period: ColumnElement[bool]
) -> tuple[tuple[date, int], ...]:
    mondays = week_starts(period)
    bounds = [datetime.combine(m, time(0), tzinfo=period.start.tzinfo) for m in mondays[1:]]
    week: ColumnElement[Any] = (
        case(*((cases.c.t0 < bound, index) for index, bound in enumerate(bounds)), else_=len(bounds))
        if bounds
        else literal(0)
    )
    stmt = select(week.label("w"), func.count().label("n")).where(in_period).group_by(week)
    counts = {int(row.w): int(row.n) for row in await conn.execute(stmt)}
    return tuple((monday, counts.get(i, 0)) for i, monday in enumerate(mondays))


async def _reworks(
    conn: AsyncConnection, period: Period, units: frozenset[str] | None
) -> tuple[CaseCount, ...]:
    wanted = sorted(REWORK_ACTIONS | RETURN_ACTIONS)
    where = and_(events.c.at >= period.start, events.c.at < period.end, events.c.action.in_(wanted))
    if units is not None:
        where = and_(
            where,
            exists().where(assignments.c.case_id == events.c.case_id, assignments.c.unit.in_(sorted(units))),
        )
    stmt = (
        select(
            events.c.case_id,
            _flag(events.c.action.in_(sorted(REWORK_ACTIONS))).label("reworks"),
            _flag(events.c.action.in_(sorted(RETURN_ACTIONS))).label("returns"),
        )
        .where(where)
        .group_by(events.c.case_id)
        .order_by(events.c.case_id)
    )
    return tuple(CaseCount(int(r.case_id), int(r.reworks), int(r.returns)) for r in await conn.execute(stmt))


async def _shortcomings(
    conn: AsyncConnection, where: ColumnElement[bool], now: datetime
) -> tuple[Shortcoming, ...]:
    missed = or_(terms.c.met == false(), and_(terms.c.closed_at.is_(None), terms.c.due < now))
    stmt = (
        select(terms.c.case_id, terms.c.term_id, terms.c.unit, terms.c.person, terms.c.due, terms.c.closed_at)
        .where(where, missed)
        .order_by(terms.c.due, terms.c.case_id, terms.c.term_id, func.coalesce(terms.c.unit, ""))
        .limit(SHORTCOMINGS_LIMIT)
    )
    found = [
        Shortcoming(int(r.case_id), r.term_id, r.unit, r.person or "", r.due, r.closed_at)
        for r in await conn.execute(stmt)
    ]
    # The order the reference gives (string order of ids in Python, whatever the database's collation).
    return tuple(sorted(found, key=lambda s: (s.due, s.case_id, s.term_id, s.unit or "")))


async def read_report(
    conn: AsyncConnection,
    period: Period,
    now: datetime,
    *,
    return_only: frozenset[str] = frozenset(),
    units: frozenset[str] | None = None,
) -> Report:
    """The report of `period` as the database holds it at `now`, in the caller's (read) transaction."""
    where = _counted(period, return_only, units)
    groups = await _term_groups(conn, where, now)
    in_period = and_(cases.c.t0 >= period.start, cases.c.t0 < period.end, _case_visible(units))
    network = messages.c.extra["network"].as_string()
    reworks = await _reworks(conn, period, units)
    total = _figures(groups[""])
    return Report(
        period=period,
        read_at=now,
        cases=await _case_figures(conn, in_period),
        total=total[0] if total else TermFigures(key=""),
        by_unit=_figures(groups["unit"]),
        by_person=_figures(groups["person"]),
        by_term=_figures(groups["term_id"]),
        by_source=await _count_by(conn, messages.c.source, in_period),
        by_network=await _count_by(conn, network, in_period),
        by_category=await _count_by(conn, cases.c.category, in_period),
        per_week=await _per_week(conn, period, in_period),
        reworks=sum(c.reworks for c in reworks),
        returns=sum(c.returns for c in reworks),
        rework_cases=reworks,
        shortcomings=await _shortcomings(conn, where, now),
        units=units,
    )
