"""Issue 9: terms that mean what the Порядок says (RULES.md §6), one scenario per bullet of the issue's "Why".

Each scenario runs through the use cases on every repository and asserts who was told what (kind, term, role,
unit) and the stored state of every term: open, met, missed or cancelled.

Calendar facts (shipped production calendar, Asia/Novosibirsk, windows 09–13 and 14–18): November 2026: 03.11
short day (to 17:00), 04.11 holiday; December 2026: 05–06 weekend, 31.12 a day off; January 2027: 01–08
holidays, 09–10 weekend, 11.01 (Mon) the first working day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest

from tests.engine.conftest import actor, all_terms, at, outbox, snapshot
from tests.engine.flows import (
    DRAFT,
    POS_DRAFT,
    POS_T0,
    A,
    Do,
    R,
    os_msg,
    pos_msg,
    press,
    register,
)
from tests.fakes import FakeClock
from views.cards import render_card
from workflow.calendar import WorkingCalendar
from workflow.model import DomainError, Role, Source, Term
from workflow.ports import Notification, Repository
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

OP, OH, RC, UO = R.OPERATOR, R.OFFICE_HEAD, R.REGION_CURATOR, R.UNIT_OFFICIAL
PC, EX, HD = R.POS_CURATOR, R.EXECUTOR, R.HEAD
HOUSING = ("housing",)
LINK = "https://vk.com/wall-1_100?reply=9"

Told = tuple[str, str | None, Role, str | None]  # (kind, term, to role, unit)


# --- helpers ---------------------------------------------------------------------------------------------------


def told(notifications: Iterable[Notification], *, term: str | None = None) -> list[Told]:
    """What was said, to whom, in order; `term`: only about that term."""
    return [
        (n.kind, n.term_id, n.to_role, n.unit) for n in notifications if term is None or n.term_id == term
    ]


def missed(term: str, *roles: Role, unit: str | None = None, unit_of: Role | None = None) -> list[Told]:
    """The miss alerts of `term` to `roles`; the one of `unit_of` (the holder) goes to its unit."""
    return [("missed", term, role, unit if role == unit_of else None) for role in roles]


def state(term: Term) -> str:
    if term.closed_at is None:
        return "open"
    return {True: "met", False: "missed", None: "cancelled"}[term.met]


async def states(repo: Repository, case_id: int) -> dict[tuple[str, str | None], str]:
    """Every term of the case by (term id, unit): its stored state (a term opened twice: the later one)."""
    return {(t.term_id, t.unit): state(t) for t in await all_terms(repo, case_id)}


async def sweep_until(services: Services, clock: FakeClock, until: datetime) -> list[Notification]:
    """Sweep at every instant something falls due up to `until`, as the scheduler would; the clock ends there."""
    sent: list[Notification] = []
    while True:
        async with services.repo.transaction() as tx:
            nearest = await tx.earliest_attention()
        if nearest is None or nearest > until:
            break
        clock.set(max(nearest, clock.now()))
        sent += await services.sweep()
    clock.set(max(until, clock.now()))
    sent += await services.sweep()
    return sent


async def drive(
    services: Services, clock: FakeClock, case_id: int, steps: Sequence[Do]
) -> list[Notification]:
    """Each step at its instant, the sweeps in between: everything said, in order."""
    said: list[Notification] = []
    for step in steps:
        said += await sweep_until(services, clock, step.when)
        said += (await press(services, clock, case_id, step)).notifications
    return said


def _route(h: int, mi: int, units: tuple[str, ...] = HOUSING, **payload: Any) -> Do:
    return Do(at(2026, 12, 1, h, mi), A.ROUTE, OP, {"units": units, **payload})


def _approve_routing(h: int, mi: int, **payload: Any) -> Do:
    return Do(at(2026, 12, 1, h, mi), A.APPROVE_ROUTING, OH, payload)


def _info(when: datetime, unit: str, role: Role = UO) -> Do:
    return Do(when, A.INFO, role, {"text": "Информация подразделения"}, (unit,))


def _pos_route(when: datetime, units: tuple[str, ...] = HOUSING, responsible: str = "housing") -> Do:
    return Do(when, A.ROUTE, PC, {"units": units, "responsible": responsible})


def _pos_submit(when: datetime) -> Do:
    return Do(when, A.SUBMIT, EX, {"text": POS_DRAFT}, HOUSING)


# --- 1. no false alarms on return terms -----------------------------------------------------------------------


async def test_os_routed_at_45_minutes_hears_nothing_of_os_return_and_meets_it(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """T0 09:40: os.return due 10:10, os.route 10:40. Routed at 10:25 (proposed 10:20): not returning is
    acceptance — no reminder, no alert (to the ЦУР curator neither), and os.return ends met."""
    case_id = await register(services, clock, os_msg())
    said = await drive(services, clock, case_id, [_route(10, 20), _approve_routing(10, 25)])
    said += await sweep_until(services, clock, at(2026, 12, 1, 11, 0))
    assert told(said, term="os.return") == []
    assert told(said, term="os.route") == [("reminder", "os.route", OP, None)]  # 50 % at 10:10
    assert await states(repo, case_id) == {
        ("os.return", None): "met",
        ("os.route", None): "met",
        ("os.publish", None): "open",
        ("os.draft", None): "open",
        ("os.unit_info", "housing"): "open",
    }


async def test_os_return_after_the_term_is_a_miss_and_alerts_at_once(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """Returned at 10:20, after os.return's 10:10: the use case records the miss and alerts as §5 says."""
    case_id = await register(services, clock, os_msg())
    said = await drive(services, clock, case_id, [Do(at(2026, 12, 1, 10, 20), A.RETURN, OP)])
    assert told(said, term="os.return") == missed("os.return", OP, RC, OH)
    assert ("returned_to_curator", None, RC, None) in told(said)
    assert await states(repo, case_id) == {
        ("os.return", None): "missed",
        ("os.route", None): "cancelled",  # not yet due (10:40): moot
        ("os.publish", None): "cancelled",
        ("os.draft", None): "cancelled",
    }


async def test_pos_executor_who_presses_nothing_is_not_alerted_and_its_draft_meets_the_return_term(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """Routed Tue 03.11 09:20: pos.return due 09:50. The executor never presses «Принять»: nobody hears of the
    return term; its draft on Thu 05.11 ends it met."""
    case_id = await register(services, clock, pos_msg())
    said = await drive(
        services, clock, case_id, [_pos_route(at(2026, 11, 3, 9, 20)), _pos_submit(at(2026, 11, 5, 11, 0))]
    )
    assert told(said, term="pos.return") == []
    terms = await states(repo, case_id)
    assert terms[("pos.return", "housing")] == "met"
    assert terms[("pos.draft", "housing")] == "met"
    assert terms[("pos.approve", None)] == "open"


async def test_pos_decline_after_the_term_is_a_miss_and_alerts(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, pos_msg())
    said = await drive(
        services,
        clock,
        case_id,
        [_pos_route(at(2026, 11, 3, 9, 20)), Do(at(2026, 11, 3, 9, 55), A.DECLINE, EX, {}, HOUSING)],
    )
    assert told(said, term="pos.return") == missed("pos.return", EX, PC, OH, unit="housing", unit_of=EX)
    terms = await states(repo, case_id)
    assert terms[("pos.return", "housing")] == "missed"
    assert terms[("pos.route", None)] == "open"  # back for re-routing, counted from the decline


# --- 2. the final answer after an interim one ------------------------------------------------------------------


async def test_os_final_draft_is_approved_again_and_os_final_publish_runs_to_the_publication(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    steps = [
        _route(10, 5),
        _approve_routing(10, 20),
        _info(at(2026, 12, 1, 11, 0), "housing"),
        Do(at(2026, 12, 1, 14, 30), A.SUBMIT, OP, {"text": DRAFT}),
        Do(at(2026, 12, 1, 14, 50), A.APPROVE, RC),
        Do(at(2026, 12, 1, 15, 0), A.INTERIM, OP, {"link": LINK}),
        # os.final: 7 working days from Tue 01.12 -> Thu 10.12 18:00; the final draft on Fri 04.12.
        Do(at(2026, 12, 4, 10, 0), A.SUBMIT, OP, {"text": "Ремонт выполнен, фото прилагаем."}),
        # Approved 10:20: os.final_publish 60 wm -> 11:20; 50 % 10:50, 80 % 11:08.
        Do(at(2026, 12, 4, 10, 20), A.APPROVE, RC),
    ]
    said = await drive(services, clock, case_id, steps)
    assert (await states(repo, case_id))[("os.final", None)] == "met"
    assert (await states(repo, case_id))[("os.final_publish", None)] == "open"
    said += await sweep_until(services, clock, at(2026, 12, 4, 12, 0))
    said += (
        await press(services, clock, case_id, Do(at(2026, 12, 4, 12, 0), A.PUBLISH, OP, {"link": LINK}))
    ).notifications
    assert told(said, term="os.final_publish") == [
        ("reminder", "os.final_publish", OP, None),
        ("reminder", "os.final_publish", OP, None),
        *missed("os.final_publish", OP, RC, OH),
    ]
    [final_publish] = [t for t in await all_terms(repo, case_id) if t.term_id == "os.final_publish"]
    assert (final_publish.started_at, final_publish.due) == (at(2026, 12, 4, 10, 20), at(2026, 12, 4, 11, 20))
    assert await states(repo, case_id) == {
        ("os.return", None): "met",
        ("os.route", None): "met",
        ("os.unit_info", "housing"): "met",
        ("os.draft", None): "met",
        ("os.approve", None): "met",
        ("os.publish", None): "met",  # the interim answer went out in time
        ("os.final", None): "met",
        ("os.final_publish", None): "missed",
    }


async def test_pos_final_runs_until_the_final_answer_is_posted(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """Interim Thu 05.11 16:00: pos.final due Mon 16.11 18:00. The final draft (16.11 10:00) does not end it;
    approved 15:00, it is the curator's to post, and the miss at 18:00 goes to him, not to the executor."""
    case_id = await register(services, clock, pos_msg())
    steps = [
        _pos_route(at(2026, 11, 3, 9, 20)),
        _pos_submit(at(2026, 11, 5, 11, 0)),
        Do(at(2026, 11, 5, 14, 0), A.APPROVE, PC),
        Do(at(2026, 11, 5, 16, 0), A.INTERIM, PC),
        _pos_submit(at(2026, 11, 16, 10, 0)),
    ]
    said = await drive(services, clock, case_id, steps)
    assert (await states(repo, case_id))[("pos.final", "housing")] == "open"
    said += await drive(services, clock, case_id, [Do(at(2026, 11, 16, 15, 0), A.APPROVE, PC)])
    said += await sweep_until(services, clock, at(2026, 11, 17, 10, 0))
    said += (await press(services, clock, case_id, Do(at(2026, 11, 17, 10, 0), A.PUBLISH, PC))).notifications
    assert [x for x in told(said, term="pos.final") if x[0] == "missed"] == missed("pos.final", PC, OH)
    terms = await states(repo, case_id)
    assert terms[("pos.final", None)] == "missed"  # held by the curator (no unit) since the approval
    assert terms[("pos.answer", None)] == "met"  # the interim answer met the п.10 term


# --- 3. misses are history -------------------------------------------------------------------------------------

OS_UNIT_INFO_MISSED = [_route(10, 5), _approve_routing(10, 20)]  # os.unit_info due 12:20
POS_COEXEC_MISSED = [_pos_route(at(2026, 11, 3, 9, 20), ("housing", "social"))]  # pos.coexec due 12.11 18:00


@pytest.mark.parametrize(
    ("procedure", "steps", "swept", "end", "expected"),
    [
        pytest.param("os", [], at(2026, 12, 1, 10, 45), Do(at(2026, 12, 1, 10, 50), A.RETURN, OP),
            {("os.return", None): "missed", ("os.route", None): "missed",
             ("os.publish", None): "cancelled", ("os.draft", None): "cancelled"}, id="os-return"),
        pytest.param("os", OS_UNIT_INFO_MISSED, at(2026, 12, 1, 12, 30),
            Do(at(2026, 12, 1, 12, 40), A.EXCLUDE, OP, {"reason": "Угрозы (п.15)"}),
            {("os.return", None): "met", ("os.route", None): "met", ("os.unit_info", "housing"): "missed",
             ("os.publish", None): "cancelled", ("os.draft", None): "cancelled"}, id="os-exclude"),
        pytest.param("os", OS_UNIT_INFO_MISSED, at(2026, 12, 1, 12, 30),
            Do(at(2026, 12, 1, 12, 40), A.CLOSE, OH, {"reason": "Дубль"}),
            {("os.return", None): "met", ("os.route", None): "met", ("os.unit_info", "housing"): "missed",
             ("os.publish", None): "cancelled", ("os.draft", None): "cancelled"}, id="os-close"),
        pytest.param("os", [*OS_UNIT_INFO_MISSED, Do(at(2026, 12, 1, 14, 30), A.SUBMIT, OP, {"text": DRAFT}),
                            Do(at(2026, 12, 1, 14, 50), A.APPROVE, RC)], at(2026, 12, 1, 14, 55),
            Do(at(2026, 12, 1, 15, 0), A.PUBLISH, OP, {"link": LINK, "confirm": True}),
            {("os.return", None): "met", ("os.route", None): "met", ("os.unit_info", "housing"): "missed",
             ("os.draft", None): "met", ("os.approve", None): "met", ("os.publish", None): "met"},
            id="os-publish"),
        pytest.param("pos", POS_COEXEC_MISSED, at(2026, 11, 13, 9, 0),
            Do(at(2026, 11, 13, 10, 0), A.EXCLUDE, PC, {"reason": "Угрозы (п.17)"}),
            {("pos.route", None): "met", ("pos.return", "housing"): "cancelled",
             ("pos.return", "social"): "cancelled", ("pos.coexec", "social"): "missed",
             ("pos.answer", None): "cancelled", ("pos.draft", "housing"): "cancelled"}, id="pos-exclude"),
        pytest.param("pos", POS_COEXEC_MISSED, at(2026, 11, 13, 9, 0),
            Do(at(2026, 11, 13, 10, 0), A.CLOSE, OH, {"reason": "Дубль"}),
            {("pos.route", None): "met", ("pos.return", "housing"): "cancelled",
             ("pos.return", "social"): "cancelled", ("pos.coexec", "social"): "missed",
             ("pos.answer", None): "cancelled", ("pos.draft", "housing"): "cancelled"}, id="pos-close"),
        pytest.param("pos", [*POS_COEXEC_MISSED, _pos_submit(at(2026, 11, 13, 10, 0)),
                             Do(at(2026, 11, 13, 11, 0), A.APPROVE, PC)], at(2026, 11, 13, 11, 30),
            Do(at(2026, 11, 13, 12, 0), A.PUBLISH, PC, {"confirm": True}),
            {("pos.route", None): "met", ("pos.return", "housing"): "met",
             ("pos.return", "social"): "cancelled", ("pos.coexec", "social"): "missed",
             ("pos.draft", "housing"): "met", ("pos.approve", None): "met", ("pos.answer", None): "met"},
            id="pos-publish"),
    ],
)  # fmt: skip
async def test_a_missed_term_stays_missed_whatever_ends_the_case(
    services: Services,
    repo: Repository,
    clock: FakeClock,
    procedure: str,
    steps: list[Do],
    swept: datetime,
    end: Do,
    expected: dict[tuple[str, str | None], str],
) -> None:
    case_id = await register(services, clock, os_msg() if procedure == "os" else pos_msg())
    said = await drive(services, clock, case_id, steps)
    said += await sweep_until(services, clock, swept)
    alerted = {n.term_id for n in said if n.kind == "missed"}
    assert alerted == {k[0] for k, v in expected.items() if v == "missed"} - {"os.return"}
    await press(services, clock, case_id, end)
    assert await states(repo, case_id) == expected
    assert all(t.closed_at is not None for t in await all_terms(repo, case_id))


# --- 4. open-sources T0 from the hand-over ---------------------------------------------------------------------


def _handover(received: datetime, detected: datetime | None, source_id: str = "intake:1") -> Any:
    return os_msg(source_id, t0=received, source=Source.REGION_CURATOR, detected_at=detected)


async def test_t0_of_a_hand_over_is_the_ccr_detection_time_and_the_card_shows_both(
    services: Services, repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    """Detected by ЦУР at 09:40, posted at 11:40: every term counts from 09:40 — os.route (10:40) is missed at
    once and alerted, os.return's lapse is silent."""
    case_id = await register(services, clock, _handover(at(2026, 12, 1, 11, 40), at(2026, 12, 1, 9, 40)))
    case = await services.case(case_id)
    assert (case.t0, case.received_at) == (at(2026, 12, 1, 9, 40), at(2026, 12, 1, 11, 40))
    terms = {t.term_id: t for t in await all_terms(repo, case_id)}
    assert {t.started_at for t in terms.values()} == {at(2026, 12, 1, 9, 40)}
    assert (terms["os.route"].due, terms["os.publish"].due) == (
        at(2026, 12, 1, 10, 40),
        at(2026, 12, 2, 10, 40),
    )
    said = await sweep_until(services, clock, at(2026, 12, 1, 11, 41))
    assert told(said, term="os.return") == []
    assert told(said, term="os.route") == missed("os.route", OP, RC, OH)

    view = await services.card_view(case_id)
    assert view.message is not None and view.message.detected_at == at(2026, 12, 1, 9, 40)
    text, _ = render_card(
        view, {OP}, set(), calendar=calendar, rules=DEFAULT_RULES, units=DEFAULT_RULES.units, now=clock.now()
    )
    assert "Выявлено ЦУР: 01.12.2026 09:40" in text
    assert "Поступило в администрацию: 01.12.2026 11:40" in text
    assert "Возврат куратору ЦУР" not in text  # lapsed into acceptance: not an overdue term


@pytest.mark.parametrize(
    ("detected", "message"),
    [
        (at(2026, 12, 1, 11, 45), "Время выявления ЦУР не может быть позже текущего момента"),
        (at(2026, 12, 1, 11, 41, 1), "Время выявления ЦУР не может быть позже поступления сообщения в администрацию"),
        (datetime(2026, 12, 1, 9, 40), "Время выявления ЦУР: укажите часовой пояс, например 2026-12-01T09:00+07:00"),
    ],
    ids=["future", "after-the-post", "naive"],
)  # fmt: skip
async def test_a_bad_detection_time_is_refused_and_changes_nothing(
    services: Services, repo: Repository, clock: FakeClock, detected: datetime, message: str
) -> None:
    clock.set(at(2026, 12, 1, 11, 42))
    with pytest.raises(DomainError) as refused:
        await services.register(_handover(at(2026, 12, 1, 11, 40), detected), actor(OP))
    assert (refused.value.code, refused.value.message) == ("invalid", message)
    async with repo.transaction() as tx:
        assert await tx.get_case(1) is None  # nothing was written
    assert await outbox(repo) == []


async def test_a_detection_time_within_a_minute_after_the_post_is_taken(
    services: Services, clock: FakeClock
) -> None:
    clock.set(at(2026, 12, 1, 11, 42))
    outcome = await services.register(
        _handover(at(2026, 12, 1, 11, 40), at(2026, 12, 1, 11, 40, 59)), actor(OP)
    )
    assert outcome.case.t0 == at(2026, 12, 1, 11, 40, 59)


# --- 5. pos.coexec never after pos.draft -----------------------------------------------------------------------


async def test_coexec_is_capped_at_the_draft_and_a_late_co_executor_gets_one_working_day(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """Received Tue 29.12.2026 10:00, federal_fast: pos.answer 06.01 -> Mon 11.01.2027 18:00; pos.draft 09.01
    (Sat) -> the last working day before, Wed 30.12 18:00. Half the term (02.01 -> 11.01) is capped there. A
    co-executor added on 11.01 10:00 has 1 working day: Tue 12.01 18:00, and its card says why."""
    case_id = await register(services, clock, pos_msg(t0=at(2026, 12, 29, 10, 0), category="federal_fast"))
    await drive(services, clock, case_id, [_pos_route(at(2026, 12, 29, 11, 0), ("housing", "social"))])
    terms = {(t.term_id, t.unit): t for t in await all_terms(repo, case_id)}
    assert terms[("pos.draft", "housing")].due == at(2026, 12, 30, 18, 0)
    assert terms[("pos.coexec", "social")].due == at(2026, 12, 30, 18, 0)
    assert terms[("pos.coexec", "social")].note == ""

    late = _pos_route(at(2027, 1, 11, 10, 0), ("housing", "social", "education"))
    said = await drive(services, clock, case_id, [late])
    said += await sweep_until(services, clock, at(2027, 1, 11, 10, 1))
    [education] = [
        t for t in await all_terms(repo, case_id) if t.unit == "education" and t.term_id == "pos.coexec"
    ]
    assert (education.started_at, education.due) == (at(2027, 1, 11, 10, 0), at(2027, 1, 12, 18, 0))
    assert education.note == "соисполнитель назначен после срока проекта ответа: 1 рабочий день с назначения"
    assert not [x for x in told(said) if x[0] == "missed" and x[3] == "education"]  # not missed on assignment


# --- 6. the order of officials ---------------------------------------------------------------------------------


async def test_an_order_makes_the_units_terms_sequential_and_tells_each_its_turn(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    units = ("housing", "social", "culture")
    routed = await drive(
        services,
        clock,
        case_id,
        [_route(10, 5, units), _approve_routing(10, 20, order=("social", "housing", "culture"))],
    )
    routed_notes = [(n.unit, n.payload) for n in routed if n.kind == "routed"]
    # NOTIFY: a notice names the case version it is about (v3: registered, routed, approved).
    assert routed_notes == [
        ("social", {"order": 1, "of": 3, "turn": True, "version": 3}),
        ("housing", {"order": 2, "of": 3, "turn": False, "version": 3}),
        ("culture", {"order": 3, "of": 3, "turn": False, "version": 3}),
    ]
    open_info = {t.unit: t.due for t in await all_terms(repo, case_id) if t.term_id == "os.unit_info"}
    assert open_info == {"social": at(2026, 12, 1, 12, 20)}  # 10:20 + 120 wm

    said = await drive(services, clock, case_id, [_info(at(2026, 12, 1, 11, 0), "social")])
    assert [(n.kind, n.unit, n.payload) for n in said if n.kind == "turn"] == [
        ("turn", "housing", {"order": 2, "of": 3, "version": 4})
    ]
    said = await drive(services, clock, case_id, [_info(at(2026, 12, 1, 12, 0), "housing")])
    assert [(n.kind, n.unit) for n in said if n.kind == "turn"] == [("turn", "culture")]
    info = {
        t.unit: (t.started_at, t.due) for t in await all_terms(repo, case_id) if t.term_id == "os.unit_info"
    }
    assert info == {
        "social": (at(2026, 12, 1, 10, 20), at(2026, 12, 1, 12, 20)),
        "housing": (at(2026, 12, 1, 11, 0), at(2026, 12, 1, 13, 0)),  # from social's information
        "culture": (at(2026, 12, 1, 12, 0), at(2026, 12, 1, 15, 0)),  # 12:00–13:00, lunch, 14:00–15:00
    }
    terms = await states(repo, case_id)
    assert [terms[("os.unit_info", u)] for u in ("social", "housing", "culture")] == ["met", "met", "open"]


async def test_without_an_order_every_unit_starts_at_routing_and_is_told_no_place(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    said = await drive(
        services, clock, case_id, [_route(10, 5, ("housing", "social")), _approve_routing(10, 20)]
    )
    no_place = {"version": 3}  # NOTIFY: only the case version the notice is about, no place in an order
    assert [(n.unit, n.payload) for n in said if n.kind == "routed"] == [
        ("housing", no_place),
        ("social", no_place),
    ]
    info = {t.unit: t.due for t in await all_terms(repo, case_id) if t.term_id == "os.unit_info"}
    assert info == {"housing": at(2026, 12, 1, 12, 20), "social": at(2026, 12, 1, 12, 20)}


async def test_an_order_naming_a_unit_not_in_the_routing_is_refused_and_changes_nothing(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    await drive(services, clock, case_id, [_route(10, 5, ("housing", "social"))])
    before = await snapshot(repo, [case_id])
    with pytest.raises(DomainError) as refused:
        await press(
            services, clock, case_id, _approve_routing(10, 20, order=("social", "culture", "housing"))
        )
    assert refused.value.code == "invalid"
    assert refused.value.message == (
        "В очерёдности указано подразделение, в которое сообщение не направляется: "
        "Культура, молодёжная политика и спорт"
    )
    assert await snapshot(repo, [case_id]) == before


# --- 7. who holds a term now -----------------------------------------------------------------------------------


async def test_os_route_waiting_for_approval_reminds_and_alerts_the_office_head(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """Proposed at 10:05 and never approved: os.route's 50 % (10:10), 80 % (10:28) and miss (10:40) go to the
    office head (and the miss to the curator), not to the operator."""
    case_id = await register(services, clock, os_msg())
    said = await drive(services, clock, case_id, [_route(10, 5)])
    said += await sweep_until(services, clock, at(2026, 12, 1, 10, 45))
    assert told(said, term="os.route") == [
        ("reminder", "os.route", OH, None),
        ("reminder", "os.route", OH, None),
        *missed("os.route", OH, RC),
    ]
    assert {n.payload["holder"] for n in said if n.term_id == "os.route"} == {"office_head"}
    assert (await states(repo, case_id))[("os.route", None)] == "open"
    [route] = [t for t in await all_terms(repo, case_id) if t.term_id == "os.route"]
    assert route.owner is OH


async def test_a_pos_draft_miss_names_the_responsible_unit_and_the_person_who_accepted(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """pos.draft opens at registration with no executor; routing gives it to housing, acceptance to the person.
    Its miss (Fri 20.11 18:00) goes to housing's chat and names housing and the person to everyone."""
    case_id = await register(services, clock, pos_msg())
    steps = [_pos_route(at(2026, 11, 3, 9, 20)), Do(at(2026, 11, 3, 9, 30), A.ACCEPT, EX, {}, HOUSING)]
    said = await drive(services, clock, case_id, steps)
    said += await sweep_until(services, clock, at(2026, 11, 20, 18, 1))
    alerts = [n for n in said if n.term_id == "pos.draft" and n.kind == "missed"]
    assert told(alerts) == missed("pos.draft", EX, PC, OH, unit="housing", unit_of=EX)
    assert {(n.payload["term_unit"], n.payload["person"]) for n in alerts} == {("housing", actor(EX).name)}


# --- 8. publishing while units still owe information -----------------------------------------------------------


async def test_publishing_while_a_unit_owes_information_asks_to_confirm_then_tells_it_and_cancels_its_term(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    """Routed at 14:10 (os.unit_info due 16:10); the answer goes out at 15:00 without the information."""
    case_id = await register(services, clock, os_msg())
    steps = [
        _route(14, 0),
        _approve_routing(14, 10),
        Do(at(2026, 12, 1, 14, 30), A.SUBMIT, OP, {"text": DRAFT}),
        Do(at(2026, 12, 1, 14, 50), A.APPROVE, RC),
    ]
    await drive(services, clock, case_id, steps)
    before = await snapshot(repo, [case_id])
    publish = Do(at(2026, 12, 1, 15, 0), A.PUBLISH, OP, {"link": LINK})
    with pytest.raises(DomainError) as refused:
        await press(services, clock, case_id, publish)
    assert refused.value.code == "confirm"
    assert refused.value.message == (
        "Информацию для ответа ещё не направили: ЖКХ, строительство и дорожное хозяйство. "
        "Подтвердите публикацию ответа без неё — их сроки будут сняты."
    )
    assert await snapshot(repo, [case_id]) == before
    outcome = await press(
        services, clock, case_id, replace(publish, payload={**publish.payload, "confirm": True})
    )
    assert told(outcome.notifications) == [("published_without_info", None, UO, "housing")]
    terms = await states(repo, case_id)
    assert terms[("os.unit_info", "housing")] == "cancelled"  # not missed: its term had not run out
    assert terms[("os.publish", None)] == "met"


# --- 9. the region curator hears how his hand-overs end --------------------------------------------------------


@pytest.mark.parametrize(("source", "hears"), [(Source.REGION_CURATOR, True), (Source.VK, False)])
async def test_the_region_curator_hears_of_the_exclusion_and_the_publications_of_his_hand_overs(
    services: Services, clock: FakeClock, source: Source, hears: bool
) -> None:
    excluded = await register(services, clock, os_msg("m-1", source=source))
    outcome = await press(
        services, clock, excluded, Do(at(2026, 12, 1, 9, 50), A.EXCLUDE, OP, {"reason": "Угрозы (п.15)"})
    )
    expected = [("case_excluded", None, RC, None)] if hears else []
    assert [x for x in told(outcome.notifications) if x[2] == RC] == expected

    answered = await register(services, clock, os_msg("m-2", source=source))
    steps = [
        _route(10, 5),
        _approve_routing(10, 20),
        _info(at(2026, 12, 1, 11, 0), "housing"),
        Do(at(2026, 12, 1, 14, 30), A.SUBMIT, OP, {"text": DRAFT}),
        Do(at(2026, 12, 1, 14, 50), A.APPROVE, RC),
        Do(at(2026, 12, 1, 15, 0), A.INTERIM, OP, {"link": LINK}),
        Do(at(2026, 12, 2, 10, 0), A.SUBMIT, OP, {"text": DRAFT}),
        Do(at(2026, 12, 2, 10, 20), A.APPROVE, RC),
        Do(at(2026, 12, 2, 10, 40), A.PUBLISH, OP, {"link": LINK}),
    ]
    said = [n for step in steps for n in (await press(services, clock, answered, step)).notifications]
    to_curator = [n.kind for n in said if n.to_role == RC and n.kind in ("interim_out", "answer_published")]
    assert to_curator == (["interim_out", "answer_published"] if hears else [])


# --- 10. the ПОС due date from ПОС -----------------------------------------------------------------------------


async def test_an_earlier_pos_due_date_wins_and_the_card_shows_both(
    services: Services, repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    """T0 Mon 02.11 17:30, other: the Порядок's 20 days end Mon 23.11 18:00; ПОС shows 16.11, which wins;
    pos.draft follows it: 14.11 (Sat) -> Fri 13.11 18:00."""
    case_id = await register(services, clock, replace(pos_msg(), pos_due=date(2026, 11, 16)))
    terms = {t.term_id: t.due for t in await all_terms(repo, case_id)}
    assert terms["pos.answer"] == at(2026, 11, 16, 18, 0)
    assert terms["pos.draft"] == at(2026, 11, 13, 18, 0)
    case = await services.case(case_id)
    assert (case.pos_due, case.rules_answer_due) == (date(2026, 11, 16), at(2026, 11, 23, 18, 0))
    view = await services.card_view(case_id)
    text, _ = render_card(
        view, {PC}, set(), calendar=calendar, rules=DEFAULT_RULES, units=DEFAULT_RULES.units, now=clock.now()
    )
    assert "Срок ответа по данным ПОС: 16.11.2026; по Порядку: 23.11.2026 18:00" in text


async def test_a_later_pos_due_date_leaves_the_stricter_term(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, replace(pos_msg(), pos_due=date(2026, 11, 30)))
    assert {t.term_id: t.due for t in await all_terms(repo, case_id)}["pos.answer"] == at(2026, 11, 23, 18, 0)


async def test_a_pos_due_date_before_the_arrival_is_refused_and_changes_nothing(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    clock.set(POS_T0)
    with pytest.raises(DomainError) as refused:
        await services.register(replace(pos_msg(), pos_due=date(2026, 11, 1)), actor(PC))
    assert (refused.value.code, refused.value.message) == (
        "invalid",
        "Срок ответа по данным ПОС не может быть раньше даты поступления сообщения",
    )
    async with repo.transaction() as tx:
        assert await tx.get_case(1) is None
    assert await outbox(repo) == []
