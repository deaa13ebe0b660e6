"""The read side at 100,000 open cases: this branch's queries against main's, on the same rows, in one process.

    python bench/queries_bench.py                 # SQLite (a temp file)
    python bench/queries_bench.py --pg            # and PostgreSQL (OTKLIK_TEST_PG_URL or 127.0.0.1:5432/test)
    python bench/queries_bench.py --repeat 50 --others 100000 --owed 1000

The database holds `--others` open cases of everyone and `--owed` cases owed by one executor of one unit
(tests/support/bulk.py: half by the term's unit, half by the case's assignment), one open term a case, closed
terms beside them and a case in a thousand with its routing proposed. Timed, each in its own read transaction as
the use cases read: /my of that executor, a coordinator's /my (approved ПОС answers to post, held by the
ПОС curator), the operator's queue (/my of an operator), /overdue, the unit's
/overdue and a card: this branch's queries on a database at its head revision, and main's queries (kept below as
they were at 46857b1) on a second database with the same rows at main's revision (without 0017's indexes), the
runs alternating between the two. It prints the median and p90 in ms, the ratio, and whether the two answered the
same. Goal (issue 16): /my <= 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage.migrate import alembic_config, upgrade
from storage.repository import SqlRepository, SqlTransaction, _term_from_row
from storage.tables import assignments, cases, terms
from tests.support.bulk import MINE, NOW, Filled, fill
from tests.support.pg import LOCAL_URL
from tests.support.scratch import scratch_engine, sqlite_file_engine
from workflow.model import Actor, Role
from workflow.ports import OwedBy, TermPage
from workflow.rules import DEFAULT_RULES
from workflow.services.queries import owed_by, owed_steps, read_card

PAGE = 30  # handlers/commands.py LIST_LIMIT
SILENT = DEFAULT_RULES.return_only_terms
EXECUTOR = OwedBy(roles=frozenset(), unit_roles=frozenset({Role.EXECUTOR}), units=frozenset({MINE}))
OPERATOR = OwedBy(roles=frozenset({Role.OPERATOR}), unit_roles=frozenset(), units=frozenset())
_COORDINATOR = Actor(1, frozenset({Role.COORDINATOR}))
COORDINATOR = owed_by(_COORDINATOR, owed_steps(_COORDINATOR, DEFAULT_RULES))

Query = Callable[[SqlTransaction], Awaitable[Any]]
# Main's schema: the revision 0017 (this branch's indexes) revises.
MAIN_REVISION = ScriptDirectory.from_config(alembic_config()).get_revision("0017").down_revision


# --- main's queries (storage/repository.py at 46857b1), for comparison ------------------------------------------


async def main_page(tx: SqlTransaction, where: Any, limit: int) -> TermPage:
    rows = await tx._exec(
        select(terms).where(where).order_by(terms.c.due, terms.c.case_id, terms.c.id).limit(limit)
    )
    page = tuple(_term_from_row(row) for row in rows)
    total = len(page)
    if total == limit:
        total = (await tx._exec(select(func.count()).select_from(terms).where(where))).scalar_one()
    return TermPage(terms=page, total=total)


async def main_owed(tx: SqlTransaction, owed: OwedBy, limit: int, now: datetime) -> TermPage:
    unit_case = exists().where(
        assignments.c.case_id == terms.c.case_id, assignments.c.unit.in_(sorted(owed.units))
    )
    whose = or_(
        terms.c.owner.in_(sorted(r.value for r in owed.roles)),
        and_(
            terms.c.owner.in_(sorted(r.value for r in owed.unit_roles)),
            or_(terms.c.unit.in_(sorted(owed.units)), and_(terms.c.unit.is_(None), unit_case)),
        ),
    )
    for step in owed.steps:
        in_step = exists().where(
            cases.c.id == terms.c.case_id, cases.c.procedure == step.procedure, cases.c.status == step.status
        )
        whose = or_(whose, and_(terms.c.term_id.in_(sorted(step.term_ids)), in_step))
    where = and_(terms.c.closed_at.is_(None), whose)
    where = and_(where, ~and_(terms.c.term_id.in_(sorted(SILENT)), terms.c.due < now))
    return await main_page(tx, where, limit)


async def main_overdue(tx: SqlTransaction, now: datetime, limit: int) -> TermPage:
    where = and_(terms.c.closed_at.is_(None), terms.c.due <= now, terms.c.term_id.not_in(sorted(SILENT)))
    return await main_page(tx, where, limit)


async def main_unit_overdue(tx: SqlTransaction, now: datetime, limit: int, units: frozenset[str]) -> TermPage:
    seen = exists().where(cases.c.id == terms.c.case_id, tx._seen_by_units(units))
    where = and_(terms.c.closed_at.is_(None), terms.c.due <= now, seen)
    where = and_(where, terms.c.term_id.not_in(sorted(SILENT)))
    return await main_page(tx, where, limit)


# --- the runs ------------------------------------------------------------------------------------------------


def queries(filled: Filled) -> list[tuple[str, Query, Query]]:
    """(name, this branch, main) for each read."""
    unit = frozenset({MINE})
    return [
        (
            f"/my ({len(filled.mine):,} owed)",
            lambda tx: tx.owed_terms(EXECUTOR, PAGE, silent=SILENT, now=NOW),
            lambda tx: main_owed(tx, EXECUTOR, PAGE, NOW),
        ),
        (
            "coordinator's /my",  # a step's way: the approved ПОС answers to post
            lambda tx: tx.owed_terms(COORDINATOR, PAGE, silent=SILENT, now=NOW),
            lambda tx: main_owed(tx, COORDINATOR, PAGE, NOW),
        ),
        (
            "operator's queue",
            lambda tx: tx.owed_terms(OPERATOR, PAGE, silent=SILENT, now=NOW),
            lambda tx: main_owed(tx, OPERATOR, PAGE, NOW),
        ),
        (
            "/overdue",
            lambda tx: tx.overdue_terms(NOW, PAGE, silent=SILENT),
            lambda tx: main_overdue(tx, NOW, PAGE),
        ),
        (
            "unit /overdue",
            lambda tx: tx.overdue_terms_of_units(NOW, PAGE, unit, silent=SILENT),
            lambda tx: main_unit_overdue(tx, NOW, PAGE, unit),
        ),
        ("card", lambda tx: read_card(tx, filled.a_case), lambda tx: read_card(tx, filled.a_case)),
    ]


async def timed(
    ours: SqlRepository, theirs: SqlRepository, new: Query, old: Query, repeat: int, old_repeat: int
) -> tuple[tuple[list[float], Any], tuple[list[float], Any]]:
    """Milliseconds of each run (read transaction included) after one warm-up, and the last answer, of this
    branch's query on its database and main's on main's; the runs alternate, so machine load hits both alike."""
    runs: tuple[list[float], list[float]] = ([], [])
    answers: list[Any] = [None, None]
    for i in range(repeat + 1):
        for side, (repo, query) in enumerate(((ours, new), (theirs, old))):
            if side == 1 and i > old_repeat:
                continue
            started = time.perf_counter()
            async with repo.reading() as tx:
                answers[side] = await query(tx)
            if i:  # the first is the warm-up
                runs[side].append((time.perf_counter() - started) * 1000)
    return (runs[0], answers[0]), (runs[1], answers[1])


def same(a: Any, b: Any) -> bool:
    if isinstance(a, TermPage) and isinstance(b, TermPage):
        return a.total == b.total and [t.id for t in a.terms] == [t.id for t in b.terms]
    return bool(a == b)


def shown(answer: Any) -> str:
    return f"{len(answer.terms)}/{answer.total:,}" if isinstance(answer, TermPage) else "card"


async def bench(label: str, factory: Callable[[], Any], others: int, owed: int, repeat: int) -> bool:
    async with factory() as engine, factory() as main_engine:
        await upgrade(engine)
        await upgrade(main_engine, MAIN_REVISION)  # main's schema: without 0017's indexes
        started = time.perf_counter()
        filled = await fill(engine, others=others, mine=owed)
        await fill(main_engine, others=others, mine=owed)  # the same seed: the same rows
        print(
            f"{label}: {others:,} other open cases, {owed:,} owed; both databases filled in"
            f" {time.perf_counter() - started:.1f} s"
        )
        ours, theirs = SqlRepository(engine, clock=_Clock()), SqlRepository(main_engine, clock=_Clock())
        listed = queries(filled)
        old_repeat = max(3, repeat // 5)
        timings = [await timed(ours, theirs, new, old, repeat, old_repeat) for _, new, old in listed]
    print(
        f"  {'read':<22} {'answer':>12} {'branch ms':>10} {'p90':>7} {'main ms':>9} {'p90':>7} {'main/branch':>12}"
        "  same answer"
    )
    my_ms = 0.0
    for (name, _, _), ((runs, answer), (old_runs, old_answer)) in zip(listed, timings, strict=True):
        median, old_median = statistics.median(runs), statistics.median(old_runs)
        my_ms = my_ms or median
        print(
            f"  {name:<22} {shown(answer):>12} {median:>10.2f} {_p90(runs):>7.2f} {old_median:>9.2f}"
            f" {_p90(old_runs):>7.2f} {old_median / median:>11.1f}x  {'yes' if same(answer, old_answer) else 'NO'}"
        )
    met = my_ms <= 10
    print(f"  goal /my <= 10 ms at {others + owed:,} open: {'met' if met else 'NOT met'} ({my_ms:.2f} ms)")
    return met


def _p90(runs: list[float]) -> float:
    return statistics.quantiles(runs, n=10)[-1] if len(runs) > 1 else runs[0]


class _Clock:
    def now(self) -> datetime:
        return NOW


def sqlite_engine() -> AbstractAsyncContextManager[AsyncEngine]:
    return sqlite_file_engine("queries.sqlite3")


def pg_engine(url: str) -> AbstractAsyncContextManager[AsyncEngine]:
    return scratch_engine(url, "otklik_bench")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", action="store_true", help="PostgreSQL as well (OTKLIK_TEST_PG_URL or local)")
    parser.add_argument("--repeat", type=int, default=30, help="timed runs of each read (main's: a fifth)")
    parser.add_argument("--others", type=int, default=100_000)
    parser.add_argument("--owed", type=int, default=1_000)
    args = parser.parse_args()
    print(
        f"read side at scale: medians of {args.repeat} runs (main: {max(3, args.repeat // 5)}), page of {PAGE}"
    )
    ok = True
    ok = await bench("SQLite", sqlite_engine, args.others, args.owed, args.repeat) and ok
    if args.pg:
        url = os.environ.get("OTKLIK_TEST_PG_URL") or LOCAL_URL
        ok = await bench("PostgreSQL", lambda: pg_engine(url), args.others, args.owed, args.repeat) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
