"""The remaining-time formatter (working days of the production calendar) and the working-hours silence rule."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from views.durations import remaining_text
from workflow.calendar import WorkingCalendar
from workflow.model import Role
from workflow.quiet import in_working_day, silent

TZ = ZoneInfo("Asia/Novosibirsk")
CAL = WorkingCalendar()


def at(day: int, hh: int, mm: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=TZ)


@pytest.mark.parametrize(
    ("now", "due", "expected"),
    [
        (at(1, 10), at(1, 11, 20), "осталось 1 ч 20 мин рабочего времени"),
        (at(1, 10), at(1, 18), "осталось 7 ч рабочего времени"),
        # Tuesday 10:00 to the next Wednesday 18:00: 6 whole working days and 7 hours of today.
        (at(1, 10), at(9, 18), "осталось 6 раб. дн. 7 ч"),
        (at(1, 10), at(2, 18), "осталось 1 раб. дн. 7 ч"),
        # The evening before: no working time in between.
        (at(1, 20), at(2, 9), "срок наступает в начале рабочего дня"),
        (at(1, 15, 30), at(1, 15, 30), "срок истёк"),
        (at(8, 10), at(1, 15, 30), "просрочено на 4 раб. дн. 3 ч"),
        (at(1, 11), at(1, 10), "просрочено на 1 ч"),
    ],
)
def test_remaining_text(now: datetime, due: datetime, expected: str) -> None:
    assert remaining_text(now, due, CAL) == expected


def test_twenty_day_term_reads_in_days_not_hours() -> None:
    text = remaining_text(at(1, 10), at(29, 18), CAL)
    assert "раб. дн." in text and "мин" not in text


@pytest.mark.parametrize(
    ("when", "working"),
    [
        (at(1, 9), True),
        (at(1, 13, 30), True),  # lunch is within the working day
        (at(1, 17, 59), True),
        (at(1, 18), False),
        (at(1, 8, 59), False),
        (at(5, 12), False),  # Saturday
        (datetime(2027, 1, 5, 12, tzinfo=TZ), False),  # New Year holidays
    ],
)
def test_working_day(when: datetime, working: bool) -> None:
    assert in_working_day(when, CAL) is working


def test_silent_outside_working_hours_except_reports_to_the_head() -> None:
    night = at(1, 23)
    assert silent("reminder", Role.OPERATOR, night, CAL)
    assert silent("significant", Role.OFFICE_HEAD, night, CAL)
    assert not silent("significant", Role.HEAD, night, CAL)
    assert not silent("missed", Role.HEAD, night, CAL)
    assert silent("missed", Role.OFFICE_HEAD, night, CAL)
    assert not silent("reminder", Role.OPERATOR, at(1, 11), CAL)
