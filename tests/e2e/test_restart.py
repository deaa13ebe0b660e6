"""Restarts: a graceful stop with an update still being handled, and a crash in the middle of a cycle.

Nothing is lost (pending notifications are delivered by the next run, cards keep being edited in place, updates
sent while the bot was down are handled) and nothing is sent twice (one card per chat, each notification once,
each message answered once).
"""

from __future__ import annotations

from collections import Counter

from emulators.staff import visible_text
from tests.e2e.conftest import (
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    OPERATOR,
    REGION_CHAT,
    REGION_CURATOR,
    World,
    card_status,
    history_roles,
)
from workflow.model import Role

CHATS = (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT)
# A ЦУР card stating its detection time: registered at once by the message's own handler (INTAKE).
DETECTED_LINE = "\nВыявлено: 01.12.2026 09:25"


def answered_once(world: World, chat_id: int) -> None:
    """Every person's message in the chat got at most one answer from the bot."""
    answers = Counter(m.reply_to_message_id for m in world.emu.history(chat_id) if m.from_bot)
    people = {m.message_id for m in world.emu.history(chat_id) if not m.from_bot}
    twice = [
        (m.message_id, m.plain_text or m.text)
        for m in world.emu.history(chat_id)
        if m.from_bot and answers[m.reply_to_message_id] > 1 and m.reply_to_message_id in people
    ]
    assert not twice, f"chat {chat_id}: answered twice: {twice}"


async def test_a_stop_waits_for_the_update_being_handled(world: World) -> None:
    """aiogram confirms an update before its handler ends: a stop must let the handler finish, or it is lost."""
    w = world
    await w.start()
    first = await w.register_os("Первое сообщение: не убран снег")
    app = w.app

    # The next registration (a ЦУР card, registered at once) meets a flood wait while answering or posting its
    # card: the handler is mid-way when we stop.
    w.emu.fail_next_of(["send"], 1, "flood")
    msg = w.emu.push_message(INTAKE_CHAT, OPERATOR.user_id, f"Второе сообщение: нет воды{DETECTED_LINE}")
    await w.wait(
        lambda: any(r.status == 429 for r in w.emu.calls_of("send")), "the handler in a flood wait"
    )
    assert not w.emu.pending_updates  # Telegram has been told the update was taken
    await w.stop()

    # Done before the stop returned: the card posted, the number answered, nothing left running. (NOTIFY: the
    # card is the notice: no «Новое сообщение» under it.)
    assert app.in_flight() == []
    [card] = [m for m in w.emu.sent(INTAKE_CHAT) if visible_text(m).startswith("Сообщение № 2 ·")]
    assert "Второе сообщение: нет воды" in visible_text(card)
    assert w.notes(INTAKE_CHAT, 2) == []
    [number] = w.bot_replies_to(INTAKE_CHAT, msg.message_id)
    assert visible_text(number).startswith("Зарегистрировано: сообщение № 2")

    # A message written while the bot is down is handled by the next run; nothing earlier is repeated.
    down = w.emu.push_message(INTAKE_CHAT, OPERATOR.user_id, f"Третье сообщение: упало дерево{DETECTED_LINE}")
    await w.start()
    await w.settle()
    async with w.app.repo.transaction() as tx:
        ids = [await tx.find_case_by_source("intake", f"{INTAKE_CHAT}:{m.message_id}") for m in (msg, down)]
    assert ids == [2, 3]
    assert len(w.cards(INTAKE_CHAT, 3)) == 1
    for case_id in (first, 2, 3):
        # NOTIFY: the office head gets a card only for a routing to approve; the intake card is the notice.
        assert len(w.cards(INTAKE_CHAT, case_id)) == 1 and w.cards(OFFICE_CHAT, case_id) == []
        assert w.notes(INTAKE_CHAT, case_id) == []
    answered_once(w, INTAKE_CHAT)  # each message its one question or number, none repeated
    assert await w.pending_outbox() == 0


async def test_a_crash_in_the_middle_of_a_cycle_loses_nothing_and_repeats_nothing(world: World) -> None:
    w = world
    await w.start()
    case = await w.register_os("Пётр Смирнов: яма у дома 5 по ул. Ленина")
    await w.at(w.local(9, 35))
    await w.route_os(case, "housing")
    await w.at(w.local(10, 0))
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, "Ремонт 3 декабря") == "Информация направлена"
    before = {
        chat_id: w.card(chat_id, case).message_id for chat_id in (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT)
    }

    # 10:05 The operator sends the draft. The commit is made; posting the curator's card meets a long flood
    # wait, and the notice to the curator waits behind it. Then the process dies.
    await w.at(w.local(10, 5))
    # Two 429s: the first two sendMessage calls are the handler's own reply and the card post, in either
    # order (the reply gives up on a wait that long; the sender waits it out), so the card is in a flood wait.
    w.emu.fail_next_of(["send"], 2, "flood", retry_after=60)
    intake_card = w.card(INTAKE_CHAT, case)
    w.emu.push_message(
        INTAKE_CHAT, OPERATOR.user_id, "Пётр, здравствуйте! Ремонт 3 декабря.", intake_card.message_id
    )
    await w.wait(
        lambda: sum(r.status == 429 for r in w.emu.calls_of("send")) == 2, "the card post in a flood wait"
    )
    assert await w.pending_outbox() == 1  # the notice to the curator, committed with the draft
    await w.crash()
    assert w.cards(REGION_CHAT, case) == [] and w.notes(REGION_CHAT) == []

    # The next run delivers what was pending: the curator's card, which is the notice itself (NOTIFY: no
    # «Проект ответа на согласование» right under a card posted for that very draft).
    await w.start(background=True)
    await w.wait(lambda: w.cards(REGION_CHAT, case), "the pending card delivered after the restart")
    await w.settle()
    assert await w.pending_outbox() == 0
    region = w.card(REGION_CHAT, case)
    assert card_status(region) == "На согласовании" and "Ремонт 3 декабря." in visible_text(region)
    assert w.notes(REGION_CHAT, case) == []

    # The cycle goes on with the new process: rework, the second draft, approval, publication.
    await w.at(w.local(10, 10))
    assert (
        await w.press(REGION_CHAT, REGION_CURATOR, "На доработку", case)
    ).text == "Ответьте на сообщение бота"
    reason = "Укажите подрядчика"
    assert (
        await w.reply(REGION_CHAT, REGION_CURATOR, w.prompt(REGION_CHAT), reason) == "Возвращено на доработку"
    )
    await w.at(w.local(10, 20))
    second = "Пётр, здравствуйте! Ремонт 3 декабря выполнит ООО «Дорстрой»."
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, second) == "Проект направлен на согласование"
    await w.at(w.local(10, 25))
    assert (await w.press(REGION_CHAT, REGION_CURATOR, "Согласовать", case)).text == "Согласовано"
    await w.at(w.local(10, 30))
    await w.press(INTAKE_CHAT, OPERATOR, "Опубликовано", case)
    link = "https://vk.com/wall-1_2"
    assert await w.reply(INTAKE_CHAT, OPERATOR, w.prompt(INTAKE_CHAT), link) == "Отмечено: ответ опубликован"

    # Cards: the same messages as before the crash, edited to the end; one each.
    for chat_id in CHATS:
        card = w.card(chat_id, case)
        assert card_status(card) == "Ответ дан" and f"Ответ: {link}" in visible_text(card)
        assert card.message_id == before.get(chat_id, card.message_id)
    # Notifications: each once, where it belongs; none right under a card posted for the same change (NOTIFY:
    # registration, the routing proposal, the routing and the first draft are told by their cards).
    labels = {chat_id: [n.label for n in w.notes(chat_id, case)] for chat_id in CHATS}
    assert labels == {
        INTAKE_CHAT: [
            "Поступила информация для ответа",
            "Проект ответа возвращён на доработку",
            "Проект ответа согласован",
        ],
        OFFICE_CHAT: [],
        HOUSING_CHAT: [],
        # The region curator handed it over: he hears that the answer went out (RULES.md §6).
        REGION_CHAT: [
            "Проект ответа на согласование",  # the second draft, under the card he has had since the first
            "Ответ на переданное вами сообщение опубликован",
        ],
    }
    await w.check_notes_match_deliveries(CHATS)
    for chat_id in CHATS:
        answered_once(w, chat_id)
    assert await w.pending_outbox() == 0

    assert history_roles(await w.events(case)) == [
        ("register", Role.OPERATOR),
        ("route", Role.OPERATOR),
        ("approve_routing", Role.OFFICE_HEAD),
        ("info", Role.UNIT_OFFICIAL),
        ("submit", Role.OPERATOR),
        ("rework", Role.REGION_CURATOR),
        ("submit", Role.OPERATOR),
        ("approve", Role.REGION_CURATOR),
        ("publish", Role.OPERATOR),
    ]
    terms = await w.terms(case)
    assert all(t.closed_at is not None and t.met is not False for t in terms)


async def test_a_prompt_asked_before_a_restart_is_not_answered_in_silence(world: World) -> None:
    """Prompts (a reason, a link) live in memory: a reply to one from before the restart used to vanish."""
    w = world
    await w.start()
    case = await w.register_os("Сообщение: яма во дворе")
    await w.route_os(case, "housing")
    assert (
        await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, "Здравствуйте! Яму во дворе отремонтируют 3 декабря.")
        == "Проект направлен на согласование"
    )
    assert (
        await w.press(REGION_CHAT, REGION_CURATOR, "На доработку", case)
    ).text == "Ответьте на сообщение бота"
    old_prompt = w.prompt(REGION_CHAT)
    await w.stop()

    await w.start()
    answer = await w.reply(REGION_CHAT, REGION_CURATOR, old_prompt, "Нет срока ремонта")
    assert answer.startswith("Этот запрос больше не действует")
    assert card_status(w.card(REGION_CHAT, case)) == "На согласовании"  # nothing done on a forgotten prompt
    # Pressing again asks afresh, and that works.
    await w.press(REGION_CHAT, REGION_CURATOR, "На доработку", case)
    new_prompt = w.prompt(REGION_CHAT)
    assert new_prompt.message_id != old_prompt.message_id
    assert (
        await w.reply(REGION_CHAT, REGION_CURATOR, new_prompt, "Нет срока ремонта")
        == "Возвращено на доработку"
    )
    assert card_status(w.card(REGION_CHAT, case)) == "На доработке"
