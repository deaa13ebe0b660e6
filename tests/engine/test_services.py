"""Use cases over every repository: registration, refusals that change nothing, every scenario action."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest

from bot.simulate import ACTIONS
from tests.engine.conftest import (
    Database,
    actor,
    all_terms,
    at,
    events,
    make_services,
    open_terms,
    outbox,
    snapshot,
)
from tests.engine.flows import (
    DRAFT,
    OS_T0,
    A,
    Do,
    R,
    os_approved,
    os_msg,
    os_routed,
    os_submitted,
    pos_approved,
    pos_msg,
    pos_routed,
    press,
    register,
    run,
)
from tests.fakes import FakeClock, RecordingNotifier
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import DRAFT_LIMIT, REASON_LIMIT, ActionPayload, Status
from workflow.model import DomainError, Procedure, Role, Source
from workflow.ports import Repository
from workflow.services import Services

# --- registration ---------------------------------------------------------------------------------------------


async def test_register_opens_the_case_its_terms_event_and_notice(
    services: Services, repo: Repository, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    case_id = await register(services, clock, os_msg())
    async with repo.transaction() as tx:
        case = await tx.get_case(case_id)
        message = await tx.get_message(case_id)
    assert case is not None and message is not None
    assert (case.status, case.version, case.t0) == ("new", 1, OS_T0)
    assert message.source_id == "wall-1_100"
    assert [e.action for e in await events(repo, case_id)] == ["register"]
    assert [t.term_id for t in await open_terms(repo, case_id)] == [
        "os.return",
        "os.route",
        "os.publish",
        "os.draft",
    ]
    assert [(n.kind, n.to_role) for n in notifier.woken] == [("registered", Role.OPERATOR)]
    assert [i.notification.dedup_key for i in await outbox(repo)] == [n.dedup_key for n in notifier.woken]


async def test_the_same_message_twice_is_one_case(
    services: Services, repo: Repository, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    first = await services.register(os_msg(), actor(R.OPERATOR))
    before = await snapshot(repo, [first.case.id])
    woken = len(notifier.woken)
    clock.advance(timedelta(minutes=3))
    # The same network id again, even with other text (an edited comment): the same case, nothing new.
    second = await services.register(os_msg(text="Исправленный текст"), actor(R.REGION_CURATOR))
    assert (second.created, second.case.id, second.notifications) == (False, first.case.id, ())
    assert await snapshot(repo, [first.case.id]) == before
    assert len(notifier.woken) == woken
    # Another source with the same id is another message.
    other = await services.register(os_msg(source=Source.OK), actor(R.OPERATOR))
    assert other.created and other.case.id != first.case.id


@pytest.mark.parametrize("engines", [1, 2], ids=["one-engine", "two-engines"])
async def test_concurrent_registrations_of_one_message_end_as_one_case(
    db: Database, repo: Repository, clock: FakeClock, calendar: WorkingCalendar, engines: int
) -> None:
    other = repo if engines == 1 else await db.open()
    a, b = make_services(repo, clock, calendar), make_services(other, clock, calendar)
    message = os_msg()
    outcomes = await asyncio.gather(
        a.register(message, actor(R.OPERATOR)), b.register(message, actor(R.REGION_CURATOR))
    )
    assert outcomes[0].case.id == outcomes[1].case.id
    assert sorted(o.created for o in outcomes) == [False, True]
    case_id = outcomes[0].case.id
    assert [e.action for e in await events(repo, case_id)] == ["register"]
    assert len(await all_terms(repo, case_id)) == 4
    assert len(await outbox(repo)) == 1
    async with repo.transaction() as tx:
        assert await tx.get_case(case_id + 1) is None


async def test_registration_cleans_control_characters_and_keeps_long_text_whole(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    dirty = "Яма\x00 на дороге\r\n<b>срочно</b>\x07 &amp; «ул. Ленина»"
    case_id = await register(services, clock, os_msg("c-1", text=dirty, author=" Пётр\x00 "))
    long_text = "Очень длинное сообщение. " * 4_000  # 100 000 characters: a citizen's text is kept, not cut
    assert len(long_text) == 100_000
    long_id = await register(services, clock, os_msg("c-2", text=long_text))
    async with repo.transaction() as tx:
        cleaned = await tx.get_message(case_id)
        kept = await tx.get_message(long_id)
    assert cleaned is not None and kept is not None
    assert cleaned.text == "Яма на дороге\n<b>срочно</b> &amp; «ул. Ленина»"  # markup stays as typed
    assert cleaned.author == "Пётр"
    assert kept.text == long_text.strip()


@pytest.mark.parametrize(
    ("message", "role", "code"),
    [
        (pos_msg(category="unknown"), R.POS_CURATOR, "invalid"),
        (replace(pos_msg(), category=None), R.POS_CURATOR, "invalid"),
        (os_msg(), R.UNIT_OFFICIAL, "forbidden"),
        (pos_msg(), R.OPERATOR, "forbidden"),
    ],
    ids=["unknown-category", "no-category", "os-by-unit-official", "pos-by-operator"],
)
async def test_refused_registration_writes_nothing(
    services: Services, repo: Repository, clock: FakeClock, message: Any, role: Role, code: str
) -> None:
    clock.set(message.received_at)
    with pytest.raises(DomainError) as refused:
        await services.register(message, actor(role))
    assert refused.value.code == code and refused.value.message
    async with repo.transaction() as tx:
        assert await tx.find_case_by_source(message.source.value, message.source_id) is None
        assert await tx.get_case(1) is None
    assert await outbox(repo) == []


async def test_repeat_of_an_unknown_case_is_refused(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    with pytest.raises(DomainError) as refused:
        await services.register(os_msg(), actor(R.OPERATOR), repeat_of=999)
    assert refused.value.code == "invalid" and "999" in refused.value.message
    async with repo.transaction() as tx:
        assert await tx.find_case_by_source("vk", "wall-1_100") is None


# --- refusals of actions: each leaves every row as it was ------------------------------------------------------


async def test_unknown_case(services: Services) -> None:
    with pytest.raises(DomainError) as refused:
        await services.act(404, A.ROUTE, actor(R.OPERATOR), payload=ActionPayload(units=("housing",)))
    assert refused.value.code == "not_found"
    with pytest.raises(DomainError) as read:
        await services.case(404)
    assert read.value.code == "not_found"


async def test_wrong_role_changes_nothing(services: Services, repo: Repository, clock: FakeClock) -> None:
    case_id = await register(services, clock, os_msg())
    before = await snapshot(repo, [case_id])
    for role in (R.UNIT_OFFICIAL, R.REGION_CURATOR, R.HEAD, R.EXECUTOR, R.POS_CURATOR):
        with pytest.raises(DomainError) as refused:
            await press(
                services, clock, case_id, Do(at(2026, 12, 1, 10), A.ROUTE, role, {"units": ("housing",)})
            )
        assert refused.value.code == "forbidden"
        assert refused.value.message.startswith("Недостаточно прав")
    assert await snapshot(repo, [case_id]) == before


async def test_a_unit_acts_only_for_its_own_unit(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, os_routed())
    before = await snapshot(repo, [case_id])
    with pytest.raises(DomainError) as refused:
        await press(
            services,
            clock,
            case_id,
            Do(at(2026, 12, 1, 11), A.INFO, R.UNIT_OFFICIAL, {"text": "x"}, ("social",)),
        )
    assert refused.value.code == "forbidden"
    assert await snapshot(repo, [case_id]) == before


async def test_stale_version_changes_nothing(services: Services, repo: Repository, clock: FakeClock) -> None:
    case_id = await register(services, clock, os_msg())
    routed = await press(services, clock, case_id, os_routed()[0])
    assert routed.case.version == 2
    before = await snapshot(repo, [case_id])
    # A card printed before the routing proposal (version 1) is pressed now.
    with pytest.raises(DomainError) as refused:
        await press(
            services,
            clock,
            case_id,
            Do(at(2026, 12, 1, 10, 6), A.APPROVE_ROUTING, R.OFFICE_HEAD),
            expected_version=1,
        )
    assert refused.value.code == "stale"
    assert await snapshot(repo, [case_id]) == before
    # The current card works.
    done = await press(
        services,
        clock,
        case_id,
        Do(at(2026, 12, 1, 10, 7), A.APPROVE_ROUTING, R.OFFICE_HEAD),
        expected_version=2,
    )
    assert done.case.status == Status.IN_UNITS


async def test_two_presses_of_one_card_at_once_act_once(
    db: Database, repo: Repository, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    a = make_services(repo, clock, calendar)
    b = make_services(await db.open(), clock, calendar)
    case_id = await register(a, clock, os_msg())
    await run(a, clock, case_id, os_submitted())
    before = await snapshot(repo, [case_id])
    clock.set(at(2026, 12, 1, 14, 40))
    results = await asyncio.gather(
        a.act(case_id, A.APPROVE, actor(R.REGION_CURATOR), expected_version=4),
        b.act(
            case_id,
            A.REWORK,
            actor(R.REGION_CURATOR),
            expected_version=4,
            payload=ActionPayload(reason="Уточните срок"),
        ),
        return_exceptions=True,
    )
    won = [r for r in results if not isinstance(r, BaseException)]
    lost = [r for r in results if isinstance(r, BaseException)]
    assert len(won) == 1 and len(lost) == 1
    assert isinstance(lost[0], DomainError) and lost[0].code in ("stale", "wrong_status")
    after = await snapshot(repo, [case_id])
    assert len(after.events[0]) == len(before.events[0]) + 1
    assert after.cases[0] is not None and after.cases[0].version == 5


async def test_second_press_is_already_done_and_changes_nothing(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, os_approved())
    before = await snapshot(repo, [case_id])
    with pytest.raises(DomainError) as refused:
        await press(services, clock, case_id, Do(at(2026, 12, 1, 14, 51), A.APPROVE, R.REGION_CURATOR))
    assert (refused.value.code, refused.value.message) == ("already_done", "Уже согласовано")
    # The second press answers «already done» even from a stale card: the lifecycle speaks first.
    with pytest.raises(DomainError) as stale_card:
        await press(
            services,
            clock,
            case_id,
            Do(at(2026, 12, 1, 14, 52), A.APPROVE, R.REGION_CURATOR),
            expected_version=4,
        )
    assert stale_card.value.code == "already_done"
    assert await snapshot(repo, [case_id]) == before


LONG = "б" * 100_000


@dataclass(frozen=True)
class Bad:
    name: str
    steps: tuple[Do, ...]  # to the status where `press` is valid but for its payload
    press: Do
    words: str  # in the refusal


BAD_PAYLOADS = [
    Bad(
        "draft-100000-chars",
        tuple(os_routed()),
        Do(at(2026, 12, 1, 14), A.SUBMIT, R.OPERATOR, {"text": LONG}),
        "длиннее 20 000 знаков (100 000)",
    ),
    Bad(
        "draft-empty",
        tuple(os_routed()),
        Do(at(2026, 12, 1, 14), A.SUBMIT, R.OPERATOR, {"text": ""}),
        "пустой текст",
    ),
    Bad(
        "draft-blanks-and-controls",
        tuple(os_routed()),
        Do(at(2026, 12, 1, 14), A.SUBMIT, R.OPERATOR, {"text": " \x00\x07\r\n\t "}),
        "пустой текст",
    ),
    Bad(
        "info-empty",
        tuple(os_routed()),
        Do(at(2026, 12, 1, 11), A.INFO, R.UNIT_OFFICIAL, {"text": "\x1b"}, ("housing",)),
        "пустой текст",
    ),
    Bad(
        "info-100000-chars",
        tuple(os_routed()),
        Do(at(2026, 12, 1, 11), A.INFO, R.UNIT_OFFICIAL, {"text": LONG}, ("housing",)),
        "длиннее",
    ),
    Bad(
        "rework-no-reason",
        tuple(os_submitted()),
        Do(at(2026, 12, 1, 14, 40), A.REWORK, R.REGION_CURATOR),
        "причину возврата",
    ),
    Bad(
        "rework-reason-too-long",
        tuple(os_submitted()),
        Do(at(2026, 12, 1, 14, 40), A.REWORK, R.REGION_CURATOR, {"reason": "п" * (REASON_LIMIT + 1)}),
        "длиннее 4 000 знаков",
    ),
    Bad(
        "exclude-no-reason",
        (),
        Do(at(2026, 12, 1, 9, 50), A.EXCLUDE, R.OPERATOR, {"reason": "  "}),
        "причину исключения",
    ),
    Bad(
        "publish-bad-link",
        tuple(os_approved()),
        Do(at(2026, 12, 1, 15), A.PUBLISH, R.OPERATOR, {"link": "javascript:alert(1)"}),
        "http",
    ),
    Bad("route-no-units", (), Do(at(2026, 12, 1, 10), A.ROUTE, R.OPERATOR, {"units": ()}), "хотя бы одно"),
    Bad(
        "route-unknown-unit",
        (),
        Do(at(2026, 12, 1, 10), A.ROUTE, R.OPERATOR, {"units": ("<script>",)}),
        "Неизвестное подразделение",
    ),
]


@pytest.mark.parametrize("bad", BAD_PAYLOADS, ids=[b.name for b in BAD_PAYLOADS])
async def test_bad_payload_is_a_clear_refusal_and_writes_nothing(
    services: Services, repo: Repository, clock: FakeClock, notifier: RecordingNotifier, bad: Bad
) -> None:
    assert DRAFT_LIMIT == 20_000
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, bad.steps)
    before = await snapshot(repo, [case_id])
    woken = len(notifier.woken)
    with pytest.raises(DomainError) as refused:
        await press(services, clock, case_id, bad.press)
    assert refused.value.code == "invalid"
    assert bad.words in refused.value.message
    assert "\n" not in refused.value.message
    assert await snapshot(repo, [case_id]) == before
    assert len(notifier.woken) == woken


async def test_markup_and_controls_in_a_draft_are_kept_as_text(
    services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    await run(services, clock, case_id, os_routed())
    typed = "\x00Пётр, <b>здравствуйте</b>!\r\n<script>alert(1)</script> &lt;ремонт&gt;\x08"
    await press(services, clock, case_id, Do(at(2026, 12, 1, 14), A.SUBMIT, R.OPERATOR, {"text": typed}))
    stored = "Пётр, <b>здравствуйте</b>!\n<script>alert(1)</script> &lt;ремонт&gt;"
    async with repo.transaction() as tx:
        assert await tx.latest_draft(case_id) == stored
        assert (await tx.events(case_id))[-1].text == stored
    # Exactly the limit is accepted.
    await press(
        services,
        clock,
        case_id,
        Do(at(2026, 12, 1, 14, 10), A.REWORK, R.REGION_CURATOR, {"reason": "Короче"}),
    )
    await press(
        services,
        clock,
        case_id,
        Do(at(2026, 12, 1, 14, 20), A.SUBMIT, R.OPERATOR, {"text": "ж" * DRAFT_LIMIT}),
    )


# --- every action of the scenario format, through the use cases -------------------------------------------------


@dataclass(frozen=True)
class Act:
    name: str  # the scenario's `do`
    procedure: Procedure
    steps: tuple[Do, ...]
    press: Do | None  # None: a registration (register / repeat)
    status: Status
    event: str
    opened: tuple[str, ...] = ()  # terms the press opens
    closed: tuple[str, ...] = ()  # terms it closes


OS_, POS_ = Procedure.OPEN_SOURCES, Procedure.POS

EVERY_ACTION = [
    Act("register", OS_, (), None, Status.NEW, "register", ("os.return", "os.route", "os.publish", "os.draft")),
    Act("repeat", OS_, (), None, Status.NEW, "register", ("os.return", "os.route", "os.publish", "os.draft")),
    Act("route", OS_, (), Do(at(2026, 12, 1, 10), A.ROUTE, R.OPERATOR, {"units": ("housing", "social")}),
        Status.ROUTING_PROPOSED, "route", (), ()),
    Act("route", POS_, (), pos_routed(units=("housing", "social"), responsible="housing")[0], Status.IN_WORK,
        "route", ("pos.return", "pos.return", "pos.coexec"), ("pos.route",)),
    Act("approve_routing", OS_, tuple(os_routed()[:1]), os_routed()[1], Status.IN_UNITS, "approve_routing",
        ("os.unit_info",), ("os.return", "os.route")),
    Act("return", OS_, (), Do(at(2026, 12, 1, 9, 55), A.RETURN, R.OPERATOR, {"reason": "Вопрос к области"}),
        Status.RETURNED, "return", (), ("os.return", "os.route", "os.publish", "os.draft")),
    Act("info", OS_, tuple(os_routed()),
        Do(at(2026, 12, 1, 11), A.INFO, R.UNIT_OFFICIAL, {"text": "Ремонт 3 декабря"}, ("housing",)),
        Status.IN_UNITS, "info", (), ("os.unit_info",)),
    Act("info", POS_, tuple(pos_routed(units=("housing", "social"), responsible="housing")),
        Do(at(2026, 11, 5, 10), A.INFO, R.EXECUTOR, {"text": "Контейнеры заменены"}, ("social",)),
        Status.IN_WORK, "info", (), ("pos.return", "pos.coexec")),
    Act("accept", POS_, tuple(pos_routed()), Do(at(2026, 11, 3, 9, 30), A.ACCEPT, R.EXECUTOR, {}, ("housing",)),
        Status.IN_WORK, "accept", (), ("pos.return",)),
    Act("decline", OS_, tuple(os_routed(units=("housing", "social"))),
        Do(at(2026, 12, 1, 10, 30), A.DECLINE, R.UNIT_OFFICIAL, {"reason": "Не наш вопрос"}, ("housing",)),
        Status.IN_UNITS, "decline", (), ("os.unit_info",)),
    Act("decline", OS_, tuple(os_routed()),
        Do(at(2026, 12, 1, 10, 30), A.DECLINE, R.UNIT_OFFICIAL, {}, ("housing",)),
        Status.NEW, "decline", ("os.route",), ("os.unit_info",)),
    Act("decline", POS_, tuple(pos_routed()),
        Do(at(2026, 11, 3, 9, 30), A.DECLINE, R.EXECUTOR, {"reason": "Не наш вопрос"}, ("housing",)),
        Status.NEW, "decline", ("pos.route",), ("pos.return",)),
    Act("submit", OS_, tuple(os_routed()), Do(at(2026, 12, 1, 14), A.SUBMIT, R.OPERATOR, {"text": DRAFT}),
        Status.ON_APPROVAL, "submit", ("os.approve",), ("os.draft",)),
    Act("approve", OS_, tuple(os_submitted()), Do(at(2026, 12, 1, 14, 40), A.APPROVE, R.REGION_CURATOR),
        Status.APPROVED, "approve", (), ("os.approve",)),
    Act("rework", POS_, tuple(pos_approved()[:-1]),
        Do(at(2026, 11, 5, 12), A.REWORK, R.POS_CURATOR, {"reason": "Начните с обращения к автору"}),
        Status.REWORK, "rework", ("pos.rework",), ("pos.approve",)),
    Act("publish", OS_, tuple(os_approved()),
        Do(at(2026, 12, 1, 15), A.PUBLISH, R.OPERATOR,
           {"link": "https://vk.com/wall-1_100?reply=2", "confirm": True}),
        Status.ANSWERED, "publish", (), ("os.publish", "os.unit_info")),
    Act("publish", POS_, tuple(pos_approved()), Do(at(2026, 11, 5, 16), A.PUBLISH, R.COORDINATOR),
        Status.ANSWERED, "publish", (), ("pos.answer",)),
    Act("interim", POS_, tuple(pos_approved()), Do(at(2026, 11, 5, 16), A.INTERIM, R.POS_CURATOR),
        Status.INTERIM, "interim", ("pos.final",), ("pos.answer",)),
    Act("exclude", OS_, tuple(os_routed()),
        Do(at(2026, 12, 1, 10, 30), A.EXCLUDE, R.OPERATOR, {"reason": "Оскорбления (п.15)"}),
        Status.EXCLUDED, "exclude", (), ("os.unit_info", "os.publish", "os.draft")),
    Act("exclude", POS_, (), Do(at(2026, 11, 2, 17, 40), A.EXCLUDE, R.POS_CURATOR, {"reason": "Угрозы (п.17)"}),
        Status.EXCLUDED, "exclude", (), ("pos.route", "pos.answer", "pos.draft")),
    Act("significant", OS_, (), Do(at(2026, 12, 1, 9, 45), A.SIGNIFICANT, R.OPERATOR), Status.NEW, "significant"),
    Act("close", POS_, tuple(pos_routed()), Do(at(2026, 11, 3, 10), A.CLOSE, R.OFFICE_HEAD, {"reason": "Дубль"}),
        Status.CLOSED, "close", (), ("pos.return", "pos.answer", "pos.draft")),
]  # fmt: skip


def test_every_scenario_action_is_covered() -> None:
    assert {a.name for a in EVERY_ACTION} == set(ACTIONS)


@pytest.mark.parametrize("act", EVERY_ACTION, ids=[f"{a.procedure.value}-{a.name}" for a in EVERY_ACTION])
async def test_every_scenario_action_through_the_use_cases(
    services: Services, repo: Repository, clock: FakeClock, act: Act
) -> None:
    message = os_msg() if act.procedure is OS_ else pos_msg()
    case_id = first_id = await register(services, clock, message)
    await run(services, clock, case_id, act.steps)
    before = {t.id for t in await all_terms(repo, case_id)}
    open_before = {t.id for t in await open_terms(repo, case_id)}
    if act.press is None:
        repeat_of = case_id if act.name == "repeat" else None
        clock.set(at(2026, 12, 2, 10))
        second = os_msg("wall-1_101", at(2026, 12, 2, 9, 50))
        outcome = await services.register(second, actor(R.OPERATOR), repeat_of=repeat_of)
        case_id = outcome.case.id
        assert outcome.case.repeat_of == repeat_of
        before, open_before = set(), set()
    else:
        outcome = await press(services, clock, case_id, act.press)
    assert outcome.case.status == act.status
    stored = await events(repo, case_id)
    assert stored[-1].action == act.event
    if act.press is not None:
        assert stored[-1].actor_role == act.press.role
        assert stored[-1].data["to"] == act.status.value
    terms = await all_terms(repo, case_id)
    assert sorted(t.term_id for t in terms if t.id not in before) == sorted(act.opened)
    now_closed = [t for t in terms if t.id in open_before and t.closed_at is not None]
    assert sorted({t.term_id for t in now_closed}) == sorted(act.closed)
    async with repo.transaction() as tx:
        assert await tx.get_case(case_id) == outcome.case
    if act.name == "significant":
        assert outcome.case.significant
        # NOTIFY: a significant report goes to the head and to the office head.
        assert [(n.kind, n.to_role) for n in outcome.notifications] == [
            ("significant", Role.HEAD),
            ("significant", Role.OFFICE_HEAD),
        ]
    if act.name == "repeat":
        assert stored[-1].data["repeat_of"] == first_id


async def test_cancelled_terms_are_neither_met_nor_missed(
    db: Database, services: Services, repo: Repository, clock: FakeClock
) -> None:
    case_id = await register(services, clock, os_msg())
    await press(services, clock, case_id, Do(at(2026, 12, 1, 9, 55), A.RETURN, R.OPERATOR))
    closed = {t.term_id: t for t in await all_terms(repo, case_id)}
    assert closed["os.return"].met is True
    for moot in ("os.route", "os.publish", "os.draft"):
        assert closed[moot].closed_at == at(2026, 12, 1, 9, 55)
        assert closed[moot].met is None, moot
