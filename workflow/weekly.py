"""The weekly п.18 report to the head and the office head: which week's report is due at an instant. Pure.

The report of a week (Monday to Sunday, local time) is due on the first working day after it at the configured
local time (Monday 09:00 by default; on a holiday Monday, the next working day), and stays due until the week of
that day ends, so a bot that was down at the time sends it when it is back. The use case records the week decided and the
outbox rows carry the week in their dedup keys (workflow/services/reporting.py): once, across restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.ports import Notification
from workflow.reports import Period, week_of

WEEKLY_REPORT = "weekly_report"  # the notification kind
DEFAULT_TIME = time(9, 0)
RECIPIENTS = (Role.HEAD, Role.OFFICE_HEAD)
_LOOKAHEAD_DAYS = 31  # longer than any run of days off


@dataclass(frozen=True, slots=True)
class WeeklyDue:
    """The report of `week`, due from `at`."""

    week: Period
    at: datetime

    def dedup_key(self, role: Role) -> str:
        return f"{WEEKLY_REPORT}:{role.value}:{self.week.first.isoformat()}"


def first_working_day(start: date, calendar: WorkingCalendar) -> date | None:
    """The first working day on or after `start`, within a month (None: a broken calendar)."""
    for offset in range(_LOOKAHEAD_DAYS):
        day = start + timedelta(days=offset)
        if calendar.is_working(day):
            return day
    return None


def due_at(week: Period, calendar: WorkingCalendar, at: time = DEFAULT_TIME) -> datetime | None:
    """When the report of `week` is due: the first working day after it, at `at` local time."""
    day = first_working_day(week.last + timedelta(days=1), calendar)
    return datetime.combine(day, at, tzinfo=calendar.tz) if day is not None else None


def weekly_due(now: datetime, calendar: WorkingCalendar, at: time = DEFAULT_TIME) -> tuple[WeeklyDue, ...]:
    """The reports due at `now`, the oldest first: each week's from its due instant until the end of the week that
    instant falls in. Usually last week's alone, from Monday 09:00 (Tuesday on a holiday Monday); after a week
    with no working day at all (the New Year holidays) the week before it too, on the same morning."""
    today = now.astimezone(calendar.tz).date()
    monday = today - timedelta(days=today.weekday())
    this_week = datetime.combine(monday, time(0), tzinfo=calendar.tz)
    found = []
    for back in (2, 1):
        week = week_of(monday - timedelta(days=7 * back), calendar.tz)
        instant = due_at(week, calendar, at)
        if instant is not None and this_week <= instant <= now:
            found.append(WeeklyDue(week=week, at=instant))
    return tuple(found)


def weekly_notifications(due: Sequence[WeeklyDue], now: datetime) -> list[Notification]:
    """One outbox row per week and recipient; the week's figures are read when it is delivered
    (bot/report_files.py)."""
    return [
        Notification(
            dedup_key=d.dedup_key(role),
            case_id=None,
            kind=WEEKLY_REPORT,
            to_role=role,
            at=now,
            payload={"from": d.week.first.isoformat(), "to": d.week.last.isoformat()},
        )
        for d in due
        for role in RECIPIENTS
    ]
