"""The weekly п.18 report to the head and the office head: which week's report is due at an instant. Pure.

The report of a week (Monday to Sunday, local time) is due on the next week's first working day at the configured
local time (Monday 09:00 by default; on a holiday Monday, the next working day), and stays due until that week
ends, so a bot that was down at the time sends it when it is back. The use case records the week decided and the
outbox rows carry the week in their dedup keys (workflow/services/reporting.py): once, across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.ports import Notification
from workflow.reports import Period, week_of

WEEKLY_REPORT = "weekly_report"  # the notification kind
DEFAULT_TIME = time(9, 0)
RECIPIENTS = (Role.HEAD, Role.OFFICE_HEAD)


@dataclass(frozen=True, slots=True)
class WeeklyDue:
    """The report of `week`, due from `at`."""

    week: Period
    at: datetime

    def dedup_key(self, role: Role) -> str:
        return f"{WEEKLY_REPORT}:{role.value}:{self.week.first.isoformat()}"


def first_working_day(monday: date, calendar: WorkingCalendar) -> date | None:
    """The week's first working day (None: a week with none, the New Year holidays)."""
    for offset in range(7):
        day = monday + timedelta(days=offset)
        if calendar.is_working(day):
            return day
    return None


def weekly_due(now: datetime, calendar: WorkingCalendar, at: time = DEFAULT_TIME) -> WeeklyDue | None:
    """The report due at `now`: last week's, from this week's first working day at `at` until the week ends."""
    today = now.astimezone(calendar.tz).date()
    monday = today - timedelta(days=today.weekday())
    day = first_working_day(monday, calendar)
    if day is None:
        return None
    instant = datetime.combine(day, at, tzinfo=calendar.tz)
    if now < instant:
        return None
    return WeeklyDue(week=week_of(monday - timedelta(days=7), calendar.tz), at=instant)


def weekly_notifications(due: WeeklyDue, now: datetime) -> list[Notification]:
    """One outbox row per recipient; the week's figures are read when it is delivered (bot/reports.py)."""
    payload: dict[str, object] = {"from": due.week.first.isoformat(), "to": due.week.last.isoformat()}
    return [
        Notification(
            dedup_key=due.dedup_key(role),
            case_id=None,
            kind=WEEKLY_REPORT,
            to_role=role,
            at=now,
            payload=dict(payload),
        )
        for role in RECIPIENTS
    ]
