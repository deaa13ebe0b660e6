"""Who holds a term now (RULES.md §6): every term names its person where known, and reminders and misses say it.

The person is the one who did the step that opened the term when the next step is theirs (the operator who
registered holds os.route, the one who sent a draft holds its rework, the executor who accepted holds
pos.draft); otherwise the only staff member of the owing role (and unit) in the directory (bot.directory,
through the use cases' People port). Two staff members of a role: nobody is guessed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.directory import Directory
from emulators.telegram import html_to_text
from tests.engine.conftest import all_terms, at
from tests.engine.flows import DRAFT, OS_T0, POS_DRAFT, POS_T0, os_msg, pos_msg
from tests.engine.test_terms_semantics import sweep_until
from tests.fakes import FakeClock, RecordingNotifier
from views.cards import render_notification
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, InboundMessage, Role
from workflow.ports import Notification, Repository
from workflow.rules import DEFAULT_RULES
from workflow.services import Services

UNITS = dict(DEFAULT_RULES.units)
HOUSING, EDUCATION, SOCIAL = UNITS["housing"], UNITS["education"], UNITS["social"]


def person(uid: int, name: str, *roles: Role, units: tuple[str, ...] = ()) -> Actor:
    return Actor(user_id=uid, roles=frozenset(roles), units=frozenset(units), name=name)


MARIA = person(1, "Мария Иванова", Role.OPERATOR)
OLGA = person(2, "Ольга Кузнецова", Role.OPERATOR)  # two operators: neither is the operator by default
OLEG = person(3, "Олег Сидоров", Role.OFFICE_HEAD)
SVETA = person(4, "Светлана Орлова", Role.REGION_CURATOR)
IVAN = person(5, "Иван Петров", Role.UNIT_OFFICIAL, Role.EXECUTOR, units=("housing",))
ANNA = person(6, "Анна Белова", Role.UNIT_OFFICIAL, units=("education",))
PETR = person(7, "Пётр Зуев", Role.UNIT_OFFICIAL, units=("education",))
ELENA = person(8, "Елена Соколова", Role.POS_CURATOR)
NINA = person(9, "Нина Громова", Role.EXECUTOR, units=("social",))
YURI = person(10, "Юрий Лебедев", Role.EXECUTOR, units=("social",))
STAFF = (MARIA, OLGA, OLEG, SVETA, IVAN, ANNA, PETR, ELENA, NINA, YURI)

DIRECTORY = Directory(staff={a.user_id: a for a in STAFF}, role_chats={}, unit_chats={}, units=UNITS)


def named_services(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> Services:
    return Services(
        repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES, notifier=notifier, people=DIRECTORY
    )


async def persons(repo: Repository, case_id: int) -> dict[tuple[str, str | None], str]:
    """The person each term names, by (term id, unit), the latest opening of each."""
    return {(t.term_id, t.unit): t.person for t in await all_terms(repo, case_id)}


def texts_of(said: Iterable[Notification], term: str, kind: str, calendar: WorkingCalendar) -> set[str]:
    return {
        html_to_text(
            render_notification(n, None, calendar=calendar, rules=DEFAULT_RULES, units=UNITS, now=n.at)
        ).split("\n")[0]
        for n in said
        if n.term_id == term and n.kind == kind
    }


async def act(
    services: Services,
    clock: FakeClock,
    case_id: int,
    when: datetime,
    action: Action,
    who: Actor,
    **payload: Any,
) -> None:
    clock.set(when)
    await services.act(case_id, action, who, payload=ActionPayload(**payload))


async def register(services: Services, clock: FakeClock, message: InboundMessage, who: Actor) -> int:
    clock.set(message.received_at)
    return (await services.register(message, who)).case.id


async def test_open_sources_terms_name_their_persons_in_reminders_and_misses(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> None:
    services = named_services(repo, clock, calendar, notifier)
    case_id = await register(services, clock, os_msg(), MARIA)
    # Registered by Maria: she holds the operator's terms of the case, though there are two operators.
    assert set((await persons(repo, case_id)).values()) == {MARIA.name}
    assert {t for t, _ in await persons(repo, case_id)} == {"os.route", "os.return", "os.draft", "os.publish"}
    said = await sweep_until(services, clock, at(2026, 12, 1, 10, 0))  # os.route's 50 % (10:10) not yet
    assert said == []
    said = await sweep_until(services, clock, at(2026, 12, 1, 10, 11))
    assert texts_of(said, "os.route", "reminder", calendar) == {
        "⏰ Напоминание: Направление в подразделение — уполномоченное лицо управления делами, Мария Иванова, "
        "до 01.12 10:40; осталось 30 мин рабочего времени"
    }

    # Olga proposes the routing: os.route waits for the office head, the only one, and names him.
    await act(
        services, clock, case_id, at(2026, 12, 1, 10, 15), Action.ROUTE, OLGA, units=("housing", "education")
    )
    assert (await persons(repo, case_id))[("os.route", None)] == OLEG.name
    said = await sweep_until(services, clock, at(2026, 12, 1, 10, 41))
    route_misses = texts_of(said, "os.route", "missed", calendar)
    assert route_misses == {
        "❗ Срок пропущен: Направление в подразделение — начальник управления делами, Олег Сидоров, "
        "срок был до 01.12 10:40"
    }
    # Every recipient of the miss (office head, region curator) learns the same name.
    assert {n.to_role for n in said if n.term_id == "os.route" and n.kind == "missed"} == {
        Role.OFFICE_HEAD,
        Role.REGION_CURATOR,
    }

    # Routed to housing (one official: Ivan) and education (two: nobody is guessed).
    await act(services, clock, case_id, at(2026, 12, 1, 10, 45), Action.APPROVE_ROUTING, OLEG)
    named = await persons(repo, case_id)
    assert (named[("os.unit_info", "housing")], named[("os.unit_info", "education")]) == (IVAN.name, "")
    said = await sweep_until(services, clock, at(2026, 12, 1, 14, 0))
    misses = texts_of(said, "os.unit_info", "missed", calendar)
    assert any(f"должностное лицо подразделения ({HOUSING}), Иван Петров" in t for t in misses), misses
    assert any(
        t.endswith(f"должностное лицо подразделения ({EDUCATION}), срок был до 01.12 12:45") for t in misses
    ), misses
    reminders = texts_of(said, "os.unit_info", "reminder", calendar)
    assert any(f"({HOUSING}), Иван Петров, до" in t for t in reminders), reminders

    # Olga sends the draft; the curator (the only one) holds its approval; his rework goes back to Olga,
    # who sent it, though two operators could do it.
    await act(services, clock, case_id, at(2026, 12, 1, 14, 5), Action.INFO, IVAN, text="Ремонт 3 декабря")
    await act(services, clock, case_id, at(2026, 12, 1, 14, 6), Action.INFO, ANNA, text="Школа в курсе")
    await act(services, clock, case_id, at(2026, 12, 1, 14, 30), Action.SUBMIT, OLGA, text=DRAFT)
    assert (await persons(repo, case_id))[("os.approve", None)] == SVETA.name
    await act(services, clock, case_id, at(2026, 12, 1, 14, 40), Action.REWORK, SVETA, reason="Нет адреса")
    assert (await persons(repo, case_id))[("os.rework", None)] == OLGA.name
    said = await sweep_until(services, clock, at(2026, 12, 3, 10, 0))
    assert any(
        "уполномоченное лицо управления делами, Ольга Кузнецова" in t
        for t in texts_of(said, "os.rework", "missed", calendar)
        | texts_of(said, "os.rework", "reminder", calendar)
    )


async def test_pos_terms_name_their_persons(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> None:
    services = named_services(repo, clock, calendar, notifier)
    # Housing has one executor (Ivan): routed there, its terms name him before anyone presses anything.
    first = await register(services, clock, pos_msg(), ELENA)
    assert (await persons(repo, first))[("pos.route", None)] == ELENA.name
    await act(services, clock, first, at(2026, 11, 3, 9, 20), Action.ROUTE, ELENA, units=("housing",))
    named = await persons(repo, first)
    assert (named[("pos.draft", "housing")], named[("pos.return", "housing")]) == (IVAN.name, IVAN.name)
    said = await sweep_until(services, clock, at(2026, 11, 20, 18, 1))
    draft_misses = texts_of(said, "pos.draft", "missed", calendar)
    assert draft_misses and all(f"исполнитель ({HOUSING}), Иван Петров" in t for t in draft_misses)

    # Social has two executors: nobody is named until Yuri accepts; his draft's rework is his again.
    second = await register(services, clock, pos_msg("pos-2026-000200", t0=POS_T0), ELENA)
    await act(services, clock, second, at(2026, 11, 3, 9, 20), Action.ROUTE, ELENA, units=("social",))
    assert (await persons(repo, second))[("pos.draft", "social")] == ""
    await act(services, clock, second, at(2026, 11, 3, 9, 30), Action.ACCEPT, YURI)
    assert (await persons(repo, second))[("pos.draft", "social")] == YURI.name
    await act(services, clock, second, at(2026, 11, 5, 11, 0), Action.SUBMIT, YURI, text=POS_DRAFT)
    assert (await persons(repo, second))[("pos.approve", None)] == ELENA.name
    await act(services, clock, second, at(2026, 11, 5, 15, 0), Action.REWORK, ELENA, reason="Нет даты")
    assert (await persons(repo, second))[("pos.rework", "social")] == YURI.name
    said = await sweep_until(services, clock, at(2026, 11, 9, 18, 1))
    rework = texts_of(said, "pos.rework", "reminder", calendar) | texts_of(
        said, "pos.rework", "missed", calendar
    )
    assert rework and all(f"исполнитель ({SOCIAL}), Юрий Лебедев" in t for t in rework), rework


async def test_without_a_directory_a_handed_over_term_drops_the_former_holders_name(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, notifier: RecordingNotifier
) -> None:
    """No People port (the simulator): only the steps name persons; os.route passing to the office head does
    not keep the operator's name."""
    services = Services(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES, notifier=notifier)
    case_id = await register(services, clock, os_msg(t0=OS_T0), MARIA)
    assert (await persons(repo, case_id))[("os.route", None)] == MARIA.name
    await act(services, clock, case_id, at(2026, 12, 1, 10, 15), Action.ROUTE, OLGA, units=("housing",))
    assert (await persons(repo, case_id))[("os.route", None)] == ""
    await act(services, clock, case_id, at(2026, 12, 1, 10, 20), Action.APPROVE_ROUTING, OLEG)
    assert (await persons(repo, case_id))[("os.unit_info", "housing")] == ""
