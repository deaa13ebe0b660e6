"""The office head's digest use case on a real SQLite file and on PostgreSQL: what it says, and that it is
queued once per working day whatever the ticks, restarts and days off.

The world: Tuesday 01.12.2026 — № 1 registered at 09:40, № 2 at 10:00 and proposed for routing at 10:05 (it
waits for the office head), ПОС № 3 at 11:00; № 4 posted on Wednesday 02.12 at 08:30, before the digest.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from storage.repository import SqlRepository
from storage.tables import cases, kv, outbox, terms
from tests.engine.conftest import Database, at, os_message, pos_message
from tests.engine.flows import Do, press, register
from tests.fakes import FakeClock, RecordingNotifier
from workflow.calendar import WorkingCalendar
from workflow.digest import DIGEST
from workflow.lifecycle import Action
from workflow.model import Role
from workflow.ports import Notification
from workflow.rules import DEFAULT_RULES
from workflow.services import Services
from workflow.services.digest import DECIDED_KEY, DigestUseCase

pytestmark = pytest.mark.parametrize("db", ["sqlite", "pg"], indirect=True)


async def sql_repo(db: Database) -> SqlRepository:
    repo = await db.open()
    assert isinstance(repo, SqlRepository)
    return repo


def digests(
    repo: SqlRepository,
    clock: FakeClock,
    calendar: WorkingCalendar,
    notifier: RecordingNotifier | None = None,
) -> DigestUseCase:
    return DigestUseCase(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES, notifier=notifier)


async def the_world(services: Services, clock: FakeClock) -> None:
    await register(services, clock, os_message("wall-1_100", at(2026, 12, 1, 9, 40)))
    two = await register(services, clock, os_message("wall-1_101", at(2026, 12, 1, 10, 0)))
    await press(services, clock, two, Do(at(2026, 12, 1, 10, 5), Action.ROUTE, Role.OPERATOR,
                                         {"units": ("housing",)}))  # fmt: skip
    await register(services, clock, pos_message("pos-2026-000101", at(2026, 12, 1, 11, 0)))
    await register(services, clock, os_message("wall-1_102", at(2026, 12, 2, 8, 30)))


async def outbox_digests(repo: SqlRepository) -> list[str]:
    async with repo.reading() as tx:
        rows = await tx._exec(select(outbox.c.dedup_key).where(outbox.c.kind == DIGEST).order_by(outbox.c.id))
        return [str(key) for key in rows.scalars()]


def cases_of(page: object) -> list[tuple[int, str, str]]:
    assert isinstance(page, dict)
    items = page["items"]
    assert isinstance(items, list)
    return [(i["case"], i["term"], i["owner"]) for i in items]


def dues(page: object) -> list[datetime]:
    assert isinstance(page, dict)
    return [datetime.fromisoformat(i["due"]) for i in page["items"]]


async def test_one_digest_at_nine_with_what_stands(
    db: Database, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> None:
    repo = await sql_repo(db)
    await the_world(Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES), clock)
    use_case = digests(repo, clock, calendar, notifier)

    clock.set(at(2026, 12, 2, 8, 59))
    assert await use_case.run() is None
    clock.set(at(2026, 12, 2, 9, 0))
    digest = await use_case.run()
    assert isinstance(digest, Notification)
    assert (digest.dedup_key, digest.kind, digest.to_role, digest.case_id) == (
        "digest:office_head:2026-12-02", DIGEST, Role.OFFICE_HEAD, None,
    )  # fmt: skip
    assert notifier.woken == [digest]  # delivery is woken for it

    p = digest.payload
    assert p["day"] == "2026-12-02" and p["since"] == at(2026, 12, 1, 9, 0).isoformat()
    assert p["new"] == {"open_sources": 3, "pos": 1}
    assert p["open"] == {"new": 3, "routing_proposed": 1}
    # Today's terms, the earliest first: № 4's routing at 10:00, the publications of № 1 and № 2, № 4's draft.
    assert cases_of(p["due_today"]) == [
        (4, "os.route", "operator"), (1, "os.publish", "operator"), (2, "os.publish", "operator"),
        (4, "os.draft", "operator"),
    ]  # fmt: skip
    assert dues(p["due_today"])[0] == at(2026, 12, 2, 10, 0)
    # Overdue, with who owes each: № 2's routing is the office head's since it was proposed.
    assert cases_of(p["overdue"])[:3] == [
        (1, "os.route", "operator"), (2, "os.route", "office_head"), (3, "pos.route", "pos_curator"),
    ]  # fmt: skip
    assert all(due <= clock.now() for due in dues(p["overdue"]))
    assert cases_of(p["approvals"]) == [(2, "os.route", "office_head")]

    # The ticks that follow, and a restart at 09:03 (a new repository on the same database): nothing more.
    assert await use_case.run() is None
    clock.set(at(2026, 12, 2, 9, 3))
    restarted = digests(await sql_repo(db), clock, calendar)
    assert await restarted.run() is None
    assert await outbox_digests(repo) == ["digest:office_head:2026-12-02"]


async def test_a_lost_marker_still_sends_one_digest(
    db: Database, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    """The outbox's dedup key alone keeps the digest once: the key/value marker is a shortcut, not the lock."""
    repo = await sql_repo(db)
    await the_world(Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES), clock)
    clock.set(at(2026, 12, 2, 9, 0))
    assert await digests(repo, clock, calendar).run() is not None
    async with repo.transaction() as tx:
        await tx._exec(kv.delete().where(kv.c.key == DECIDED_KEY))
    assert await digests(repo, clock, calendar).run() is None
    assert await outbox_digests(repo) == ["digest:office_head:2026-12-02"]


async def test_none_on_saturday_and_monday_covers_the_weekend(
    db: Database, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    repo = await sql_repo(db)
    services = Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES)
    await register(services, clock, os_message("wall-1_200", at(2026, 12, 4, 8, 0)))  # before Friday's
    clock.set(at(2026, 12, 4, 9, 0))
    friday = await digests(repo, clock, calendar).run()
    assert friday is not None and friday.payload["new"] == {"open_sources": 1}
    await register(services, clock, os_message("wall-1_201", at(2026, 12, 4, 15, 0)))
    await register(services, clock, pos_message("pos-2026-000201", at(2026, 12, 5, 12, 0)))
    for saturday in (at(2026, 12, 5, 9, 0), at(2026, 12, 5, 18, 0), at(2026, 12, 6, 9, 0)):
        clock.set(saturday)
        assert await digests(repo, clock, calendar).run() is None
    clock.set(at(2026, 12, 7, 9, 0))
    monday = await digests(repo, clock, calendar).run()
    assert monday is not None
    assert monday.payload["since"] == at(2026, 12, 4, 9, 0).isoformat()
    assert monday.payload["new"] == {"open_sources": 1, "pos": 1}  # Friday afternoon's and Saturday's
    assert await outbox_digests(repo) == ["digest:office_head:2026-12-04", "digest:office_head:2026-12-07"]


async def test_none_when_there_is_nothing_to_say(
    db: Database, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> None:
    repo = await sql_repo(db)
    clock.set(at(2026, 12, 2, 9, 0))
    assert await digests(repo, clock, calendar, notifier).run() is None
    assert await outbox_digests(repo) == [] and notifier.woken == []
    async with repo.reading() as tx:
        assert await tx.kv_get(DECIDED_KEY) == "2026-12-02"  # decided: later ticks of the day read only this
    # A case registered later that day waits for tomorrow's digest; the day was decided at 09:00.
    services = Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES)
    await register(services, clock, os_message("wall-1_300", at(2026, 12, 2, 11, 0)))
    assert await digests(repo, clock, calendar).run() is None
    clock.set(at(2026, 12, 3, 9, 0))
    thursday = await digests(repo, clock, calendar).run()
    assert thursday is not None and thursday.payload["new"] == {"open_sources": 1}


async def test_closed_cases_count_as_new_not_as_open(
    db: Database, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    repo = await sql_repo(db)
    services = Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES)
    await register(services, clock, os_message("wall-1_400", at(2026, 12, 1, 10, 0)))
    async with repo.transaction() as tx:  # every term closed: the case is no longer open
        await tx._exec(cases.update().values(status="closed"))
        await tx._exec(terms.update().values(closed_at=at(2026, 12, 1, 12, 0), met=True))
    clock.set(at(2026, 12, 2, 9, 0))
    digest = await digests(repo, clock, calendar).run()
    assert digest is not None
    assert digest.payload["new"] == {"open_sources": 1} and digest.payload["open"] == {}
    assert cases_of(digest.payload["overdue"]) == [] and cases_of(digest.payload["due_today"]) == []
