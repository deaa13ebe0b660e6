"""The sweeper (Services.sweep): reminders at 50 % and 80 %, then the miss alerts of RULES.md §5, each exactly once —
across overlapping sweeps, across a restart, within 60 s of the due instant with a 30 s sweep interval.

Reminder points are hand-checked (working time 09–13, 14–18, Asia/Novosibirsk). Nothing sleeps: the clock is set.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar

import pytest

from tests.engine.conftest import Database, actor, at, make_services, outbox
from tests.engine.flows import A, Do, R, os_msg, pos_msg, press, register
from tests.fakes import FakeClock, RecordingNotifier
from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.ports import Notification, Repository, Transaction
from workflow.services import Services

_T = TypeVar("_T")

OP, RC, OH, H, PC, EX = R.OPERATOR, R.REGION_CURATOR, R.OFFICE_HEAD, R.HEAD, R.POS_CURATOR, R.EXECUTOR

# (term, point, role, instant). Open-source case registered with T0 = Tue 01.12.2026 09:40 and left alone.
OS_EXPECTED: list[tuple[str, str, Role, datetime]] = [
    # os.return (30 wm, due 10:10) is return-only (RULES.md §6): no reminder, and its lapse is no miss.
    # os.route: 60 wm, due 10:40; 30 and 48 min.
    ("os.route", "r50", OP, at(2026, 12, 1, 10, 10)),
    ("os.route", "r80", OP, at(2026, 12, 1, 10, 28)),
    ("os.route", "missed", OP, at(2026, 12, 1, 10, 40)),
    ("os.route", "missed", RC, at(2026, 12, 1, 10, 40)),
    ("os.route", "missed", OH, at(2026, 12, 1, 10, 40)),
    # os.draft: due 17:40 (os.publish Wed 10:40 - 2 wh), 420 wm; 210 min -> 14:10, 336 min -> 16:16.
    ("os.draft", "r50", OP, at(2026, 12, 1, 14, 10)),
    # os.publish: 540 wm, due Wed 02.12 10:40; 270 min -> 15:10 (200 to lunch, 70 after).
    ("os.publish", "r50", OP, at(2026, 12, 1, 15, 10)),
    ("os.draft", "r80", OP, at(2026, 12, 1, 16, 16)),
    ("os.draft", "missed", OP, at(2026, 12, 1, 17, 40)),
    ("os.draft", "missed", RC, at(2026, 12, 1, 17, 40)),
    ("os.draft", "missed", OH, at(2026, 12, 1, 17, 40)),
    # os.publish 80 % = 432 min: 200 to lunch, 232 after -> 17:52.
    ("os.publish", "r80", OP, at(2026, 12, 1, 17, 52)),
    # A missed publication also goes to the head.
    ("os.publish", "missed", OP, at(2026, 12, 2, 10, 40)),
    ("os.publish", "missed", RC, at(2026, 12, 2, 10, 40)),
    ("os.publish", "missed", OH, at(2026, 12, 2, 10, 40)),
    ("os.publish", "missed", H, at(2026, 12, 2, 10, 40)),
]

# ПОС, federal_fast (8 days), T0 Mon 02.11.2026 17:30; 03.11 short (09–13, 14–17), 04.11 holiday.
POS_EXPECTED: list[tuple[str, str, Role, datetime]] = [
    # pos.route: 60 wm, due Tue 09:30; 30 min lands on Mon's window end (18:00), 48 min -> Tue 09:18.
    ("pos.route", "r50", PC, at(2026, 11, 2, 18, 0)),
    ("pos.route", "r80", PC, at(2026, 11, 3, 9, 18)),
    ("pos.route", "missed", PC, at(2026, 11, 3, 9, 30)),  # the owner is the curator: told once
    ("pos.route", "missed", OH, at(2026, 11, 3, 9, 30)),
    # pos.draft: pos.answer 10.11 - 2 days = Sun 08.11 -> Fri 06.11 18:00; 30 m + 7 h + 8 h + 8 h = 1410 wm;
    # 705 min -> Thu 05.11 14:15, 1128 min -> Fri 06.11 12:18.
    ("pos.draft", "r50", EX, at(2026, 11, 5, 14, 15)),
    # pos.answer: due Tue 10.11 18:00; 30 m + 7 h + 4 × 8 h = 2370 wm; 1185 min -> Fri 06.11 14:15.
    ("pos.answer", "r50", PC, at(2026, 11, 6, 14, 15)),
    ("pos.draft", "r80", EX, at(2026, 11, 6, 12, 18)),
    ("pos.draft", "missed", EX, at(2026, 11, 6, 18, 0)),
    ("pos.draft", "missed", PC, at(2026, 11, 6, 18, 0)),
    ("pos.draft", "missed", OH, at(2026, 11, 6, 18, 0)),
    # pos.answer 80 % = 1896 min -> Tue 10.11 09:06; a missed answer goes to the head too.
    ("pos.answer", "r80", PC, at(2026, 11, 10, 9, 6)),
    ("pos.answer", "missed", PC, at(2026, 11, 10, 18, 0)),
    ("pos.answer", "missed", OH, at(2026, 11, 10, 18, 0)),
    ("pos.answer", "missed", H, at(2026, 11, 10, 18, 0)),
]


def _key(n: Notification) -> tuple[str, str, Role, datetime]:
    assert n.term_id is not None
    return (n.term_id, str(n.payload["point"]), n.to_role, n.at)


def _sorted(items: Iterable[tuple[str, str, Role, datetime]]) -> list[tuple[str, str, Role, datetime]]:
    return sorted(items, key=lambda x: (x[3], x[0], x[1], list(Role).index(x[2])))


def grid(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out = []
    while start <= end:
        out.append(start)
        start += step
    return out


async def sweep_at(services: Services, clock: FakeClock, instants: Iterable[datetime]) -> list[Notification]:
    sent: list[Notification] = []
    for instant in sorted(set(instants)):
        clock.set(instant)
        sent.extend(await services.sweep())
    return sent


async def term_outbox(repo: Repository) -> list[Notification]:
    return [i.notification for i in await outbox(repo) if i.notification.kind in ("reminder", "missed")]


# --- reminders and alerts, once each -------------------------------------------------------------------------


async def test_open_source_reminders_then_miss_alerts_exactly_once(
    services: Services, repo: Repository, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await register(services, clock, os_msg())
    points = [e[3] for e in OS_EXPECTED]
    # Every point exactly, a 10-minute grid around them, and each point swept twice more.
    instants = [*points, *grid(at(2026, 12, 1, 9, 40), at(2026, 12, 3, 12, 0), timedelta(minutes=10))]
    sent = await sweep_at(services, clock, instants)
    sent += await sweep_at(services, clock, points)  # the clock going back (a second process) changes nothing
    assert _sorted(map(_key, sent)) == _sorted(OS_EXPECTED)
    assert _sorted(map(_key, await term_outbox(repo))) == _sorted(OS_EXPECTED)
    assert [n for n in notifier.woken if n.kind in ("reminder", "missed")] == sent
    # Reminders and the owner's alert name the owner's unit where it has one; the others do not.
    assert all(n.unit is None for n in sent)


async def test_pos_reminders_then_miss_alerts_exactly_once(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    await register(services, clock, pos_msg(category="federal_fast"))
    points = [e[3] for e in POS_EXPECTED]
    instants = [*points, *grid(at(2026, 11, 2, 17, 30), at(2026, 11, 12, 12, 0), timedelta(hours=1))]
    sent = await sweep_at(services, clock, instants)
    assert _sorted(map(_key, sent)) == _sorted(POS_EXPECTED)
    assert _sorted(map(_key, await term_outbox(repo))) == _sorted(POS_EXPECTED)


async def test_a_unit_term_reminds_that_unit_and_a_done_term_goes_quiet(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    await press(
        services, clock, case_id, Do(at(2026, 12, 1, 10, 5), A.ROUTE, OP, {"units": ("housing", "social")})
    )
    await press(services, clock, case_id, Do(at(2026, 12, 1, 10, 20), A.APPROVE_ROUTING, OH))
    # os.unit_info: 120 wm from 10:20, due 12:20; 50 % at 11:20, 80 % at 11:56.
    sent = await sweep_at(services, clock, [at(2026, 12, 1, 11, 20)])
    assert sorted((n.term_id, n.to_role, n.unit) for n in sent if n.term_id == "os.unit_info") == [
        ("os.unit_info", R.UNIT_OFFICIAL, "housing"),
        ("os.unit_info", R.UNIT_OFFICIAL, "social"),
    ]
    await press(
        services,
        clock,
        case_id,
        Do(at(2026, 12, 1, 11, 30), A.INFO, R.UNIT_OFFICIAL, {"text": "Есть"}, ("housing",)),
    )
    later = await sweep_at(
        services, clock, grid(at(2026, 12, 1, 11, 30), at(2026, 12, 1, 12, 30), timedelta(minutes=2))
    )
    unit_info = [(n.payload["point"], n.to_role, n.unit) for n in later if n.term_id == "os.unit_info"]
    assert unit_info == [
        ("r80", R.UNIT_OFFICIAL, "social"),
        ("missed", R.UNIT_OFFICIAL, "social"),  # the owner's alert goes to its unit …
        ("missed", RC, None),  # … the curator and the office head hear of it as such
        ("missed", OH, None),
    ]
    assert {n.at for n in later if n.payload["point"] == "missed"} == {at(2026, 12, 1, 12, 20)}


async def test_after_downtime_only_the_newest_news_is_sent(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """No sweep ran during a term: the first sweep after its due instant sends the miss, not stale reminders."""
    await register(services, clock, os_msg())
    sent = await sweep_at(services, clock, [at(2026, 12, 1, 10, 20)])  # after os.route's 50 % point
    assert _sorted(map(_key, sent)) == _sorted([("os.route", "r50", OP, at(2026, 12, 1, 10, 20))])
    again = await sweep_at(services, clock, [at(2026, 12, 1, 10, 27), at(2026, 12, 1, 10, 28)])
    assert [_key(n) for n in again] == [("os.route", "r80", OP, at(2026, 12, 1, 10, 28))]
    late = await sweep_at(services, clock, [at(2026, 12, 1, 11, 30)])  # long after os.route's due, 10:40
    assert _sorted(map(_key, late)) == _sorted(
        [("os.route", "missed", role, at(2026, 12, 1, 11, 30)) for role in (OP, RC, OH)]
    )


# --- the 60 s promise ----------------------------------------------------------------------------------------


async def test_a_sweep_at_due_plus_30_seconds_sends_the_alert(services: Services, clock: FakeClock) -> None:
    await register(services, clock, os_msg())
    due = at(2026, 12, 1, 10, 40)  # os.route
    before = await sweep_at(services, clock, [due - timedelta(seconds=1)])
    assert not [n for n in before if n.kind == "missed"]
    alerts = await sweep_at(services, clock, [due + timedelta(seconds=30)])
    missed = [n for n in alerts if n.kind == "missed"]
    assert sorted(n.to_role for n in missed) == sorted([OP, RC, OH])
    assert {n.at for n in missed} == {due + timedelta(seconds=30)}


@pytest.mark.parametrize("offset", [0, 1, 17, 29])
async def test_with_a_30_second_sweep_every_alert_leaves_within_60_seconds(
    db: Database, services: Services, clock: FakeClock, offset: int
) -> None:
    if db.kind == "pg" and offset:
        pytest.skip("the phase of the sweep does not depend on the database; one PostgreSQL run is enough")
    await register(services, clock, os_msg())
    start = at(2026, 12, 1, 9, 40) + timedelta(seconds=offset)
    sent = await sweep_at(services, clock, grid(start, at(2026, 12, 1, 10, 45), timedelta(seconds=30)))
    expected = {e[:3]: e[3] for e in OS_EXPECTED if e[0] == "os.route"}
    got = {_key(n)[:3]: n.at for n in sent}
    assert len(sent) == len(got) and set(got) == set(expected)
    for what, instant in expected.items():
        assert timedelta(0) <= got[what] - instant < timedelta(seconds=30) <= timedelta(seconds=60), what


# --- overlapping sweeps ---------------------------------------------------------------------------------------


async def test_two_overlapping_sweeps_send_nothing_twice(
    db: Database, repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    first = make_services(repo, clock, calendar)
    second = make_services(await db.open(), clock, calendar)  # another process: its own engine, same database
    for n in range(8):
        clock.set(at(2026, 12, 1, 9, 40) + timedelta(minutes=n))
        await first.register(os_msg(f"wall-1_{n}", clock.now()), actor(R.OPERATOR))
    sent: list[Notification] = []
    # Every minute of the working hours (every point falls in them), so no point is skipped as stale.
    minutes = timedelta(minutes=1)
    instants = grid(at(2026, 12, 1, 9, 50), at(2026, 12, 1, 18, 0), minutes)
    instants += grid(at(2026, 12, 2, 9, 0), at(2026, 12, 2, 11, 0), minutes)
    for instant in instants:
        clock.set(instant)
        a, b = await asyncio.gather(first.sweep(), second.sweep())
        sent += a + b
    keys = [n.dedup_key for n in sent]
    assert len(keys) == len(set(keys))
    stored = await term_outbox(repo)
    assert sorted(keys) == sorted(n.dedup_key for n in stored)
    # 8 cases × (os.route 5, os.draft 5, os.publish 6; os.return none): every point once, none skipped.
    assert len(stored) == 8 * 16


# --- restart ----------------------------------------------------------------------------------------------------


class _Crash(Exception):
    pass


class _CrashingRepository:
    """The process dies inside the sweep's transaction, after recording a point and before the commit."""

    def __init__(self, inner: Repository) -> None:
        self.inner = inner

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.inner.transaction() as tx:
            original = tx.enqueue

            async def enqueue(notifications: Sequence[Notification]) -> int:
                await original(notifications)
                raise _Crash

            tx.enqueue = enqueue  # type: ignore[method-assign]
            try:
                yield tx
            finally:
                tx.enqueue = original  # type: ignore[method-assign]

    async def write(self, body: Callable[[Transaction], Awaitable[_T]]) -> _T:
        async with self.transaction() as tx:
            return await body(tx)


async def test_restart_loses_and_repeats_nothing(
    db: Database, repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    if db.kind == "fake":
        pytest.skip("a restart needs storage that outlives the repository object")
    services = make_services(repo, clock, calendar)
    case_id = await register(services, clock, os_msg())
    # Part of the cycle: os.return (return-only) is never reminded; the routing proposed passes os.route to the
    # office head.
    await sweep_at(services, clock, [at(2026, 12, 1, 9, 55), at(2026, 12, 1, 10, 4)])
    await press(services, clock, case_id, Do(at(2026, 12, 1, 10, 5), A.ROUTE, OP, {"units": ("housing",)}))
    await sweep_at(services, clock, [at(2026, 12, 1, 10, 10)])  # os.route 50 %
    # The process dies in the middle of the next sweep: nothing of it may stick.
    clock.set(at(2026, 12, 1, 10, 28))
    with pytest.raises(_Crash):
        await make_services(_CrashingRepository(repo), clock, calendar).sweep()
    await db.close(repo)

    # A new process: new engine, repository and services over the same database.
    repo2 = await db.open()
    services2 = make_services(repo2, clock, calendar)
    await sweep_at(services2, clock, [at(2026, 12, 1, 10, 29)])  # the crashed sweep's reminder, late but sent
    await press(services2, clock, case_id, Do(at(2026, 12, 1, 10, 35), A.APPROVE_ROUTING, OH))
    await sweep_at(
        services2, clock, grid(at(2026, 12, 1, 10, 30), at(2026, 12, 2, 12, 0), timedelta(minutes=2))
    )

    expected = [
        ("registered", None, None, OP, at(2026, 12, 1, 9, 40)),
        ("routing_proposed", None, None, OH, at(2026, 12, 1, 10, 5)),
        ("reminder", "os.route", "r50", OH, at(2026, 12, 1, 10, 10)),
        ("reminder", "os.route", "r80", OH, at(2026, 12, 1, 10, 29)),
        ("routed", None, None, R.UNIT_OFFICIAL, at(2026, 12, 1, 10, 35)),
        # os.unit_info from 10:35, 120 wm: due 12:35, 50 % 11:35, 80 % 12:11.
        ("reminder", "os.unit_info", "r50", R.UNIT_OFFICIAL, at(2026, 12, 1, 11, 36)),
        ("reminder", "os.unit_info", "r80", R.UNIT_OFFICIAL, at(2026, 12, 1, 12, 12)),
        ("missed", "os.unit_info", "missed", R.UNIT_OFFICIAL, at(2026, 12, 1, 12, 36)),
        ("missed", "os.unit_info", "missed", RC, at(2026, 12, 1, 12, 36)),
        ("missed", "os.unit_info", "missed", OH, at(2026, 12, 1, 12, 36)),
        ("reminder", "os.draft", "r50", OP, at(2026, 12, 1, 14, 10)),
        ("reminder", "os.publish", "r50", OP, at(2026, 12, 1, 15, 10)),
        ("reminder", "os.draft", "r80", OP, at(2026, 12, 1, 16, 16)),
        ("missed", "os.draft", "missed", OP, at(2026, 12, 1, 17, 40)),
        ("missed", "os.draft", "missed", RC, at(2026, 12, 1, 17, 40)),
        ("missed", "os.draft", "missed", OH, at(2026, 12, 1, 17, 40)),
        ("reminder", "os.publish", "r80", OP, at(2026, 12, 1, 17, 52)),
        ("missed", "os.publish", "missed", OP, at(2026, 12, 2, 10, 40)),
        ("missed", "os.publish", "missed", RC, at(2026, 12, 2, 10, 40)),
        ("missed", "os.publish", "missed", OH, at(2026, 12, 2, 10, 40)),
        ("missed", "os.publish", "missed", H, at(2026, 12, 2, 10, 40)),
    ]
    got = [
        (n.kind, n.term_id, n.payload.get("point"), n.to_role, n.at)
        for n in (i.notification for i in await outbox(repo2))
    ]
    assert got == expected
