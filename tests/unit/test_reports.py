"""workflow/reports.py: the figures of one week counted by hand, the periods, and the JSON shape."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from workflow.reports import (
    CaseCount,
    CaseRecord,
    EventRecord,
    PeriodError,
    TermRecord,
    compute_report,
    histogram_percentiles,
    median,
    minutes_between,
    month_of,
    p90,
    parse_period,
    period_between,
    report_json,
    week_of,
)

TZ = ZoneInfo("Asia/Novosibirsk")
RETURN_ONLY = frozenset({"os.return", "pos.return"})


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=TZ)


WEEK = week_of(date(2026, 12, 2), TZ)  # Monday 30.11 .. Sunday 06.12
NOW = at("2026-12-05 12:00")

# The scenario (see the figures counted in each test below).
TERMS = [
    # 1: met in 30 min
    TermRecord(1, "os.route", None, "Иванов", at("2026-11-30 09:00"), at("2026-11-30 10:00"), at("2026-11-30 09:30"), True),
    # 2: missed, closed late after 3 h
    TermRecord(1, "os.unit_info", "housing", "Петров", at("2026-11-30 09:30"), at("2026-11-30 11:30"), at("2026-11-30 12:30"), False),
    # 3: met in 8 h
    TermRecord(1, "os.publish", None, "Иванов", at("2026-11-30 09:00"), at("2026-11-30 18:00"), at("2026-11-30 17:00"), True),
    # 9: met in 1 h
    TermRecord(1, "os.unit_info", "education", "Сидорова", at("2026-11-30 09:30"), at("2026-11-30 11:30"), at("2026-11-30 10:30"), True),
    # 4: open past due at NOW: missed, no time to answer
    TermRecord(2, "os.unit_info", "housing", "Петров", at("2026-12-01 10:00"), at("2026-12-01 12:00"), None, None),
    # 5: return-only: its lapse is no miss, not counted
    TermRecord(2, "os.return", None, "", at("2026-12-01 10:00"), at("2026-12-01 10:30"), at("2026-12-01 11:00"), False),
    # 6: cancelled (closed neither met nor missed): not counted
    TermRecord(3, "os.unit_info", "education", "Сидорова", at("2026-12-02 10:00"), at("2026-12-02 12:00"), at("2026-12-02 11:00"), None),
    # 7: open, due after NOW: pending
    TermRecord(3, "os.unit_info", "education", "Сидорова", at("2026-12-02 10:00"), at("2026-12-06 10:00"), None, None),
    # 8: due next week: not in the period
    TermRecord(4, "pos.answer", None, "", at("2026-11-30 10:00"), at("2026-12-10 18:00"), None, None),
    # 10: due the week before
    TermRecord(0, "os.unit_info", "housing", "Петров", at("2026-11-27 10:00"), at("2026-11-29 10:00"), None, None),
]  # fmt: skip
CASES = [
    CaseRecord(0, at("2026-11-28 10:00"), "in_units", "vk", "vk", None, frozenset({"housing"})),
    CaseRecord(1, at("2026-11-30 09:00"), "answered", "vk", "vk", None, frozenset({"housing", "education"})),
    CaseRecord(2, at("2026-12-01 10:00"), "in_units", "intake", "ok", None, frozenset({"housing"})),
    CaseRecord(3, at("2026-12-02 10:00"), "excluded", "region_curator", None, None, frozenset({"education"})),
    CaseRecord(4, at("2026-11-30 10:00"), "in_work", "pos", None, "local_fast", frozenset()),
    CaseRecord(5, at("2026-12-03 10:00"), "returned", "vk", "vk", None, frozenset()),
]
EVENTS = [
    EventRecord(1, "rework", at("2026-11-30 14:00")),
    EventRecord(1, "rework", at("2026-11-30 15:00")),
    EventRecord(1, "approve", at("2026-11-30 16:00")),
    EventRecord(2, "decline", at("2026-12-01 11:00")),
    EventRecord(5, "return", at("2026-12-03 10:20")),
    EventRecord(0, "rework", at("2026-11-28 12:00")),
]


def report(units: frozenset[str] | None = None):  # type: ignore[no-untyped-def]
    return compute_report(WEEK, NOW, TERMS, CASES, EVENTS, return_only=RETURN_ONLY, units=units)


def test_totals_counted_by_hand() -> None:
    r = report()
    # Counted: terms 1, 2, 3, 9, 4, 7; met 1, 3, 9; missed 2, 4; pending 7.
    assert (r.total.terms, r.total.met, r.total.missed, r.total.pending) == (6, 3, 2, 1)
    assert r.total.on_time_share == 0.6
    # Closed counted terms: 30, 180, 480, 60 min -> sorted 30, 60, 180, 480.
    assert r.total.median_minutes == 120.0  # (60 + 180) / 2
    assert r.total.p90_minutes == 480  # rank ceil(3.6) = 4


def test_by_unit_person_term() -> None:
    r = report()
    units = {f.key: (f.terms, f.met, f.missed, f.on_time_share, f.median_minutes) for f in r.by_unit}
    assert units == {"education": (2, 1, 0, 1.0, 60.0), "housing": (2, 0, 2, 0.0, 180.0)}
    people = {f.key: (f.terms, f.met, f.missed) for f in r.by_person}
    assert people == {"Иванов": (2, 2, 0), "Петров": (2, 0, 2), "Сидорова": (2, 1, 0)}
    by_term = {f.key: (f.terms, f.met, f.missed) for f in r.by_term}
    assert by_term == {"os.publish": (1, 1, 0), "os.route": (1, 1, 0), "os.unit_info": (4, 1, 2)}


def test_cases_sources_and_weeks() -> None:
    r = report()
    # In the week: cases 1..5 (case 0 is the week before).
    c = r.cases
    assert (c.registered, c.answered, c.answered_on_time, c.excluded, c.returned) == (5, 1, 1, 1, 1)
    assert r.by_source == {"intake": 1, "pos": 1, "region_curator": 1, "vk": 2}
    assert r.by_network == {"ok": 1, "vk": 2}
    assert r.by_category == {"local_fast": 1}
    assert r.per_week == ((date(2026, 11, 30), 5),)


def test_shortcomings_reworks_returns() -> None:
    r = report()
    assert [(s.case_id, s.term_id, s.unit, s.done) for s in r.shortcomings] == [
        (1, "os.unit_info", "housing", at("2026-11-30 12:30")),
        (2, "os.unit_info", "housing", None),
    ]
    assert (r.reworks, r.returns) == (
        2,
        2,
    )  # case 0's rework is the week before; an approve is no shortcoming
    assert r.rework_cases == (CaseCount(1, 2, 0), CaseCount(2, 0, 1), CaseCount(5, 0, 1))


def test_narrowed_to_one_unit() -> None:
    r = report(frozenset({"housing"}))
    assert (r.total.terms, r.total.met, r.total.missed) == (2, 0, 2)
    assert [f.key for f in r.by_unit] == ["housing"]
    assert (r.cases.registered, r.cases.answered) == (2, 1)  # cases 1 and 2 are routed to housing
    assert (r.reworks, r.returns) == (2, 1)


def test_json_shape() -> None:
    data = report_json(report())
    assert list(data) == ["from", "to", "cases", "by_unit", "by_term", "shortcomings"]
    assert (data["from"], data["to"]) == ("2026-11-30", "2026-12-06")
    assert data["cases"] == {
        "registered": 5,
        "answered": 1,
        "answered_on_time": 1,
        "excluded": 1,
        "returned": 1,
    }
    assert data["by_unit"][1] == {"unit": "housing", "terms": 2, "met": 0, "missed": 2, "on_time_share": 0.0}  # type: ignore[index]
    assert data["shortcomings"][1] == {  # type: ignore[index]
        "case": 2, "term": "os.unit_info", "unit": "housing", "due": "2026-12-01T12:00:00+07:00", "done": None,
    }  # fmt: skip


def test_empty_period_is_an_honest_empty_report() -> None:
    r = compute_report(week_of(date(2026, 1, 14), TZ), NOW, TERMS, CASES, EVENTS, return_only=RETURN_ONLY)
    assert r.empty and r.total.on_time_share is None and r.total.median_minutes is None
    assert report_json(r)["by_unit"] == []


def test_percentiles() -> None:
    assert median([5.0]) == 5.0 and p90([5.0]) == 5.0
    assert median([1.0, 2.0, 3.0]) == 2.0
    assert p90([float(i) for i in range(1, 11)]) == 9.0  # rank 9 of 10
    assert p90([float(i) for i in range(1, 12)]) == 10.0  # rank ceil(9.9) = 10 of 11
    assert median([]) is None and p90([]) is None


def test_periods() -> None:
    assert week_of(date(2026, 12, 6), TZ).first == date(2026, 11, 30)  # a Sunday belongs to its Monday's week
    feb = month_of(2028, 2, TZ)
    assert (feb.first, feb.last) == (date(2028, 2, 1), date(2028, 2, 29))
    assert feb.start == at("2028-02-01 00:00") and feb.end == at("2028-03-01 00:00")
    assert parse_period("2026-11", NOW, TZ).last == date(2026, 11, 30)
    assert parse_period("месяц", NOW, TZ).first == date(2026, 12, 1)
    assert parse_period(None, NOW, TZ) == WEEK
    assert parse_period("Неделя", NOW, TZ) == WEEK


@pytest.mark.parametrize("arg", ["2026-13", "2026-00", "вчера", "2026-1"])
def test_bad_periods_say_so(arg: str) -> None:
    with pytest.raises(PeriodError) as caught:
        parse_period(arg, NOW, TZ)
    assert "\n" not in caught.value.message


def test_end_before_start() -> None:
    with pytest.raises(PeriodError, match="раньше начала"):
        period_between(date(2026, 12, 2), date(2026, 12, 1), TZ)


@pytest.mark.parametrize(
    "values",
    [[7], [1, 2], [3, 3, 3, 1], [5, 1, 9, 9, 2, 2, 2, 40, 11, 11, 11], list(range(100)), [0, 0, 1] * 7],
)
def test_percentiles_from_counts_equal_the_sorted_list(values: list[int]) -> None:
    counts: dict[int, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    floats = [float(v) for v in values]
    assert histogram_percentiles(counts) == (median(floats), p90(floats))


def test_minutes_are_cut_down() -> None:
    assert minutes_between(at("2026-11-30 09:00"), at("2026-11-30 09:30:59")) == 30
    assert histogram_percentiles({}) == (None, None)
