"""The working calendar: working windows, the Russian production calendar and term arithmetic (RULES.md §1).

Working time is the union of the working windows of working days. A day's status comes from the production
calendar (one xmlcalendar file a year, shipped in `workflow/data/calendar/`), from local overrides, or, for a
year without data, from the `holidays` package plus Labour Code arts. 95 and 112.

Every term operation is a `bisect` over precomputed tables plus arithmetic:

* working windows as UTC epoch microseconds, with the working time accumulated before and after each one, so
  "add N working minutes" is "find where the accumulated working time reaches C(start) + N";
* working days as a list of end-of-working-hours instants, with a per-day count of working days before it,
  so "the N-th working day after" is an index.

The tables are built one year at a time, lazily and cached, for whatever years the queries touch. Windows
are converted to instants day by day through zoneinfo, so daylight-saving zones are handled too. Integer
microseconds keep the arithmetic exact: `working_time_between(s, add_working(s, m))` is exactly `m` minutes.
"""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import cache
from importlib import resources
from itertools import pairwise
from math import isfinite
from types import MappingProxyType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import holidays

__all__ = [
    "DEFAULT_WEEK",
    "CalendarDataWarning",
    "CalendarError",
    "DayInfo",
    "DayKind",
    "DaySchedule",
    "NaiveDatetimeError",
    "WorkingCalendar",
    "fallback_year",
    "parse_xmlcalendar",
    "shipped_calendar",
]


class CalendarError(ValueError):
    """Bad calendar data, bad calendar settings or a bad argument (a naive datetime, a negative count)."""


class NaiveDatetimeError(CalendarError):
    """A datetime without a time zone was given: the instant it means is unknown."""


class CalendarDataWarning(UserWarning):
    """Issued (when no `warn` callback is given) for a year that has no production calendar data."""


# --- Settings and facts ---


@dataclass(frozen=True)
class DaySchedule:
    """One weekday's working hours in local time; lunch (both ends or neither) is not working time."""

    start: time
    end: time
    lunch_start: time | None = None
    lunch_end: time | None = None


_STANDARD = DaySchedule(time(9), time(18), time(13), time(14))
DEFAULT_WEEK: Mapping[int, DaySchedule | None] = MappingProxyType(
    {0: _STANDARD, 1: _STANDARD, 2: _STANDARD, 3: _STANDARD, 4: _STANDARD, 5: None, 6: None}
)


@dataclass(frozen=True)
class DayInfo:
    """What the calendar says about one local date; `windows` are (start, end) local times, lunch excluded."""

    date: date
    working: bool
    short: bool
    windows: tuple[tuple[time, time], ...]


class DayKind(StrEnum):
    """A per-date fact of the production calendar (xmlcalendar `t`: 1 OFF, 2 SHORT, 3 WORKING)."""

    WORKING = "working"
    SHORT = "short"
    OFF = "off"


# --- The xmlcalendar format ---

_T_KINDS = {"1": DayKind.OFF, "2": DayKind.SHORT, "3": DayKind.WORKING}
_MONTH_DAY = re.compile(r"(\d\d)\.(\d\d)")
_YEAR = re.compile(r"\d{4}")
_FILE_NAME = re.compile(r"ru-(\d{4})\.xml")


def _show(el: ET.Element) -> str:
    """The element as a one-line tag, for error messages."""
    attrs = "".join(f' {k}="{v}"' for k, v in el.attrib.items())
    return f"<{el.tag}{attrs}/>"


def _month_day(value: str | None, year: int) -> date | None:
    """`MM.DD` as a date of `year`, or None if it is not one."""
    match = _MONTH_DAY.fullmatch(value or "")
    if match is None:
        return None
    try:
        return date(year, int(match[1]), int(match[2]))
    except ValueError:
        return None


def parse_xmlcalendar(text: str, *, source: str = "") -> tuple[int, dict[date, DayKind]]:
    """Parse one xmlcalendar file: its year and the facts of the dates it lists.

    Strict: anything that is not a well-formed calendar of one year raises CalendarError naming `source` and
    the offending element, so a bad file an administrator uploads is refused whole, never half-applied.
    """
    where = source or "xmlcalendar"
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CalendarError(f"{where}: DOCTYPE and ENTITY declarations are not allowed")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise CalendarError(f"{where}: not well-formed XML: {exc}") from None
    if root.tag != "calendar":
        raise CalendarError(f"{where}: root element is <{root.tag}>, expected <calendar>")
    year_text = root.get("year", "")
    if not _YEAR.fullmatch(year_text) or not 1 <= int(year_text) <= 9998:
        raise CalendarError(f"{where}: {_show(root)} has no valid year attribute (four digits)")
    year = int(year_text)

    holiday_ids: set[str] | None = None
    holidays_el = root.find("holidays")
    if holidays_el is not None:
        holiday_ids = set()
        for el in holidays_el:
            if el.tag != "holiday" or not el.get("id"):
                raise CalendarError(
                    f"{where}: unexpected {_show(el)} in <holidays>, expected <holiday id=...>"
                )
            holiday_ids.add(el.get("id", ""))

    days_els = root.findall("days")
    if len(days_els) != 1:
        raise CalendarError(f"{where}: expected exactly one <days> element, found {len(days_els)}")
    facts: dict[date, DayKind] = {}
    for el in days_els[0]:
        shown = _show(el)
        if el.tag != "day":
            raise CalendarError(f"{where}: unexpected {shown} in <days>, expected <day d=... t=...>")
        day = _month_day(el.get("d"), year)
        if day is None:
            raise CalendarError(f"{where}: {shown}: d must be MM.DD, a date of {year}")
        kind = _T_KINDS.get(el.get("t", ""))
        if kind is None:
            raise CalendarError(
                f"{where}: {shown}: t must be 1 (day off), 2 (shortened) or 3 (working weekend)"
            )
        if kind is DayKind.WORKING and day.weekday() < 5:
            raise CalendarError(
                f"{where}: {shown}: t=3 marks a working Saturday or Sunday, {day} is a weekday"
            )
        transferred = el.get("f")
        if transferred is not None and _month_day(transferred, 2000) is None:  # 2000: 02.29 is a valid source
            raise CalendarError(f"{where}: {shown}: f must be MM.DD")
        holiday = el.get("h")
        if holiday is not None and holiday_ids is not None and holiday not in holiday_ids:
            raise CalendarError(f"{where}: {shown}: h={holiday} is not declared in <holidays>")
        if day in facts:
            raise CalendarError(f"{where}: {shown}: {day} is listed twice")
        facts[day] = kind
    return year, facts


@cache
def _shipped() -> Mapping[int, Mapping[date, DayKind]]:
    folder = resources.files("workflow") / "data" / "calendar"
    years: dict[int, Mapping[date, DayKind]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = _FILE_NAME.fullmatch(entry.name)
        if name is None:
            continue
        source = f"workflow/data/calendar/{entry.name}"
        year, facts = parse_xmlcalendar(entry.read_text(encoding="utf-8"), source=source)
        if year != int(name[1]):
            raise CalendarError(f'{source}: file name says {name[1]} but <calendar year="{year}">')
        years[year] = MappingProxyType(facts)
    return MappingProxyType(years)


def shipped_calendar() -> dict[int, dict[date, DayKind]]:
    """The production calendars shipped with the package (`workflow/data/calendar/ru-YYYY.xml`), by year."""
    return {year: dict(facts) for year, facts in _shipped().items()}


# Labour Code art. 112 part 1: the non-working holidays, as (month, day).
_ART112 = frozenset({(1, day) for day in range(1, 9)} | {(2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4)})


def fallback_year(year: int) -> dict[date, DayKind]:
    """Facts for a year without production calendar data, relative to a Monday-Friday week.

    Days off: what `holidays` knows for Russia, that is the art. 112 holidays and the transfers of the decrees
    it carries (their working Saturdays too). Art. 112 part 2 is applied here to every holiday the package
    does not move itself: a holiday on a Saturday or Sunday moves the day off to the next working day (not for
    January 1-8, whose weekend days are moved by a decree that cannot be guessed). The package moves a holiday
    either by an "(observed)" day or by a decree's transfer "substituted from" that date; either way it is left
    as the package says. Short days: art. 95, the working day immediately before an art. 112 holiday is one
    hour shorter (December 31 precedes January 1). The decrees' shortened working Saturdays are not known to
    `holidays`: they come out full WORKING days.
    """
    import holidays  # ~2.6 MiB resident: only for a year without calendar data (issue 16)

    # English names are stable across the package's locales: they tell what the package moved itself.
    known = holidays.country_holidays("RU", years=year, language="en_US")
    off = {day for day in known if day.year == year}
    feasts = {day for day in off if (day.month, day.day) in _ART112}
    moved_by_package = _moved_by_package(known, feasts)
    for feast in sorted(feasts):
        if feast.month == 1 or feast.weekday() < 5 or feast in moved_by_package:
            continue
        moved = feast + timedelta(days=1)
        while moved.weekday() >= 5 or moved in off:
            moved += timedelta(days=1)
        off.add(moved)
    facts = dict.fromkeys(off, DayKind.OFF)
    for day in getattr(known, "weekend_workdays", ()):
        if day.year == year and day not in off:
            facts[day] = DayKind.WORKING
    for feast in feasts | {date(year + 1, 1, 1)}:
        eve = feast - timedelta(days=1)
        if eve.year == year and (eve.weekday() < 5 or eve in facts) and eve not in off:
            facts[eve] = DayKind.SHORT
    return facts


@cache
def _package_years() -> tuple[int, int]:
    """The years `holidays` knows Russian holidays for (1991-2100 in the pinned version)."""
    import holidays

    known = holidays.country_holidays("RU")
    return int(known.start_year), int(known.end_year)


_SUBSTITUTED = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")


def _moved_by_package(known: holidays.HolidayBase, feasts: set[date]) -> set[date]:
    """The weekend holidays among `feasts` that the `holidays` package itself moves to another day."""
    moved: set[date] = set()
    names = {feast: known.get_list(feast) for feast in feasts}
    for day in known:
        for name in known.get_list(day):
            found = _SUBSTITUTED.search(name)
            if found is not None:
                month, day_of_month, source_year = (int(g) for g in found.groups())
                moved.add(date(source_year, month, day_of_month))
            elif name.endswith(" (observed)"):
                base = name.removesuffix(" (observed)")
                moved.update(feast for feast, own in names.items() if base in own and feast < day)
    return moved & feasts


# --- Instants as integer microseconds since the epoch ---

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_PER_MINUTE = 60_000_000
_MIN_YEAR, _MAX_YEAR = 2, 9998  # years 1 and 9999 overflow datetime when shifted between zones
_MAX_REACH_YEARS = 50  # how far a term may run past the year it starts in before we give up


_FLOAT_EXACT_S = 2**32  # below this many seconds (year 2106) a float timestamp resolves microseconds exactly
# tzinfo types whose utcoffset() is never None: an aware datetime in them needs no _aware check.
_ALWAYS_AWARE = frozenset({ZoneInfo, timezone})


def _aware(at: datetime) -> datetime:
    tzinfo = at.tzinfo
    if tzinfo is None or tzinfo.utcoffset(at) is None:
        raise NaiveDatetimeError(f"naive datetime {at.isoformat()}: give a time zone offset")
    return at


def _micros(at: datetime) -> int:
    """Epoch microseconds of an aware datetime, exactly."""
    seconds = _aware(at).timestamp()  # the fast path; exact after rounding within _FLOAT_EXACT_S
    if -_FLOAT_EXACT_S < seconds < _FLOAT_EXACT_S:
        return round(seconds * 1e6)
    return (at - _EPOCH) // _US


def _instant(x: int, tz: ZoneInfo) -> datetime:
    """The aware datetime in `tz` of epoch microseconds x, exactly."""
    if -_FLOAT_EXACT_S * 1_000_000 < x < _FLOAT_EXACT_S * 1_000_000:
        return datetime.fromtimestamp(x / 1e6, tz)
    return (_EPOCH + timedelta(microseconds=x)).astimezone(tz)


def _minutes_us(minutes: float) -> int:
    if isinstance(minutes, int):
        return minutes * _US_PER_MINUTE
    if not isfinite(minutes):
        raise CalendarError(f"minutes must be a finite number, got {minutes!r}")
    return round(minutes * _US_PER_MINUTE)


def _minus_hour(t: time) -> time:
    minutes = t.hour * 60 + t.minute - 60
    return t.replace(hour=minutes // 60, minute=minutes % 60)


def _year_days(year: int) -> Iterator[date]:
    first, last = date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal()
    return (date.fromordinal(o) for o in range(first, last + 1))


@dataclass(frozen=True)
class _YearTable:
    """One local year: its working windows as epoch microseconds and its working days' closing instants."""

    windows: tuple[tuple[int, int], ...]
    working_ordinals: tuple[int, ...]
    closings: tuple[datetime, ...]  # end of working hours of each working day, aware in the calendar's zone
    first_us: int  # local midnight that starts the year
    end_us: int  # local midnight that ends it


class _Span:
    """Consecutive years' tables merged into flat lists for bisect; immutable once built."""

    __slots__ = (
        "closings", "cum_after", "cum_before", "days", "end_us", "first_us", "first_year", "float_exact",
        "last_year", "offset", "ord0", "total", "win_end", "win_start", "working_before",
    )  # fmt: skip

    def __init__(self, first_year: int, tables: list[_YearTable]) -> None:
        self.first_year = first_year
        self.last_year = first_year + len(tables) - 1
        self.first_us = tables[0].first_us
        self.end_us = tables[-1].end_us
        self.ord0 = date(first_year, 1, 1).toordinal()
        self.win_start: list[int] = []
        self.win_end: list[int] = []
        self.cum_before: list[int] = []  # working time before each window starts
        self.cum_after: list[int] = []  # ... and when it ends
        self.closings: list[datetime] = []
        total = 0
        working_ordinals: list[int] = []
        for table in tables:
            for start, end in table.windows:
                self.win_start.append(start)
                self.win_end.append(end)
                self.cum_before.append(total)
                total += end - start
                self.cum_after.append(total)
            working_ordinals.extend(table.working_ordinals)
            self.closings.extend(table.closings)
        self.total = total
        # offset[j] = C(x) - x inside window j (cum_before - win_start): C(x) = min(x + offset[j], cum_after[j]),
        # and the instant where C reaches t in window k is t - offset[k] (the fast path of add_working).
        self.offset = [before - start for before, start in zip(self.cum_before, self.win_start, strict=True)]
        # Every instant of the span converts through float timestamps exactly (_micros, _instant).
        limit = _FLOAT_EXACT_S * 1_000_000
        self.float_exact = -limit < self.first_us and self.end_us < limit
        # working_before[i]: how many working days come before day i of the span (i = ordinal - ord0).
        days = self.days = date(self.last_year + 1, 1, 1).toordinal() - self.ord0
        self.working_before = [0] * (days + 1)
        count = 0
        position = 0
        for i in range(days + 1):
            self.working_before[i] = count
            if position < len(working_ordinals) and working_ordinals[position] == self.ord0 + i:
                count += 1
                position += 1

    def worked(self, x: int) -> int:
        """C(x): working time from the span's start up to instant x (which lies inside the span)."""
        j = bisect_right(self.win_start, x) - 1
        if j < 0:
            return 0
        return self.cum_before[j] + min(x - self.win_start[j], self.win_end[j] - self.win_start[j])


_NO_OVERRIDES: Mapping[date, DayKind] = MappingProxyType({})


class WorkingCalendar:
    """The organisation's working calendar: one time zone, a weekly schedule, the production calendar."""

    def __init__(
        self,
        tz: str = "Asia/Novosibirsk",
        week: Mapping[int, DaySchedule | None] = DEFAULT_WEEK,
        years: Mapping[int, Mapping[date, DayKind]] | None = None,
        overrides: Mapping[date, DayKind] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        try:
            self._tz = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise CalendarError(f"unknown time zone {tz!r}") from None
        self._week = _check_week(week)
        # A working day whose weekday has no schedule (a working Saturday): Monday's, or the first one set.
        self._substitute = next(s for s in (self._week[d] for d in range(7)) if s is not None)
        self._years: dict[int, Mapping[date, DayKind]] = dict(_shipped())
        for year, facts in (years or {}).items():
            self._years[year] = _check_facts(facts, f"years[{year}]", year)
        self._overrides = _check_facts(overrides or _NO_OVERRIDES, "overrides", None)
        self._warn = warn
        self._facts_cache: dict[int, Mapping[date, DayKind]] = {}
        self._tables: dict[int, _YearTable] = {}
        self._spans: list[_Span] = []  # disjoint, never adjacent (adjacent ones are merged)
        self._span: _Span | None = None  # the one used last: the fast path checks it first

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    @property
    def supported_years(self) -> tuple[int, int]:
        """The first and last year whose holidays are known: production calendar data (shipped or given) and,
        around it, the years the `holidays` package knows for Russia (the fallback). Outside them a year would
        be computed with no holiday at all, and a term reaching across thousands of such years takes seconds
        and a warning a year: dates from outside (commands, ПОС notices) are refused beyond this range."""
        first, last = _package_years()
        if self._years:
            first, last = min(first, min(self._years)), max(last, max(self._years))
        return max(first, _MIN_YEAR), min(last, _MAX_YEAR)

    def covers(self, at: datetime | date) -> bool:
        """Whether `at` (its local year) lies within `supported_years`."""
        try:
            year = _aware(at).astimezone(self._tz).year if isinstance(at, datetime) else at.year
        except OverflowError:  # years 1 and 9999 shifted across zones leave datetime's range
            return False
        first, last = self.supported_years
        return first <= year <= last

    # --- Days ---

    def _facts(self, year: int) -> Mapping[date, DayKind]:
        facts = self._facts_cache.get(year)
        if facts is None:
            facts = self._years.get(year)
            if facts is None:
                facts = fallback_year(year)
                message = (
                    f"production calendar data for {year} is missing: using federal holidays (Labour Code "
                    f"art. 112) and short pre-holiday days (art. 95); load the official {year} calendar"
                )
                if self._warn is not None:
                    self._warn(message)
                else:
                    warnings.warn(message, CalendarDataWarning, stacklevel=2)
            self._facts_cache[year] = facts
        return facts

    def _kind(self, d: date) -> DayKind:
        kind = self._overrides.get(d)
        if kind is None:
            kind = self._facts(d.year).get(d)
        if kind is not None:
            return kind
        return DayKind.OFF if self._week[d.weekday()] is None else DayKind.WORKING

    def day(self, d: date) -> DayInfo:
        """The day's status and working windows (local times); a SHORT day ends one hour earlier."""
        kind = self._kind(d)
        if kind is DayKind.OFF:
            return DayInfo(d, working=False, short=False, windows=())
        schedule = self._week[d.weekday()] or self._substitute
        end = schedule.end if kind is DayKind.WORKING else _minus_hour(schedule.end)
        windows: tuple[tuple[time, time], ...]
        if schedule.lunch_start is None or schedule.lunch_end is None:
            windows = ((schedule.start, end),)
        elif end <= schedule.lunch_end:
            # A short day whose afternoon vanishes: RULES says the window "ends one hour earlier", literally.
            windows = ((schedule.start, min(end, schedule.lunch_start)),)
        else:
            windows = ((schedule.start, schedule.lunch_start), (schedule.lunch_end, end))
        return DayInfo(d, working=True, short=kind is DayKind.SHORT, windows=windows)

    def is_working(self, d: date) -> bool:
        return self._kind(d) is not DayKind.OFF

    def is_short(self, d: date) -> bool:
        return self._kind(d) is DayKind.SHORT

    def windows(self, d: date) -> tuple[tuple[time, time], ...]:
        return self.day(d).windows

    # --- Tables ---

    def _local_us(self, d: date, t: time) -> int:
        return (datetime.combine(d, t, tzinfo=self._tz) - _EPOCH) // _US

    def _year_table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            windows: list[tuple[int, int]] = []
            ordinals: list[int] = []
            closings: list[datetime] = []
            for d in _year_days(year):
                info = self.day(d)
                if not info.working:
                    continue
                for start_t, end_t in info.windows:
                    start, end = self._local_us(d, start_t), self._local_us(d, end_t)
                    if windows:  # a DST fold could make windows overlap: keep them ordered and disjoint
                        start = max(start, windows[-1][1])
                    if end > start:
                        windows.append((start, end))
                ordinals.append(d.toordinal())
                closings.append(datetime.combine(d, info.windows[-1][1], tzinfo=self._tz))
            table = _YearTable(
                windows=tuple(windows),
                working_ordinals=tuple(ordinals),
                closings=tuple(closings),
                first_us=self._local_us(date(year, 1, 1), time()),
                end_us=self._local_us(date(year + 1, 1, 1), time()),
            )
            self._tables[year] = table
        return table

    def _widen(self, span: _Span | None, first_year: int, last_year: int) -> _Span:
        """A span covering `span` and the given years, merged with every cached span it overlaps or touches.

        Years are only ever added next to years already needed, so no year gets computed (and warned about)
        that no query needed; queries far apart keep separate spans instead of thrashing one.
        """
        if span is not None:
            first_year, last_year = min(first_year, span.first_year), max(last_year, span.last_year)
        if first_year < _MIN_YEAR or last_year > _MAX_YEAR:
            raise CalendarError(f"the working calendar covers years {_MIN_YEAR}-{_MAX_YEAR} only")
        apart = []
        for other in self._spans:
            if other.first_year - 1 <= last_year and first_year - 1 <= other.last_year:
                first_year, last_year = min(first_year, other.first_year), max(last_year, other.last_year)
            else:
                apart.append(other)
        merged = _Span(first_year, [self._year_table(y) for y in range(first_year, last_year + 1)])
        self._spans = [merged, *apart]
        self._span = merged
        return merged

    def _span_for_year(self, year: int) -> _Span:
        for span in self._spans:
            if span.first_year <= year <= span.last_year:
                self._span = span
                return span
        return self._widen(None, year, year)

    def _span_at(self, x: int, at: datetime) -> _Span:
        """A span containing the instant x (= `at`)."""
        span = self._span
        if span is None or not span.first_us <= x < span.end_us:
            span = self._span_for_year(at.astimezone(self._tz).year)
        return span

    def _span_on(self, ordinal: int) -> _Span:
        """A span containing the local date with this ordinal."""
        span = self._span
        if span is None or not 0 <= ordinal - span.ord0 < span.days:
            if not date(_MIN_YEAR, 1, 1).toordinal() <= ordinal <= date(_MAX_YEAR, 12, 31).toordinal():
                raise CalendarError(f"the working calendar covers years {_MIN_YEAR}-{_MAX_YEAR} only")
            span = self._span_for_year(date.fromordinal(ordinal).year)
        return span

    def _widening(self, span: _Span, *, later: bool) -> Iterator[_Span]:
        """`span`, then spans grown a year at a time later (or earlier), for a term that runs off its end."""
        yield span
        for _ in range(_MAX_REACH_YEARS):
            if later:
                span = self._widen(span, span.first_year, span.last_year + 1)
            else:
                span = self._widen(span, span.first_year - 1, span.last_year)
            yield span
        raise CalendarError(f"no working time within {_MAX_REACH_YEARS} years: check the calendar settings")

    def _out(self, x: int) -> datetime:
        return _instant(x, self._tz)

    # --- Working time ---
    # C(x) is the working time accumulated up to instant x (_Span.worked): it grows inside working
    # windows and is flat between them, so a term is "where C reaches a value", found by bisect.

    def add_working(self, start: datetime, minutes: int | float) -> datetime:
        """`start` plus `minutes` of working time (RULES §1): the earliest instant when that much has passed.

        A start outside working time counts from the next window; a result that fills a window exactly is that
        window's end (18:00, not 09:00 the next day). minutes=0 gives `next_working_instant(start)`; negative
        minutes count backwards, as `subtract_working`.

        The fast path (a term's due, a reminder point: positive minutes from a start in a zone that always has
        an offset, within the span used last) is two bisects and arithmetic on the span's tables; anything else
        takes `add_working_reference`, which gives the same instant (tests/unit/test_calendar_properties.py).
        """
        span = self._span
        if span is not None and span.float_exact and type(start.tzinfo) in _ALWAYS_AWARE:
            if type(minutes) is int:
                m = minutes * _US_PER_MINUTE
            else:  # = _minutes_us; a reminder point is a fraction of a term
                m = round(minutes * _US_PER_MINUTE) if type(minutes) is float and isfinite(minutes) else -1
            x = round(start.timestamp() * 1e6)  # = _micros(start): the span's instants are float-exact
            if m > 0 and span.first_us <= x < span.end_us:
                j = bisect_right(span.win_start, x) - 1
                worked = 0
                if j >= 0:
                    worked = x + span.offset[j]
                    if worked > span.cum_after[j]:
                        worked = span.cum_after[j]
                target = worked + m
                if target <= span.total:
                    k = bisect_left(span.cum_after, target)
                    return datetime.fromtimestamp((target - span.offset[k]) / 1e6, self._tz)  # = self._out
        return self.add_working_reference(start, minutes)

    def add_working_reference(self, start: datetime, minutes: int | float) -> datetime:
        """`add_working` by the general path: any zone, any minutes, a span widened as far as the term runs.

        The reference the fast path is held to; callers use `add_working`.
        """
        x, m = _micros(start), _minutes_us(minutes)
        if m < 0:
            return self._subtract(end=start, x=x, m=-m)
        if m == 0:
            return self.next_working_instant(start)
        return self._add(start, x, m)

    def subtract_working(self, end: datetime, minutes: int | float) -> datetime:
        """The latest instant t with working_time_between(t, end) == minutes ("N working hours before").

        11:00 minus 2 h is 09:00 the same day (not 18:00 the day before); 15:00 minus 2 h is 12:00;
        minutes=0 gives `end` itself.
        """
        x, m = _micros(end), _minutes_us(minutes)
        if m < 0:
            return self._add(end, x, -m)
        return self._subtract(end, x, m)

    def _add(self, start: datetime, x: int, m: int) -> datetime:
        for span in self._widening(self._span_at(x, start), later=True):
            target = span.worked(x) + m
            if target <= span.total:
                # The first window whose end accumulates >= target: the earliest instant with C == target.
                k = bisect_left(span.cum_after, target)
                return self._out(span.win_end[k] - (span.cum_after[k] - target))
        raise AssertionError("unreachable")  # _widening raises when it gives up

    def _subtract(self, end: datetime, x: int, m: int) -> datetime:
        for span in self._widening(self._span_at(x, end), later=False):
            target = span.worked(x) - m
            # The last window that starts with <= target accumulated; when target falls on the flat stretch
            # between two windows this is the later one's start, the latest instant with C == target.
            j = bisect_right(span.cum_before, target) - 1
            if j >= 0:
                return self._out(min(x, span.win_start[j] + (target - span.cum_before[j])))
        raise AssertionError("unreachable")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time from a to b; negative when b is before a."""
        xa, xb = _micros(a), _micros(b)
        span = self._span_at(xa, a)
        if not span.first_us <= xb < span.end_us:
            year = b.astimezone(self._tz).year
            span = self._widen(span, year, year)  # the whole stretch from a to b is needed
        return timedelta(microseconds=span.worked(xb) - span.worked(xa))

    def next_working_instant(self, at: datetime) -> datetime:
        """`at` itself if it lies in a working window (ends included), else the start of the next window."""
        x = _micros(at)
        for span in self._widening(self._span_at(x, at), later=True):
            j = bisect_right(span.win_start, x) - 1
            if j >= 0 and x <= span.win_end[j]:
                return at.astimezone(self._tz)
            if j + 1 < len(span.win_start):
                return self._out(span.win_start[j + 1])
        raise AssertionError("unreachable")

    # --- Working and calendar days ---
    # working_before[i] counts the working days before day i of the span, so the
    # working days on or before day i are working_before[i + 1], and closings[k] ends the k-th of them.

    def add_working_days(self, event: datetime, n: int) -> datetime:
        """Civil Code art. 191: end of working hours of the N-th working day after the event's local date.

        n=0 gives the end of the event's own day if it is working, else of the next working day.
        """
        _check_count(n)
        ordinal = _aware(event).astimezone(self._tz).toordinal()
        if n == 0:
            return self._closing_on_or_after(ordinal)
        for span in self._widening(self._span_on(ordinal), later=True):
            k = span.working_before[ordinal - span.ord0 + 1] + n - 1
            if k < len(span.closings):
                return span.closings[k]
        raise AssertionError("unreachable")

    def add_calendar_days(self, event: datetime, n: int) -> datetime:
        """End of working hours of the N-th calendar day after the event's local date, or, if that day is not
        working, of the next working day (Civil Code arts. 191, 193)."""
        _check_count(n)
        return self._closing_on_or_after(_aware(event).astimezone(self._tz).toordinal() + n)

    def days_before(self, due: datetime, n: int) -> datetime:
        """End of working hours of (due's local date - N calendar days), or of the last working day before it
        if that day is not working ("not later than N days before the term")."""
        _check_count(n)
        ordinal = _aware(due).astimezone(self._tz).toordinal() - n
        for span in self._widening(self._span_on(ordinal), later=False):
            k = span.working_before[ordinal - span.ord0 + 1] - 1
            if k >= 0:
                return span.closings[k]
        raise AssertionError("unreachable")

    def end_of_working_day(self, d: date) -> datetime:
        """End of working hours of `d`, or, if `d` is not a working day, of the next working day."""
        return self._closing_on_or_after(d.toordinal())

    def _closing_on_or_after(self, ordinal: int) -> datetime:
        for span in self._widening(self._span_on(ordinal), later=True):
            i = ordinal - span.ord0
            if i < span.days and span.working_before[i] < len(span.closings):
                return span.closings[span.working_before[i]]
        raise AssertionError("unreachable")


# --- Validation of settings ---


def _check_count(n: int) -> None:
    if n < 0:
        raise CalendarError(f"a number of days must not be negative, got {n}")


def _check_week(week: Mapping[int, DaySchedule | None]) -> dict[int, DaySchedule | None]:
    unknown = set(week) - set(range(7))
    if unknown:
        raise CalendarError(f"week: weekday keys must be 0 (Monday) to 6 (Sunday), got {sorted(unknown)}")
    checked = {d: week.get(d) for d in range(7)}
    for weekday, schedule in checked.items():
        if schedule is None:
            continue
        if not isinstance(schedule, DaySchedule):
            raise CalendarError(f"week[{weekday}]: expected a DaySchedule or None, got {schedule!r}")
        times = [schedule.start, schedule.end, schedule.lunch_start, schedule.lunch_end]
        if any(t is not None and (not isinstance(t, time) or t.tzinfo is not None) for t in times):
            raise CalendarError(f"week[{weekday}]: times must be naive datetime.time values, got {schedule}")
        lunch = (schedule.lunch_start, schedule.lunch_end)
        if (lunch[0] is None) != (lunch[1] is None):
            raise CalendarError(f"week[{weekday}]: give both lunch_start and lunch_end, or neither")
        order = [schedule.start, *(t for t in lunch if t is not None), schedule.end]
        if any(a >= b for a, b in pairwise(order)):
            raise CalendarError(
                f"week[{weekday}]: expected start < lunch_start < lunch_end < end, got {schedule}"
            )
        if schedule.end.hour < 1 or _minus_hour(schedule.end) <= schedule.start:
            raise CalendarError(
                f"week[{weekday}]: a short day ends an hour earlier, which leaves no time: {schedule}"
            )
    if all(s is None for s in checked.values()):
        raise CalendarError("week: no weekday has working hours")
    return checked


def _check_facts(facts: Mapping[date, DayKind], what: str, year: int | None) -> Mapping[date, DayKind]:
    for d, kind in facts.items():
        if not isinstance(d, date) or isinstance(d, datetime):
            raise CalendarError(f"{what}: keys must be dates, got {d!r}")
        if year is not None and d.year != year:
            raise CalendarError(f"{what}: {d} is not in {year}")
        if not isinstance(kind, DayKind):
            raise CalendarError(f"{what}[{d}]: expected a DayKind, got {kind!r}")
    return MappingProxyType(dict(facts))
