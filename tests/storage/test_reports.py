"""storage/reports.py: the SQL aggregation gives exactly the reference figures (workflow.reports.compute_report)
on SQLite and PostgreSQL, on the hand-counted week and on a random spread of terms (ties, even and odd counts)."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from storage.migrate import upgrade
from storage.reports import read_report
from tests.support.report_seed import seed
from tests.unit.test_reports import CASES, EVENTS, NOW, RETURN_ONLY, TERMS, TZ, WEEK, at
from workflow.reports import CaseRecord, EventRecord, TermRecord, compute_report, month_of


async def _read(engine: AsyncEngine, units: frozenset[str] | None = None):  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        return await read_report(conn, WEEK, NOW, return_only=RETURN_ONLY, units=units)


async def test_sql_equals_the_reference_on_the_hand_counted_week(engine: AsyncEngine) -> None:
    await upgrade(engine)
    async with engine.begin() as conn:
        await seed(conn, CASES, TERMS, EVENTS)
    for units in (None, frozenset({"housing"}), frozenset({"education", "social"})):
        expected = compute_report(WEEK, NOW, TERMS, CASES, EVENTS, return_only=RETURN_ONLY, units=units)
        assert await _read(engine, units) == expected


async def test_sql_equals_the_reference_on_a_random_month(engine: AsyncEngine) -> None:
    await upgrade(engine)
    rng = random.Random(14)
    month = month_of(2026, 11, TZ)
    units = ["housing", "education", "social"]
    people = ["Иванов", "Петров", "", "Сидорова"]
    case_records, term_records, event_records = [], [], []
    for case_id in range(1, 161):
        t0 = at("2026-10-29 08:00") + timedelta(minutes=rng.randrange(0, 60 * 24 * 36))
        status = rng.choice(["answered", "in_units", "excluded", "returned", "closed"])
        case_records.append(
            CaseRecord(case_id, t0, status, rng.choice(["vk", "ok", "pos", "intake"]), rng.choice(["vk", "ok", None]),
                       rng.choice([None, "local_fast", "other"]), frozenset(rng.sample(units, rng.randrange(0, 3))))
        )  # fmt: skip
        for term_id in rng.sample(["os.route", "os.unit_info", "os.publish", "os.return", "pos.answer"], 3):
            due = t0 + timedelta(minutes=rng.choice([30, 60, 120, 540]))  # equal durations: ties in the ranks
            closed = rng.random() < 0.7
            closed_at = (
                t0 + timedelta(minutes=rng.choice([10, 30, 60, 120, 600]), seconds=rng.choice([0, 1, 59.5]))
                if closed
                else None
            )
            met = None if not closed or rng.random() < 0.1 else closed_at is not None and closed_at <= due
            term_records.append(
                TermRecord(
                    case_id, term_id, rng.choice([None, *units]), rng.choice(people), t0, due, closed_at, met
                )
            )
        for _ in range(rng.randrange(0, 3)):
            event_records.append(
                EventRecord(case_id, rng.choice(["rework", "decline", "return", "info"]), t0)
            )
    async with engine.begin() as conn:
        await seed(conn, case_records, term_records, event_records)
    now = at("2026-11-20 12:00")
    for narrowed in (None, frozenset({"social"})):
        expected = compute_report(
            month, now, term_records, case_records, event_records, return_only=RETURN_ONLY, units=narrowed
        )
        async with engine.connect() as conn:
            got = await read_report(conn, month, now, return_only=RETURN_ONLY, units=narrowed)
        assert got == expected
        assert got.total.terms > 40 and got.per_week[1][1] > 0
