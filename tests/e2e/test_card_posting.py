"""Cards and notices exactly once, as far as Telegram allows (issue 8 item 4).

A crash is cut where the test chooses with a sender that stalls one send: before the call (the post never
reaches Telegram) or after Telegram's answer (it did, and the answer is never recorded). `World.crash` then
cancels everything in flight, as a kill would. Figures: no card missing, at most one duplicate per chat per kill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

from aiogram import Bot
from aiogram.types import Message
from sqlalchemy import select, update

from bot.sender import Outgoing, SendFailed, SendResult, TelegramSender
from storage.engine import create_engine
from storage.tables import card_posts, outbox
from tests.e2e.conftest import INTAKE_CHAT, OFFICE_CHAT, OFFICE_HEAD, OPERATOR, World, card_status

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


async def stall_at(w: World, pick: Callable[[Outgoing], Stall]) -> StallingSender:
    """Start with the stalling sender, let the operator register a message, wait for the stall."""
    senders: list[StallingSender] = []

    def make(bot: Bot) -> TelegramSender:
        senders.append(StallingSender(bot, pick))
        return senders[0]

    await w.start(sender=make)
    w.emu.push_message(INTAKE_CHAT, OPERATOR.user_id, "Сообщение: во дворе не горит фонарь")
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
    await stall_at(w, office_card_post("before"))
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
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Новое сообщение"]
    assert await w.pending_outbox() == 0


async def test_a_crash_after_telegram_answered_a_post_leaves_at_most_one_duplicate(world: World) -> None:
    w = world
    await stall_at(w, office_card_post("after"))
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
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", 1)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], 1)
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", 1)).text == "Направление предложено"
    answer = await w.press_on(
        w.emu.message(OFFICE_CHAT, cards[1].message_id), OFFICE_HEAD, "Согласовать направление"
    )
    assert answer.text == "Направление согласовано"
    assert len(w.cards(OFFICE_CHAT, 1)) == 2  # nothing posted a third time


async def test_a_crash_after_telegram_answered_a_notice_sends_it_twice_at_most(world: World) -> None:
    w = world
    await stall_at(w, intake_notice("after"))
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Новое сообщение"]
    await w.crash()

    await w.start(background=True)
    await w.settle()
    # Recorded right after the answer: the one window is that answer, so the notice is there twice, not more.
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Новое сообщение"] * 2
    assert len(w.cards(INTAKE_CHAT, 1)) == len(w.cards(OFFICE_CHAT, 1)) == 1
    assert await w.pending_outbox() == 0
    await w.stop()
    await w.start(background=True)  # and nothing more on a further start
    await w.settle()
    assert len(w.notes(INTAKE_CHAT, 1)) == 2


async def test_a_dead_runs_claims_are_taken_over_at_start_without_waiting_out_the_lease(world: World) -> None:
    w = world
    await stall_at(w, intake_notice("before"))
    async with w.app.engine.connect() as conn:
        [(owner, until)] = (await conn.execute(select(outbox.c.claimed_by, outbox.c.claimed_until))).all()
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
    assert [n.label for n in w.notes(INTAKE_CHAT, 1)] == ["Новое сообщение"]
    assert await w.pending_outbox() == 0


async def test_a_card_deleted_in_telegram_is_posted_anew(world: World) -> None:
    w = world
    await w.start()
    case = await w.register_os("Сообщение: яма на дороге")
    old = w.card(OFFICE_CHAT, case)
    await w.app.bot.delete_message(OFFICE_CHAT, old.message_id)  # someone in the chat deleted it
    assert w.cards(OFFICE_CHAT, case) == []

    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    new = w.card(OFFICE_CHAT, case)
    assert new.message_id != old.message_id
    assert (await w.stored_cards(case))[OFFICE_CHAT] == new.message_id
    approved = await w.press(OFFICE_CHAT, OFFICE_HEAD, "Согласовать направление", case)
    assert approved.text == "Направление согласовано"
    assert len(w.cards(OFFICE_CHAT, case)) == 1


async def test_a_card_lost_to_a_minute_of_failing_sends_is_repaired_without_a_notice(world: World) -> None:
    """The office head gets no notice of a new message, only its card: the repair is what brings it back."""
    w = world

    def fragile(bot: Bot) -> TelegramSender:
        # One try per send: the emulator's failures stand for a minute of them, the sender's retries spent.
        return StallingSender(bot, lambda item: None, max_attempts=1)

    await w.start(sender=fragile)
    # Both cards, the intake card again (the notice's drain posts its card first) and the notice.
    w.emu.fail_next(4, "server_error", methods=["sendMessage"])
    msg = w.emu.push_message(INTAKE_CHAT, OPERATOR.user_id, "Сообщение: не вывезен мусор")
    await w.settle()
    async with w.app.repo.transaction() as tx:
        case = await tx.find_case_by_source("region_curator", f"{INTAKE_CHAT}:{msg.message_id}")
    assert case is not None
    assert w.cards(INTAKE_CHAT, case) == w.cards(OFFICE_CHAT, case) == [] and await w.pending_outbox() == 1

    # Telegram is back; the scheduler's next drain sends the notice (its card first), then the repair runs.
    await w.app.delivery.drain()
    await w.settle()
    assert len(w.cards(INTAKE_CHAT, case)) == 1 and [n.label for n in w.notes(INTAKE_CHAT, case)] == [
        "Новое сообщение"
    ]
    assert len(w.cards(OFFICE_CHAT, case)) == 1
    assert w.notes(OFFICE_CHAT) == []  # repaired without any notice to that chat
    assert await being_posted(w) == set()


async def test_a_card_left_stale_by_a_failed_edit_is_refreshed_at_the_next_start(world: World) -> None:
    w = world
    failing = {"on": False}

    def office_edits(item: Outgoing) -> Stall:
        office_edit = item.chat_id == OFFICE_CHAT and item.edit_message_id is not None
        return "fail" if failing["on"] and office_edit and item.key.startswith("card:") else None

    await w.start(sender=lambda bot: StallingSender(bot, office_edits))
    case = await w.register_os("Сообщение: сломана скамейка")
    office = w.card(OFFICE_CHAT, case)
    before = card_status(office)  # the emulator's record is live: keep the text, not the message
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    failing["on"] = True
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    assert card_status(w.card(OFFICE_CHAT, case)) == before  # stale: the office head's card missed the change
    await w.stop()

    await w.start(background=True)
    await w.settle()
    refreshed = w.card(OFFICE_CHAT, case)  # edited in place, not posted again
    assert refreshed.message_id == office.message_id and card_status(refreshed) != before
    approved = await w.press(OFFICE_CHAT, OFFICE_HEAD, "Согласовать направление", case)
    assert approved.text == "Направление согласовано"
