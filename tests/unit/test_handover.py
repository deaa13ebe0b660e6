"""workflow/handover.py: a ЦУР hand-over attached to the case of an item already taken in, as pure tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import WorkingCalendar
from workflow.handover import HandOver, attach
from workflow.lifecycle import Status
from workflow.model import HANDED_OVER, Actor, Case, DomainError, Procedure, Role
from workflow.rules import DEFAULT_RULES

NSK = ZoneInfo("Asia/Novosibirsk")
OS = Procedure.OPEN_SOURCES
S = Status


def at(mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=NSK)


SEEN = at(3, 2, 10)  # Monday 02.03.2026 10:00: the VK channel took the comment in (T0 until now)
OPERATOR = Actor(user_id=1, roles=frozenset({Role.OPERATOR}), name="Ольга")
CURATOR = Actor(user_id=3, roles=frozenset({Role.REGION_CURATOR}), name="Куратор ЦУР")
OFFICIAL = Actor(user_id=4, roles=frozenset({Role.UNIT_OFFICIAL}), units=frozenset({"housing"}))
CAL = WorkingCalendar()


def case(status: Status = S.NEW, **fields: Any) -> Case:
    return Case(1, fields.pop("procedure", OS), status.value, 3, SEEN, **fields)


POSTED = at(3, 2, 10, 30)  # the curator's card posted in the intake chat


def handover(detected: datetime | None, posted: datetime = POSTED, **kw: Any) -> HandOver:
    return HandOver(posted_at=posted, detected_at=detected, card_number=kw.get("number", "12345"),
                    curator=kw.get("curator", "Иванов И. И."))  # fmt: skip


@pytest.mark.parametrize(
    ("detected", "expected"),
    [
        # ЦУР detected it at 09:20, before Otklik saw it: every T0 term counts from 09:20 (RULES.md §2).
        (at(3, 2, 9, 20), {"os.return": at(3, 2, 9, 50), "os.route": at(3, 2, 10, 20),
                           "os.publish": at(3, 3, 10, 20), "os.draft": at(3, 2, 17, 20)}),
        # Detected on Friday evening, after hours: the working time counts from Monday 09:00.
        (at(2, 27, 19, 0), {"os.return": at(3, 2, 9, 30), "os.route": at(3, 2, 10),
                            "os.publish": at(3, 3, 10), "os.draft": at(3, 2, 17)}),
        # Detected at 10:20, after Otklik's own pick-up: T0 is ЦУР's, as the brief reads п.10.
        (at(3, 2, 10, 20), {"os.return": at(3, 2, 10, 50), "os.route": at(3, 2, 11, 20),
                            "os.publish": at(3, 3, 11, 20), "os.draft": at(3, 3, 9, 20)}),
    ],
)  # fmt: skip
def test_t0_moves_to_the_detection_time_and_every_t0_term_follows(
    detected: datetime, expected: dict[str, datetime]
) -> None:
    result = attach(case(), handover(detected), OPERATOR, at(3, 2, 10, 30), rules=DEFAULT_RULES, calendar=CAL)
    moved = result.case
    assert (moved.t0, moved.received_at, moved.detection_stated, moved.handed_over) == (
        detected,
        SEEN,
        True,
        True,
    )
    assert (moved.cur_number, moved.cur_curator, moved.version, moved.status) == (
        "12345",
        "Иванов И. И.",
        4,
        "new",
    )
    assert {r.term_id: r.due for r in result.retimes} == expected
    assert all((r.was_started_at, r.started_at) == (SEEN, detected) for r in result.retimes)
    (event,) = result.events
    assert (event.action, event.actor_role, event.data["previous_t0"]) == (
        HANDED_OVER,
        Role.OPERATOR,
        SEEN.isoformat(),
    )
    assert (result.starts, result.stops, result.notices) == ((), (), ())  # no term opens or closes


def test_detected_as_seen_states_it_without_a_second_instant() -> None:
    result = attach(case(), handover(SEEN), CURATOR, at(3, 2, 10, 30), rules=DEFAULT_RULES, calendar=CAL)
    assert (result.case.t0, result.case.received_at, result.case.detection_stated) == (SEEN, None, True)
    assert result.events[0].actor_role is Role.REGION_CURATOR


def test_without_a_detection_time_the_terms_stay() -> None:
    result = attach(
        case(S.IN_UNITS), handover(None), OPERATOR, at(3, 2, 10, 30), rules=DEFAULT_RULES, calendar=CAL
    )
    assert (result.case.t0, result.case.detection_stated, result.case.handed_over) == (SEEN, False, True)
    assert result.retimes == ()
    assert result.case.cur_number == "12345"


def test_a_routed_case_moves_too_the_rows_decide_what_is_still_open() -> None:
    """Routed: os.route and os.return are met rows; the retimes name all four, the use case moves open rows only."""
    result = attach(
        case(S.IN_UNITS), handover(at(3, 2, 9)), OPERATOR, at(3, 2, 12), rules=DEFAULT_RULES, calendar=CAL
    )
    assert {r.term_id for r in result.retimes} == {"os.return", "os.route", "os.publish", "os.draft"}


@pytest.mark.parametrize(
    ("before", "ho", "who", "code"),
    [
        (case(S.ANSWERED), handover(at(3, 2, 9)), OPERATOR, "closed"),
        (case(S.CLOSED), handover(at(3, 2, 9)), OPERATOR, "closed"),
        (case(S.RETURNED), handover(None), OPERATOR, "closed"),
        (case(S.EXCLUDED), handover(at(3, 2, 9)), CURATOR, "closed"),
        (case(handed_over=True), handover(at(3, 2, 9)), OPERATOR, "already_done"),
        (case(), handover(at(3, 2, 9)), OFFICIAL, "forbidden"),
        (case(procedure=Procedure.POS, category="other"), handover(at(3, 2, 9)), OPERATOR, "invalid"),
        # ЦУР cannot have detected it after the hand-over was posted, nor in the future, nor before 2000.
        (case(), handover(at(3, 2, 10, 40)), OPERATOR, "invalid"),
        (case(), handover(at(3, 2, 11), posted=at(3, 2, 11, 30)), OPERATOR, "invalid"),
        (case(), handover(datetime(1999, 12, 31, 9, tzinfo=NSK)), OPERATOR, "invalid"),
    ],
)
def test_refusals(before: Case, ho: HandOver, who: Actor, code: str) -> None:
    with pytest.raises(DomainError) as refused:
        attach(before, ho, who, at(3, 2, 10, 30), rules=DEFAULT_RULES, calendar=CAL)
    assert refused.value.code == code
    assert "\n" not in refused.value.message and refused.value.message


def test_the_closed_refusal_names_the_case_and_does_not_reopen() -> None:
    with pytest.raises(DomainError) as refused:
        attach(
            case(S.ANSWERED),
            handover(at(3, 2, 9)),
            OPERATOR,
            at(3, 2, 10, 30),
            rules=DEFAULT_RULES,
            calendar=CAL,
        )
    assert "№ 1" in refused.value.message and "не присоединена" in refused.value.message


def test_long_card_fields_are_cut() -> None:
    ho = handover(None, number="9" * 500, curator="К" * 5000)
    moved = attach(case(), ho, OPERATOR, at(3, 2, 10, 30), rules=DEFAULT_RULES, calendar=CAL).case
    assert (len(moved.cur_number), len(moved.cur_curator)) == (64, 200)
