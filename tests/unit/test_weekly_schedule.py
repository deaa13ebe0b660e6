"""workflow/weekly.py: which week's report is due at an instant, on the shipped production calendar."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.weekly import WEEKLY_REPORT, weekly_due, weekly_notifications

NSK = ZoneInfo("Asia/Novosibirsk")
CAL = WorkingCalendar()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=NSK)


def weeks(now: str, when: time = time(9, 0)) -> list[tuple[date, date]]:
    return [(d.week.first, d.week.last) for d in weekly_due(at(now), CAL, when)]


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        ("2026-12-07 08:59", []),  # Monday, a minute early
        ("2026-12-07 09:00", [(date(2026, 11, 30), date(2026, 12, 6))]),
        ("2026-12-10 17:00", [(date(2026, 11, 30), date(2026, 12, 6))]),  # still owed later that week
        ("2026-12-13 23:59", [(date(2026, 11, 30), date(2026, 12, 6))]),  # ... until the week ends
        # Sunday 06.12: the week of 23–29.11 was due on Monday 30.11, this week: still owed (a bot down all week).
        ("2026-12-06 12:00", [(date(2026, 11, 23), date(2026, 11, 29))]),
        # 23.02.2026 is a holiday Monday (Defender of the Fatherland Day): Tuesday 09:00 instead.
        ("2026-02-23 09:00", []),
        ("2026-02-24 08:59", []),
        ("2026-02-24 09:00", [(date(2026, 2, 16), date(2026, 2, 22))]),
        # 04–10.01.2027 has no working day: the reports of 28.12–03.01 and of 04–10.01 both come on 11.01.
        ("2027-01-04 09:00", []),
        ("2027-01-11 09:00", [(date(2026, 12, 28), date(2027, 1, 3)), (date(2027, 1, 4), date(2027, 1, 10))]),
    ],
)
def test_due_weeks(now: str, expected: list[tuple[date, date]]) -> None:
    assert weeks(now) == expected


def test_the_configured_time() -> None:
    assert weeks("2026-12-07 10:29", time(10, 30)) == []
    assert weeks("2026-12-07 10:30", time(10, 30)) == [(date(2026, 11, 30), date(2026, 12, 6))]


def test_one_row_per_recipient_keyed_by_the_week() -> None:
    due = weekly_due(at("2026-12-07 09:00"), CAL)
    rows = weekly_notifications(due, at("2026-12-07 09:00"))
    assert [(n.to_role, n.kind, n.dedup_key) for n in rows] == [
        (Role.HEAD, WEEKLY_REPORT, "weekly_report:head:2026-11-30"),
        (Role.OFFICE_HEAD, WEEKLY_REPORT, "weekly_report:office_head:2026-11-30"),
    ]
    assert rows[0].payload == {"from": "2026-11-30", "to": "2026-12-06"}
