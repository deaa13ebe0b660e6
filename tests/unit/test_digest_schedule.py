"""Which digest is due at an instant (workflow/digest.py), as a table over the shipped production calendar.

Working days checked against workflow/data/calendar/ru-2026.xml and ru-2027.xml: 31.12.2026 and 1–10.01.2027
are days off (11.01.2027 is a Monday), 21–23.02.2026 off (23.02 a Monday holiday), 05.12.2026 a Saturday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import DayKind, WorkingCalendar
from workflow.digest import DigestDue, digest_due, previous_working_day

NSK = ZoneInfo("Asia/Novosibirsk")
CAL = WorkingCalendar()


def nsk(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NSK)


def due(day: date, since: datetime, at: time = time(9, 0)) -> DigestDue:
    return DigestDue(day=day, at=datetime.combine(day, at, tzinfo=NSK), since=since)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # An ordinary Wednesday: nothing before the time, today's digest from it on, all day.
        (nsk(2026, 12, 2, 8, 59), None),
        (nsk(2026, 12, 2, 9, 0), due(date(2026, 12, 2), nsk(2026, 12, 1, 9))),
        # A restart at 09:03 (or a tick late in the evening) still owes today's, the same one (one dedup key).
        (nsk(2026, 12, 2, 9, 3), due(date(2026, 12, 2), nsk(2026, 12, 1, 9))),
        (nsk(2026, 12, 2, 23, 59), due(date(2026, 12, 2), nsk(2026, 12, 1, 9))),
        # Saturday and Sunday: none at any hour.
        (nsk(2026, 12, 5, 9, 0), None),
        (nsk(2026, 12, 6, 12, 0), None),
        # Monday after an ordinary weekend: covers since Friday's digest.
        (nsk(2026, 12, 7, 9, 0), due(date(2026, 12, 7), nsk(2026, 12, 4, 9))),
        # New Year holidays: none on 31.12 or 08.01; Monday 11.01.2027 covers since Wednesday 30.12.2026.
        (nsk(2026, 12, 31, 10, 0), None),
        (nsk(2027, 1, 8, 10, 0), None),
        (nsk(2027, 1, 11, 8, 59), None),
        (nsk(2027, 1, 11, 9, 0), due(date(2027, 1, 11), nsk(2026, 12, 30, 9))),
        # Tuesday after a holiday Monday (23.02.2026): covers since Friday 20.02.
        (nsk(2026, 2, 24, 9, 30), due(date(2026, 2, 24), nsk(2026, 2, 20, 9))),
        # The instant is read in the calendar's zone: 02:00 UTC is 09:00 in Novosibirsk, 01:59 UTC is not yet.
        (datetime(2026, 12, 2, 2, 0, tzinfo=ZoneInfo("UTC")), due(date(2026, 12, 2), nsk(2026, 12, 1, 9))),
        (datetime(2026, 12, 2, 1, 59, tzinfo=ZoneInfo("UTC")), None),
    ],
)
def test_which_digest_is_due(now: datetime, expected: DigestDue | None) -> None:
    assert digest_due(now, CAL) == expected


def test_the_digest_time_is_configurable() -> None:
    assert digest_due(nsk(2026, 12, 2, 9, 0), CAL, time(9, 30)) is None
    got = digest_due(nsk(2026, 12, 2, 9, 30), CAL, time(9, 30))
    assert got == due(date(2026, 12, 2), nsk(2026, 12, 1, 9, 30), time(9, 30))


def test_a_local_day_off_overrides_the_production_calendar() -> None:
    cal = WorkingCalendar(overrides={date(2026, 12, 2): DayKind.OFF})
    assert digest_due(nsk(2026, 12, 2, 10, 0), cal) is None
    # Thursday then covers since Tuesday.
    assert digest_due(nsk(2026, 12, 3, 9, 0), cal) == due(date(2026, 12, 3), nsk(2026, 12, 1, 9))


def test_a_working_saturday_has_a_digest() -> None:
    cal = WorkingCalendar(overrides={date(2026, 12, 5): DayKind.WORKING})
    assert digest_due(nsk(2026, 12, 5, 9, 0), cal) == due(date(2026, 12, 5), nsk(2026, 12, 4, 9))
    assert digest_due(nsk(2026, 12, 7, 9, 0), cal) == due(date(2026, 12, 7), nsk(2026, 12, 5, 9))


def test_the_dedup_key_names_the_day() -> None:
    got = digest_due(nsk(2026, 12, 2, 9, 0), CAL)
    assert got is not None and got.dedup_key == "digest:office_head:2026-12-02"


def test_previous_working_day_is_bounded() -> None:
    assert previous_working_day(date(2027, 1, 11), CAL) == date(2026, 12, 30)
    # Forty days off before a working day: the walk back stops after a month instead of searching for ever.
    day = date(2026, 12, 2)
    off = WorkingCalendar(overrides={day - timedelta(days=n): DayKind.OFF for n in range(1, 41)})
    assert previous_working_day(day, off) is None
    got = digest_due(nsk(2026, 12, 2, 9, 0), off)
    assert got == due(day, nsk(2026, 12, 1, 9))  # a day back, not a missing digest
