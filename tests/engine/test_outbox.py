"""The outbox: every notification is stored (in the use case's transaction) before anyone is woken to deliver
it; dedup keys are unique; items stay pending until delivered."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import pytest

from tests.engine.conftest import at, make_services, outbox
from tests.engine.flows import DRAFT, A, Do, R, os_msg, os_routed, press, register, run
from tests.fakes import FakeClock
from workflow.calendar import WorkingCalendar
from workflow.model import DomainError
from workflow.ports import Notification, Repository


class CheckingNotifier:
    """Woken after the commit: reads the outbox through a fresh transaction and checks each item is there."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.woken: list[Notification] = []
        self.missing: list[str] = []

    async def wake(self, case_ids: Sequence[int], notifications: Sequence[Notification]) -> None:
        async with self.repo.transaction() as tx:
            pending = {item.notification.dedup_key for item in await tx.pending_outbox(limit=10_000)}
        self.missing += [n.dedup_key for n in notifications if n.dedup_key not in pending]
        self.woken += notifications


async def test_notifications_are_stored_before_anyone_is_woken(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    notifier = CheckingNotifier(repo)
    services = make_services(repo, clock, calendar)
    services.notifier = notifier
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, os_routed())
    clock.set(at(2026, 12, 1, 11, 30))
    await services.sweep()
    assert notifier.missing == []
    kinds = [n.kind for n in notifier.woken]
    assert kinds[:3] == ["registered", "routing_proposed", "routed"]
    assert "reminder" in kinds  # the sweep's too
    assert [i.notification.dedup_key for i in await outbox(repo)] == [n.dedup_key for n in notifier.woken]


async def test_a_refused_action_stores_and_wakes_nothing(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    notifier = CheckingNotifier(repo)
    services = make_services(repo, clock, calendar)
    services.notifier = notifier
    case_id = await register(services, clock, os_msg())
    stored = await outbox(repo)
    with pytest.raises(DomainError):
        await press(services, clock, case_id, Do(at(2026, 12, 1, 10), A.SUBMIT, R.OPERATOR, {"text": DRAFT}))
    assert await outbox(repo) == stored
    assert len(notifier.woken) == 1


async def test_dedup_keys_are_unique_and_a_known_key_is_not_stored_again(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    services = make_services(repo, clock, calendar)
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, os_routed())
    for minutes in range(0, 26 * 60, 10):
        clock.set(at(2026, 12, 1, 9, 40) + timedelta(minutes=minutes))
        await services.sweep()
    items = await outbox(repo)
    keys = [i.notification.dedup_key for i in items]
    assert len(keys) == len(set(keys)) > 10
    again = [i.notification for i in items[:3]]
    async with repo.transaction() as tx:
        assert await tx.enqueue(again) == 0
        fresh = Notification("test:1", case_id, "info", R.OPERATOR, clock.now())
        assert await tx.enqueue([fresh, fresh, *again]) == 1  # a key twice in one batch counts once
    assert len(await outbox(repo)) == len(items) + 1


async def test_pending_until_delivered_failures_count_attempts(repo: Repository, clock: FakeClock) -> None:
    now = at(2026, 12, 1, 10)
    notes = [Notification(f"test:{n}", None, "info", R.OPERATOR, now, payload={"n": n}) for n in range(5)]
    async with repo.transaction() as tx:
        assert await tx.enqueue(notes) == 5
        pending = await tx.pending_outbox()
    assert [i.notification.dedup_key for i in pending] == [n.dedup_key for n in notes]  # oldest first
    assert all(i.delivered_at is None and i.attempts == 0 for i in pending)
    assert pending[0].notification.payload == {"n": 0}
    first, second = pending[0].id, pending[1].id
    async with repo.transaction() as tx:
        await tx.mark_delivered(first, now + timedelta(seconds=1))
        await tx.mark_failed(second, "Telegram 429: retry after 3")
        await tx.mark_failed(second, "network down")
    async with repo.transaction() as tx:
        left = await tx.pending_outbox()
        limited = await tx.pending_outbox(limit=2)
    assert [i.notification.dedup_key for i in left] == ["test:1", "test:2", "test:3", "test:4"]
    assert left[0].attempts == 2
    assert [i.notification.dedup_key for i in limited] == ["test:1", "test:2"]
    # A delivered key stays known: recording it again does not bring it back.
    async with repo.transaction() as tx:
        assert await tx.enqueue([notes[0]]) == 0
        assert len(await tx.pending_outbox()) == 4


async def test_a_failed_transaction_leaves_no_outbox_row(repo: Repository, clock: FakeClock) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with repo.transaction() as tx:
            await tx.enqueue(
                [Notification("test:rolled-back", None, "info", R.OPERATOR, at(2026, 12, 1, 10))]
            )
            raise Boom
    assert await outbox(repo) == []
