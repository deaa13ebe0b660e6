"""Delivery per destination chat (issue 16 item 5): each chat has its own lane in the drain.

Real aiogram against the Telegram emulator with Telegram's flood windows shrunk 20 times, the sender paced to
the same windows. Notices are put straight into the outbox and one drain sends them: a backlog in the office
head's private chat (one message per 0.05 s there) must not hold back a notice to the intake group queued after
it; each chat keeps the outbox order; the sender's own pacing never meets a 429; a chat whose sends fail keeps
its rows pending and holds back no other chat.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiogram import Bot

from bot.sender import Outgoing, SendFailed, SendResult, TelegramSender
from emulators.telegram import RateLimits, TelegramEmulator
from tests.e2e.conftest import INTAKE_CHAT, OFFICE_CHAT, World, make_emulator
from tests.fakes import FakeClock
from workflow.model import Role
from workflow.ports import DELIVERY_FAILED, Notification

SCALE = 20
LIMITS = RateLimits(
    global_count=30,
    global_window=1.0,
    private_count=1,
    private_window=1.0 / SCALE,
    group_count=20,
    group_window=60.0 / SCALE,
)
BACKLOG = 16  # notices to the office head's private chat, queued before the intake one: 0.75 s at the least


def paced_sender(bot: Bot) -> TelegramSender:
    return TelegramSender(
        bot,
        per_second=LIMITS.global_count / LIMITS.global_window,
        global_window=LIMITS.global_window,
        per_chat_interval=LIMITS.private_window,
        group_per_minute=LIMITS.group_count,
        group_window=LIMITS.group_window,
        backoff_base=0.01,
    )


class FailingChatSender(TelegramSender):
    """The real sender, except that every send to one chat fails as if Telegram stayed unreachable."""

    def __init__(self, bot: Bot, failing: int) -> None:
        super().__init__(bot, per_chat_interval=LIMITS.private_window, group_window=LIMITS.group_window)
        self.failing = failing
        self.refused: list[str] = []

    async def send(self, item: Outgoing) -> SendResult:
        if item.chat_id == self.failing:
            self.refused.append(item.key)
            raise SendFailed(item, "Telegram unreachable (test)", attempts=1, permanent=False)
        return await super().send(item)


@pytest.fixture
async def paced(clock: FakeClock, tmp_path: Path) -> AsyncIterator[World]:
    emu: TelegramEmulator = await make_emulator(clock, rate_limits=LIMITS)
    world = World(emu, clock, tmp_path / "otklik.sqlite3")
    try:
        yield world
    finally:
        if world.running:
            await world.stop()
        await emu.stop()


def report(n: int, to_role: Role, clock: FakeClock) -> Notification:
    """A notice with no case (a failure report: it goes to its role's chats), distinct by its key."""
    return Notification(
        dedup_key=f"lanes-test:{to_role.value}:{n}",
        case_id=None,
        kind=DELIVERY_FAILED,
        to_role=to_role,
        at=clock.now() + timedelta(seconds=n),
        payload={"chat_id": 1, "roles": [], "units": [], "reason": "chat not found", "about_case": None},
    )


async def queue(w: World, notifications: list[Notification]) -> None:
    async with w.app.repo.transaction() as tx:
        assert await tx.enqueue(notifications) == len(notifications)


def arrivals(w: World, chat_id: int) -> list[float]:
    return [r.received_at for r in w.emu.calls("sendMessage") if r.ok and r.chat_id == chat_id]


async def test_a_busy_private_chat_does_not_hold_back_a_group_and_each_chat_keeps_its_order(
    paced: World, clock: FakeClock
) -> None:
    w = paced
    await w.start(rate_limits=True, sender=paced_sender)
    await queue(w, [report(n, Role.OFFICE_HEAD, clock) for n in range(BACKLOG)])
    await queue(w, [report(BACKLOG, Role.OPERATOR, clock)])  # after the backlog, into the intake group

    assert await w.app.delivery.drain() == BACKLOG + 1

    office, intake = arrivals(w, OFFICE_CHAT), arrivals(w, INTAKE_CHAT)
    assert len(office) == BACKLOG and len(intake) == 1
    # In claim order the intake notice would come after the whole backlog; in its own lane it goes as soon as
    # the drain has read its row (the rows of a claim are read one after another, while the lanes send).
    assert intake[0] < office[BACKLOG // 2]
    assert office[-1] - office[0] >= (BACKLOG - 1) * LIMITS.private_window  # the private chat's own pace
    # Each chat in the outbox order, every row delivered once, and the sender's pacing met no 429.
    recorded = await w.delivered()
    for chat_id in (OFFICE_CHAT, INTAKE_CHAT):
        by_message = [outbox_id for _message_id, outbox_id in sorted(recorded[chat_id])]
        assert by_message == sorted(by_message)
        assert len(set(by_message)) == len(by_message)
    assert sum(1 for r in w.emu.calls() if r.status == 429) == 0
    assert await w.pending_outbox() == 0


async def test_a_chat_whose_sends_fail_keeps_its_rows_and_holds_back_no_other(
    paced: World, clock: FakeClock
) -> None:
    w = paced
    senders: list[FailingChatSender] = []

    def failing(bot: Bot) -> TelegramSender:
        senders.append(FailingChatSender(bot, OFFICE_CHAT))
        return senders[-1]

    await w.start(rate_limits=True, sender=failing)
    await queue(w, [report(n, Role.OFFICE_HEAD, clock) for n in range(3)])
    await queue(w, [report(n, Role.OPERATOR, clock) for n in range(3, 6)])

    assert await w.app.delivery.drain() == 3  # the intake rows
    assert len(arrivals(w, INTAKE_CHAT)) == 3
    assert arrivals(w, OFFICE_CHAT) == []
    assert len(senders[0].refused) == 3  # each office row tried once in this drain, in its lane
    # Nothing lost: the office rows stay pending, released for the next drain, which tries them again.
    assert await w.pending_outbox() == 3
    assert await w.app.delivery.drain() == 0
    assert len(senders[0].refused) == 6
    assert await w.pending_outbox() == 3
