"""The messenger's flood control plus a storm of injected failures while a dozen cases are registered and routed.

On Telegram the emulator enforces Telegram's limits — 30 messages a second in all, 1 a second per private chat,
20 a minute per group — with the windows shrunk 20 times so the test takes seconds, not minutes, and the app's
sender is paced to the same windows. On MAX it enforces MAX's own: 30 requests a second in all (every request but
the long poll, answers and reads included), and the app runs with its own MAX pacing. On top of that: a burst of
429s (with retry_after on Telegram; MAX's names no wait), 5xx answers (JSON and a proxy's HTML page) and dropped
connections, on the sender's requests and on the long poll.

At the end every card and every notification arrived exactly once, in order within each chat, and the outbox
has nothing pending.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram import Bot

from bot.sender import TelegramSender
from emulators.max import REQUESTS_PER_SECOND
from emulators.staff import CallKind, StaffEmulator
from emulators.telegram import RateLimits
from tests.e2e.conftest import (
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    OFFICE_HEAD,
    OPERATOR,
    SOCIAL,
    SOCIAL_CHAT,
    World,
    card_status,
    make_emulator,
    make_max_emulator,
)
from tests.fakes import FakeClock

SCALE = 20  # every flood window 20 times shorter than Telegram's
LIMITS = RateLimits(
    global_count=30,
    global_window=1.0,
    private_count=1,
    private_window=1.0 / SCALE,
    group_count=20,
    group_window=60.0 / SCALE,
)
CASES = 12
UNIT_CHATS = {"housing": HOUSING_CHAT, "social": SOCIAL_CHAT}
CHATS = (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, SOCIAL_CHAT)
SENDER_KINDS: list[CallKind] = ["send", "edit"]


def paced_sender(bot: Bot) -> TelegramSender:
    """The app's sender with Telegram's counts over the emulator's shrunk windows (and quick backoff)."""
    return TelegramSender(
        bot,
        per_second=LIMITS.global_count / LIMITS.global_window,
        global_window=LIMITS.global_window,
        per_chat_interval=LIMITS.private_window,
        group_per_minute=LIMITS.group_count,
        group_window=LIMITS.group_window,
        backoff_base=0.1,
    )


@pytest.fixture
async def flooded(clock: FakeClock, tmp_path: Path, messenger: str) -> AsyncIterator[World]:
    emu: StaffEmulator = (
        await make_max_emulator(clock, rate_limit=REQUESTS_PER_SECOND)
        if messenger == "max"
        else await make_emulator(clock, rate_limits=LIMITS)
    )
    world = World(emu, clock, tmp_path / "otklik.sqlite3")
    world.timeout = 30.0
    try:
        yield world
    finally:
        if world.running:
            await world.stop()
        await emu.stop()


def storm(emu: StaffEmulator) -> None:
    """Failures in the order they will meet the calls: floods first, then errors, interleaved."""
    for _ in range(3):
        emu.fail_next_of(SENDER_KINDS, 2, "flood", retry_after=1)
        emu.fail_next_of(SENDER_KINDS, 1, "server_error")
        emu.fail_next_of(SENDER_KINDS, 1, "disconnect")
        emu.fail_next_of(SENDER_KINDS, 1, "bad_gateway")
    emu.fail_next_of(["poll"], 1, "disconnect")  # polling backs off (a second) and goes on


async def press_all(world: World, presses: list[tuple[int, int, str]]) -> None:
    """Several people press at once: (chat, case, label) for each; wait for every answer."""
    people = {INTAKE_CHAT: OPERATOR, OFFICE_CHAT: OFFICE_HEAD}
    queries = []
    for chat_id, case_id, label in presses:
        card = world.card(chat_id, case_id)
        data = world.button(card, label)
        queries.append(world.emu.push_callback(chat_id, people[chat_id].user_id, card.message_id, data))
    await world.answered(queries)


async def test_flood_control_and_failures_lose_nothing_and_repeat_nothing(flooded: World) -> None:
    w = flooded
    loop = asyncio.get_running_loop()
    started = loop.time()
    # Telegram's windows are shrunk, so its sender is paced to them; MAX's 30 a second is real, and the app's own.
    await w.start(rate_limits=True, sender=paced_sender if w.messenger == "telegram" else None)
    storm(w.emu)

    # A dozen ЦУР cards handed over at once: each states its detection time, so it registers at once (INTAKE).
    sent = [
        w.emu.push_message(
            INTAKE_CHAT, OPERATOR.user_id, f"Обращение № {i + 1}: яма во дворе\nВыявлено: 01.12.2026 09:25"
        )
        for i in range(CASES)
    ]
    await w.settle()
    async with w.app.repo.transaction() as tx:
        ids = [await tx.find_case_by_source("intake", f"{INTAKE_CHAT}:{m.message_id}") for m in sent]
    assert None not in ids
    cases = sorted(i for i in ids if i is not None)
    assert len(cases) == CASES
    units = {case_id: ("housing", "social")[n % 2] for n, case_id in enumerate(cases)}

    # Every case routed: the operator proposes, the office head approves — all of them at once, step by step.
    await press_all(w, [(INTAKE_CHAT, c, "Направить в подразделение") for c in cases])
    await press_all(w, [(INTAKE_CHAT, c, w.rules.units[units[c]]) for c in cases])
    await press_all(w, [(INTAKE_CHAT, c, "Готово") for c in cases])
    await press_all(w, [(OFFICE_CHAT, c, "Согласовать направление") for c in cases])

    # Cards: exactly one per chat per case, edited in place to the final status.
    for case_id in cases:
        unit_chat = UNIT_CHATS[units[case_id]]
        for chat_id in (INTAKE_CHAT, OFFICE_CHAT, unit_chat):
            assert card_status(w.card(chat_id, case_id)) == "В подразделениях"
        other = SOCIAL_CHAT if unit_chat == HOUSING_CHAT else HOUSING_CHAT
        assert w.cards(other, case_id) == []
        assert (await w.stored_cards(case_id)) == {
            chat_id: w.card(chat_id, case_id).message_id for chat_id in (INTAKE_CHAT, OFFICE_CHAT, unit_chat)
        }

    # Every unit gives its information by reply to its card, all at once: a notice to the intake chat each.
    people = {HOUSING_CHAT: HOUSING, SOCIAL_CHAT: SOCIAL}
    replies = []
    for case_id in cases:
        unit_chat = UNIT_CHATS[units[case_id]]
        card = w.card(unit_chat, case_id)
        msg = w.emu.push_message(
            unit_chat, people[unit_chat].user_id, f"Ремонт по № {case_id} назначен", card.message_id
        )
        replies.append((unit_chat, msg.message_id))
    await w.wait(lambda: all(w.bot_replies_to(c, m) for c, m in replies), "every reply answered")
    await w.settle()

    # Notifications: each once, to the right chat, under its card.
    expected: dict[int, Counter[tuple[int | None, str]]] = {chat_id: Counter() for chat_id in CHATS}
    # NOTIFY: a card posted for the very change is the notice, so registering, proposing and routing send no
    # «🔔» right under the card that just appeared (in intake, at the office head's, in the unit's chat).
    for case_id in cases:
        expected[INTAKE_CHAT][(case_id, "Поступила информация для ответа")] += 1
    got = {chat_id: Counter((n.case_id, n.label) for n in w.notes(chat_id)) for chat_id in CHATS}
    assert got == expected
    for chat_id in CHATS:
        for note in w.notes(chat_id):
            assert note.case_id is not None
            assert note.reply_to == w.card(chat_id, note.case_id).message_id
    await w.check_notes_match_deliveries(CHATS)
    assert await w.pending_outbox() == 0

    # In order within each chat: notifications in the order they were queued.
    recorded = await w.delivered()
    for chat_id in CHATS:
        by_message = [outbox_id for _message_id, outbox_id in sorted(recorded[chat_id])]
        assert by_message == sorted(by_message), f"chat {chat_id}: notifications out of order"

    # The storm did hit, and was weathered.
    calls = w.emu.calls_of()
    assert sum(1 for r in calls if r.status == 429) >= 6
    assert sum(1 for r in calls if r.status is not None and r.status >= 500) >= 6
    assert sum(1 for r in calls if r.status == 0) >= 4  # dropped connections
    assert loop.time() - started < 45  # about 20 s here; a pacing gone wrong (real 60 s windows) shows
