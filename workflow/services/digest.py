"""The digest's use case: decide today's digest once, read what it says, queue it in the outbox.

Run from the scheduler's digest tick. `workflow.digest.digest_due` says which digest `now` owes; the decision is
recorded (the day, in the key/value store) in the transaction that queues it, and the outbox row's dedup key is
the digest's day: a second tick, an overlapping one or a restart queues nothing more, and a crash after the
commit still delivers it (the outbox drain). A day with nothing to say is recorded as decided too, so later ticks
of that day read nothing but the marker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Protocol

from workflow.calendar import WorkingCalendar
from workflow.digest import (
    DEFAULT_MORNING_TIME,
    DEFAULT_TIME,
    LIST_LIMIT,
    MORNING_READ,
    DigestContent,
    DigestDue,
    digest_due,
    digest_notification,
    morning_notification,
)
from workflow.model import Actor, Role
from workflow.ports import Clock, Notification, Notifier, OwedBy, Reading, TermPage
from workflow.rules import Rules
from workflow.services.queries import owed_by, owed_steps

# The key/value entry holding the last digest day decided (sent or found with nothing to say).
DECIDED_KEY = "digest:office_head:decided"
# The approvals waiting for the office head: the terms he owes himself (a routing to approve, RULES.md §6).
_OFFICE_HEAD = OwedBy(roles=frozenset({Role.OFFICE_HEAD}), unit_roles=frozenset(), units=frozenset())


class DigestReading(Reading, Protocol):
    """The read side a digest needs besides the common one: counts by SQL, terms due in a span."""

    async def new_cases_by_procedure(self, since: datetime, until: datetime) -> dict[str, int]:
        """Cases registered at or after `since` and before `until`, counted by procedure."""
        ...

    async def open_cases_by_status(self) -> dict[str, int]:
        """Open cases (with an open term), counted by status."""
        ...

    async def terms_due_between(
        self, after: datetime, until: datetime, limit: int, *, silent: frozenset[str] = frozenset()
    ) -> TermPage:
        """Open terms due after `after` and at or before `until`, the earliest first; none whose id is in
        `silent`."""
        ...

    async def kv_get(self, key: str) -> str | None: ...


class DigestTransaction(DigestReading, Protocol):
    async def kv_set(self, key: str, value: str) -> None: ...

    async def enqueue(self, notifications: Sequence[Notification]) -> int: ...


class DigestRepository(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[DigestTransaction]: ...

    def reading(self) -> AbstractAsyncContextManager[DigestReading]: ...


async def read_digest(
    tx: DigestReading, due: DigestDue, now: datetime, calendar: WorkingCalendar, rules: Rules
) -> DigestContent:
    """What the digest says at `now`, in the caller's one read transaction."""
    silent = rules.return_only_terms
    end_of_day = datetime.combine(due.day + timedelta(days=1), time(0), tzinfo=calendar.tz)
    return DigestContent(
        new_by_procedure=await tx.new_cases_by_procedure(due.since, now),
        open_by_status=await tx.open_cases_by_status(),
        due_today=await tx.terms_due_between(now, end_of_day, LIST_LIMIT, silent=silent),
        overdue=await tx.overdue_terms(now, LIST_LIMIT, silent=silent),
        approvals=await tx.owed_terms(_OFFICE_HEAD, LIST_LIMIT, silent=silent, now=now),
    )


@dataclass
class DigestUseCase:
    repo: DigestRepository
    clock: Clock
    calendar: WorkingCalendar
    rules: Rules
    notifier: Notifier | None = None
    at: time = DEFAULT_TIME  # the local time of day the digest goes out

    async def run(self) -> Notification | None:
        """Queue the digest `now` owes, if it is not decided yet and has something to say; the digest or None."""
        now = self.clock.now()
        due = digest_due(now, self.calendar, self.at)
        if due is None:
            return None

        async def read(tx: DigestReading) -> list[Notification]:
            content = await read_digest(tx, due, now, self.calendar, self.rules)
            return [digest_notification(due, content, now)] if content.worth_sending else []

        queued = await queue_once(self.repo, DECIDED_KEY, due.day.isoformat(), read)
        if queued and self.notifier is not None:
            await self.notifier.wake([], queued)
        return queued[0] if queued else None


async def queue_once(
    repo: DigestRepository,
    key: str,
    mark: str,
    read: Callable[[DigestReading], Awaitable[list[Notification]]],
) -> list[Notification]:
    """Decide `mark` (an ISO date: a day, a week's Monday) once: read what to queue, queue it and record `mark`
    under `key` in one transaction; nothing when `mark` (or a later one) is already recorded. The outbox rows'
    own dedup keys stop a double too. Returns what was queued (nothing also when `read` found nothing to say,
    which is recorded as decided as well, so later ticks read nothing but the marker)."""
    async with repo.reading() as tx:
        if _decided(await tx.kv_get(key), mark):
            return []
        notifications = await read(tx)
    async with repo.transaction() as wtx:
        if _decided(await wtx.kv_get(key), mark):  # another tick decided meanwhile
            return []
        queued = await wtx.enqueue(notifications) if notifications else 0
        await wtx.kv_set(key, mark)
    return notifications if queued else []


def _decided(stored: str | None, mark: str) -> bool:
    # ISO dates order as strings; a mark at or before the one decided is never decided again.
    return stored is not None and stored >= mark


# --- the morning digest (issue 14) ----------------------------------------------------------------------------

MORNING_DECIDED_KEY = "digest:morning:decided"


@dataclass
class MorningDigestUseCase:
    """Each person's morning digest (workflow.digest.morning_notification), decided once a working day."""

    repo: DigestRepository
    clock: Clock
    calendar: WorkingCalendar
    rules: Rules
    staff: Sequence[Actor]
    notifier: Notifier | None = None
    at: time = DEFAULT_MORNING_TIME

    async def run(self) -> list[Notification]:
        now = self.clock.now()
        due = digest_due(now, self.calendar, self.at)  # the same days and hours rule as the office head's
        if due is None:
            return []

        async def read(tx: DigestReading) -> list[Notification]:
            found: list[Notification] = []
            for actor in self.staff:
                owed = owed_by(actor, owed_steps(actor, self.rules))
                page = await tx.owed_terms(owed, MORNING_READ, silent=self.rules.return_only_terms, now=now)
                notification = morning_notification(actor, due.day, page.terms, now, self.calendar)
                if notification is not None:
                    found.append(notification)
            return found

        queued = await queue_once(self.repo, MORNING_DECIDED_KEY, due.day.isoformat(), read)
        if queued and self.notifier is not None:
            await self.notifier.wake([], queued)
        return queued
