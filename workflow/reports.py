"""The п.18 report: on-time figures by unit, person and term, shortcomings, cases by source. Pure.

What counts (the definitions storage/reports.py computes in SQL, and `compute_report` here in Python on plain
records, the reference the SQL is checked against):

- A term counts in a period when its due instant falls in it (local days, [start, end)). Return-only terms
  (RULES.md §6: their lapse is no miss) and cancelled ones (closed neither met nor missed) do not count.
- A counted term is met (closed met), missed (closed missed, or still open past due at the report's instant)
  or pending (open, not yet due). The share on time is met / (met + missed); None when nothing is decided.
- Time to answer: from a term's start to its close, for closed counted terms, in whole minutes (cut down); the
  median (the mean of the two middle values for an even count) and the 90th percentile by nearest rank (the
  value at rank ceil(0.9·n)). Whole minutes let the database count durations (GROUP BY) instead of sorting
  every term of a year: the percentiles come from those counts (`histogram_percentiles`).
- Cases count in a period when their T0 falls in it: registered; answered (an answer term, os.publish or
  pos.answer, is done and the case was not excluded or returned); answered on time (answered, and no answer
  term of the case missed); excluded;
  returned (to the ЦУР curator). Reworks and returns by units (п.18 shortcomings) are the events of the period.
- Shortcomings: the missed terms, with case numbers.

Periods follow the working calendar's time zone: a week is Monday to Sunday, a month a calendar month.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from workflow.calendar import WorkingCalendar
from workflow.model import DomainError

# The terms whose completion is the answer itself (RULES.md §2 п.10, §3 п.10).
ANSWER_TERMS = frozenset({"os.publish", "pos.answer"})
# Case statuses that mean «not answered by design».
EXCLUDED = "excluded"
RETURNED = "returned"
NOT_ANSWERED_STATUSES = frozenset({EXCLUDED, RETURNED})
# The events that are shortcomings of п.18: a draft sent back for rework, a message returned by a unit as not
# its competence, a message returned to the ЦУР curator.
REWORK_ACTIONS = frozenset({"rework"})
RETURN_ACTIONS = frozenset({"decline", "return"})
# Missed terms a report lists at most (the workbook's sheet; the JSON has them all up to this too).
SHORTCOMINGS_LIMIT = 5000
# The longest period a report covers: a year and a bit (a year is what the benchmark reads).
MAX_DAYS = 400

WEEK_WORDS = frozenset({"неделя", "неделю", "week"})
MONTH_WORDS = frozenset({"месяц", "month"})
_MONTH = re.compile(r"(\d{4})-(\d{2})")

BAD_PERIOD = "Не понял период. Примеры: /report неделя, /report месяц, /report 2026-11."
BAD_MONTH = "Такого месяца нет: {value}. Месяц пишется как ГГГГ-ММ, например 2026-11."
END_BEFORE_START = "Конец периода ({end}) раньше начала ({start})."
TOO_LONG = "Период длиннее {days} дней: разбейте его на части."
BAD_DATE = "Такой даты нет или она записана иначе: {value} (нужно ГГГГ-ММ-ДД, например 2026-11-30)."


class PeriodError(DomainError):
    """A period that cannot be: the message is one Russian line."""


@dataclass(frozen=True, slots=True)
class Period:
    """Local days `first`..`last` (both included) and the instants they span, [start, end)."""

    first: date
    last: date
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.first:%d.%m.%Y} — {self.last:%d.%m.%Y}"


def period_between(first: date, last: date, tz: ZoneInfo) -> Period:
    if last < first:
        raise PeriodError(END_BEFORE_START.format(start=first.isoformat(), end=last.isoformat()))
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError(TOO_LONG.format(days=MAX_DAYS))
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    return Period(first=first, last=last, start=start, end=end)


def week_of(day: date, tz: ZoneInfo) -> Period:
    monday = day - timedelta(days=day.weekday())
    return period_between(monday, monday + timedelta(days=6), tz)


def month_of(year: int, month: int, tz: ZoneInfo) -> Period:
    if not 1 <= month <= 12 or not 1 <= year <= 9998:
        raise PeriodError(BAD_MONTH.format(value=f"{year:04d}-{month:02d}"))
    first = date(year, month, 1)
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return period_between(first, following - timedelta(days=1), tz)


def parse_day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise PeriodError(BAD_DATE.format(value=value)) from None


def parse_period(arg: str | None, now: datetime, tz: ZoneInfo) -> Period:
    """`/report` argument: none or «неделя» (the current week so far), «месяц» (the current month), «ГГГГ-ММ»."""
    today = now.astimezone(tz).date()
    word = (arg or "").strip().lower()
    if not word or word in WEEK_WORDS:
        return week_of(today, tz)
    if word in MONTH_WORDS:
        return month_of(today.year, today.month, tz)
    match = _MONTH.fullmatch(word)
    if match is None:
        raise PeriodError(BAD_PERIOD)
    return month_of(int(match.group(1)), int(match.group(2)), tz)


def previous_week(now: datetime, calendar: WorkingCalendar) -> Period:
    """The week (Monday–Sunday) before the one `now` is in: what the weekly report covers."""
    today = now.astimezone(calendar.tz).date()
    return week_of(today - timedelta(days=7), calendar.tz)


def week_starts(period: Period) -> list[date]:
    """The Mondays of the weeks the period touches (the first may be before the period's first day)."""
    monday = period.first - timedelta(days=period.first.weekday())
    found = []
    while monday <= period.last:
        found.append(monday)
        monday += timedelta(days=7)
    return found


# --- figures ---------------------------------------------------------------------------------------------


class Outcome(StrEnum):
    MET = "met"
    MISSED = "missed"
    PENDING = "pending"


def term_outcome(
    met: bool | None, closed_at: datetime | None, due: datetime, now: datetime
) -> Outcome | None:
    """A term's outcome at `now`; None: cancelled (closed neither met nor missed), it does not count."""
    if closed_at is not None:
        if met is None:
            return None
        return Outcome.MET if met else Outcome.MISSED
    return Outcome.MISSED if due < now else Outcome.PENDING


def median_ranks(n: int) -> tuple[int, int]:
    """The 1-based ranks whose mean is the median of n sorted values (the same rank twice for odd n)."""
    return (n + 1) // 2, (n + 2) // 2


def p90_rank(n: int) -> int:
    """The nearest rank of the 90th percentile: ceil(0.9·n)."""
    return (9 * n + 9) // 10


def median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    lo, hi = median_ranks(len(ordered))
    return (ordered[lo - 1] + ordered[hi - 1]) / 2


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[p90_rank(len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class TermFigures:
    """The terms of one group (a unit, a person, a term id, or all) due in the period."""

    key: str
    terms: int = 0
    met: int = 0
    missed: int = 0
    median_minutes: float | None = None
    p90_minutes: int | None = None

    @property
    def pending(self) -> int:
        return self.terms - self.met - self.missed

    @property
    def on_time_share(self) -> float | None:
        decided = self.met + self.missed
        return round(self.met / decided, 4) if decided else None


@dataclass(frozen=True, slots=True)
class CaseFigures:
    registered: int = 0
    answered: int = 0
    answered_on_time: int = 0
    excluded: int = 0
    returned: int = 0


@dataclass(frozen=True, slots=True)
class Shortcoming:
    """A missed term: the list п.18 asks the head to see."""

    case_id: int
    term_id: str
    unit: str | None
    person: str
    due: datetime
    done: datetime | None


@dataclass(frozen=True, slots=True)
class CaseCount:
    """Reworks and returns of one case in the period (only cases with some)."""

    case_id: int
    reworks: int
    returns: int


@dataclass(frozen=True, slots=True)
class Report:
    period: Period
    read_at: datetime
    cases: CaseFigures
    total: TermFigures
    by_unit: tuple[TermFigures, ...]
    by_person: tuple[TermFigures, ...]
    by_term: tuple[TermFigures, ...]
    by_source: Mapping[str, int]
    by_network: Mapping[str, int]
    by_category: Mapping[str, int]
    per_week: tuple[tuple[date, int], ...]
    reworks: int
    returns: int
    rework_cases: tuple[CaseCount, ...]
    shortcomings: tuple[Shortcoming, ...]
    units: frozenset[str] | None = None  # the units the report is narrowed to; None: the whole district

    @property
    def empty(self) -> bool:
        return self.cases.registered == 0 and self.total.terms == 0 and self.reworks + self.returns == 0


# --- the reference computation on plain records ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TermRecord:
    case_id: int
    term_id: str
    unit: str | None
    person: str
    started_at: datetime
    due: datetime
    closed_at: datetime | None
    met: bool | None


@dataclass(frozen=True, slots=True)
class CaseRecord:
    case_id: int
    t0: datetime
    status: str
    source: str
    network: str | None
    category: str | None
    units: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class EventRecord:
    case_id: int
    action: str
    at: datetime


def minutes_between(start: datetime, end: datetime) -> int:
    """Whole minutes from `start` to `end`, cut down."""
    return int((end - start).total_seconds() // 60)


def histogram_percentiles(counts: Mapping[int, int]) -> tuple[float | None, int | None]:
    """(median, p90) of the values counted in `counts` (value -> how many), as `median` and `p90` define them."""
    n = sum(counts.values())
    if not n:
        return None, None
    lo, hi, top = (*median_ranks(n), p90_rank(n))
    found: dict[int, int] = {}
    seen = 0
    for value in sorted(counts):
        first, seen = seen + 1, seen + counts[value]
        for rank in (lo, hi, top):
            if first <= rank <= seen:
                found[rank] = value
        if seen >= max(lo, hi, top):
            break
    return (found[lo] + found[hi]) / 2, found[top]


def figures(key: str, items: Sequence[tuple[Outcome, int | None]]) -> TermFigures:
    """Figures of one group from (outcome, minutes to close or None) pairs."""
    durations = [float(d) for _o, d in items if d is not None]
    top = p90(durations)
    return TermFigures(
        key=key,
        terms=len(items),
        met=sum(1 for o, _d in items if o is Outcome.MET),
        missed=sum(1 for o, _d in items if o is Outcome.MISSED),
        median_minutes=median(durations),
        p90_minutes=int(top) if top is not None else None,
    )


def _grouped(rows: Iterable[tuple[str, Outcome, int | None]]) -> tuple[TermFigures, ...]:
    groups: dict[str, list[tuple[Outcome, int | None]]] = {}
    for key, outcome, seconds in rows:
        groups.setdefault(key, []).append((outcome, seconds))
    return tuple(figures(key, groups[key]) for key in sorted(groups))


def _counts(values: Iterable[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for value in values:
        found[value] = found.get(value, 0) + 1
    return dict(sorted(found.items()))


def compute_report(
    period: Period,
    now: datetime,
    terms: Iterable[TermRecord],
    cases: Iterable[CaseRecord],
    events: Iterable[EventRecord],
    *,
    return_only: frozenset[str] = frozenset(),
    units: frozenset[str] | None = None,
) -> Report:
    """The report from records: the definition storage/reports.py computes in SQL (tests compare the two)."""
    all_cases = {c.case_id: c for c in cases}
    visible = {i for i, c in all_cases.items() if units is None or not units.isdisjoint(c.units)}
    in_period = [all_cases[i] for i in sorted(visible) if period.start <= all_cases[i].t0 < period.end]
    counted: list[tuple[TermRecord, Outcome, int | None]] = []
    answer: dict[int, list[TermRecord]] = {}
    for term in terms:
        if term.term_id in ANSWER_TERMS and term.case_id in visible:
            answer.setdefault(term.case_id, []).append(term)
        if term.term_id in return_only or not period.start <= term.due < period.end:
            continue
        if units is not None and term.unit not in units:
            continue
        outcome = term_outcome(term.met, term.closed_at, term.due, now)
        if outcome is None:
            continue
        took = minutes_between(term.started_at, term.closed_at) if term.closed_at is not None else None
        counted.append((term, outcome, took))
    answered = on_time = 0
    for case in in_period:
        rows = answer.get(case.case_id, [])
        if case.status in NOT_ANSWERED_STATUSES or not any(t.closed_at and t.met is not None for t in rows):
            continue
        answered += 1
        on_time += 0 if any(t.met is False for t in rows) else 1
    week_list = week_starts(period)
    per_week = {monday: 0 for monday in week_list}
    for case in in_period:
        day = case.t0.astimezone(period.start.tzinfo).date()
        per_week[day - timedelta(days=day.weekday())] += 1
    reworks: dict[int, int] = {}
    returns: dict[int, int] = {}
    for event in events:
        if event.case_id not in visible or not period.start <= event.at < period.end:
            continue
        if event.action in REWORK_ACTIONS:
            reworks[event.case_id] = reworks.get(event.case_id, 0) + 1
        elif event.action in RETURN_ACTIONS:
            returns[event.case_id] = returns.get(event.case_id, 0) + 1
    shortcomings = sorted(
        (
            Shortcoming(t.case_id, t.term_id, t.unit, t.person, t.due, t.closed_at)
            for t, outcome, _s in counted
            if outcome is Outcome.MISSED
        ),
        key=lambda s: (s.due, s.case_id, s.term_id, s.unit or ""),
    )[:SHORTCOMINGS_LIMIT]
    return Report(
        period=period,
        read_at=now,
        cases=CaseFigures(
            registered=len(in_period),
            answered=answered,
            answered_on_time=on_time,
            excluded=sum(1 for c in in_period if c.status == EXCLUDED),
            returned=sum(1 for c in in_period if c.status == RETURNED),
        ),
        total=figures("", [(o, s) for _t, o, s in counted]),
        by_unit=_grouped((t.unit, o, s) for t, o, s in counted if t.unit is not None),
        by_person=_grouped((t.person, o, s) for t, o, s in counted if t.person),
        by_term=_grouped((t.term_id, o, s) for t, o, s in counted),
        by_source=_counts(c.source for c in in_period),
        by_network=_counts(c.network for c in in_period if c.network),
        by_category=_counts(c.category for c in in_period if c.category),
        per_week=tuple(sorted(per_week.items())),
        reworks=sum(reworks.values()),
        returns=sum(returns.values()),
        rework_cases=tuple(
            CaseCount(i, reworks.get(i, 0), returns.get(i, 0)) for i in sorted(set(reworks) | set(returns))
        ),
        shortcomings=tuple(shortcomings),
        units=units,
    )


# --- the JSON of `otklik report --json` --------------------------------------------------------------------


def _iso(at: datetime | None, tz: ZoneInfo) -> str | None:
    return at.astimezone(tz).isoformat() if at is not None else None


def report_json(report: Report) -> dict[str, object]:
    """Exactly the shape issue 14 names."""
    tz = report.period.start.tzinfo
    assert isinstance(tz, ZoneInfo)
    return {
        "from": report.period.first.isoformat(),
        "to": report.period.last.isoformat(),
        "cases": {
            "registered": report.cases.registered,
            "answered": report.cases.answered,
            "answered_on_time": report.cases.answered_on_time,
            "excluded": report.cases.excluded,
            "returned": report.cases.returned,
        },
        "by_unit": [
            {
                "unit": f.key,
                "terms": f.terms,
                "met": f.met,
                "missed": f.missed,
                "on_time_share": f.on_time_share,
            }
            for f in report.by_unit
        ],
        "by_term": [
            {"term": f.key, "terms": f.terms, "met": f.met, "missed": f.missed} for f in report.by_term
        ],
        "shortcomings": [
            {
                "case": s.case_id,
                "term": s.term_id,
                "unit": s.unit,
                "due": _iso(s.due, tz),
                "done": _iso(s.done, tz),
            }
            for s in report.shortcomings
        ],
    }
