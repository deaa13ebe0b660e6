"""Properties of the working-time arithmetic, over random instants of 2020-2027 in several zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from workflow.calendar import WorkingCalendar

CAL = WorkingCalendar()  # Asia/Novosibirsk, the shipped 2020-2027 calendar
BERLIN_CAL = WorkingCalendar(tz="Europe/Berlin")  # a zone with daylight saving
ZONES = [
    ZoneInfo(z) for z in ("Asia/Novosibirsk", "UTC", "Europe/Moscow", "Europe/Berlin", "America/New_York")
]

# Keep clear of the edges of the shipped years so that no fallback year is touched.
instants = st.datetimes(
    min_value=datetime(2020, 3, 1),
    max_value=datetime(2027, 11, 1),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,
)
minutes = st.integers(min_value=0, max_value=9 * 60 * 10)
calendars = st.sampled_from([CAL, BERLIN_CAL])
PROPERTY = settings(max_examples=200, deadline=None)
pytestmark = pytest.mark.filterwarnings("error::workflow.calendar.CalendarDataWarning")


def in_a_window(cal: WorkingCalendar, at: datetime, *, at_opening: bool = True) -> bool:
    """Whether `at` lies in one of its local day's windows, ends included (the opening only if at_opening)."""
    local = at.astimezone(cal.tz)
    return any(
        (start <= local.time() if at_opening else start < local.time()) and local.time() <= end
        for start, end in cal.windows(local.date())
    )


@PROPERTY
@given(calendars, instants, minutes, minutes)
def test_adding_twice_is_adding_the_sum(cal: WorkingCalendar, s: datetime, a: int, b: int) -> None:
    assert cal.add_working(cal.add_working(s, a), b) == cal.add_working(s, a + b)


@PROPERTY
@given(calendars, instants, minutes)
def test_the_time_between_start_and_result_is_exactly_the_minutes(
    cal: WorkingCalendar, s: datetime, m: int
) -> None:
    assert cal.working_time_between(s, cal.add_working(s, m)) == timedelta(minutes=m)


@PROPERTY
@given(calendars, instants, st.floats(min_value=0, max_value=5000, allow_nan=False))
def test_fractional_minutes_are_exact_to_the_microsecond(cal: WorkingCalendar, s: datetime, m: float) -> None:
    result = cal.add_working(s, m)
    assert cal.working_time_between(s, result) == timedelta(microseconds=round(m * 60_000_000))


@PROPERTY
@given(calendars, instants, minutes)
def test_results_lie_in_a_working_window_and_in_the_calendars_zone(
    cal: WorkingCalendar, s: datetime, m: int
) -> None:
    for result in (cal.add_working(s, m), cal.subtract_working(s, m) if m else cal.next_working_instant(s)):
        assert result.tzinfo == cal.tz
        assert in_a_window(cal, result)


@PROPERTY
@given(calendars, instants, instants, minutes)
def test_monotonic_in_start(cal: WorkingCalendar, s1: datetime, s2: datetime, m: int) -> None:
    early, late = sorted((s1, s2))
    assert cal.add_working(early, m) <= cal.add_working(late, m)
    assert cal.subtract_working(early, m) <= cal.subtract_working(late, m)


@PROPERTY
@given(calendars, instants, minutes.filter(bool))
def test_subtract_then_add_comes_back(cal: WorkingCalendar, end: datetime, m: int) -> None:
    start = cal.subtract_working(end, m)
    assert cal.working_time_between(start, end) == timedelta(minutes=m)
    back = cal.add_working(start, m)
    # add gives the EARLIEST instant with that much working time: `end` itself when working time runs right
    # up to it, else the close of the last window before it.
    assert back <= end
    assert cal.working_time_between(back, end) == timedelta(0)
    if in_a_window(cal, end, at_opening=False):
        assert back == end


@PROPERTY
@given(calendars, instants, minutes.filter(bool))
def test_add_then_subtract_comes_back(cal: WorkingCalendar, s: datetime, m: int) -> None:
    back = cal.subtract_working(cal.add_working(s, m), m)
    # subtract gives the LATEST instant m working minutes before: the start itself when working time runs
    # right from it, else the opening of the next window.
    assert back >= s
    assert cal.working_time_between(s, back) == timedelta(0)
    if in_a_window(cal, s) and cal.working_time_between(s, s + timedelta(microseconds=1)):
        assert back == s


@PROPERTY
@given(instants, st.integers(min_value=1, max_value=30))
def test_working_days_are_whole_working_days(s: datetime, n: int) -> None:
    closing = CAL.add_working_days(s, n)
    local = s.astimezone(CAL.tz).date()
    days = [local + timedelta(days=i) for i in range(1, (closing.date() - local).days + 1)]
    assert sum(CAL.is_working(d) for d in days) == n
    assert CAL.is_working(closing.date())
    assert closing.time() == CAL.windows(closing.date())[-1][1]


@PROPERTY
@given(instants, st.integers(min_value=0, max_value=30))
def test_calendar_days_and_days_before_land_on_working_days(s: datetime, n: int) -> None:
    local = s.astimezone(CAL.tz).date()
    after = CAL.add_calendar_days(s, n)
    assert after.date() >= local + timedelta(days=n)
    assert all(not CAL.is_working(d) for d in _dates(local + timedelta(days=n), after.date()))
    before = CAL.days_before(s, n)
    assert before.date() <= local - timedelta(days=n)
    assert all(
        not CAL.is_working(d)
        for d in _dates(before.date() + timedelta(days=1), local - timedelta(days=n - 1))
    )
    for closing in (after, before):
        assert CAL.is_working(closing.date())
        assert closing.time() == CAL.windows(closing.date())[-1][1]


def _dates(first: date, stop: date) -> list[date]:
    """first, first + 1 day, ... up to but excluding stop."""
    return [first + timedelta(days=i) for i in range((stop - first).days)]


# --- add_working's fast path against the general path it must agree with (issue 16) ---

FAST_ZONES = [*ZONES, UTC, timezone(timedelta(hours=5, minutes=30))]  # ZoneInfo and fixed-offset timezones
fast_instants = (
    st.datetimes(  # as far into the shipped years as a term backwards or forwards stays within them
        min_value=datetime(2020, 1, 20),
        max_value=datetime(2027, 11, 1),
        timezones=st.sampled_from(FAST_ZONES),
    )
)  # imaginary (DST gap) instants included: both paths must read them alike
durations = st.one_of(
    st.integers(min_value=-9 * 60 * 5, max_value=9 * 60 * 30),  # up to 30 working days, backwards too
    st.floats(min_value=0, max_value=9 * 60 * 20, allow_nan=False),  # reminder points: fractions of a term
)
# A fresh calendar has no span yet, a used one has the span of its last query (maybe another year's).
any_calendar = st.one_of(
    calendars, st.builds(WorkingCalendar), st.builds(WorkingCalendar, tz=st.just("Europe/Berlin"))
)


@settings(max_examples=500, deadline=None)
@given(any_calendar, st.lists(st.tuples(fast_instants, durations), min_size=1, max_size=4))
def test_the_fast_path_agrees_with_the_reference(
    cal: WorkingCalendar, calls: list[tuple[datetime, int | float]]
) -> None:
    for start, m in calls:  # several calls on one calendar: the span left by one is the next one's fast path
        fast, reference = cal.add_working(start, m), cal.add_working_reference(start, m)
        assert fast == reference
        assert (fast.isoformat(), fast.fold, fast.tzinfo) == (
            reference.isoformat(),
            reference.fold,
            reference.tzinfo,
        )


def test_the_fast_path_is_taken_for_a_term_within_the_span(monkeypatch: pytest.MonkeyPatch) -> None:
    cal = WorkingCalendar()
    start = datetime(2025, 3, 4, 16, 30, tzinfo=cal.tz)
    assert cal.add_working(start, 540) == datetime(
        2025, 3, 5, 17, 30, tzinfo=cal.tz
    )  # builds the span (lunch off)

    def refuse(*_: object) -> datetime:
        raise AssertionError("took the general path")

    monkeypatch.setattr(cal, "add_working_reference", refuse)
    assert cal.add_working(start, 540) == datetime(2025, 3, 5, 17, 30, tzinfo=cal.tz)
    assert cal.add_working(start.astimezone(UTC), 60) == datetime(2025, 3, 4, 17, 30, tzinfo=cal.tz)
    with pytest.raises(AssertionError, match="general path"):
        cal.add_working(start, -60)  # backwards: the general path
