"""The report's use case: who may ask for which report, the period asked, one read of the database.

The head, the office head and the curators see the whole district; a unit's people (unit officials, executors)
see their units only; anyone else is refused with one Russian line. The figures are read in one read-only
transaction (storage aggregates them in SQL: storage/reports.py).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Protocol

from workflow.calendar import WorkingCalendar
from workflow.model import Actor, DomainError, Role
from workflow.ports import Clock, Notification, Notifier
from workflow.reports import Period, Report, parse_period, period_between
from workflow.rules import Rules
from workflow.services.digest import DigestReading, DigestRepository, queue_once
from workflow.visibility import UNIT_ROLES
from workflow.weekly import DEFAULT_TIME as WEEKLY_TIME
from workflow.weekly import weekly_due, weekly_notifications

# Who sees the whole district's report (issue 14): the head, the office head, the curators.
REPORT_ROLES = frozenset({Role.HEAD, Role.OFFICE_HEAD, Role.REGION_CURATOR, Role.POS_CURATOR})
NO_RIGHT = (
    "Отчёт доступен Главе района, начальнику управления делами и кураторам, "
    "а сотрудникам подразделений — по своему подразделению."
)


class ReportReading(Protocol):
    async def report(
        self, period: Period, now: datetime, *, return_only: frozenset[str], units: frozenset[str] | None
    ) -> Report:
        """The figures of `period` at `now`, of `units` only when given (None: the whole district)."""
        ...


class ReportRepository(Protocol):
    def reading(self) -> AbstractAsyncContextManager[ReportReading]: ...


def may_report(actor: Actor) -> bool:
    return bool(actor.roles & REPORT_ROLES) or bool(actor.roles & UNIT_ROLES and actor.units)


def report_scope(actor: Actor) -> frozenset[str] | None:
    """The units `actor`'s report covers; None: the whole district. DomainError: no report for him."""
    if actor.roles & REPORT_ROLES:
        return None
    if actor.roles & UNIT_ROLES and actor.units:
        return frozenset(actor.units)
    raise DomainError(NO_RIGHT, code="forbidden")


@dataclass
class ReportingUseCase:
    repo: ReportRepository
    clock: Clock
    calendar: WorkingCalendar
    rules: Rules

    async def of_period(self, period: Period, units: frozenset[str] | None = None) -> Report:
        now = self.clock.now()
        async with self.repo.reading() as tx:
            return await tx.report(period, now, return_only=self.rules.return_only_terms, units=units)

    async def between(self, first: date, last: date) -> Report:
        """The whole district's report of local days `first`..`last` (the command line's)."""
        return await self.of_period(period_between(first, last, self.calendar.tz))

    async def for_actor(self, actor: Actor, arg: str | None) -> Report:
        """`/report [неделя|месяц|ГГГГ-ММ]` for `actor`: the right first, then the period."""
        units = report_scope(actor)
        period = parse_period(arg, self.clock.now(), self.calendar.tz)
        return await self.of_period(period, units)


# --- the weekly п.18 report (workflow/weekly.py) ---------------------------------------------------------------

WEEKLY_DECIDED_KEY = "weekly_report:decided"


@dataclass
class WeeklyReportUseCase:
    """Last week's report to the head and the office head, queued once (the digest's way: workflow.services.digest
    .queue_once); delivery reads the week's figures and attaches the chart and the workbook."""

    repo: DigestRepository
    clock: Clock
    calendar: WorkingCalendar
    notifier: Notifier | None = None
    at: time = WEEKLY_TIME

    async def run(self) -> list[Notification]:
        now = self.clock.now()
        due = weekly_due(now, self.calendar, self.at)
        if not due:
            return []

        async def read(_tx: DigestReading) -> list[Notification]:
            return weekly_notifications(due, now)

        # The newest week due marks them all: an older one is never due again once a newer one was decided.
        queued = await queue_once(self.repo, WEEKLY_DECIDED_KEY, due[-1].week.first.isoformat(), read)
        if queued and self.notifier is not None:
            await self.notifier.wake([], queued)
        return queued
