"""The merge use case (workflow/services/handover.py) over the fake repository, SQLite and PostgreSQL: a ЦУР
hand-over of a VK comment the channel already took in attaches to its case — one case, one set of terms."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from bot.events import LoggedServices
from tests.engine.conftest import actor, all_terms, at, events, open_terms, os_message, snapshot
from tests.fakes import FakeClock
from workflow.calendar import WorkingCalendar
from workflow.handover import HandOver
from workflow.lifecycle import Action, ActionPayload
from workflow.model import (
    HANDED_OVER,
    ChannelItem,
    DomainError,
    InboundMessage,
    ItemKind,
    Network,
    Role,
    Source,
)
from workflow.ports import Repository
from workflow.rules import DEFAULT_RULES
from workflow.services import HandOverOutcome, Services

KEY = "-123_789"
SEEN = at(2026, 12, 1, 10, 0)  # Tuesday: the VK channel took the comment in
POSTED = at(2026, 12, 1, 10, 30)  # the curator's IM card posted in the intake chat
DETECTED = at(2026, 12, 1, 9, 20)


def comment(key: str = KEY, seen: datetime = SEEN) -> ChannelItem:
    owner, cid = key.split("_")
    return ChannelItem(network=Network.VK, key=key, kind=ItemKind.NEW, seen_at=seen, text="Яма у дома 5",
                       author="Пётр", author_id=77, link=f"https://vk.com/wall{owner}_456?reply={cid}")  # fmt: skip


def card(
    detected: datetime | None = DETECTED, posted: datetime = POSTED, message_id: int = 55
) -> InboundMessage:
    return os_message(source=Source.INTAKE, source_id=f"-1001:{message_id}", received_at=posted,
                      detected_at=detected, handed_over=True, network=Network.VK,
                      text="Инцидент № 12345\nhttps://vk.com/wall-123_456?reply=789")  # fmt: skip


async def take_in(services: Services, clock: FakeClock, item: ChannelItem) -> int:
    clock.set(item.seen_at)
    outcome = await services.take_in(item)
    assert outcome is not None and outcome.created
    return outcome.case.id


async def hand_over(
    services: Services,
    clock: FakeClock,
    message: InboundMessage,
    *,
    key: str = KEY,
    who: Role = Role.OPERATOR,
) -> HandOverOutcome:
    clock.set(message.received_at)
    ho = HandOver(posted_at=message.received_at, detected_at=message.detected_at, card_number="12345",
                  curator="Иванов И. И.")  # fmt: skip
    origin = f"intake:{message.source_id}"
    return await services.hand_over(message, actor(who), ho, item=(Network.VK, key), origin=origin)


def due(term_id: str, anchor: datetime, calendar: WorkingCalendar) -> datetime:
    return DEFAULT_RULES.due(term_id, anchor, calendar)


async def test_a_hand_over_of_a_comment_taken_in_attaches_and_moves_t0(
    services: Services, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    case_id = await take_in(services, clock, comment())
    before = {t.term_id: t for t in await open_terms(services.repo, case_id)}
    assert {t.started_at for t in before.values()} == {SEEN}

    outcome = await hand_over(services, clock, card())

    assert outcome.attached and outcome.created and outcome.moved and outcome.case.id == case_id
    assert await services.registered(Source.INTAKE, "-1001:55") is None  # no second case
    assert await services.registered(Source.VK, KEY) == case_id
    async with services.repo.reading() as tx:
        case = await tx.get_case(case_id)
    assert case is not None
    assert (case.t0, case.received_at, case.handed_over, case.detection_stated) == (
        DETECTED,
        SEEN,
        True,
        True,
    )
    assert (case.cur_number, case.cur_curator) == ("12345", "Иванов И. И.")
    after = {t.term_id: t for t in await open_terms(services.repo, case_id)}
    assert set(after) == set(before)  # the same rows, moved: one set of terms
    for term_id, term in after.items():
        assert term.id == before[term_id].id
        assert (term.started_at, term.due) == (DETECTED, due(term_id, DETECTED, calendar))
    assert (await events(services.repo, case_id))[-1].action == HANDED_OVER


async def test_a_routed_case_keeps_its_met_terms_and_moves_the_open_ones(
    services: Services, clock: FakeClock, calendar: WorkingCalendar
) -> None:
    case_id = await take_in(services, clock, comment())
    clock.set(at(2026, 12, 1, 10, 10))
    await services.act(case_id, Action.ROUTE, actor(Role.OPERATOR), payload=ActionPayload(units=("housing",)))
    clock.set(at(2026, 12, 1, 10, 15))
    await services.act(case_id, Action.APPROVE_ROUTING, actor(Role.OFFICE_HEAD))
    met_before = {t.term_id: t for t in await all_terms(services.repo, case_id) if t.closed_at is not None}
    info_before = next(t for t in await open_terms(services.repo, case_id) if t.term_id == "os.unit_info")

    detected = at(2026, 12, 1, 8, 0)  # before the working day: counts from 09:00
    outcome = await hand_over(services, clock, card(detected))
    assert outcome.attached and outcome.case.t0 == detected

    terms = {t.term_id: t for t in await all_terms(services.repo, case_id)}
    for term_id in ("os.route", "os.return"):  # met: history, as it was
        assert terms[term_id] == met_before[term_id] and terms[term_id].met is True
    for term_id in ("os.publish", "os.draft"):
        assert (terms[term_id].started_at, terms[term_id].due) == (detected, due(term_id, detected, calendar))
    assert terms["os.unit_info"] == info_before  # counts from the routing, not from T0


async def test_a_t0_that_makes_terms_overdue_alerts_once_per_term_not_a_storm(
    services: Services, clock: FakeClock
) -> None:
    case_id = await take_in(services, clock, comment())
    # ЦУР detected it the day before: os.route and os.publish are past due already.
    outcome = await hand_over(services, clock, card(at(2026, 11, 30, 9, 0), posted=at(2026, 12, 1, 12, 0)))
    assert outcome.moved
    sent = await services.sweep()
    points = [(n.term_id, n.payload["point"]) for n in sent if n.case_id == case_id]
    assert sorted(set(points)) == [("os.draft", "missed"), ("os.publish", "missed"), ("os.route", "missed")]
    assert all(point == "missed" for _, point in points)  # no stale reminders before the miss
    assert await services.sweep() == []  # and never twice


async def test_a_closed_case_is_not_reopened_and_nothing_is_registered(
    services: Services, clock: FakeClock
) -> None:
    case_id = await take_in(services, clock, comment())
    clock.set(at(2026, 12, 1, 10, 10))
    await services.act(
        case_id, Action.EXCLUDE, actor(Role.OPERATOR), payload=ActionPayload(reason="Оскорбления")
    )
    before = await snapshot(services.repo, [case_id])
    with pytest.raises(DomainError) as refused:
        await hand_over(services, clock, card())
    assert refused.value.code == "closed" and f"№ {case_id}" in refused.value.message
    assert await snapshot(services.repo, [case_id]) == before
    assert await services.registered(Source.INTAKE, "-1001:55") is None


async def test_an_item_otklik_does_not_have_registers_as_today(services: Services, clock: FakeClock) -> None:
    outcome = await hand_over(services, clock, card(), key="-123_999")
    assert not outcome.attached and outcome.created
    assert await services.registered(Source.INTAKE, "-1001:55") == outcome.case.id
    assert (outcome.case.t0, outcome.case.handed_over, outcome.case.cur_number) == (DETECTED, True, "12345")


async def test_the_same_hand_over_again_changes_nothing_and_a_second_one_is_refused(
    services: Services, clock: FakeClock
) -> None:
    case_id = await take_in(services, clock, comment())
    await hand_over(services, clock, card())
    before = await snapshot(services.repo, [case_id])
    again = await hand_over(services, clock, card())  # the same intake message handled again (the inbox)
    assert again.attached and not again.created
    assert await snapshot(services.repo, [case_id]) == before
    with pytest.raises(DomainError) as refused:  # another curator's card of the same comment
        await hand_over(services, clock, card(at(2026, 12, 1, 9, 0), message_id=56))
    assert refused.value.code == "already_done"
    assert await snapshot(services.repo, [case_id]) == before


async def test_the_administrator_reads_one_line_per_attached_hand_over(
    repo: Repository, clock: FakeClock, calendar: WorkingCalendar, caplog: pytest.LogCaptureFixture
) -> None:
    logged = LoggedServices(repo=repo, clock=clock, calendar=calendar, rules=DEFAULT_RULES)
    case_id = await take_in(logged, clock, comment())
    with caplog.at_level(logging.INFO, logger="otklik.events"):
        await hand_over(logged, clock, card())
        await hand_over(logged, clock, card())  # a replay: no second line
    lines = [r.getMessage() for r in caplog.records if "передача ЦУР" in r.getMessage()]
    assert lines == [f"№ {case_id}: присоединена передача ЦУР, T0 {DETECTED.isoformat()} — operator, id 100"]
