"""Close, reopen and undo in the pure lifecycle: the table rows and `undo_last`'s refusals (issue 10, item 6)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from workflow.calendar import WorkingCalendar
from workflow.lifecycle import (
    REGISTER,
    UNDO,
    UNDOABLE,
    Action,
    ActionPayload,
    NoticeKind,
    Status,
    transition,
    undo_last,
)
from workflow.model import Actor, Assignment, Case, DomainError, Event, Procedure, Role, UndoState
from workflow.rules import DEFAULT_RULES, DEFAULT_UNDO_WINDOW

NSK = ZoneInfo("Asia/Novosibirsk")
OS = Procedure.OPEN_SOURCES
POS = Procedure.POS
T0 = datetime(2026, 3, 2, 10, tzinfo=NSK)
NOW = datetime(2026, 3, 2, 11, tzinfo=NSK)
OPERATOR = Actor(1, frozenset({Role.OPERATOR}), name="Мария Иванова")
OFFICE_HEAD = Actor(2, frozenset({Role.OFFICE_HEAD}), name="Пётр Сидоров")
OTHER_OPERATOR = Actor(11, frozenset({Role.OPERATOR}), name="Анна Петрова")


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def case_in(status: Status, procedure: Procedure = OS, **fields: object) -> Case:
    units = (Assignment("housing", responsible=procedure is POS),)
    category = "other" if procedure is POS else None
    return Case(1, procedure, status.value, 7, T0, category=category, assignments=units, **fields)  # type: ignore[arg-type]


# --- close and reopen: the table ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("procedure", "status"),
    [(OS, s) for s in (Status.NEW, Status.ROUTING_PROPOSED, Status.IN_UNITS, Status.ON_APPROVAL, Status.REWORK,
                       Status.APPROVED, Status.INTERIM)]
    + [(POS, s) for s in (Status.NEW, Status.IN_WORK, Status.ON_APPROVAL, Status.REWORK, Status.APPROVED,
                          Status.INTERIM)],
)  # fmt: skip
def test_close_then_reopen_returns_to_the_status_closed_in(
    procedure: Procedure, status: Status, cal: WorkingCalendar
) -> None:
    case = case_in(status, procedure)
    closed = transition(
        case, Action.CLOSE, OFFICE_HEAD, NOW, rules=DEFAULT_RULES, calendar=cal,
        payload=ActionPayload(reason="Дубль сообщения № 3"),
    )  # fmt: skip
    assert closed.case.status == Status.CLOSED.value
    assert closed.case.closed_from == status.value
    assert all(stop.cancelled for stop in closed.stops)  # every open term made moot, misses kept (storage)
    assert closed.events[0].data["reason"] == "Дубль сообщения № 3"
    reopened = transition(
        closed.case, Action.REOPEN, OFFICE_HEAD, NOW + timedelta(days=1), rules=DEFAULT_RULES, calendar=cal,
        payload=ActionPayload(reason="Автор уточнил вопрос"),
    )  # fmt: skip
    assert reopened.case.status == status.value
    assert reopened.case.closed_from == ""
    assert reopened.reopen_terms and not reopened.starts and not reopened.stops
    assert reopened.case.assignments == case.assignments
    assert [(n.kind, n.unit) for n in reopened.notices] == [(NoticeKind.CASE_REOPENED, "housing")]
    assert reopened.events[0].data["from"] == "closed"
    assert reopened.events[0].data["to"] == status.value


def test_a_closed_case_from_before_closed_from_reopens_as_new(cal: WorkingCalendar) -> None:
    reopened = transition(
        case_in(Status.CLOSED), Action.REOPEN, OFFICE_HEAD, NOW, rules=DEFAULT_RULES, calendar=cal,
        payload=ActionPayload(reason="Ошибка"),
    )  # fmt: skip
    assert reopened.case.status == Status.NEW.value


@pytest.mark.parametrize(
    ("case", "actor", "reason", "code", "message"),
    [
        (case_in(Status.CLOSED), OFFICE_HEAD, "", "invalid", "Укажите причину возобновления"),
        (case_in(Status.CLOSED), OPERATOR, "x", "forbidden", "Недостаточно прав"),
        (case_in(Status.EXCLUDED), OFFICE_HEAD, "x", "wrong_status", "Действие недоступно"),
        (case_in(Status.RETURNED), OFFICE_HEAD, "x", "wrong_status", "Действие недоступно"),
        (case_in(Status.IN_UNITS), OFFICE_HEAD, "x", "wrong_status", "Действие недоступно"),
    ],
)
def test_reopen_refusals(
    case: Case, actor: Actor, reason: str, code: str, message: str, cal: WorkingCalendar
) -> None:
    with pytest.raises(DomainError) as caught:
        transition(
            case, Action.REOPEN, actor, NOW, rules=DEFAULT_RULES, calendar=cal,
            payload=ActionPayload(reason=reason),
        )  # fmt: skip
    assert caught.value.code == code
    assert caught.value.message.startswith(message)


# --- undo -----------------------------------------------------------------------------------------------


def _done(before: Case, action: str = "route", actor: Actor = OPERATOR, at: datetime = NOW) -> Event:
    state = UndoState(before, opened=(5,), closed=(3,))
    return Event(action, actor.user_id, Role.OPERATOR, at, data={"from": before.status}, undo=state, id=9)


def test_undo_puts_the_case_back_at_a_new_version(cal: WorkingCalendar) -> None:
    before = case_in(Status.NEW)
    now = replace(before, status=Status.ROUTING_PROPOSED.value, version=8, proposed_units=("housing",))
    result = undo_last(now, _done(before), OPERATOR, NOW + timedelta(minutes=4))
    assert result.case == replace(before, version=9)
    assert result.undone is not None and result.undone.opened == (5,) and result.undone.closed == (3,)
    (event,) = result.events
    assert event.action == UNDO and event.undo is None  # an undo itself is not undone
    assert event.data == {
        "from": "routing_proposed", "to": "new", "undone": "route", "undone_id": 9,
        "undone_label": Action.ROUTE.label, "by": "Мария Иванова",
    }  # fmt: skip


def test_every_action_of_the_table_is_undoable_but_the_detection_time() -> None:
    # set_detected (INTAKE) retimes open term rows in place, which UndoState does not record: not undoable.
    assert {a.value for a in Action} - {Action.SET_DETECTED.value} <= UNDOABLE
    assert Action.SET_DETECTED.value not in UNDOABLE
    assert REGISTER not in UNDOABLE and UNDO not in UNDOABLE


NOW_CASE = replace(case_in(Status.ROUTING_PROPOSED), version=8)


@pytest.mark.parametrize(
    ("last", "actor", "at", "code", "message"),
    [
        pytest.param(None, OPERATOR, NOW, "wrong_status", "Отменять нечего", id="nothing"),
        pytest.param(Event(REGISTER, 0, Role.SYSTEM, NOW), OPERATOR, NOW, "wrong_status", "Отменять нечего",
                     id="registration"),
        pytest.param(Event(UNDO, 1, Role.OPERATOR, NOW), OPERATOR, NOW, "already_done",
                     "Последнее действие уже отменено", id="undo-of-undo"),
        pytest.param(Event("route", 1, Role.OPERATOR, NOW), OPERATOR, NOW, "wrong_status",
                     "Это действие отменить нельзя", id="no-undo-state"),
        pytest.param(_done(case_in(Status.NEW)), OTHER_OPERATOR, NOW, "forbidden",
                     "Отменить действие может только тот, кто его выполнил", id="someone-else"),
        pytest.param(_done(case_in(Status.NEW)), OPERATOR, NOW + DEFAULT_UNDO_WINDOW + timedelta(seconds=1),
                     "wrong_status", "Отменить действие можно только в течение 5 мин", id="too-late"),
        pytest.param(_done(replace(case_in(Status.NEW), version=6)), OPERATOR, NOW, "wrong_status",
                     "После этого действия по сообщению уже было другое", id="something-followed"),
    ],
)  # fmt: skip
def test_undo_refusals(last: Event | None, actor: Actor, at: datetime, code: str, message: str) -> None:
    with pytest.raises(DomainError) as caught:
        undo_last(NOW_CASE, last, actor, at)
    assert caught.value.code == code
    assert caught.value.message.startswith(message), caught.value.message


def test_undo_window_edge_is_inclusive_and_configurable() -> None:
    before = case_in(Status.NEW)
    undo_last(NOW_CASE, _done(before), OPERATOR, NOW + DEFAULT_UNDO_WINDOW)
    with pytest.raises(DomainError):
        undo_last(NOW_CASE, _done(before), OPERATOR, NOW + timedelta(minutes=2), window=timedelta(minutes=1))
    rules = DEFAULT_RULES.from_mapping({"undo": {"minutes": 1}})
    assert rules.undo_window == timedelta(minutes=1)
