"""WorkingCalendar term arithmetic as tables: datetime in, datetime out (RULES.md §1).

Every expected value was checked by hand against the shipped XML (workflow/data/calendar/ru-YYYY.xml) with
the default week Mon-Fri 09:00-18:00, lunch 13:00-14:00, Asia/Novosibirsk (UTC+7, no DST). Facts used:

2024: 12.28 Sat t=3 (working), 12.30 and 12.31 t=1; 2025: 01.01-01.08 t=1, 12.31 t=1;
2026: 01.01-01.09 t=1, 02.23 t=1, 03.09 t=1, 04.30 t=2, 05.01 t=1, 05.08 t=2, 05.11 t=1, 12.31 t=1;
2027: 02.20 Sat t=2 (a working Saturday, shortened), 02.22 and 02.23 t=1.
2026-01-12 is a Monday; 2026-01-13 a Tuesday.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import (
    DEFAULT_WEEK,
    CalendarError,
    DayInfo,
    DayKind,
    DaySchedule,
    NaiveDatetimeError,
    WorkingCalendar,
)

NSK = ZoneInfo("Asia/Novosibirsk")
MSK = ZoneInfo("Europe/Moscow")
UTC = ZoneInfo("UTC")


def nsk(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=NSK)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def msk(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=MSK)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def same_instant_in_nsk(result: datetime, expected: datetime) -> None:
    assert result == expected
    assert result.tzinfo == NSK, "results are given in the calendar's zone"
    assert result.utcoffset() == timedelta(hours=7)


# --- add_working ---

ADD_WORKING = [
    # (id, start, minutes, expected)
    ("before opening", nsk(2026, 1, 13, 7, 30), 60, nsk(2026, 1, 13, 10)),
    ("inside lunch counts from 14:00", nsk(2026, 1, 13, 13, 20), 60, nsk(2026, 1, 13, 15)),
    ("exactly at opening", nsk(2026, 1, 13, 9), 30, nsk(2026, 1, 13, 9, 30)),
    ("exactly at closing", nsk(2026, 1, 13, 18), 30, nsk(2026, 1, 14, 9, 30)),
    ("after closing", nsk(2026, 1, 13, 20), 60, nsk(2026, 1, 14, 10)),
    ("lunch start is the morning window's end", nsk(2026, 1, 13, 9), 240, nsk(2026, 1, 13, 13)),
    ("across lunch", nsk(2026, 1, 13, 12), 120, nsk(2026, 1, 13, 15)),
    ("lands exactly at closing: 18:00, not 09:00 next day", nsk(2026, 1, 13, 9), 480, nsk(2026, 1, 13, 18)),
    ("lands at closing from the afternoon", nsk(2026, 1, 13, 16), 120, nsk(2026, 1, 13, 18)),
    ("one minute past closing", nsk(2026, 1, 13, 16), 121, nsk(2026, 1, 14, 9, 1)),
    ("weekend start counts from Monday", nsk(2026, 1, 17, 11), 60, nsk(2026, 1, 19, 10)),
    ("9 h over a weekend (os.publish)", nsk(2026, 1, 16, 15), 540, nsk(2026, 1, 19, 16)),
    ("holiday 2026-02-23 (Mon)", nsk(2026, 2, 23, 10), 60, nsk(2026, 2, 24, 10)),
    # Fri 17-18 = 1 h; Sat, Sun; Mon 03.09 is the day off moved from Sunday 03.08; Tue 09-10.
    ("over 03.08 and its moved day off", nsk(2026, 3, 6, 17), 120, nsk(2026, 3, 10, 10)),
    # Fri 17-18 = 1 h; Saturday 2024-12-28 is t=3, a working day with the Monday schedule.
    ("into a working Saturday", nsk(2024, 12, 27, 17), 120, nsk(2024, 12, 28, 10)),
    # Sat 12.28 gives 8 h; 12.29 Sun, 12.30-12.31 t=1, 2025-01-01..08 t=1; Thu 2025-01-09 09-10.
    ("working Saturday then the New Year holidays", nsk(2024, 12, 28, 9), 540, nsk(2025, 1, 9, 10)),
    # 2026-04-30 is t=2: windows 09-13, 14-17.
    ("short day ends at 17:00", nsk(2026, 4, 30, 16), 60, nsk(2026, 4, 30, 17)),
    # 16:30-17:00 = 30 min; 05.01 holiday, 05.02-03 weekend; Mon 05.04 09:00-09:30.
    ("past a short day's closing", nsk(2026, 4, 30, 16, 30), 60, nsk(2026, 5, 4, 9, 30)),
    # Short Fri 05.08 gives 7 h; 05.09 Sat, 05.10 Sun, 05.11 t=1; Tue 05.12 09-11.
    ("a whole short day and two days off", nsk(2026, 5, 8, 9), 540, nsk(2026, 5, 12, 11)),
    # Tue 2025-12-30 17-18 = 1 h; 12.31 t=1 (moved from 01.05), 2026-01-01..09 t=1, 01.10-11 weekend.
    ("across the New Year holidays", nsk(2025, 12, 30, 17), 120, nsk(2026, 1, 12, 10)),
    # Fri 17-18; Sat 2027-02-20 is t=2: a working Saturday that ends at 17:00.
    ("into a short working Saturday", nsk(2027, 2, 19, 17), 120, nsk(2027, 2, 20, 10)),
    # Sat 16-17 = 1 h; 02.21 Sun, 02.22 t=1 (moved from 02.20), 02.23 holiday; Wed 02.24 09-10.
    ("from a short working Saturday", nsk(2027, 2, 20, 16), 120, nsk(2027, 2, 24, 10)),
    ("last January holiday to the first working day", nsk(2025, 1, 8, 12), 1, nsk(2025, 1, 9, 9, 1)),
    # Tue 10-18 = 7 h, Wed 8 h, Thu 8 h (23 h), Fri 09-13 = the last 4 h.
    ("27 h over four days", nsk(2026, 1, 13, 10), 27 * 60, nsk(2026, 1, 16, 13)),
    ("fractional minutes", nsk(2026, 1, 13, 9), 0.5, nsk(2026, 1, 13, 9, 0, 30)),
    ("start in UTC (02:00Z = 09:00 local)", utc(2026, 1, 13, 2), 60, nsk(2026, 1, 13, 10)),
    # 05:00 MSK = 09:00 local; 8 h that day, the 9th hour on Wednesday.
    ("start in Moscow time", msk(2026, 1, 13, 5), 540, nsk(2026, 1, 14, 10)),
    # 14:30 MSK = 18:30 local: after closing.
    ("Moscow afternoon is after closing here", msk(2026, 1, 13, 14, 30), 30, nsk(2026, 1, 14, 9, 30)),
    # 2026-01-12 20:00 UTC = 2026-01-13 03:00 local: the local date is Tuesday.
    ("UTC evening is the next local morning", utc(2026, 1, 12, 20), 60, nsk(2026, 1, 13, 10)),
    ("zero inside a window is the start itself", nsk(2026, 1, 13, 10, 15), 0, nsk(2026, 1, 13, 10, 15)),
    ("zero exactly at closing stays at closing", nsk(2026, 1, 13, 18), 0, nsk(2026, 1, 13, 18)),
    ("zero at lunch start stays", nsk(2026, 1, 13, 13), 0, nsk(2026, 1, 13, 13)),
    ("zero inside lunch is the afternoon start", nsk(2026, 1, 13, 13, 30), 0, nsk(2026, 1, 13, 14)),
    ("zero on a weekend is Monday's opening", nsk(2026, 1, 17, 12), 0, nsk(2026, 1, 19, 9)),
    ("negative counts backwards", nsk(2026, 1, 13, 11), -120, nsk(2026, 1, 13, 9)),
]


@pytest.mark.parametrize(
    ("start", "minutes", "expected"),
    [pytest.param(s, m, e, id=i) for i, s, m, e in ADD_WORKING],
)
def test_add_working(cal: WorkingCalendar, start: datetime, minutes: float, expected: datetime) -> None:
    same_instant_in_nsk(cal.add_working(start, minutes), expected)


# --- subtract_working ---

SUBTRACT_WORKING = [
    ("11:00 minus 2 h is 09:00, not 18:00 the day before", nsk(2026, 1, 13, 11), 120, nsk(2026, 1, 13, 9)),
    ("15:00 minus 2 h skips lunch", nsk(2026, 1, 13, 15), 120, nsk(2026, 1, 13, 12)),
    ("16:00 minus 2 h is 14:00, the latest such instant", nsk(2026, 1, 13, 16), 120, nsk(2026, 1, 13, 14)),
    ("14:00 minus 1 h", nsk(2026, 1, 13, 14), 60, nsk(2026, 1, 13, 12)),
    ("14:30 minus 30 min is 14:00, not 13:00", nsk(2026, 1, 13, 14, 30), 30, nsk(2026, 1, 13, 14)),
    ("from opening into the previous day", nsk(2026, 1, 13, 9), 60, nsk(2026, 1, 12, 17)),
    ("from after closing", nsk(2026, 1, 13, 20), 60, nsk(2026, 1, 13, 17)),
    ("Monday opening minus 30 min is Friday", nsk(2026, 1, 19, 9), 30, nsk(2026, 1, 16, 17, 30)),
    # Mon 2026-01-12 09-10 = 1 h; back over 2026-01-01..11 and 2025-12-31 (t=1) to Tue 2025-12-30.
    ("back across the New Year holidays", nsk(2026, 1, 12, 10), 120, nsk(2025, 12, 30, 17)),
    # Mon 05.04 09-10 = 1 h; 05.01-03 off; Thu 04.30 is short, it closes at 17:00.
    ("back into a short day", nsk(2026, 5, 4, 10), 120, nsk(2026, 4, 30, 16)),
    ("back into a working Saturday", nsk(2025, 1, 9, 9, 30), 60, nsk(2024, 12, 28, 17, 30)),
    ("zero is the end itself", nsk(2026, 1, 13, 12), 0, nsk(2026, 1, 13, 12)),
    ("zero outside working time is the end itself", nsk(2026, 1, 13, 20), 0, nsk(2026, 1, 13, 20)),
    ("end given in UTC (04:00Z = 11:00 local)", utc(2026, 1, 13, 4), 120, nsk(2026, 1, 13, 9)),
    ("negative counts forwards", nsk(2026, 1, 13, 9), -120, nsk(2026, 1, 13, 11)),
]


@pytest.mark.parametrize(
    ("end", "minutes", "expected"),
    [pytest.param(e, m, x, id=i) for i, e, m, x in SUBTRACT_WORKING],
)
def test_subtract_working(cal: WorkingCalendar, end: datetime, minutes: float, expected: datetime) -> None:
    result = cal.subtract_working(end, minutes)
    same_instant_in_nsk(result, expected)
    if minutes >= 0:
        assert cal.working_time_between(result, end) == timedelta(minutes=minutes)


# --- working_time_between ---

H = timedelta(hours=1)

BETWEEN = [
    ("a full day", nsk(2026, 1, 13, 9), nsk(2026, 1, 13, 18), 8 * H),
    ("across lunch", nsk(2026, 1, 13, 12), nsk(2026, 1, 13, 15), 2 * H),
    ("inside lunch", nsk(2026, 1, 13, 13, 10), nsk(2026, 1, 13, 13, 50), timedelta(0)),
    ("overnight", nsk(2026, 1, 13, 18), nsk(2026, 1, 14, 9), timedelta(0)),
    ("a weekend", nsk(2026, 1, 17), nsk(2026, 1, 19), timedelta(0)),
    ("reversed is negative", nsk(2026, 1, 13, 15), nsk(2026, 1, 13, 12), -2 * H),
    ("a short day", nsk(2026, 4, 30), nsk(2026, 5, 1), 7 * H),
    ("a working Saturday", nsk(2024, 12, 28), nsk(2024, 12, 29), 8 * H),
    ("a holiday", nsk(2026, 2, 23), nsk(2026, 2, 24), timedelta(0)),
    # 2025-12-30 (8 h), 12.31-01.11 nothing, 2026-01-12 (8 h).
    ("the New Year holidays", nsk(2025, 12, 30, 9), nsk(2026, 1, 12, 18), 16 * H),
    # 02:00Z = 09:00 local; 12:00 MSK = 16:00 local.
    ("mixed zones", utc(2026, 1, 13, 2), msk(2026, 1, 13, 12), 6 * H),
    ("seconds count", nsk(2026, 1, 13, 9), nsk(2026, 1, 13, 9, 0, 1), timedelta(seconds=1)),
]


@pytest.mark.parametrize(("a", "b", "expected"), [pytest.param(a, b, e, id=i) for i, a, b, e in BETWEEN])
def test_working_time_between(cal: WorkingCalendar, a: datetime, b: datetime, expected: timedelta) -> None:
    assert cal.working_time_between(a, b) == expected


# --- working days, calendar days, days before ---

WORKING_DAYS = [
    ("next day", nsk(2026, 1, 12, 10), 1, nsk(2026, 1, 13, 18)),
    ("Friday plus one is Monday", nsk(2026, 1, 16, 15), 1, nsk(2026, 1, 19, 18)),
    ("an event on Saturday", nsk(2026, 1, 17, 12), 1, nsk(2026, 1, 19, 18)),
    ("late evening is still the event's day", nsk(2026, 1, 12, 23, 30), 1, nsk(2026, 1, 13, 18)),
    ("seven working days", nsk(2026, 1, 12, 10), 7, nsk(2026, 1, 21, 18)),
    # 18:30Z on Jan 12 is 01:30 on Jan 13 locally: counting starts on Jan 14.
    ("the event's LOCAL date counts", utc(2026, 1, 12, 18, 30), 1, nsk(2026, 1, 14, 18)),
    # Dec 30 is the 1st; 12.31 and 01.01-01.09 are off, 01.10-11 weekend; Jan 12 is the 2nd.
    ("across the New Year holidays", nsk(2025, 12, 29, 10), 2, nsk(2026, 1, 12, 18)),
    ("ends on a short day at 17:00", nsk(2026, 4, 29, 10), 1, nsk(2026, 4, 30, 17)),
    ("an event on a holiday", nsk(2026, 5, 1, 10), 1, nsk(2026, 5, 4, 18)),
    # Fri 12.27 is the 1st, Sat 12.28 (t=3) the 2nd.
    ("a working Saturday counts", nsk(2024, 12, 26, 10), 2, nsk(2024, 12, 28, 18)),
    # 05.04, 05, 06, 07, 08 (short), then 05.09-11 off, 05.12, 05.13.
    ("seven over the May holidays", nsk(2026, 4, 30, 10), 7, nsk(2026, 5, 13, 18)),
    ("zero: the event's day if working", nsk(2026, 1, 13, 10), 0, nsk(2026, 1, 13, 18)),
    ("zero on a weekend: the next working day", nsk(2026, 1, 17, 10), 0, nsk(2026, 1, 19, 18)),
]


@pytest.mark.parametrize(
    ("event", "n", "expected"), [pytest.param(e, n, x, id=i) for i, e, n, x in WORKING_DAYS]
)
def test_add_working_days(cal: WorkingCalendar, event: datetime, n: int, expected: datetime) -> None:
    same_instant_in_nsk(cal.add_working_days(event, n), expected)


CALENDAR_DAYS = [
    ("eight days", nsk(2026, 1, 12, 10), 8, nsk(2026, 1, 20, 18)),
    # 04.23 + 8 = 05.01, a holiday; 05.02-03 weekend: Monday 05.04 (Civil Code art. 193).
    ("lands on a holiday", nsk(2026, 4, 23, 10), 8, nsk(2026, 5, 4, 18)),
    ("lands on a short day", nsk(2026, 4, 22, 10), 8, nsk(2026, 4, 30, 17)),
    ("lands on a Sunday", nsk(2026, 1, 10, 10), 8, nsk(2026, 1, 19, 18)),
    # 12.24 + 8 = 2026-01-01; the first working day after is Jan 12.
    ("lands in the New Year holidays", nsk(2025, 12, 24, 10), 8, nsk(2026, 1, 12, 18)),
    ("lands on a working Saturday", nsk(2024, 12, 20, 10), 8, nsk(2024, 12, 28, 18)),
    ("lands on a moved day off (03.09)", nsk(2026, 3, 1, 10), 8, nsk(2026, 3, 10, 18)),
    ("fourteen days land on 02.23", nsk(2026, 2, 9, 10), 14, nsk(2026, 2, 24, 18)),
    ("twenty days", nsk(2026, 1, 9, 10), 20, nsk(2026, 1, 29, 18)),
    # 22:00 MSK on Jan 12 is 02:00 on Jan 13 locally.
    ("the event's LOCAL date counts", msk(2026, 1, 12, 22), 8, nsk(2026, 1, 21, 18)),
    ("zero on a working day", nsk(2026, 1, 13, 10), 0, nsk(2026, 1, 13, 18)),
]


@pytest.mark.parametrize(
    ("event", "n", "expected"), [pytest.param(e, n, x, id=i) for i, e, n, x in CALENDAR_DAYS]
)
def test_add_calendar_days(cal: WorkingCalendar, event: datetime, n: int, expected: datetime) -> None:
    same_instant_in_nsk(cal.add_calendar_days(event, n), expected)


DAYS_BEFORE = [
    ("two days before a Wednesday", nsk(2026, 1, 21, 18), 2, nsk(2026, 1, 19, 18)),
    # 05.04 - 2 = 05.02, a Saturday; 05.01 holiday; Thursday 04.30 is short.
    ("falls on a weekend after a holiday", nsk(2026, 5, 4, 18), 2, nsk(2026, 4, 30, 17)),
    # 01.13 - 2 = 01.11 Sunday; back over 01.10, 01.09-01.01 and 2025-12-31, all off.
    ("falls in the New Year holidays", nsk(2026, 1, 13, 18), 2, nsk(2025, 12, 30, 18)),
    # 05.12 - 2 = 05.10 Sunday; 05.09 Saturday; 05.08 is short.
    ("falls back to a short day", nsk(2026, 5, 12, 18), 2, nsk(2026, 5, 8, 17)),
    ("falls on a working Saturday", nsk(2024, 12, 30, 18), 2, nsk(2024, 12, 28, 18)),
    ("the due instant's time does not matter", nsk(2026, 1, 21, 9), 2, nsk(2026, 1, 19, 18)),
    # 2026-01-22 00:30 local is 2026-01-21 17:30Z: the local date is Jan 22.
    ("the due instant's LOCAL date counts", utc(2026, 1, 21, 17, 30), 2, nsk(2026, 1, 20, 18)),
    ("zero on a weekend is the Friday before", nsk(2026, 1, 17, 18), 0, nsk(2026, 1, 16, 18)),
]


@pytest.mark.parametrize(
    ("due", "n", "expected"), [pytest.param(d, n, x, id=i) for i, d, n, x in DAYS_BEFORE]
)
def test_days_before(cal: WorkingCalendar, due: datetime, n: int, expected: datetime) -> None:
    same_instant_in_nsk(cal.days_before(due, n), expected)


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        pytest.param(date(2026, 1, 13), nsk(2026, 1, 13, 18), id="working day"),
        pytest.param(date(2026, 4, 30), nsk(2026, 4, 30, 17), id="short day"),
        pytest.param(date(2026, 1, 17), nsk(2026, 1, 19, 18), id="weekend: next working day"),
        pytest.param(date(2026, 12, 31), nsk(2027, 1, 11, 18), id="2026-12-31 is off: 2027-01-11"),
    ],
)
def test_end_of_working_day(cal: WorkingCalendar, d: date, expected: datetime) -> None:
    same_instant_in_nsk(cal.end_of_working_day(d), expected)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(nsk(2026, 1, 13, 10), nsk(2026, 1, 13, 10), id="inside"),
        pytest.param(nsk(2026, 1, 13, 9), nsk(2026, 1, 13, 9), id="at opening"),
        pytest.param(nsk(2026, 1, 13, 18), nsk(2026, 1, 13, 18), id="at closing"),
        pytest.param(nsk(2026, 1, 13, 13, 30), nsk(2026, 1, 13, 14), id="in lunch"),
        pytest.param(nsk(2026, 1, 13, 18, 0, 1), nsk(2026, 1, 14, 9), id="just after closing"),
        pytest.param(nsk(2025, 12, 30, 19), nsk(2026, 1, 12, 9), id="before the New Year holidays"),
        pytest.param(utc(2026, 1, 13, 1), nsk(2026, 1, 13, 9), id="UTC 01:00 is 08:00 local"),
    ],
)
def test_next_working_instant(cal: WorkingCalendar, at: datetime, expected: datetime) -> None:
    same_instant_in_nsk(cal.next_working_instant(at), expected)


# --- days ---

FULL = ((time(9), time(13)), (time(14), time(18)))
SHORT = ((time(9), time(13)), (time(14), time(17)))


@pytest.mark.parametrize(
    ("d", "working", "short", "windows"),
    [
        pytest.param(date(2026, 1, 13), True, False, FULL, id="ordinary"),
        pytest.param(date(2026, 4, 30), True, True, SHORT, id="short: ends an hour earlier"),
        pytest.param(date(2024, 12, 28), True, False, FULL, id="working Saturday (t=3)"),
        pytest.param(date(2027, 2, 20), True, True, SHORT, id="short working Saturday (t=2)"),
        pytest.param(date(2026, 12, 31), False, False, (), id="2026-12-31 is off (moved from 01.04)"),
        pytest.param(date(2026, 1, 17), False, False, (), id="Saturday"),
    ],
)
def test_day(cal: WorkingCalendar, d: date, working: bool, short: bool, windows: tuple[object, ...]) -> None:
    assert cal.day(d) == DayInfo(d, working, short, windows)  # type: ignore[arg-type]
    assert cal.is_working(d) == working
    assert cal.is_short(d) == short
    assert cal.windows(d) == windows


def test_working_saturday_without_its_own_schedule_takes_mondays() -> None:
    monday = DaySchedule(time(8), time(17), time(12), time(13))
    week = {**DEFAULT_WEEK, 0: monday}
    cal = WorkingCalendar(week=week)
    assert cal.windows(date(2024, 12, 28)) == ((time(8), time(12)), (time(13), time(17)))
    assert cal.windows(date(2027, 2, 20)) == ((time(8), time(12)), (time(13), time(16)))


def test_a_configured_saturday_uses_its_own_schedule() -> None:
    week = {**DEFAULT_WEEK, 5: DaySchedule(time(10), time(14))}
    cal = WorkingCalendar(week=week)
    assert cal.windows(date(2026, 1, 17)) == ((time(10), time(14)),)
    assert cal.add_working(nsk(2026, 1, 16, 17), 120) == nsk(2026, 1, 17, 11)


def test_a_short_day_without_lunch_and_one_whose_afternoon_vanishes() -> None:
    week = {
        **DEFAULT_WEEK,
        3: DaySchedule(time(8), time(16)),
        4: DaySchedule(time(9), time(14, 30), time(13), time(14)),
    }
    cal = WorkingCalendar(week=week)
    assert cal.windows(date(2026, 4, 30)) == ((time(8), time(15)),)  # Thursday, t=2
    assert cal.windows(date(2026, 5, 8)) == ((time(9), time(13)),)  # Friday, t=2: 13:30 falls in lunch


def test_tz_property_and_results_in_another_zone() -> None:
    cal = WorkingCalendar(tz="Europe/Moscow")
    assert cal.tz == ZoneInfo("Europe/Moscow")
    result = cal.add_working(nsk(2026, 1, 13, 9), 60)  # 05:00 MSK: counts from 09:00 MSK
    assert result == msk(2026, 1, 13, 10)
    assert result.tzinfo == MSK


# A zone with daylight saving: 2026-03-29 is the last Sunday of March, clocks go 02:00 -> 03:00 in Berlin.
BERLIN = ZoneInfo("Europe/Berlin")


def test_daylight_saving_is_handled_per_day() -> None:
    cal = WorkingCalendar(tz="Europe/Berlin")
    friday = datetime(2026, 3, 27, 17, tzinfo=BERLIN)  # UTC+1
    monday = cal.add_working(friday, 120)
    assert monday == datetime(2026, 3, 30, 10, tzinfo=BERLIN)  # UTC+2
    assert monday.utcoffset() == timedelta(hours=2)
    assert cal.working_time_between(friday, monday) == 2 * H
    assert cal.subtract_working(monday, 120) == friday
    assert cal.add_working_days(friday, 1) == datetime(2026, 3, 30, 18, tzinfo=BERLIN)
    # October: clocks go back on Sunday 2026-10-25; Friday and Monday still have 8 working hours each.
    autumn = cal.working_time_between(
        datetime(2026, 10, 23, tzinfo=BERLIN), datetime(2026, 10, 27, tzinfo=BERLIN)
    )
    assert autumn == 16 * H


# --- errors ---

NAIVE = datetime(2026, 1, 13, 10)
Call = Callable[[WorkingCalendar], object]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.add_working(NAIVE, 60), id="add_working"),
        pytest.param(lambda c: c.add_working(NAIVE, 0), id="add_working zero"),
        pytest.param(lambda c: c.subtract_working(NAIVE, 60), id="subtract_working"),
        pytest.param(lambda c: c.working_time_between(NAIVE, nsk(2026, 1, 13)), id="between a"),
        pytest.param(lambda c: c.working_time_between(nsk(2026, 1, 13), NAIVE), id="between b"),
        pytest.param(lambda c: c.add_working_days(NAIVE, 1), id="add_working_days"),
        pytest.param(lambda c: c.add_working_days(NAIVE, 0), id="add_working_days zero"),
        pytest.param(lambda c: c.add_calendar_days(NAIVE, 8), id="add_calendar_days"),
        pytest.param(lambda c: c.days_before(NAIVE, 2), id="days_before"),
        pytest.param(lambda c: c.next_working_instant(NAIVE), id="next_working_instant"),
    ],
)
def test_naive_datetimes_are_rejected(cal: WorkingCalendar, call: Call) -> None:
    with pytest.raises(
        NaiveDatetimeError, match=r"naive datetime 2026-01-13T10:00:00: give a time zone offset"
    ):
        call(cal)


def test_naive_datetime_error_is_a_calendar_error_and_a_value_error() -> None:
    assert issubclass(NaiveDatetimeError, CalendarError)
    assert issubclass(CalendarError, ValueError)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"tz": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'", id="zone"),
        pytest.param({"week": {7: None}}, "weekday keys must be 0", id="weekday key"),
        pytest.param({"week": dict.fromkeys(range(7))}, "no weekday has working hours", id="no working day"),
        pytest.param(
            {"week": {0: DaySchedule(time(18), time(9))}}, "expected start < lunch_start", id="order"
        ),
        pytest.param({"week": {0: DaySchedule(time(9), time(18), time(13))}}, "both lunch_start", id="lunch"),
        pytest.param({"week": {0: DaySchedule(time(9), time(9, 30))}}, "an hour earlier", id="too short"),
        pytest.param({"week": {0: "9-18"}}, "expected a DaySchedule", id="not a schedule"),
        pytest.param({"overrides": {date(2026, 1, 1): "off"}}, "expected a DayKind", id="override kind"),
        pytest.param({"years": {2030: {date(2031, 1, 1): "off"}}}, "is not in 2030", id="year mismatch"),
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        WorkingCalendar(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.add_working_days(nsk(2026, 1, 13), -1), id="add_working_days"),
        pytest.param(lambda c: c.add_calendar_days(nsk(2026, 1, 13), -1), id="add_calendar_days"),
        pytest.param(lambda c: c.days_before(nsk(2026, 1, 13), -1), id="days_before"),
        pytest.param(lambda c: c.add_working(nsk(2026, 1, 13), float("nan")), id="nan minutes"),
    ],
)
def test_bad_arguments_are_rejected(cal: WorkingCalendar, call: Call) -> None:
    with pytest.raises(CalendarError):
        call(cal)


def test_a_calendar_without_working_time_gives_up_with_a_clear_error() -> None:
    def closed(year: int) -> dict[date, DayKind]:
        first = date(year, 1, 1)
        return {first + timedelta(days=i): DayKind.OFF for i in range((date(year + 1, 1, 1) - first).days)}

    cal = WorkingCalendar(years={year: closed(year) for year in range(2028, 2090)})
    with pytest.raises(CalendarError, match="no working time within 50 years"):
        cal.add_working(nsk(2027, 12, 30, 17), 120)
    with pytest.raises(CalendarError, match="covers years"):
        cal.add_calendar_days(nsk(2026, 1, 1), 10**7)
