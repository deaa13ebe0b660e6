"""Lifecycle: both full cycles as step tables, every refusal path, terms started and stopped per step.

Due instants are hand-checked against the shipped production calendar (Novosibirsk, 09–13 and 14–18;
March 2026: 08.03 Sunday holiday, 09.03 transferred day off).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.calendar import WorkingCalendar
from workflow.lifecycle import (
    ACTION_ROLES,
    FINAL_STATUSES,
    TABLE,
    Action,
    ActionPayload,
    NoticeKind,
    Status,
    Transition,
    available_actions,
    clean_text,
    open_case,
    transition,
)
from workflow.model import (
    SYSTEM_ACTOR,
    Actor,
    Assignment,
    Attachment,
    Case,
    DomainError,
    InboundMessage,
    Network,
    Procedure,
    Role,
    Source,
)
from workflow.rules import DEFAULT_RULES

NSK = ZoneInfo("Asia/Novosibirsk")
OS = Procedure.OPEN_SOURCES
POS = Procedure.POS
A = Action
S = Status
N = NoticeKind
R = Role


def at(mo: int, d: int, h: int, mi: int = 0, y: int = 2026) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=NSK)


T0 = at(3, 2, 10)  # Monday 02.03.2026 10:00


def person(uid: int, *roles: Role, units: tuple[str, ...] = ()) -> Actor:
    return Actor(uid, frozenset(roles), frozenset(units), name=f"user{uid}")


OPERATOR = person(1, R.OPERATOR)
OFFICE_HEAD = person(2, R.OFFICE_HEAD)
REGION_CURATOR = person(3, R.REGION_CURATOR)
HOUSING_OFFICIAL = person(4, R.UNIT_OFFICIAL, units=("housing",))
ECONOMY_OFFICIAL = person(5, R.UNIT_OFFICIAL, units=("economy",))
HEAD = person(6, R.HEAD)
POS_CURATOR = person(7, R.POS_CURATOR)
COORDINATOR = person(8, R.COORDINATOR)
HOUSING_EXEC = person(9, R.EXECUTOR, units=("housing",))
SOCIAL_EXEC = person(10, R.EXECUTOR, units=("social",))


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar()


def message(procedure: Procedure, category: str | None = None) -> InboundMessage:
    source = Source.VK if procedure is OS else Source.POS
    return InboundMessage(
        source, "m-1", procedure, "На улице Ленина яма", T0, author="Иван", category=category
    )


def act(
    case: Case, action: Action, actor: Actor, when: datetime, cal: WorkingCalendar, **payload: Any
) -> Transition:
    return transition(
        case, action, actor, when, rules=DEFAULT_RULES, calendar=cal, payload=ActionPayload(**payload)
    )


def starts_of(t: Transition) -> list[tuple[str, str | None, datetime]]:
    return sorted(((s.term_id, s.unit, s.due) for s in t.starts), key=lambda x: (x[0], x[1] or ""))


def stops_of(t: Transition) -> list[tuple[str, str | None, bool]]:
    return sorted(((s.term_id, s.unit, s.cancelled) for s in t.stops), key=lambda x: (x[0], x[1] or "", x[2]))


def notices_of(t: Transition) -> list[tuple[NoticeKind, Role, str | None]]:
    return sorted(((n.kind, n.to_role, n.unit) for n in t.notices), key=lambda x: (x[0], x[1], x[2] or ""))


def cancel_rest(procedure: Procedure, *done: str) -> list[tuple[str, None, bool]]:
    return [(r.id, None, True) for r in DEFAULT_RULES.terms_of(procedure) if r.id not in done]


class Step(NamedTuple):
    action: Action
    actor: Actor
    when: datetime
    payload: dict[str, Any]
    status: Status
    starts: list[tuple[str, str | None, datetime]]
    stops: list[tuple[str, str | None, bool]]
    notices: list[tuple[NoticeKind, Role, str | None]]


def run_steps(case: Case, steps: list[Step], cal: WorkingCalendar) -> Case:
    for number, step in enumerate(steps, start=1):
        result = act(case, step.action, step.actor, step.when, cal, **step.payload)
        where = f"step {number}: {step.action}"
        assert result.case.status == step.status, where
        assert result.case.version == case.version + 1, where
        assert starts_of(result) == sorted(step.starts, key=lambda x: (x[0], x[1] or "")), where
        assert stops_of(result) == sorted(step.stops, key=lambda x: (x[0], x[1] or "", x[2])), where
        assert notices_of(result) == sorted(step.notices, key=lambda x: (x[0], x[1], x[2] or "")), where
        (event,) = result.events
        assert (event.action, event.actor_id, event.at) == (
            step.action.value,
            step.actor.user_id,
            step.when,
        ), where
        assert (event.data["from"], event.data["to"]) == (case.status, step.status.value), where
        case = result.case
    return case


# --- registration -------------------------------------------------------------------------------------------


def test_open_sources_registration(cal: WorkingCalendar) -> None:
    opened = open_case(message(OS), 42, at(3, 2, 10, 5), actor=OPERATOR, rules=DEFAULT_RULES, calendar=cal)
    assert (opened.case.id, opened.case.status, opened.case.version, opened.case.t0) == (42, "new", 1, T0)
    # os.return and os.route are alternatives, both open from T0. os.publish: Mon 10–13 (3 h) + 14–18 (4 h)
    # + Tue 09–11 (2 h) = 9 h -> Tue 03.03 11:00; os.draft two working hours earlier: 09:00.
    assert starts_of(opened) == [
        ("os.draft", None, at(3, 3, 9)),
        ("os.publish", None, at(3, 3, 11)),
        ("os.return", None, at(3, 2, 10, 30)),
        ("os.route", None, at(3, 2, 11)),
    ]
    assert all(s.started_at == T0 for s in opened.starts)
    assert notices_of(opened) == [(N.REGISTERED, R.OPERATOR, None)]
    (event,) = opened.events
    assert (event.action, event.actor_role, event.data["t0"]) == ("register", R.OPERATOR, T0.isoformat())


def test_pos_registration(cal: WorkingCalendar) -> None:
    opened = open_case(message(POS, "local_fast"), 7, at(3, 2, 10, 10), rules=DEFAULT_RULES, calendar=cal)
    # pos.answer: 14 days -> Mon 16.03 18:00; pos.draft: 14.03 is Saturday -> Fri 13.03 18:00.
    assert starts_of(opened) == [
        ("pos.answer", None, at(3, 16, 18)),
        ("pos.draft", None, at(3, 13, 18)),
        ("pos.route", None, at(3, 2, 11)),
    ]
    assert opened.case.category == "local_fast"
    assert opened.events[0].actor_role is R.SYSTEM  # imported from an export file
    assert notices_of(opened) == [(N.REGISTERED, R.POS_CURATOR, None)]


def test_repeat_registration_links_the_earlier_case(cal: WorkingCalendar) -> None:
    opened = open_case(
        message(OS), 43, T0, actor=REGION_CURATOR, rules=DEFAULT_RULES, calendar=cal, repeat_of=42
    )
    assert opened.case.repeat_of == 42
    assert opened.events[0].data["repeat_of"] == 42
    assert opened.notices[0].payload["repeat_of"] == 42
    # Same cycle as a first message (п.13): the same initial terms.
    assert [s.term_id for s in opened.starts] == ["os.return", "os.route", "os.publish", "os.draft"]


@pytest.mark.parametrize(
    ("procedure", "category", "actor", "code", "text"),
    [
        (POS, "other", OPERATOR, "forbidden",
         "Недостаточно прав: зарегистрировать сообщение может только куратор ПОС или координатор"),
        (OS, None, HOUSING_OFFICIAL, "forbidden",
         "Недостаточно прав: зарегистрировать сообщение может только уполномоченное лицо управления делами "
         "или куратор ЦУР"),
        (POS, None, POS_CURATOR, "invalid", "Укажите категорию сообщения ПОС (federal_fast — "),
        (POS, "vip", COORDINATOR, "invalid", "Укажите категорию сообщения ПОС (federal_fast — "),
    ],
)  # fmt: skip
def test_registration_refusals(
    cal: WorkingCalendar, procedure: Procedure, category: str | None, actor: Actor, code: str, text: str
) -> None:
    with pytest.raises(DomainError) as caught:
        open_case(message(procedure, category), 1, T0, actor=actor, rules=DEFAULT_RULES, calendar=cal)
    assert caught.value.code == code
    assert caught.value.message.startswith(text)


# --- the full open-source cycle -----------------------------------------------------------------------------

OS_CYCLE = [
    # Proposing a routing passes os.route to the office head; os.return runs on (silently) until routed.
    Step(A.ROUTE, OPERATOR, at(3, 2, 10, 20), {"units": ("housing", "economy")}, S.ROUTING_PROPOSED,
         [], [], [(N.ROUTING_PROPOSED, R.OFFICE_HEAD, None)]),
    # The office head sets the order (economy first, п.12.1): only economy's os.unit_info starts now,
    # 10:40 + 120 wm = 12:40. Routed, the return-only os.return ends (met, see the test below).
    Step(A.APPROVE_ROUTING, OFFICE_HEAD, at(3, 2, 10, 40), {"order": ("economy", "housing")}, S.IN_UNITS,
         [("os.unit_info", "economy", at(3, 2, 12, 40))],
         [("os.route", None, False), ("os.return", None, False)],
         [(N.ROUTED, R.UNIT_OFFICIAL, "economy"), (N.ROUTED, R.UNIT_OFFICIAL, "housing")]),
    Step(A.SIGNIFICANT, OPERATOR, at(3, 2, 11), {"reason": "Много обращений по теме"}, S.IN_UNITS,
         [], [], [(N.SIGNIFICANT, R.HEAD, None), (N.SIGNIFICANT, R.OFFICE_HEAD, None)]),
    # Economy gave its information: housing's turn, 11:30 + 120 wm = 13:00 (90 min), lunch, 14:30.
    Step(A.INFO, ECONOMY_OFFICIAL, at(3, 2, 11, 30), {"text": "Деньги выделены"}, S.IN_UNITS,
         [("os.unit_info", "housing", at(3, 2, 14, 30))], [("os.unit_info", "economy", False)],
         [(N.INFO_RECEIVED, R.OPERATOR, None), (N.TURN, R.UNIT_OFFICIAL, "housing")]),
    Step(A.INFO, HOUSING_OFFICIAL, at(3, 2, 12), {"text": "Ремонт 10 марта"}, S.IN_UNITS,
         [], [("os.unit_info", "housing", False)], [(N.INFO_RECEIVED, R.OPERATOR, None)]),
    # os.approve: 12:10 + 30 wm = 12:40.
    Step(A.SUBMIT, OPERATOR, at(3, 2, 12, 10), {"text": "Здравствуйте! Ремонт 10 марта."}, S.ON_APPROVAL,
         [("os.approve", None, at(3, 2, 12, 40))], [("os.draft", None, False)],
         [(N.DRAFT_SUBMITTED, R.REGION_CURATOR, None)]),
    # os.rework: 12:30–13:00 (30 min), lunch, 14:00–14:30 -> 14:30.
    Step(A.REWORK, REGION_CURATOR, at(3, 2, 12, 30), {"reason": "Добавьте фото"}, S.REWORK,
         [("os.rework", None, at(3, 2, 14, 30))], [("os.approve", None, False)],
         [(N.REWORK, R.OPERATOR, None)]),
    Step(A.SUBMIT, OPERATOR, at(3, 2, 14, 20), {"text": "Здравствуйте! Ремонт 10 марта, фото."},
         S.ON_APPROVAL,
         [("os.approve", None, at(3, 2, 14, 50))], [("os.rework", None, False)],
         [(N.DRAFT_SUBMITTED, R.REGION_CURATOR, None)]),
    Step(A.APPROVE, REGION_CURATOR, at(3, 2, 14, 40), {}, S.APPROVED,
         [], [("os.approve", None, False)], [(N.APPROVED, R.OPERATOR, None)]),
    # Interim answer (п.11): os.final = 7 working days after Mon 02.03: 03, 04, 05, 06, (09 off) 10, 11,
    # Thu 12.03 -> 18:00.
    Step(A.INTERIM, OPERATOR, at(3, 2, 15), {"link": "https://vk.com/wall-1_2"}, S.INTERIM,
         [("os.final", None, at(3, 12, 18))], [("os.publish", None, False)], []),
    Step(A.SUBMIT, OPERATOR, at(3, 11, 10), {"text": "Здравствуйте! Ремонт выполнен."}, S.ON_APPROVAL,
         [("os.approve", None, at(3, 11, 10, 30))], [("os.final", None, False)],
         [(N.DRAFT_SUBMITTED, R.REGION_CURATOR, None)]),
    # The approved final answer is to be published: os.final_publish, 10:20 + 60 wm = 11:20.
    Step(A.APPROVE, REGION_CURATOR, at(3, 11, 10, 20), {}, S.APPROVED,
         [("os.final_publish", None, at(3, 11, 11, 20))], [("os.approve", None, False)],
         [(N.APPROVED, R.OPERATOR, None)]),
    Step(A.PUBLISH, OPERATOR, at(3, 11, 10, 30), {"link": "https://vk.com/wall-1_3"}, S.ANSWERED,
         [], [("os.publish", None, False), ("os.final_publish", None, False),
              *cancel_rest(OS, "os.publish", "os.final_publish")], []),
]  # fmt: skip


def test_open_sources_full_cycle(cal: WorkingCalendar) -> None:
    opened = open_case(message(OS), 1, T0, actor=OPERATOR, rules=DEFAULT_RULES, calendar=cal)
    case = run_steps(opened.case, OS_CYCLE, cal)
    assert case.version == 1 + len(OS_CYCLE)
    assert [(a.unit, a.order, a.info_given) for a in case.assignments] == [
        ("economy", 1, True),
        ("housing", 2, True),
    ]
    assert (case.draft_version, case.interim, case.significant) == (3, True, True)
    assert case.published_link == "https://vk.com/wall-1_3"


def test_open_sources_events_carry_the_audit_data(cal: WorkingCalendar) -> None:
    case = open_case(message(OS), 1, T0, actor=OPERATOR, rules=DEFAULT_RULES, calendar=cal).case
    events = []
    for step in OS_CYCLE[:7]:
        result = act(case, step.action, step.actor, step.when, cal, **step.payload)
        events.append(result.events[0])
        if step.action is A.SUBMIT:
            assert result.draft_text == step.payload["text"]
        case = result.case
    assert events[1].data["order"] == ["economy", "housing"]
    assert events[3].data["unit"] == "economy" and events[3].text == "Деньги выделены"
    assert events[4].data["by"] == HOUSING_OFFICIAL.name  # the history names the person
    assert events[5].data["draft_version"] == 1
    assert events[6].text == "Добавьте фото" and events[6].actor_role is R.REGION_CURATOR
    assert case.rework_reason == "Добавьте фото"


# --- the full ПОС cycle -------------------------------------------------------------------------------------

POS_CYCLE = [
    # Two executors, housing responsible (п.14.1). pos.return: 10:30 + 30 wm = 11:00. pos.coexec for the
    # co-executor: T0 + 7 days (half of 14) = Mon 09.03, a day off -> Tue 10.03 18:00.
    Step(A.ROUTE, POS_CURATOR, at(3, 2, 10, 30), {"units": ("housing", "social"), "responsible": "housing"},
         S.IN_WORK,
         [("pos.coexec", "social", at(3, 10, 18)), ("pos.return", "housing", at(3, 2, 11)),
          ("pos.return", "social", at(3, 2, 11))],
         [("pos.route", None, False)],
         [(N.ROUTED, R.EXECUTOR, "housing"), (N.ROUTED, R.EXECUTOR, "social")]),
    Step(A.ACCEPT, HOUSING_EXEC, at(3, 2, 10, 45), {}, S.IN_WORK, [], [("pos.return", "housing", False)], []),
    Step(A.INFO, SOCIAL_EXEC, at(3, 5, 11), {"text": "Выплата назначена"}, S.IN_WORK,
         [], [("pos.coexec", "social", False), ("pos.return", "social", False)],
         [(N.INFO_RECEIVED, R.EXECUTOR, "housing")]),
    # pos.approve: 1 working day after Tue 10.03 -> Wed 11.03 18:00.
    Step(A.SUBMIT, HOUSING_EXEC, at(3, 10, 15), {"text": "Здравствуйте, Иван! Яма будет заделана."},
         S.ON_APPROVAL,
         [("pos.approve", None, at(3, 11, 18))],
         [("pos.draft", None, False), ("pos.return", "housing", False)],
         [(N.DRAFT_SUBMITTED, R.POS_CURATOR, None)]),
    # pos.rework: 1 working day after Wed 11.03 -> Thu 12.03 18:00, owed by the responsible unit.
    Step(A.REWORK, POS_CURATOR, at(3, 11, 10), {"reason": "Укажите срок"}, S.REWORK,
         [("pos.rework", "housing", at(3, 12, 18))], [("pos.approve", None, False)],
         [(N.REWORK, R.EXECUTOR, "housing")]),
    Step(A.SUBMIT, HOUSING_EXEC, at(3, 11, 16), {"text": "Здравствуйте, Иван! Яма будет заделана до 20.03."},
         S.ON_APPROVAL,
         [("pos.approve", None, at(3, 12, 18))],
         [("pos.rework", None, False), ("pos.return", "housing", False)],
         [(N.DRAFT_SUBMITTED, R.POS_CURATOR, None)]),
    Step(A.APPROVE, POS_CURATOR, at(3, 12, 9, 30), {}, S.APPROVED,
         [], [("pos.approve", None, False)], [(N.APPROVED, R.COORDINATOR, None), (N.APPROVED, R.EXECUTOR, "housing")]),
    # Interim answer posted by the coordinator: pos.final = 7 working days after Thu 12.03: 13, 16, 17, 18,
    # 19, 20, Mon 23.03 -> 18:00.
    Step(A.INTERIM, COORDINATOR, at(3, 12, 10), {}, S.INTERIM,
         [("pos.final", "housing", at(3, 23, 18))], [("pos.answer", None, False)],
         [(N.INTERIM_PUBLISHED, R.EXECUTOR, "housing")]),
    # The final draft: pos.approve 1 working day after Fri 20.03 -> Mon 23.03 18:00; pos.final runs on to the
    # posting of the final answer (п.13).
    Step(A.SUBMIT, HOUSING_EXEC, at(3, 20, 11), {"text": "Здравствуйте, Иван! Яма заделана, фото прилагаем."},
         S.ON_APPROVAL,
         [("pos.approve", None, at(3, 23, 18))],
         [("pos.return", "housing", False)],
         [(N.DRAFT_SUBMITTED, R.POS_CURATOR, None)]),
    Step(A.APPROVE, POS_CURATOR, at(3, 20, 14), {}, S.APPROVED,
         [], [("pos.approve", None, False)], [(N.APPROVED, R.COORDINATOR, None), (N.APPROVED, R.EXECUTOR, "housing")]),
    Step(A.PUBLISH, POS_CURATOR, at(3, 20, 15), {}, S.ANSWERED,
         [], [("pos.answer", None, False), ("pos.final", None, False),
              *cancel_rest(POS, "pos.answer", "pos.final")], []),
]  # fmt: skip


def test_pos_full_cycle(cal: WorkingCalendar) -> None:
    opened = open_case(
        message(POS, "local_fast"), 1, T0, actor=POS_CURATOR, rules=DEFAULT_RULES, calendar=cal
    )
    case = run_steps(opened.case, POS_CYCLE, cal)
    assert [(a.unit, a.responsible, a.accepted, a.info_given) for a in case.assignments] == [
        ("housing", True, True, False),
        ("social", False, True, True),
    ]
    assert (case.draft_version, case.interim, case.responsible_unit) == (3, True, "housing")


# --- other paths --------------------------------------------------------------------------------------------


def os_case(status: Status, *units: str, **fields: Any) -> Case:
    assignments = tuple(Assignment(u, order=i) for i, u in enumerate(units, start=1))
    return Case(1, OS, status.value, 5, T0, assignments=assignments, **fields)


def pos_case(status: Status, *units: str, responsible: str | None = None, **fields: Any) -> Case:
    lead = responsible or (units[0] if len(units) == 1 else None)
    assignments = tuple(Assignment(u, responsible=u == lead) for u in units)
    category = fields.pop("category", "other")
    return Case(1, POS, status.value, 5, T0, category=category, assignments=assignments, **fields)


def test_link_repeat_sets_the_suggested_earlier_case(cal: WorkingCalendar) -> None:
    case = os_case(S.IN_UNITS, "housing", repeat_suggested=7)
    assert A.LINK_REPEAT in available_actions(case, OPERATOR)
    assert A.LINK_REPEAT not in available_actions(os_case(S.IN_UNITS, "housing"), OPERATOR)
    result = act(case, A.LINK_REPEAT, OPERATOR, at(3, 2, 10, 10), cal)
    assert result.case.repeat_of == 7 and result.case.status == S.IN_UNITS.value
    assert result.events[0].data["repeat_of"] == 7
    assert (result.starts, result.stops, result.notices) == ((), (), ())  # no term, nobody told
    assert A.LINK_REPEAT not in available_actions(result.case, OPERATOR)
    ours = pos_case(S.IN_WORK, "housing", repeat_suggested=3)
    assert act(ours, A.LINK_REPEAT, POS_CURATOR, at(3, 2, 10, 10), cal).case.repeat_of == 3


def test_os_return_not_our_competence(cal: WorkingCalendar) -> None:
    result = act(
        os_case(S.NEW), A.RETURN, OPERATOR, at(3, 2, 10, 20), cal, reason="Вопрос федеральной трассы"
    )
    assert result.case.status == "returned"
    assert stops_of(result) == sorted([("os.return", None, False), *cancel_rest(OS, "os.return")])
    assert notices_of(result) == [(N.RETURNED_TO_CURATOR, R.REGION_CURATOR, None)]
    assert result.notices[0].payload["reason"] == "Вопрос федеральной трассы"


def test_set_detected_moves_t0_and_every_t0_term(cal: WorkingCalendar) -> None:
    """A hand-over posted at 10:00 that ЦУР detected at 09:20 (RULES.md §2): T0 and the four T0 terms move."""
    case = os_case(S.ROUTING_PROPOSED, handed_over=True, proposed_units=("housing",))
    detected = at(3, 2, 9, 20)
    result = act(case, A.SET_DETECTED, REGION_CURATOR, at(3, 2, 10, 10), cal, detected_at=detected)
    moved = result.case
    assert (moved.t0, moved.received_at, moved.detection_stated) == (detected, T0, True)
    assert (moved.status, moved.version, moved.proposed_units) == ("routing_proposed", 6, ("housing",))
    assert {r.term_id: (r.was_started_at, r.started_at, r.due) for r in result.retimes} == {
        "os.return": (T0, detected, at(3, 2, 9, 50)),
        "os.route": (T0, detected, at(3, 2, 10, 20)),
        "os.publish": (T0, detected, at(3, 3, 10, 20)),  # 9 working hours, lunch aside
        "os.draft": (T0, detected, at(3, 2, 17, 20)),  # os.publish − 2 working hours
    }
    assert (result.starts, result.stops, result.notices) == ((), (), ())
    (event,) = result.events
    assert (event.action, event.actor_role) == ("set_detected", R.REGION_CURATOR)
    assert event.data["detected_at"] == detected.isoformat() and event.data["previous_t0"] == T0.isoformat()
    # Stated once: a second statement is refused, whatever it says.
    with pytest.raises(DomainError) as again:
        act(moved, A.SET_DETECTED, OPERATOR, at(3, 2, 10, 20), cal, detected_at=at(3, 2, 9, 0))
    assert again.value.code == "already_done"


def test_set_detected_as_posted_keeps_t0_and_states_it(cal: WorkingCalendar) -> None:
    case = os_case(S.NEW, handed_over=True)
    result = act(case, A.SET_DETECTED, OPERATOR, at(3, 2, 10, 10), cal, detected_at=T0)
    assert (result.case.t0, result.case.received_at, result.case.detection_stated) == (T0, None, True)
    assert {r.term_id: r.due for r in result.retimes}["os.route"] == at(3, 2, 11)
    assert A.SET_DETECTED in available_actions(case, OPERATOR)
    assert A.SET_DETECTED not in available_actions(result.case, OPERATOR)


def test_open_case_of_an_intake_hand_over(cal: WorkingCalendar) -> None:
    """The intake chat's «От ЦУР»: handed over whatever the source; a network is recorded with it."""
    hand_over = replace(message(OS), source=Source.INTAKE, handed_over=True, network=Network.VK)
    opened = open_case(hand_over, 7, T0, actor=OPERATOR, rules=DEFAULT_RULES, calendar=cal)
    assert opened.case.handed_over and not opened.case.detection_stated
    assert opened.events[0].data["network"] == "vk" and opened.events[0].data["handed_over"] is True
    found = replace(hand_over, handed_over=False)
    assert not open_case(found, 8, T0, actor=OPERATOR, rules=DEFAULT_RULES, calendar=cal).case.handed_over
    carded = replace(hand_over, detected_at=at(3, 2, 9, 40))
    assert open_case(carded, 9, T0, actor=OPERATOR, rules=DEFAULT_RULES, calendar=cal).case.detection_stated


def test_os_decline_of_the_only_unit_goes_back_for_rerouting(cal: WorkingCalendar) -> None:
    result = act(
        os_case(S.IN_UNITS, "housing"), A.DECLINE, HOUSING_OFFICIAL, at(3, 2, 15, 30), cal, reason="Не наше"
    )
    assert result.case.status == "new"
    assert result.case.assignments == () and result.case.declined_units == ("housing",)
    assert stops_of(result) == [("os.unit_info", "housing", True)]
    # os.route restarted from the decline: 15:30 + 60 wm = 16:30; it counts from that instant.
    assert starts_of(result) == [("os.route", None, at(3, 2, 16, 30))]
    assert result.starts[0].started_at == at(3, 2, 15, 30)
    assert notices_of(result) == [(N.UNIT_DECLINED, R.OPERATOR, None)]
    assert result.notices[0].payload["reason"] == "Не наше"
    # Re-routed to economy and approved: the declined mark is cleared only for units routed again.
    proposed = act(result.case, A.ROUTE, OPERATOR, at(3, 2, 15, 40), cal, units=("economy",))
    routed = act(proposed.case, A.APPROVE_ROUTING, OFFICE_HEAD, at(3, 2, 15, 50), cal)
    assert routed.case.units == ("economy",) and routed.case.declined_units == ("housing",)
    assert ("os.route", None, False) in stops_of(routed)


def test_os_decline_of_one_of_two_units_keeps_the_case_in_units(cal: WorkingCalendar) -> None:
    result = act(os_case(S.IN_UNITS, "housing", "economy"), A.DECLINE, ECONOMY_OFFICIAL, at(3, 2, 11), cal)
    assert result.case.status == "in_units" and result.case.units == ("housing",)
    assert starts_of(result) == []
    assert stops_of(result) == [("os.unit_info", "economy", True)]


def test_os_reroute_from_units_changes_the_set(cal: WorkingCalendar) -> None:
    case = os_case(S.IN_UNITS, "housing", "economy")
    proposed = act(case, A.ROUTE, OPERATOR, at(3, 2, 11), cal, units=("housing", "social"))
    assert proposed.case.status == "routing_proposed" and proposed.case.units == ("housing", "economy")
    # The office head changes the proposal again: housing stays, economy is taken off, culture joins.
    result = act(
        proposed.case, A.APPROVE_ROUTING, OFFICE_HEAD, at(3, 2, 11, 10), cal, units=("culture", "housing")
    )
    # No order given: no places, every new unit's term starts at routing.
    assert [(a.unit, a.order) for a in result.case.assignments] == [("culture", 0), ("housing", 0)]
    assert starts_of(result) == [("os.unit_info", "culture", at(3, 2, 14, 10))]  # 11:10–13:00 + 14:00–14:10
    assert ("os.unit_info", "economy", True) in stops_of(result)
    assert notices_of(result) == [
        (N.ROUTED, R.UNIT_OFFICIAL, "culture"),
        (N.UNASSIGNED, R.UNIT_OFFICIAL, "economy"),
    ]


def test_pos_decline_by_the_responsible_of_three_leaves_it_unnamed(cal: WorkingCalendar) -> None:
    case = pos_case(S.IN_WORK, "housing", "social", "education", responsible="housing")
    result = act(case, A.DECLINE, HOUSING_EXEC, at(3, 2, 10, 50), cal)
    assert result.case.status == "in_work" and result.case.responsible_unit is None
    assert stops_of(result) == [("pos.coexec", "housing", True), ("pos.return", "housing", False)]
    assert notices_of(result) == [(N.UNIT_DECLINED, R.POS_CURATOR, None)]
    assert result.notices[0].payload["need_responsible"] is True
    # Nobody may submit until the curator names the responsible one again.
    with pytest.raises(DomainError) as caught:
        act(result.case, A.SUBMIT, SOCIAL_EXEC, at(3, 2, 11), cal, text="Проект")
    assert caught.value.code == "forbidden"
    rerouted = act(result.case, A.ROUTE, POS_CURATOR, at(3, 2, 11), cal, units=("social", "education"),
                   responsible="social")  # fmt: skip
    assert rerouted.case.responsible_unit == "social"
    # social stops owing co-executor information; education keeps its running pos.coexec.
    assert stops_of(rerouted) == [("pos.coexec", "social", True), ("pos.route", None, False)]
    assert starts_of(rerouted) == []
    assert notices_of(rerouted) == [(N.ROUTED, R.EXECUTOR, "social")]


def test_pos_decline_by_the_responsible_of_two_makes_the_other_responsible(cal: WorkingCalendar) -> None:
    case = pos_case(S.IN_WORK, "housing", "social", responsible="housing")
    result = act(case, A.DECLINE, HOUSING_EXEC, at(3, 2, 10, 50), cal)
    assert result.case.responsible_unit == "social"
    assert ("pos.coexec", "social", True) in stops_of(result)
    assert result.notices[0].payload["need_responsible"] is False


def test_pos_decline_of_the_last_executor_goes_back_to_new(cal: WorkingCalendar) -> None:
    result = act(pos_case(S.IN_WORK, "housing"), A.DECLINE, HOUSING_EXEC, at(3, 2, 10, 50), cal)
    assert result.case.status == "new"
    # pos.route restarted: 10:50 + 60 wm = 11:50.
    assert starts_of(result) == [("pos.route", None, at(3, 2, 11, 50))]
    assert stops_of(result) == [("pos.coexec", "housing", True), ("pos.return", "housing", False)]


def test_pos_reroute_swapping_the_responsible(cal: WorkingCalendar) -> None:
    case = pos_case(S.IN_WORK, "housing", "social", responsible="housing")
    result = act(
        case, A.ROUTE, POS_CURATOR, at(3, 3, 10), cal, units=("social", "housing"), responsible="social"
    )
    # housing becomes a co-executor: pos.coexec from T0 (other: 20 / 2 = 10 days -> Thu 12.03).
    assert starts_of(result) == [("pos.coexec", "housing", at(3, 12, 18))]
    assert ("pos.coexec", "social", True) in stops_of(result)
    assert notices_of(result) == [(N.ROUTED, R.EXECUTOR, "housing"), (N.ROUTED, R.EXECUTOR, "social")]


@pytest.mark.parametrize(
    ("case", "action", "actor", "payload", "status", "notices"),
    [
        (os_case(S.IN_UNITS, "housing"), A.EXCLUDE, OPERATOR, {"reason": "Нецензурная брань (п.15)"},
         S.EXCLUDED,
         [(N.CASE_CLOSED, R.UNIT_OFFICIAL, "housing")]),
        (os_case(S.REWORK, "housing", "economy"), A.CLOSE, OFFICE_HEAD, {"reason": "Дубль"}, S.CLOSED,
         [(N.CASE_CLOSED, R.UNIT_OFFICIAL, "economy"), (N.CASE_CLOSED, R.UNIT_OFFICIAL, "housing")]),
        (pos_case(S.NEW), A.EXCLUDE, POS_CURATOR, {"reason": "Угрозы должностному лицу (п.17)"},
         S.EXCLUDED, []),
        (pos_case(S.ON_APPROVAL, "social"), A.CLOSE, OFFICE_HEAD, {"reason": "Дубликат"}, S.CLOSED,
         [(N.CASE_CLOSED, R.EXECUTOR, "social")]),
    ],
)  # fmt: skip
def test_exclude_and_close_stop_every_term(
    cal: WorkingCalendar,
    case: Case,
    action: Action,
    actor: Actor,
    payload: dict[str, Any],
    status: Status,
    notices: list[Any],
) -> None:
    result = act(case, action, actor, at(3, 2, 12), cal, **payload)
    assert result.case.status == status
    assert stops_of(result) == sorted(cancel_rest(case.procedure))
    assert result.starts == ()
    assert notices_of(result) == notices


def test_text_is_data_controls_stripped(cal: WorkingCalendar) -> None:
    text = "  <b>Здравствуйте</b> & <script>x</script>\x07\x00\r\nспасибо\tза\x1b обращение \n"
    result = act(os_case(S.IN_UNITS, "housing"), A.SUBMIT, OPERATOR, at(3, 2, 12), cal, text=text)
    assert result.draft_text == "<b>Здравствуйте</b> & <script>x</script>\nспасибо\tза обращение"
    assert result.events[0].text == result.draft_text
    assert clean_text("a\rb\x7f") == "a\nb\x7f"  # only C0 controls go; DEL is not C0


def test_limits_are_inclusive(cal: WorkingCalendar) -> None:
    draft = act(os_case(S.IN_UNITS, "housing"), A.SUBMIT, OPERATOR, at(3, 2, 12), cal, text="я" * 20_000)
    assert draft.draft_text is not None and len(draft.draft_text) == 20_000
    rework = act(os_case(S.ON_APPROVAL), A.REWORK, REGION_CURATOR, at(3, 2, 12), cal, reason="п" * 4_000)
    assert len(rework.case.rework_reason) == 4_000


def test_info_with_attachments_alone(cal: WorkingCalendar) -> None:
    photo = Attachment("photo", "file-1", "яма.jpg")
    result = act(
        os_case(S.IN_UNITS, "housing"), A.INFO, HOUSING_OFFICIAL, at(3, 2, 12), cal, attachments=(photo,)
    )
    assert result.events[0].data["attachments"] == [{"kind": "photo", "ref": "file-1", "name": "яма.jpg"}]


def test_one_person_with_several_roles(cal: WorkingCalendar) -> None:
    both = person(20, R.OPERATOR, R.REGION_CURATOR)
    submitted = act(os_case(S.IN_UNITS, "housing"), A.SUBMIT, both, at(3, 2, 12), cal, text="Проект")
    approved = act(submitted.case, A.APPROVE, both, at(3, 2, 12, 5), cal)
    assert submitted.events[0].actor_role is R.OPERATOR and approved.events[0].actor_role is R.REGION_CURATOR


def test_unit_chosen_among_the_actors_units(cal: WorkingCalendar) -> None:
    twice = person(21, R.EXECUTOR, units=("housing", "social"))
    case = pos_case(S.IN_WORK, "housing", "social", responsible="housing")
    # Information is owed only by the co-executor unit, so it is chosen without asking.
    info = act(case, A.INFO, twice, at(3, 2, 12), cal, text="Информация")
    assert info.events[0].data["unit"] == "social"
    submit = act(info.case, A.SUBMIT, twice, at(3, 2, 13), cal, text="Проект")
    assert submit.events[0].data["unit"] == "housing"
    explicit = act(case, A.ACCEPT, twice, at(3, 2, 12), cal, unit="social")
    assert stops_of(explicit) == [("pos.return", "social", False)]


def test_significant_by_the_system_on_intake(cal: WorkingCalendar) -> None:
    result = act(os_case(S.NEW), A.SIGNIFICANT, SYSTEM_ACTOR, at(3, 2, 22), cal)
    assert result.case.status == "new" and result.case.significant
    assert notices_of(result) == [(N.SIGNIFICANT, R.HEAD, None), (N.SIGNIFICANT, R.OFFICE_HEAD, None)]


def test_available_actions() -> None:
    assert available_actions(os_case(S.NEW), OPERATOR) == (A.ROUTE, A.RETURN, A.EXCLUDE, A.SIGNIFICANT)
    assert available_actions(os_case(S.ON_APPROVAL), REGION_CURATOR) == (A.APPROVE, A.REWORK)
    assert available_actions(os_case(S.IN_UNITS, "housing"), HOUSING_OFFICIAL) == (A.INFO, A.DECLINE)
    assert available_actions(os_case(S.IN_UNITS, "housing"), ECONOMY_OFFICIAL) == ()
    assert available_actions(pos_case(S.APPROVED, "social"), COORDINATOR) == (A.PUBLISH, A.INTERIM)
    assert available_actions(os_case(S.ANSWERED), OFFICE_HEAD) == ()
    # «Принять» is offered until the executor's unit has accepted.
    waiting = pos_case(S.IN_WORK, "housing")
    assert A.ACCEPT in available_actions(waiting, HOUSING_EXEC)
    accepted = replace(waiting, assignments=(Assignment("housing", responsible=True, accepted=True),))
    assert A.ACCEPT not in available_actions(accepted, HOUSING_EXEC)
    # A co-executor is offered information, not the common draft (п.14.3).
    shared = pos_case(S.IN_WORK, "housing", "social", responsible="housing")
    assert A.SUBMIT in available_actions(shared, HOUSING_EXEC)
    assert A.SUBMIT not in available_actions(shared, SOCIAL_EXEC)
    assert A.INFO in available_actions(shared, SOCIAL_EXEC)


def test_naive_instant_is_a_programming_error(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        transition(
            os_case(S.NEW), A.ROUTE, OPERATOR, datetime(2026, 3, 2, 10), rules=DEFAULT_RULES, calendar=cal
        )


def test_table_is_consistent() -> None:
    for (procedure, status, action), step in TABLE.items():
        # A final status has no step but the office head's reopen of a closed case.
        assert status not in FINAL_STATUSES or (status, action) == (S.CLOSED, A.REOPEN), (procedure, status)
        assert step.roles == ACTION_ROLES[(procedure, action)]
        for term_id in (*step.stop, *step.cancel, *step.start):
            assert DEFAULT_RULES.term(term_id).procedure is procedure, (procedure, status, action, term_id)
    for procedure in Procedure:
        statuses = {status for (p, status, _action) in TABLE if p is procedure}
        assert S.NEW in statuses and S.APPROVED in statuses
    assert all(status.label for status in Status) and all(action.label for action in Action)
    assert all(kind.label for kind in NoticeKind)


# --- refusals -----------------------------------------------------------------------------------------------

WRONG = "Действие недоступно в статусе"
REFUSALS: list[Any] = [
    # role
    pytest.param(os_case(S.ON_APPROVAL), A.APPROVE, OPERATOR, {}, "forbidden",
        "Недостаточно прав: согласовать проект может только куратор ЦУР", id="approve-by-operator"),
    pytest.param(os_case(S.ON_APPROVAL), A.REWORK, OFFICE_HEAD, {"reason": "x"}, "forbidden",
        "Недостаточно прав: вернуть проект на доработку может только куратор ЦУР", id="rework-by-head"),
    pytest.param(os_case(S.ROUTING_PROPOSED), A.APPROVE_ROUTING, OPERATOR, {}, "forbidden",
        "Недостаточно прав: согласовать направление в подразделения может только начальник управления "
        "делами", id="approve-routing-by-operator"),
    pytest.param(os_case(S.NEW), A.ROUTE, HOUSING_OFFICIAL, {"units": ("housing",)}, "forbidden",
        "Недостаточно прав: направить сообщение по компетенции может только уполномоченное лицо "
        "управления делами", id="route-by-unit"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.INFO, ECONOMY_OFFICIAL, {"text": "x"}, "forbidden",
        "Недостаточно прав: сообщение не направлено в ваше подразделение", id="info-by-other-unit"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.INFO, HOUSING_OFFICIAL, {"text": "x", "unit": "economy"},
        "forbidden", "Недостаточно прав: вы не состоите в подразделении «Экономика и финансы»",
        id="info-for-a-unit-not-mine"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.INFO, OPERATOR, {"text": "x"}, "forbidden",
        "Недостаточно прав: направить информацию для ответа может только должностное лицо подразделения",
        id="info-by-operator"),
    pytest.param(os_case(S.NEW), A.SIGNIFICANT, HEAD, {}, "forbidden",
        "Недостаточно прав: доложить Главе района может только уполномоченное лицо управления делами",
        id="significant-by-head"),
    pytest.param(os_case(S.NEW), A.CLOSE, OPERATOR, {}, "forbidden",
        "Недостаточно прав: закрыть сообщение может только начальник управления делами", id="close-by-op"),
    pytest.param(pos_case(S.APPROVED, "housing"), A.PUBLISH, HOUSING_EXEC, {}, "forbidden",
        "Недостаточно прав: отметить ответ размещённым может только куратор ПОС или координатор",
        id="pos-publish-by-executor"),
    pytest.param(pos_case(S.IN_WORK, "housing", "social", responsible="housing"), A.SUBMIT, SOCIAL_EXEC,
        {"text": "x"}, "forbidden",
        "Недостаточно прав: проект общего ответа направляет ответственный исполнитель (п.14.3)",
        id="pos-submit-by-coexecutor"),
    pytest.param(pos_case(S.IN_WORK, "housing", "social", responsible="housing"), A.INFO, HOUSING_EXEC,
        {"text": "x"}, "forbidden", "Ответственный исполнитель готовит общий ответ сам",
        id="pos-info-by-responsible"),
    pytest.param(pos_case(S.NEW), A.EXCLUDE, OPERATOR, {"reason": "x"}, "forbidden",
        "Недостаточно прав: исключить сообщение из обработки может только куратор ПОС",
        id="pos-exclude-by-operator"),
    pytest.param(pos_case(S.NEW), A.ROUTE, COORDINATOR, {"units": ("housing",)}, "forbidden",
        "Недостаточно прав: направить сообщение по компетенции может только куратор ПОС",
        id="pos-route-by-coordinator"),
    # status
    pytest.param(os_case(S.IN_UNITS, "housing"), A.APPROVE, REGION_CURATOR, {}, "wrong_status",
        f"{WRONG} «В подразделениях»", id="approve-in-units"),
    pytest.param(os_case(S.ON_APPROVAL), A.PUBLISH, OPERATOR, {}, "wrong_status",
        f"{WRONG} «На согласовании»", id="publish-on-approval"),
    pytest.param(os_case(S.NEW), A.SUBMIT, OPERATOR, {"text": "x"}, "wrong_status", f"{WRONG} «Новое»",
        id="submit-before-routing"),
    pytest.param(os_case(S.ON_APPROVAL), A.INTERIM, OPERATOR, {}, "wrong_status",
        f"{WRONG} «На согласовании»",
        id="interim-unapproved"),
    pytest.param(os_case(S.ON_APPROVAL, "housing"), A.DECLINE, HOUSING_OFFICIAL, {}, "wrong_status",
        f"{WRONG} «На согласовании»", id="decline-late"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.RETURN, OPERATOR, {}, "wrong_status",
        f"{WRONG} «В подразделениях»", id="return-after-routing"),
    pytest.param(os_case(S.ANSWERED), A.ROUTE, OPERATOR, {"units": ("housing",)}, "wrong_status",
        f"{WRONG} «Ответ дан»", id="route-answered"),
    pytest.param(os_case(S.ANSWERED), A.EXCLUDE, OPERATOR, {"reason": "x"}, "wrong_status",
        f"{WRONG} «Ответ дан»", id="exclude-answered"),
    pytest.param(os_case(S.RETURNED), A.SIGNIFICANT, OPERATOR, {}, "wrong_status",
        f"{WRONG} «Возвращено куратору ЦУР»", id="significant-closed"),
    pytest.param(pos_case(S.NEW), A.RETURN, OPERATOR, {}, "wrong_status", f"{WRONG} «Новое»",
        id="pos-has-no-return"),
    pytest.param(pos_case(S.ON_APPROVAL, "housing"), A.DECLINE, HOUSING_EXEC, {}, "wrong_status",
        f"{WRONG} «На согласовании»", id="pos-decline-late"),
    pytest.param(pos_case(S.REWORK, "housing"), A.APPROVE, POS_CURATOR, {}, "wrong_status",
        f"{WRONG} «На доработке»", id="pos-approve-in-rework"),
    # second press
    pytest.param(os_case(S.APPROVED), A.APPROVE, REGION_CURATOR, {}, "already_done", "Уже согласовано",
        id="approve-twice"),
    pytest.param(pos_case(S.APPROVED, "housing"), A.APPROVE, POS_CURATOR, {}, "already_done",
        "Уже согласовано",
        id="pos-approve-twice"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.APPROVE_ROUTING, OFFICE_HEAD, {}, "already_done",
        "Направление уже согласовано", id="approve-routing-twice"),
    pytest.param(os_case(S.ON_APPROVAL), A.SUBMIT, OPERATOR, {"text": "x"}, "already_done",
        "Проект уже направлен на согласование", id="submit-twice"),
    pytest.param(os_case(S.REWORK), A.REWORK, REGION_CURATOR, {"reason": "x"}, "already_done",
        "Проект уже возвращён на доработку", id="rework-twice"),
    pytest.param(os_case(S.ANSWERED), A.PUBLISH, OPERATOR, {}, "already_done",
        "Ответ уже отмечен размещённым",
        id="publish-twice"),
    pytest.param(os_case(S.APPROVED, interim=True), A.INTERIM, OPERATOR, {}, "already_done",
        "Промежуточный ответ уже дан", id="second-interim"),
    pytest.param(os_case(S.INTERIM, interim=True), A.INTERIM, OPERATOR, {}, "already_done",
        "Промежуточный ответ уже дан", id="interim-twice"),
    pytest.param(os_case(S.RETURNED), A.RETURN, OPERATOR, {}, "already_done",
        "Сообщение уже возвращено куратору ЦУР", id="return-twice"),
    pytest.param(os_case(S.EXCLUDED), A.EXCLUDE, OPERATOR, {"reason": "x"}, "already_done",
        "Сообщение уже исключено из обработки", id="exclude-twice"),
    pytest.param(pos_case(S.CLOSED), A.CLOSE, OFFICE_HEAD, {}, "already_done", "Сообщение уже закрыто",
        id="close-twice"),
    pytest.param(os_case(S.IN_UNITS, significant=True), A.SIGNIFICANT, OPERATOR, {}, "already_done",
        "Уже доложено Главе района", id="significant-twice"),
    pytest.param(replace(os_case(S.IN_UNITS), assignments=(Assignment("housing", info_given=True),)), A.INFO,
        HOUSING_OFFICIAL, {}, "already_done", "Информация уже направлена", id="info-twice"),  # before payload
    pytest.param(replace(pos_case(S.IN_WORK), assignments=(Assignment("housing", True, accepted=True),)),
        A.ACCEPT, HOUSING_EXEC, {}, "already_done", "Уже принято в работу", id="accept-twice"),
    pytest.param(os_case(S.NEW, declined_units=("housing",)), A.DECLINE, HOUSING_OFFICIAL, {}, "wrong_status",
        f"{WRONG} «Новое»", id="decline-after-all-declined"),
    pytest.param(pos_case(S.IN_WORK, "social", declined_units=("housing",)), A.DECLINE, HOUSING_EXEC, {},
        "already_done", "Подразделение уже вернуло сообщение", id="pos-decline-twice"),
    # payload
    pytest.param(os_case(S.IN_UNITS), A.SUBMIT, OPERATOR, {"text": ""}, "invalid",
        "Проект ответа: пустой текст — напишите текст", id="empty-draft"),
    pytest.param(os_case(S.IN_UNITS), A.SUBMIT, OPERATOR, {"text": " \x00\x01\r\n\t "}, "invalid",
        "Проект ответа: пустой текст — напишите текст", id="blank-draft"),
    pytest.param(os_case(S.IN_UNITS), A.SUBMIT, OPERATOR, {"text": "я" * 20_001}, "invalid",
        "Проект ответа длиннее 20 000 знаков (20 001)", id="long-draft"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.INFO, HOUSING_OFFICIAL, {"text": "  "}, "invalid",
        "Информация: пустой текст — напишите текст", id="empty-info"),
    pytest.param(os_case(S.ON_APPROVAL), A.REWORK, REGION_CURATOR, {}, "invalid",
        "Укажите причину возврата на доработку", id="rework-no-reason"),
    pytest.param(os_case(S.ON_APPROVAL), A.REWORK, REGION_CURATOR, {"reason": "п" * 4_001}, "invalid",
        "Причина длиннее 4 000 знаков (4 001)", id="rework-long-reason"),
    pytest.param(pos_case(S.ON_APPROVAL, "housing"), A.REWORK, POS_CURATOR, {"reason": "\x1b"}, "invalid",
        "Укажите причину возврата на доработку", id="pos-rework-control-only"),
    pytest.param(os_case(S.NEW), A.EXCLUDE, OPERATOR, {}, "invalid",
        "Укажите причину исключения (п.15 / п.17 Порядка)", id="exclude-no-reason"),
    pytest.param(os_case(S.NEW), A.CLOSE, OFFICE_HEAD, {"reason": "к" * 4_001}, "invalid",
        "Причина длиннее 4 000 знаков (4 001)", id="close-long-reason"),
    pytest.param(os_case(S.NEW), A.CLOSE, OFFICE_HEAD, {}, "invalid", "Укажите причину закрытия",
        id="close-no-reason"),
    pytest.param(os_case(S.CLOSED), A.REOPEN, OFFICE_HEAD, {"reason": " "}, "invalid",
        "Укажите причину возобновления", id="reopen-no-reason"),
    pytest.param(os_case(S.CLOSED), A.REOPEN, OPERATOR, {"reason": "Ошибка"}, "forbidden",
        "Недостаточно прав: возобновить работу по закрытому сообщению может только начальник управления делами",
        id="reopen-by-operator"),
    pytest.param(os_case(S.IN_UNITS, "housing"), A.REOPEN, OFFICE_HEAD, {"reason": "Ошибка"}, "wrong_status",
        "Действие недоступно в статусе «В подразделениях»", id="reopen-not-closed"),
    pytest.param(pos_case(S.ANSWERED, "housing"), A.REOPEN, OFFICE_HEAD, {"reason": "Ошибка"}, "wrong_status",
        "Действие недоступно в статусе «Ответ дан»", id="reopen-answered"),
    pytest.param(os_case(S.NEW), A.ROUTE, OPERATOR, {"units": ("roads",)}, "invalid",
        "Неизвестное подразделение: roads", id="unknown-unit"),
    pytest.param(os_case(S.NEW), A.ROUTE, OPERATOR, {}, "invalid", "Выберите хотя бы одно подразделение",
        id="no-units"),
    pytest.param(os_case(S.ROUTING_PROPOSED, proposed_units=("housing", "economy")), A.APPROVE_ROUTING,
        OFFICE_HEAD, {"order": ("housing",)}, "invalid",
        "Очерёдность должна перечислять все подразделения направления; не указаны: Экономика и финансы",
        id="bad-order"),
    pytest.param(os_case(S.ROUTING_PROPOSED, proposed_units=("housing", "economy")), A.APPROVE_ROUTING,
        OFFICE_HEAD, {"order": ("economy", "housing", "culture")}, "invalid",
        "В очерёдности указано подразделение, в которое сообщение не направляется: Культура, молодёжная "
        "политика и спорт", id="order-names-a-unit-not-routed"),
    pytest.param(os_case(S.NEW), A.ROUTE, OPERATOR, {"units": ("housing",), "order": ("social", "housing")},
        "invalid", "В очерёдности указано подразделение, в которое сообщение не направляется: Социальная "
        "защита", id="proposed-order-names-a-unit-not-routed"),
    pytest.param(pos_case(S.NEW), A.ROUTE, POS_CURATOR, {"units": ("housing", "social")}, "invalid",
        "Укажите ответственного исполнителя: сообщение направляется нескольким исполнителям (п.14.1)",
        id="pos-several-without-responsible"),
    pytest.param(pos_case(S.NEW), A.ROUTE, POS_CURATOR, {"units": ("housing",), "responsible": "social"},
        "invalid", "Ответственный исполнитель должен быть среди выбранных исполнителей",
        id="pos-responsible-not-routed"),
    pytest.param(os_case(S.APPROVED), A.PUBLISH, OPERATOR, {"link": "javascript:alert(1)"}, "invalid",
        "Ссылка на ответ должна начинаться с http:// или https://", id="bad-link"),
    pytest.param(os_case(S.IN_UNITS, "housing", "economy"), A.INFO, person(22, R.UNIT_OFFICIAL,
        units=("housing", "economy")), {"text": "x"}, "invalid",
        "Укажите подразделение: сообщение направлено в несколько ваших подразделений", id="which-unit"),
    # the ЦУР detection time stated after registration (set_detected)
    pytest.param(os_case(S.NEW, handed_over=True), A.SET_DETECTED, HEAD, {"detected_at": T0}, "forbidden",
        "Недостаточно прав: указать время выявления сообщения ЦУР может только уполномоченное лицо "
        "управления делами или куратор ЦУР", id="detected-by-head"),
    pytest.param(os_case(S.IN_UNITS, "housing", handed_over=True), A.SET_DETECTED, OPERATOR,
        {"detected_at": T0}, "wrong_status", "Время выявления ЦУР уже не изменить", id="detected-after-routing"),
    pytest.param(os_case(S.RETURNED, handed_over=True), A.SET_DETECTED, OPERATOR, {"detected_at": T0},
        "wrong_status", "Время выявления ЦУР уже не изменить", id="detected-returned"),
    pytest.param(os_case(S.NEW, handed_over=True, declined_units=("housing",)), A.SET_DETECTED, OPERATOR,
        {"detected_at": T0}, "wrong_status", "Время выявления ЦУР уже не изменить", id="detected-rerouting"),
    pytest.param(os_case(S.NEW, handed_over=True, detection_stated=True), A.SET_DETECTED, OPERATOR,
        {"detected_at": T0}, "already_done", "Время выявления ЦУР уже указано", id="detected-twice"),
    pytest.param(os_case(S.NEW, handed_over=True, received_at=at(3, 2, 10, 30)), A.SET_DETECTED,
        REGION_CURATOR, {"detected_at": T0}, "already_done", "Время выявления ЦУР уже указано",
        id="detected-by-the-card"),
    pytest.param(os_case(S.NEW), A.SET_DETECTED, OPERATOR, {"detected_at": T0}, "invalid",
        "Время выявления ЦУР указывается только для сообщений, переданных куратором ЦУР",
        id="detected-of-own-find"),
    pytest.param(os_case(S.NEW, handed_over=True), A.SET_DETECTED, OPERATOR, {}, "invalid",
        "Укажите время выявления ЦУР", id="detected-missing"),
    pytest.param(os_case(S.NEW, handed_over=True), A.SET_DETECTED, OPERATOR,
        {"detected_at": T0 + timedelta(minutes=2)}, "invalid",
        "Время выявления ЦУР не может быть позже поступления сообщения в администрацию", id="detected-after-post"),
    pytest.param(os_case(S.NEW, handed_over=True), A.SET_DETECTED, OPERATOR,
        {"detected_at": at(3, 2, 12, 5)}, "invalid", "Время выявления ЦУР не может быть позже текущего момента",
        id="detected-in-the-future"),
    pytest.param(os_case(S.NEW, handed_over=True), A.SET_DETECTED, OPERATOR,
        {"detected_at": datetime(1999, 12, 31, 23, 0, tzinfo=UTC)}, "invalid",
        "Дата сообщения не может быть раньше 01.01.2000", id="detected-before-2000"),
    pytest.param(os_case(S.NEW, handed_over=True), A.SET_DETECTED, OPERATOR,
        {"detected_at": datetime(2026, 3, 2, 9, 0)}, "invalid", "Время выявления ЦУР: укажите часовой пояс",
        id="detected-naive"),
    # «Не исключать» answers the screening's warning at intake (issue 13), once, by who routes the message
    pytest.param(os_case(S.NEW, screening="pending"), A.SCREEN_KEEP, HOUSING_OFFICIAL, {}, "forbidden",
        "Недостаточно прав: снять предупреждение проверки текста может только уполномоченное лицо",
        id="screen-keep-by-unit"),
    pytest.param(os_case(S.NEW, screening="kept"), A.SCREEN_KEEP, OPERATOR, {}, "already_done",
        "Уже решено не исключать", id="screen-keep-twice"),
    pytest.param(os_case(S.NEW), A.SCREEN_KEEP, OPERATOR, {}, "wrong_status",
        "Проверка п.15 ничего не нашла", id="screen-keep-nothing-found"),
    pytest.param(os_case(S.EXCLUDED, screening="pending"), A.SCREEN_KEEP, OPERATOR, {}, "wrong_status",
        f"{WRONG} «Исключено из обработки»", id="screen-keep-excluded"),
    pytest.param(pos_case(S.NEW, screening="pending"), A.SCREEN_KEEP, OPERATOR, {}, "forbidden",
        "Недостаточно прав: снять предупреждение проверки текста может только куратор ПОС",
        id="screen-keep-pos-by-operator"),
    # a suggested repeat linked (link_repeat, issue 13)
    pytest.param(os_case(S.NEW, repeat_suggested=7), A.LINK_REPEAT, HOUSING_OFFICIAL, {}, "forbidden",
        "Недостаточно прав: отметить сообщение как повторное может только уполномоченное лицо управления делами",
        id="repeat-by-unit"),
    pytest.param(os_case(S.NEW), A.LINK_REPEAT, OPERATOR, {}, "invalid",
        "Предыдущее сообщение для этого не предложено", id="repeat-not-suggested"),
    pytest.param(os_case(S.NEW, repeat_suggested=7, repeat_of=7), A.LINK_REPEAT, OPERATOR, {}, "already_done",
        "Уже отмечено как повторное к № 7", id="repeat-twice"),
    pytest.param(os_case(S.ANSWERED, repeat_suggested=7), A.LINK_REPEAT, OPERATOR, {}, "wrong_status",
        "Действие недоступно в статусе «Ответ дан»", id="repeat-answered"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "action", "actor", "payload", "code", "text"), REFUSALS)
def test_refusals(
    cal: WorkingCalendar,
    case: Case,
    action: Action,
    actor: Actor,
    payload: dict[str, Any],
    code: str,
    text: str,
) -> None:
    with pytest.raises(DomainError) as caught:
        act(case, action, actor, at(3, 2, 12), cal, **payload)
    assert caught.value.code == code
    assert caught.value.message.startswith(text), caught.value.message
    assert "\n" not in caught.value.message


def test_every_action_has_a_refusal_row() -> None:
    refused = {row.values[1] for row in REFUSALS}
    assert refused == set(Action)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_clean_text_keeps_no_c0_control_but_newline_and_tab(text: str) -> None:
    cleaned = clean_text(text)
    assert all(ch in "\n\t" or ord(ch) >= 0x20 for ch in cleaned)
    assert cleaned == cleaned.strip()
    assert clean_text(cleaned) == cleaned  # idempotent
