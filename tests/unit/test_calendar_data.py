"""The calendar's data: the shipped XML reproduced day by day, strict parsing, overrides, fallback years."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import workflow
from workflow.calendar import (
    CalendarDataWarning,
    CalendarError,
    DayKind,
    WorkingCalendar,
    fallback_year,
    parse_xmlcalendar,
    shipped_calendar,
)

DATA = Path(workflow.__file__).parent / "data" / "calendar"
NSK = ZoneInfo("Asia/Novosibirsk")
YEARS = range(2020, 2028)


def xml_expectation(year: int) -> dict[date, tuple[bool, bool]]:
    """(working, short) for every day of the year, read straight from the XML as its README defines it."""
    root = ET.parse(DATA / f"ru-{year}.xml").getroot()
    listed = {}
    for day in root.iter("day"):
        month, dom = day.attrib["d"].split(".")
        listed[date(year, int(month), int(dom))] = day.attrib["t"]
    expected = {}
    d = date(year, 1, 1)
    while d.year == year:
        t = listed.get(d)
        if t == "1":
            expected[d] = (False, False)
        elif t == "2":
            expected[d] = (True, True)
        elif t == "3":
            expected[d] = (True, False)
        else:  # not listed: Saturday and Sunday off, every other day a full working day
            expected[d] = (d.weekday() < 5, False)
        d += timedelta(days=1)
    return expected


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


@pytest.mark.parametrize("year", YEARS)
def test_every_day_matches_the_shipped_xml(cal: WorkingCalendar, year: int) -> None:
    expected = xml_expectation(year)
    actual = {d: (cal.day(d).working, cal.day(d).short) for d in expected}
    mismatches = {d: (actual[d], expected[d]) for d in expected if actual[d] != expected[d]}
    assert not mismatches


@pytest.mark.parametrize("year", YEARS)
def test_working_days_in_the_tables_match_the_xml(cal: WorkingCalendar, year: int) -> None:
    """The fast path (tables) agrees with day(): n-th working day == the n-th working date of the XML."""
    working = [d for d, (w, _short) in sorted(xml_expectation(year).items()) if w]
    new_year = datetime(year, 1, 1, 12, tzinfo=NSK)  # always a holiday: day n after it is working day n
    for n, d in enumerate(working, start=1):
        closing = cal.add_working_days(new_year, n)
        assert closing.date() == d
        assert closing.hour == (17 if cal.is_short(d) else 18)


def test_shipped_calendar_covers_2020_to_2027() -> None:
    shipped = shipped_calendar()
    assert sorted(shipped) == list(YEARS)
    assert shipped[2024][date(2024, 12, 28)] is DayKind.WORKING
    assert shipped[2026][date(2026, 4, 30)] is DayKind.SHORT
    assert shipped[2026][date(2026, 12, 31)] is DayKind.OFF
    shipped[2026].clear()  # a copy: the calendar's own data is untouched
    assert shipped_calendar()[2026]


@pytest.mark.parametrize("year", YEARS)
def test_parse_xmlcalendar_reads_the_shipped_files(year: int) -> None:
    parsed_year, facts = parse_xmlcalendar((DATA / f"ru-{year}.xml").read_text(encoding="utf-8"))
    assert parsed_year == year
    kinds = {"1": DayKind.OFF, "2": DayKind.SHORT, "3": DayKind.WORKING}
    root = ET.parse(DATA / f"ru-{year}.xml").getroot()
    assert len(facts) == len(root.findall("days/day"))
    for day in root.iter("day"):
        month, dom = day.attrib["d"].split(".")
        assert facts[date(year, int(month), int(dom))] is kinds[day.attrib["t"]]


def calendar_xml(days: str, year: str = "2026", extra: str = "") -> str:
    head = '<?xml version="1.0" encoding="UTF-8"?>\n'
    return f'{head}<calendar year="{year}">{extra}<days>{days}</days></calendar>'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("<calendar year='2026'><days>", "not well-formed XML", id="truncated"),
        pytest.param("", "not well-formed XML", id="empty"),
        pytest.param("<calendars/>", "root element is <calendars>", id="wrong root"),
        pytest.param(calendar_xml("", year="26"), "has no valid year attribute", id="bad year"),
        pytest.param("<calendar><days/></calendar>", "has no valid year attribute", id="no year"),
        pytest.param("<calendar year='2026'/>", "exactly one <days>", id="no days"),
        pytest.param(
            calendar_xml('<day d="13.01" t="1"/>'), r'<day d="13.01" t="1"/>: d must be MM.DD', id="month 13"
        ),
        pytest.param(calendar_xml('<day d="02.29" t="1"/>'), "a date of 2026", id="Feb 29 in 2026"),
        pytest.param(calendar_xml('<day d="1.1" t="1"/>'), "d must be MM.DD", id="d not MM.DD"),
        pytest.param(calendar_xml('<day t="1"/>'), "d must be MM.DD", id="d missing"),
        pytest.param(calendar_xml('<day d="01.01" t="4"/>'), r'<day d="01.01" t="4"/>: t must be', id="t=4"),
        pytest.param(calendar_xml('<day d="01.01"/>'), "t must be", id="t missing"),
        pytest.param(calendar_xml('<day d="01.13" t="3"/>'), "2026-01-13 is a weekday", id="t=3 weekday"),
        pytest.param(calendar_xml('<day d="01.09" t="1" f="1.3"/>'), "f must be MM.DD", id="bad f"),
        pytest.param(
            calendar_xml('<day d="01.01" t="1"/><day d="01.01" t="2"/>'), "listed twice", id="twice"
        ),
        pytest.param(calendar_xml('<holiday d="01.01" t="1"/>'), "unexpected <holiday", id="other element"),
        pytest.param(
            calendar_xml('<day d="01.01" t="1" h="9"/>', extra='<holidays><holiday id="1"/></holidays>'),
            "h=9 is not declared",
            id="undeclared h",
        ),
        pytest.param(
            '<!DOCTYPE c [<!ENTITY a "x">]><calendar year="2026"><days/></calendar>', "DOCTYPE", id="doctype"
        ),
    ],
)
def test_parse_xmlcalendar_rejects_malformed_files(text: str, message: str) -> None:
    with pytest.raises(CalendarError, match=message) as raised:
        parse_xmlcalendar(text, source="upload/ru-2026.xml")
    assert str(raised.value).startswith("upload/ru-2026.xml: ")
    assert "\n" not in str(raised.value)


def test_parse_xmlcalendar_accepts_a_minimal_file() -> None:
    year, facts = parse_xmlcalendar(calendar_xml('<day d="02.28" t="3"/><day d="12.31" t="2" f="02.29"/>'))
    assert year == 2026
    assert facts == {date(2026, 2, 28): DayKind.WORKING, date(2026, 12, 31): DayKind.SHORT}


def test_overrides_win_over_everything() -> None:
    cal = WorkingCalendar(
        overrides={
            date(2026, 1, 13): DayKind.OFF,  # an ordinary Tuesday closed by a local decision
            date(2026, 1, 17): DayKind.WORKING,  # a Saturday worked
            date(2026, 1, 5): DayKind.SHORT,  # a New Year holiday worked, shortened
        },
        years={2026: {date(2026, 1, 14): DayKind.OFF}},
    )
    assert not cal.is_working(date(2026, 1, 13))
    assert cal.is_working(date(2026, 1, 17))
    assert cal.is_short(date(2026, 1, 5))
    assert not cal.is_working(date(2026, 1, 14))
    monday = datetime(2026, 1, 12, 17, tzinfo=NSK)
    # Mon 17-18; Tue off; Wed off (years); Thu 01.15 09-10.
    assert cal.add_working(monday, 120) == datetime(2026, 1, 15, 10, tzinfo=NSK)
    # Counting from Friday 01.16: the override Saturday 01.17 is the first working day.
    assert cal.add_working_days(datetime(2026, 1, 16, tzinfo=NSK), 1) == datetime(2026, 1, 17, 18, tzinfo=NSK)


def test_given_years_replace_the_shipped_ones() -> None:
    cal = WorkingCalendar(years={2026: {}})
    assert cal.is_working(date(2026, 1, 1))  # a Thursday, no facts: an ordinary day
    assert not cal.is_working(date(2025, 1, 1))  # other years still come from the shipped files


def test_a_year_without_data_falls_back_and_warns_once() -> None:
    warnings: list[str] = []
    cal = WorkingCalendar(warn=warnings.append)
    for d in (date(2031, m, 1) for m in range(1, 13)):
        cal.day(d)
    cal.add_working(datetime(2031, 6, 10, tzinfo=NSK), 600)
    cal.add_working_days(datetime(2031, 12, 1, tzinfo=NSK), 3)
    assert len(warnings) == 1
    assert "2031" in warnings[0] and "missing" in warnings[0]
    assert "\n" not in warnings[0]
    assert all(not cal.is_working(date(2031, 1, d)) for d in range(1, 9))
    assert cal.is_working(date(2031, 1, 9))
    assert cal.is_short(date(2031, 4, 30))  # Wednesday before May 1 (art. 95)
    assert cal.is_short(date(2031, 11, 3))  # Monday before November 4
    assert cal.is_short(date(2031, 12, 31))  # Wednesday before January 1
    assert not cal.is_short(date(2031, 2, 20))  # Friday; the day before February 23 is Saturday 02.22
    assert not cal.is_working(date(2031, 2, 24))  # art. 112 part 2: Sunday 02.23 moves to Monday
    assert not cal.is_working(date(2031, 3, 10))  # Saturday 03.08 moves to Monday 03.10
    assert cal.is_short(date(2031, 3, 7))
    assert cal.day(date(2031, 4, 30)).windows[-1][1].hour == 17
    # Shipped years never warn.
    cal.day(date(2026, 5, 5))
    assert len(warnings) == 1


def test_far_apart_queries_compute_only_the_years_they_need() -> None:
    warnings: list[str] = []
    cal = WorkingCalendar(warn=warnings.append)
    for _ in range(3):  # alternating years must neither fill the gap nor rebuild anything
        assert cal.add_working(datetime(2026, 6, 1, 10, tzinfo=NSK), 60) == datetime(
            2026, 6, 1, 11, tzinfo=NSK
        )
        assert cal.add_working(datetime(2031, 6, 2, 10, tzinfo=NSK), 60) == datetime(
            2031, 6, 2, 11, tzinfo=NSK
        )
    assert [w.split(" is missing")[0] for w in warnings] == ["production calendar data for 2031"]
    # A term that spans the gap needs the years in between.
    cal.working_time_between(datetime(2026, 6, 1, tzinfo=NSK), datetime(2031, 6, 2, tzinfo=NSK))
    assert [w.split()[4] for w in warnings] == ["2031", "2028", "2029", "2030"]


def test_without_a_callback_the_fallback_warns_with_a_warning_class() -> None:
    with pytest.warns(CalendarDataWarning, match="2031"):
        WorkingCalendar().day(date(2031, 1, 1))


@pytest.mark.parametrize(
    ("year", "d", "kind"),
    [
        pytest.param(2031, date(2031, 1, 1), DayKind.OFF, id="New Year"),
        pytest.param(2031, date(2031, 1, 8), DayKind.OFF, id="Jan 8"),
        pytest.param(2031, date(2031, 6, 11), DayKind.SHORT, id="before Russia Day"),
        pytest.param(2031, date(2031, 6, 12), DayKind.OFF, id="Russia Day"),
        pytest.param(2028, date(2028, 11, 6), DayKind.OFF, id="2028-11-04 is a Saturday: Monday off"),
        pytest.param(2028, date(2028, 11, 3), DayKind.SHORT, id="2028-11-03 before the holiday"),
        # The `holidays` package knows the 2024 decree: its working Saturday.
        pytest.param(2024, date(2024, 12, 28), DayKind.WORKING, id="known decree's working Saturday"),
        pytest.param(2024, date(2024, 12, 30), DayKind.OFF, id="known decree's transfer"),
        # Art. 112 part 2 applies to each holiday the package does not move itself, even in a year where the
        # package carries other transfers (2014: 23.02 moved to 03.11 by the decree, 08.03 not moved).
        pytest.param(2014, date(2014, 3, 10), DayKind.OFF, id="2014-03-08 is a Saturday: Monday off"),
        pytest.param(2014, date(2014, 3, 7), DayKind.SHORT, id="2014-03-07 before the holiday"),
        pytest.param(2014, date(2014, 11, 3), DayKind.OFF, id="2014 decree: 23.02 moved to 03.11"),
        pytest.param(2031, date(2031, 3, 10), DayKind.OFF, id="2031-03-08 is a Saturday: Monday off"),
        pytest.param(2030, date(2030, 2, 25), DayKind.OFF, id="2030-02-23 is a Saturday: Monday off"),
    ],
)
def test_fallback_year(year: int, d: date, kind: DayKind) -> None:
    assert fallback_year(year)[d] is kind


@pytest.mark.parametrize(
    ("year", "feast", "absent"),
    [
        # The package moves these itself (an observed day, or a decree's transfer named after the date):
        # no second day off is added for them.
        pytest.param(2015, date(2015, 3, 8), date(2015, 3, 10), id="2015: 08.03 observed on 09.03"),
        pytest.param(2025, date(2025, 2, 23), date(2025, 2, 24), id="2025 decree: 23.02 moved to 08.05"),
        pytest.param(2025, date(2025, 3, 8), date(2025, 3, 10), id="2025 decree: 08.03 moved to 13.06"),
        pytest.param(2014, date(2014, 2, 23), date(2014, 2, 24), id="2014 decree: 23.02 moved to 03.11"),
    ],
)
def test_fallback_leaves_a_holiday_the_package_moves_itself(year: int, feast: date, absent: date) -> None:
    facts = fallback_year(year)
    assert facts[feast] is DayKind.OFF
    assert absent not in facts


def test_fallback_agrees_with_the_xml_where_holidays_knows_the_decrees() -> None:
    """2023 and 2026 have no extraordinary decisions: the fallback reproduces the official files exactly."""
    shipped = shipped_calendar()
    for year in (2023, 2026):
        assert fallback_year(year) == shipped[year]
