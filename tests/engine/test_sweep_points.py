"""Stored term points (issue 16, migration 0020): what a sweep stores is byte for byte what the calendar sweep
stored.

The calendar sweep below is the sweep as it was before points were stored (each due term's reminder points
computed with the calendar on every sweep, `terms_needing_attention`); it is kept here only as the reference.
The example scenarios and a random workload of opens, pre-0020 opens (no stored point), closes, re-timings,
reopens and sweeps run once through each, and every table but `term_points` must come out identical, row for
row and byte for byte. The random workload also checks after every step that each open term's stored points
are exactly its points not sent yet.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repository import SqlRepository
from storage.tables import term_points
from tests.storage.conftest import SettableClock
from tests.storage.test_repository import message, new_case
from workflow.calendar import WorkingCalendar
from workflow.model import Role, Term, TermStart, TermStop
from workflow.ports import Notification, Retimed, SentRecord
from workflow.rules import DEFAULT_RULES
from workflow.services import Services
from workflow.services.sweep import SweepUseCases, attention_points, next_attention, term_notifications

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def calendar_sweep(self: SweepUseCases) -> list[Notification]:
    """The sweep before 0020, verbatim: points computed per due term with the calendar on every sweep."""
    now = self.clock.now()
    queued: list[Notification] = []
    async with self.repo.transaction() as tx:
        records: list[SentRecord] = []
        to_send: list[tuple[Term, str]] = []
        for term in await tx.terms_needing_attention(now):
            points = attention_points(term, self.rules, self.calendar)
            passed = tuple(key for key, at in points if at <= now and key not in term.sent)
            after = next_attention(points, term.sent.union(passed))
            records.append(SentRecord(term.id, term.sent, passed, after))
            if passed:
                to_send.append((term, passed[-1]))
        won = await tx.record_sent_many(records) if records else set()
        for term, key in to_send:
            if term.id in won:
                queued.extend(term_notifications(term, key, now, self.rules))
        if queued:
            await tx.enqueue(queued)
    if queued:
        await self._wake(sorted({n.case_id for n in queued if n.case_id is not None}), queued)
    return queued


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table but term_points (and Alembic's), each row as stored (SQLite's own values, text as bytes)."""
    conn = sqlite3.connect(path)
    conn.text_factory = bytes
    try:
        names = [
            row[0].decode()
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        ]
        assert "term_points" in names
        return {
            name: conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall()
            for name in names
            if name not in {"term_points", "alembic_version"} and not name.startswith("sqlite_")
        }
    finally:
        conn.close()


@pytest.mark.parametrize("name", ["open_sources_day", "pos_day"])
def test_example_scenarios_store_the_same_with_stored_points(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = str(EXAMPLES / f"{name}.toml")
    assert main(["simulate", scenario, "--json", "--db", str(tmp_path / "points.sqlite3")]) == 0
    with_points = capsys.readouterr().out
    with monkeypatch.context() as patch:
        patch.setattr(SweepUseCases, "sweep", calendar_sweep)
        assert main(["simulate", scenario, "--json", "--db", str(tmp_path / "calendar.sqlite3")]) == 0
    by_calendar = capsys.readouterr().out
    assert with_points == by_calendar
    new, old = dump(tmp_path / "points.sqlite3"), dump(tmp_path / "calendar.sqlite3")
    assert new.keys() == old.keys()
    assert len(new["outbox"]) > 0 and len(new["terms"]) > 0
    for table in old:
        assert new[table] == old[table], table


# --- a random workload -------------------------------------------------------------------------------------

START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # Tuesday 09:00 in Novosibirsk
TERM_IDS = ("os.route", "os.publish", "os.draft", "os.unit_info", "os.return", "pos.answer", "pos.return")
ROLES = (Role.OPERATOR, Role.EXECUTOR, Role.OFFICE_HEAD)


def unsent(term: Term, calendar: WorkingCalendar) -> list[tuple[str, datetime]]:
    return [p for p in attention_points(term, DEFAULT_RULES, calendar) if p[0] not in term.sent]


async def workload(
    path: Path, seed: int, sweep: Callable[[Services], Awaitable[list[Notification]]], *, check: bool
) -> int:
    """One seeded run of random steps on a fresh SQLite file; the number of notifications the sweeps queued.
    `check`: after every step, the stored points are checked (the calendar sweep does not keep them)."""
    rng = random.Random(seed)
    calendar = WorkingCalendar()
    clock = SettableClock(START)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sent = 0
    legacy: set[int] = set()
    try:
        await upgrade(engine)
        repo = SqlRepository(engine, clock=clock)
        services = Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES)
        async with repo.transaction() as tx:
            case_ids = [(await tx.add_case(new_case(), message(f"wall-1_{n}"))).id for n in range(6)]
        for _ in range(160):
            now = clock.now()
            choice = rng.random()
            async with repo.transaction() as tx:
                case_id = rng.choice(case_ids)
                open_terms = await tx.terms(case_id)
                closed = [t for t in await tx.terms(case_id, open_only=False) if t.closed_at is not None]
                if choice < 0.3:  # open a few terms as a step does
                    starts = []
                    for _ in range(rng.randint(1, 3)):
                        began = now - timedelta(minutes=rng.choice((0, 0, 30, 600, 3000)))
                        due = (
                            began
                            if rng.random() < 0.1  # immediate: its miss only
                            else calendar.add_working(began, rng.choice((30, 120, 540, 1080, 2700)))
                        )
                        unit = rng.choice((None, "housing", "social"))
                        start = TermStart(rng.choice(TERM_IDS), due, rng.choice(ROLES), began, unit=unit)
                        starts.append((start, attention_points(start, DEFAULT_RULES, calendar)))
                    await tx.open_terms(case_id, starts)
                elif choice < 0.38:  # a term opened before 0020: its attention instant but no stored point
                    due = calendar.add_working(now, rng.choice((60, 540)))
                    start = TermStart(rng.choice(TERM_IDS), due, Role.OPERATOR, now)
                    points = attention_points(start, DEFAULT_RULES, calendar)
                    legacy.add(await tx.open_term(case_id, start, points[0][1] if points else None))
                elif choice < 0.48 and open_terms:  # close some
                    term = rng.choice(open_terms)
                    stop = TermStop(term.term_id, cancelled=rng.random() < 0.3)
                    await tx.close_terms(case_id, [stop], now, by=1)
                elif choice < 0.56 and open_terms:  # re-time one (ЦУР's earlier discovery time)
                    term = rng.choice(open_terms)
                    began = term.started_at - timedelta(minutes=rng.choice((10, 90, 900)))
                    due = calendar.add_working(began, rng.choice((120, 540, 1080)))
                    moved = replace(term, started_at=began, due=due)
                    await tx.retime_terms(
                        case_id, [Retimed(term.id, began, due, tuple(unsent(moved, calendar)))]
                    )
                elif choice < 0.62 and closed:  # reopen one (an undo)
                    term = rng.choice(closed)
                    await tx.restore_terms(
                        case_id,
                        reopen=[(term.id, unsent(term, calendar))],
                        cancel=(),
                        holders=(),
                        at=now,
                        by=1,
                    )
                else:
                    clock.advance(timedelta(minutes=rng.choice((5, 40, 90, 200, 900))))
            if rng.random() < 0.6:
                sent += len(await sweep(services))
            if check:
                await check_points(repo, calendar, case_ids, legacy)
    finally:
        await engine.dispose()
    return sent


async def check_points(
    repo: SqlRepository, calendar: WorkingCalendar, case_ids: list[int], legacy: set[int]
) -> None:
    """Each open term's stored points are its points not sent yet, and a closed term has none. A term opened
    before 0020 has none stored until its first sweep (or a re-timing or reopening) stores them."""
    async with repo.reading() as tx:
        stored: dict[int, list[tuple[str, datetime]]] = {}
        rows = await tx.connection.execute(
            select(term_points.c.term_row_id, term_points.c.key, term_points.c.at).order_by(
                term_points.c.term_row_id, term_points.c.n
            )
        )
        for row_id, key, at in rows:
            stored.setdefault(row_id, []).append((key, at))
        open_terms = [term for case_id in case_ids for term in await tx.terms(case_id)]
    assert set(stored) <= {term.id for term in open_terms}
    for term in open_terms:
        if term.id in legacy and term.id not in stored:
            continue
        assert stored.get(term.id, []) == unsent(term, calendar), term


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_workload_stores_the_same_with_stored_points(tmp_path: Path, seed: int) -> None:
    new_sent = await workload(tmp_path / "points.sqlite3", seed, lambda s: s.sweep(), check=True)
    old_sent = await workload(tmp_path / "calendar.sqlite3", seed, lambda s: calendar_sweep(s), check=False)
    assert new_sent == old_sent > 0
    new, old = dump(tmp_path / "points.sqlite3"), dump(tmp_path / "calendar.sqlite3")
    for table in old:
        assert new[table] == old[table], table
