"""Pure checks of input from outside (issue 8): ids, button data, the instants a message states, calendar years."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from views.callbacks import MAX_UNITS, CaseCb, CaseVerb, OrderCb, ResponsibleCb, RouteCb
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import check_message_instant
from workflow.model import MAX_ID, DomainError, parse_id

NOW = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("2147483648", 2**31),
        (str(MAX_ID), MAX_ID),
        ("0", None),
        ("-1", None),
        (str(2**63), None),
        ("1" + "0" * 30, None),
        ("²", None),
        ("١٢", None),
        ("１", None),
        (" 1", None),
        ("+1", None),
        ("1_0", None),
        ("", None),
    ],
)
def test_parse_id(raw: str, expected: int | None) -> None:
    assert parse_id(raw) == expected


@pytest.mark.parametrize(
    "data",
    [
        "c1:route:0:1",
        "c1:route:-1:1",
        f"c1:route:{2**63}:1",
        f"c1:route:1:{2**63}",
        "c1:route:²:1",
        "c1:route:１:1",
        "c1:route:01:1",
        "c1:route: 1:1",
        "c1:reopen:1:1",  # a command only: no button has it
        "r2:1:1:-1:0:0",
        f"r2:1:1:{1 << MAX_UNITS}:0:0",
        "r2:1:1:1:0:yes",
        "r2:1:1:1:-1:0",
        "r2:1:1:1:100:0",
        "r2:1:1:1:01:0",
        "r1:1:1:1:0",  # the layout before pages
        "o1:1:1:1..2:0",
        "o1:1:1:١:0",
        f"p1:1:1:1:{MAX_UNITS}",
        "c1:route:" + "9" * 5000 + ":1",
    ],
)
def test_button_data_out_of_range_or_not_canonical_does_not_parse(data: str) -> None:
    for factory in (CaseCb, RouteCb, OrderCb, ResponsibleCb):
        with pytest.raises((TypeError, ValueError)):
            factory.unpack(data)


def test_button_data_in_range_round_trips() -> None:
    for cb in (
        CaseCb(verb=CaseVerb.ROUTE, case_id=MAX_ID, version=MAX_ID),
        RouteCb(case_id=1, version=1, mask=(1 << MAX_UNITS) - 1, page=99, done=True),
        OrderCb(case_id=2**31, version=3, seq="0.12.29", done=False),
        ResponsibleCb(case_id=5, version=1, mask=3, responsible=MAX_UNITS - 1),
    ):
        assert type(cb).unpack(cb.pack()) == cb


@pytest.mark.parametrize(
    "when",
    [
        datetime(1999, 12, 31, 23, 59, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        NOW + timedelta(days=1, seconds=1),
        datetime(9026, 12, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, tzinfo=UTC),
    ],
)
def test_message_instants_out_of_range_are_refused(when: datetime) -> None:
    with pytest.raises(DomainError) as refused:
        check_message_instant(when, NOW)
    assert refused.value.code == "invalid" and refused.value.message.startswith("Дата сообщения")


@pytest.mark.parametrize("when", [datetime(2000, 1, 1, tzinfo=UTC), NOW, NOW + timedelta(days=1)])
def test_message_instants_in_range_pass(when: datetime) -> None:
    check_message_instant(when, NOW)


def test_calendar_supported_years_include_its_fallback_and_given_years() -> None:
    calendar = WorkingCalendar()
    assert calendar.supported_years == (1991, 2100)
    assert calendar.covers(date(2100, 12, 31)) and not calendar.covers(date(2101, 1, 1))
    assert not calendar.covers(datetime(1, 1, 1, tzinfo=UTC))  # shifted to +07:00 it leaves datetime's range
    assert not calendar.covers(datetime(9999, 12, 31, 23, tzinfo=UTC))
    assert WorkingCalendar(years={2150: {}}).supported_years == (1991, 2150)
