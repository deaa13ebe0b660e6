"""Cards and notices exactly once, as far as Telegram allows (issue 8 item 4).

A crash is cut where the test chooses with a sender that stalls one send: before the call (the post never
reaches Telegram) or after Telegram's answer (it did, and the answer is never recorded). `World.crash` then
cancels everything in flight, as a kill would. Figures: no card missing, at most one duplicate per chat per kill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Literal

from aiogram import Bot
from aiogram.types import Message
from sqlalchemy import select, update

from bot.sender import Outgoing, SendFailed, SendResult, TelegramSender
from storage.engine import create_engine
from storage.tables import card_posts, outbox
from tests.e2e.conftest import (
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    OFFICE_HEAD,
    OPERATOR,
    World,
    card_status,
    max_fails,
)

Stall = Literal["before", "after", "fail"] | None


class StallingSender(TelegramSender):
    """The test's sender (unpaced, as without rate limits) that never returns from the sends `pick` names."""

    def __init__(self, bot: Bot, pick: Callable[[Outgoing], Stall], **kwargs: object) -> None:
        options: dict[str, object] = {
            "per_second": 10_000,
            "per_chat_interval": 0.0,
            "group_per_minute": 10**6,
        }
        super().__init__(bot, **{**options, **kwargs})  # type: ignore[arg-type]
        self.pick = pick
        self.stalled = asyncio.Event()

    async def send(self, item: Outgoing) -> SendResult:
        when = self.pick(item)
        if when == "fail":  # as after a minute of failures: the sender's retries spent
            raise SendFailed(item, "Telegram unreachable (test)", attempts=1, permanent=False)
        if when == "before":
            self.stalled.set()
            await asyncio.Event().wait()  # until the crash
        if when == "after" and item.recorded is not None:
            # A card: Telegram accepted it; the stall comes before its record, inside the sender's window.
            async def stall_before_record(_message: Message) -> None:
                self.stalled.set()
                await asyncio.Event().wait()

            return await super().send(replace(item, recorded=stall_before_record))
        result = await super().send(item)
        if when == "after":  # a notice: recorded by delivery once the send returns
            self.stalled.set()
            await asyncio.Event().wait()
        return result


def office_card_post(when: Stall) -> Callable[[Outgoing], Stall]:
    def pick(item: Outgoing) -> Stall:
        is_post = item.key.startswith("card:") and item.edit_message_id is None
        return when if is_post and item.chat_id == OFFICE_CHAT else None

    return pick


def intake_notice(when: Stall) -> Callable[[Outgoing], Stall]:
    def pick(item: Outgoing) -> Stall:
        is_notice = not item.key.startswith(("card:", "show:", "history:"))
        return when if is_notice and item.chat_id == INTAKE_CHAT else None

    return pick


# A ЦУР card stating its detection time: registered at once (INTAKE).
CARD = "Сообщение: во дворе не горит фонарь\nВыявлено: 01.12.2026 09:25"
Trigger = Callable[[World], Awaitable[None]]


async def propose_routing(w: World) -> None:
    """Register № 1 and propose its routing: the office head's card is posted for the proposal (NOTIFY: not
    at registration). The last press is not waited for: its card post is the one that stalls."""
    case = await w.register_os(CARD)
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    card = w.card(INTAKE_CHAT, case)
    w.emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, w.button(card, "Готово"))


async def give_info(w: World) -> None:
    """Register № 1, route it to housing, and the unit gives its information by reply to its card: the notice
    to the intake chat (NOTIFY: registration has none under the card just posted) is the one that stalls."""
    case = await w.register_os(CARD)
    await w.route_os(case, "housing")
    w.emu.push_message(
        HOUSING_CHAT, HOUSING.user_id, "Фонарь заменят завтра", w.card(HOUSING_CHAT, case).message_id
    )


async def stall_at(w: World, pick: Callable[[Outgoing], Stall], trigger: Trigger) -> StallingSender:
    """Start with the stalling sender, let the people act up to the chosen send, wait for the stall."""
    senders: list[StallingSender] = []

    def make(bot: Bot) -> TelegramSender:
        senders.append(StallingSender(bot, pick))
        return senders[0]

    await w.start(sender=make)
    await trigger(w)
    await w.wait(senders[0].stalled.is_set, "the chosen send stalled")
    return senders[0]


async def intake_card_recorded(w: World) -> None:
    """Until the intake card, posted alongside the stalled office one, is recorded: the crash then cuts one
    post only (cutting both would allow a duplicate in each chat)."""
    for _ in range(1000):
        if INTAKE_CHAT in await w.stored_cards(1):
            return
        await asyncio.sleep(0.01)  # a state polled for, as the emulator's wait_for does; not a deadline
    raise AssertionError("the intake card was never recorded")


async def being_posted(w: World) -> set[tuple[int, int]]:
    async with w.app.engine.connect() as conn:
        rows = (await conn.execute(select(card_posts.c.case_id, card_posts.c.chat_id))).all()
    return {(int(case_id), int(chat_id)) for case_id, chat_id in rows}


async def test_a_crash_before_the_post_reached_telegram_posts_the_card_once(world: World) -> None:
    w = world
    await stall_at(w, office_card_post("before"), propose_routing)
    await intake_card_recorded(w)
    assert (1, OFFICE_CHAT) in await being_posted(w)  # recorded before the call (intake's may be done)
    assert w.cards(OFFICE_CHAT, 1) == []
    await w.crash()

    await w.start(background=True)
    await w.settle()
    office = w.card(OFFICE_CHAT, 1)  # exactly one
    assert await w.stored_cards(1) == {
        INTAKE_CHAT: w.card(INTAKE_CHAT, 1).message_id,
        OFFICE_CHAT: office.message_id,
    }
    assert await being_posted(w) == set()
    # NOTIFY: the cards are the notices (registration in intake, the proposal at the office head's).
    assert w.notes(INTAKE_CHAT, 1) == [] and w.notes(OFFICE_CHAT, 1) == []
    assert await w.pending_outbox() == 0


async def test_a_crash_after_telegram_answered_a_post_leaves_at_most_one_duplicate(world: World) -> None:
    w = world
    await stall_at(w, office_card_post("after"), propose_routing)
    # The stalled post holds the sender's record window: the intake card's post, if not done yet, waits for
    # it and is only "being posted" when the crash comes, so the crash leaves one duplicate in all.
    [lost] = w.cards(OFFICE_CHAT, 1)  # Telegram has it; the process never recorded it
    assert (1, OFFICE_CHAT) in await being_posted(w)
    await w.crash()

    await w.start(background=True)
    await w.settle()
    cards = w.cards(OFFICE_CHAT, 1)
    assert len(cards) == 2 and cards[0].message_id == lost.message_id  # the one allowed duplicate
    assert (await w.stored_cards(1))[OFFICE_CHAT] == cards[1].message_id
    assert await being_posted(w) == set()
    assert len(w.cards(INTAKE_CHAT, 1)) == 1

    # The recorded card is the working one: a press on it works and it is edited in place.
    answer = await w.press_on(
        w.emu.message(OFFICE_CHAT, cards[1].message_id), OFFICE_HEAD, "Согласовать направление"
    )
    assert answer.text == "Направление согласовано"
    assert len(w.cards(OFFICE_CHAT, 1)) == 2  # nothing posted a third time


async def test_a_crash_after_telegram_answered_a_notice_sends_it_twice_at_most(world: World) -> None:
    w = world
    await stall_at(w, intake_notice("after"), give_info)
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Поступила информация для ответа"]
    await w.crash()

    await w.start(background=True)
    await w.settle()
    # Recorded right after the answer: the one window is that answer, so the notice is there twice, not more.
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Поступила информация для ответа"] * 2
    assert len(w.cards(INTAKE_CHAT, 1)) == len(w.cards(OFFICE_CHAT, 1)) == 1
    assert await w.pending_outbox() == 0
    await w.stop()
    await w.start(background=True)  # and nothing more on a further start
    await w.settle()
    assert len(w.notes(INTAKE_CHAT, 1)) == 2


async def test_a_dead_runs_claims_are_taken_over_at_start_without_waiting_out_the_lease(world: World) -> None:
    w = world
    await stall_at(w, intake_notice("before"), give_info)
    pending = select(outbox.c.claimed_by, outbox.c.claimed_until).where(outbox.c.delivered_at.is_(None))
    async with w.app.engine.connect() as conn:
        [(owner, until)] = (await conn.execute(pending)).all()
    assert owner is not None and until > w.clock.now()  # leased to the process about to die
    await w.crash()
    # `crash` cancels the drain, whose `finally` gives the claim back; a killed process runs no `finally`.
    engine = create_engine(f"sqlite+aiosqlite:///{w.db_path}")
    async with engine.begin() as conn:
        await conn.execute(update(outbox).values(claimed_by=owner, claimed_until=until))
    await engine.dispose()

    before = w.clock.now()
    await w.start(background=True)
    await w.settle()
    assert w.clock.now() == before  # not a minute of the 5-minute lease waited out
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Поступила информация для ответа"]
    assert await w.pending_outbox() == 0


async def test_a_card_deleted_in_telegram_is_posted_anew(world: World) -> None:
    w = world
    await w.start()
    case = await w.register_os("Сообщение: яма на дороге")
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    # NOTIFY: the office head's card comes with the routing to approve; the intake card is the one deleted.
    old = w.card(INTAKE_CHAT, case)
    await w.app.bot.delete_message(INTAKE_CHAT, old.message_id)  # someone in the chat deleted it
    assert w.cards(INTAKE_CHAT, case) == []

    approved = await w.press(OFFICE_CHAT, OFFICE_HEAD, "Согласовать направление", case)
    assert approved.text == "Направление согласовано"
    new = w.card(INTAKE_CHAT, case)
    assert new.message_id != old.message_id
    assert (await w.stored_cards(case))[INTAKE_CHAT] == new.message_id
    assert (
        await w.reply_to_card(HOUSING_CHAT, HOUSING, case, "Яму засыплют завтра") == "Информация направлена"
    )
    assert len(w.cards(INTAKE_CHAT, case)) == 1  # the new card edited in place, not posted a third time


@max_fails("on MAX the office card is tried three times before the notice (an edit there is two requests, PUT "
           "and GET, and the drains interleave otherwise), so the three injected failures miss the notice, which "
           "then goes to the office head without its card")
async def test_a_card_lost_to_a_minute_of_failing_sends_is_repaired_without_a_notice(world: World) -> None:
    """The office head gets no notice of a routing to approve, only its card (NOTIFY: the card is the notice):
    the repair is what brings it back, and with it no notice either."""
    w = world

    def fragile(bot: Bot) -> TelegramSender:
        # One try per send: the emulator's failures stand for a minute of them, the sender's retries spent.
        return StallingSender(bot, lambda item: None, max_attempts=1)

    await w.start(sender=fragile)
    case = await w.register_os(CARD)
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    # The office card, the office card again (the notice's drain posts its card first) and the notice.
    w.emu.fail_next_of(["send"], 3, "server_error")
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    assert w.cards(OFFICE_CHAT, case) == [] and await w.pending_outbox() == 1
    assert sum(r.status == 500 for r in w.emu.calls_of("send")) == 3  # each of the three met a failure

    # Telegram is back; the scheduler's next drain sends the notice (its card first), then the repair runs.
    await w.app.delivery.drain()
    await w.settle()
    assert len(w.cards(INTAKE_CHAT, case)) == 1 and w.notes(INTAKE_CHAT, case) == []
    assert len(w.cards(OFFICE_CHAT, case)) == 1
    assert w.notes(OFFICE_CHAT) == []  # repaired without any notice to that chat
    assert await w.pending_outbox() == 0
    assert await being_posted(w) == set()


async def test_a_card_left_stale_by_a_failed_edit_is_refreshed_at_the_next_start(world: World) -> None:
    w = world
    failing = {"on": False}

    def office_edits(item: Outgoing) -> Stall:
        office_edit = item.chat_id == OFFICE_CHAT and item.edit_message_id is not None
        return "fail" if failing["on"] and office_edit and item.key.startswith("card:") else None

    await w.start(sender=lambda bot: StallingSender(bot, office_edits))
    case = await w.register_os("Сообщение: сломана скамейка")
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    office = w.card(OFFICE_CHAT, case)  # NOTIFY: posted for the routing to approve
    before = card_status(office)  # the emulator's record is live: keep the text, not the message
    failing["on"] = True
    approved = await w.press(OFFICE_CHAT, OFFICE_HEAD, "Согласовать направление", case)
    assert approved.text == "Направление согласовано"
    assert card_status(w.card(OFFICE_CHAT, case)) == before  # stale: the office head's card missed the change
    assert card_status(w.card(INTAKE_CHAT, case)) != before
    await w.stop()

    await w.start(background=True)
    await w.settle()
    refreshed = w.card(OFFICE_CHAT, case)  # edited in place, not posted again
    assert refreshed.message_id == office.message_id
    assert card_status(refreshed) == card_status(w.card(INTAKE_CHAT, case)) != before
