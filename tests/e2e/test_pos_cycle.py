"""The ПОС cycle end to end, through real long polling: registration by the ПОС curator's /pos dialogue → two
executors with a responsible one → the co-executor's information → the responsible executor's draft →
approval → «Промежуточный ответ» → the final draft → approval → «Опубликовано».

The same checks as the open-source cycle (one card per chat edited in place, notices to the right chats,
the event log's roles, terms met), plus the interim answer's own term: pos.final is opened by the interim and
closed by the final draft.
"""

from __future__ import annotations

from emulators.staff import visible_text
from tests.e2e.conftest import (
    HEAD,
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    POS_CHAT,
    POS_CURATOR,
    SOCIAL,
    SOCIAL_CHAT,
    Cards,
    World,
    card_owes,
    history_roles,
    labels,
    owes,
)
from workflow.model import Role

ALL_CHATS = (POS_CHAT, HOUSING_CHAT, SOCIAL_CHAT, INTAKE_CHAT, OFFICE_CHAT, HEAD.user_id)
WORKING = (POS_CHAT, HOUSING_CHAT, SOCIAL_CHAT)
COMPLAINT = "Не вывозят мусор с контейнерной площадки на ул. Мира, 12 уже неделю."
CO_INFO = "Соцзащита: жильцам дома 12 — пенсионерам — поможем с вывозом крупногабаритного мусора."
DRAFT = "Здравствуйте! Вывоз мусора с площадки на ул. Мира, 12 возобновлён с 5 ноября, график: вторник и пятница."
FINAL = "Здравствуйте! Подрядчик заменён, площадка на ул. Мира, 12 очищена 6 ноября."
LINK = "https://pos.gosuslugi.ru/answer/4512345"


def last_bot_text(world: World, chat_id: int) -> str:
    return visible_text(world.emu.sent(chat_id)[-1])


async def test_pos_cycle_through_polling(world: World) -> None:
    await world.start()
    w = world
    housing_name, social_name = w.rules.units["housing"], w.rules.units["social"]

    # 10:05 The ПОС curator registers the complaint with the /pos dialogue.
    await w.at(w.local(10, 5))
    await w.write(POS_CHAT, POS_CURATOR, "/pos")
    assert last_bot_text(w, POS_CHAT).startswith("Регистрация сообщения ПОС")
    await w.write(POS_CHAT, POS_CURATOR, "4512345")
    ask = w.emu.sent(POS_CHAT)[-1]
    assert visible_text(ask) == "Выберите категорию сообщения."
    fast = w.rules.categories["federal_fast"].title
    assert (await w.press_on(ask, POS_CURATOR, fast)).text == f"Категория: {fast}"
    assert last_bot_text(w, POS_CHAT).startswith("Когда сообщение поступило в ПОС?")
    await w.write(POS_CHAT, POS_CURATOR, "01.12.2026 10:02")
    ask = w.emu.sent(POS_CHAT)[-1]
    assert (
        visible_text(ask)
        == "Срок ответа в ПОС (ДД.ММ.ГГГГ), если указан. Если в ПОС срока нет — «Не указан»."
    )
    assert (await w.press_on(ask, POS_CURATOR, "Не указан")).text == "Срок ответа в ПОС: не указан"
    assert last_bot_text(w, POS_CHAT) == "Введите текст сообщения."
    await w.write(POS_CHAT, POS_CURATOR, COMPLAINT)
    registered = [m for m in w.emu.sent(POS_CHAT) if visible_text(m).startswith("Зарегистрировано")]
    assert [visible_text(m) for m in registered] == ["Зарегистрировано: сообщение № 1"]
    case = 1
    cards = Cards(w, case, ALL_CHATS)
    shown = cards.check("Новое", (POS_CHAT,))
    card = visible_text(shown[POS_CHAT])
    assert COMPLAINT in card and "№ ПОС 4512345" in card and f"Категория: {fast}" in card
    assert "Поступило: 01.12.2026 10:02" in card
    assert card_owes(shown[POS_CHAT]) == owes(("pos.route", None), ("pos.draft", None), ("pos.answer", None))
    assert [n.label for n in w.notes(POS_CHAT, case)] == []  # NOTIFY: the card just posted is the notice

    # 10:10 Two executors, housing responsible (п.14.1).
    await w.at(w.local(10, 10))
    await w.press(POS_CHAT, POS_CURATOR, "Направить исполнителям", case)
    await w.press(POS_CHAT, POS_CURATOR, housing_name, case)
    await w.press(POS_CHAT, POS_CURATOR, social_name, case)
    assert (
        await w.press(POS_CHAT, POS_CURATOR, "Готово", case)
    ).text == "Выберите ответственного исполнителя"
    assert labels(w.card(POS_CHAT, case)) == [
        f"Ответственный: {housing_name}",
        f"Ответственный: {social_name}",
        "Отмена",
    ]
    await w.press(POS_CHAT, POS_CURATOR, f"Ответственный: {housing_name}", case)
    shown = cards.check("У исполнителей", WORKING)
    assert f"{housing_name} (ответственный), {social_name}" in visible_text(shown[POS_CHAT])
    for chat_id in (HOUSING_CHAT, SOCIAL_CHAT):
        assert labels(shown[chat_id]) == ["Принять", "Не наша компетенция"]
    assert card_owes(shown[SOCIAL_CHAT]) == owes(
        ("pos.return", "housing"),
        ("pos.return", "social"),
        ("pos.coexec", "social"),
        ("pos.draft", "housing"),  # the common draft is the responsible executor's (п.14.3)
        ("pos.answer", None),
    )
    # NOTIFY: the executors' cards, just posted for the routing, are the notice; each names the responsible one.
    assert w.notes(HOUSING_CHAT, case) == w.notes(SOCIAL_CHAT, case) == []
    for chat_id in (HOUSING_CHAT, SOCIAL_CHAT):
        assert f"{housing_name} (ответственный), {social_name}" in visible_text(shown[chat_id])

    # 10:15 The responsible executor accepts the complaint (the 30-minute return term is met).
    await w.at(w.local(10, 15))
    assert (await w.press(HOUSING_CHAT, HOUSING, "Принять", case)).text == "Принято в работу"
    shown = cards.check("У исполнителей", WORKING)
    assert f"{housing_name} (ответственный) ✓, {social_name}" in visible_text(shown[POS_CHAT])

    # 10:20 The co-executor gives its information by replying to its card; it goes to the responsible one.
    await w.at(w.local(10, 20))
    assert await w.reply_to_card(SOCIAL_CHAT, SOCIAL, case, CO_INFO) == "Информация направлена"
    shown = cards.check("У исполнителей", WORKING)
    # The executor who accepted holds the common draft: the card names the person.
    assert card_owes(shown[POS_CHAT]) == owes(
        ("pos.draft", "housing", Role.EXECUTOR, HOUSING.name), ("pos.answer", None)
    )
    info_notes = [n for n in w.notes(HOUSING_CHAT, case) if n.label == "Поступила информация для ответа"]
    assert len(info_notes) == 1
    assert CO_INFO in visible_text(w.emu.message(HOUSING_CHAT, info_notes[0].message_id))

    # 10:30 The responsible executor's draft, by reply to its card; the curator approves.
    await w.at(w.local(10, 30))
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, DRAFT) == "Проект направлен на согласование"
    shown = cards.check("На согласовании", WORKING)
    assert DRAFT in visible_text(shown[POS_CHAT])
    assert labels(shown[POS_CHAT])[:2] == ["Согласовать", "На доработку"]
    assert card_owes(shown[POS_CHAT]) == owes(("pos.approve", None), ("pos.answer", None))

    await w.at(w.local(10, 45))
    assert (await w.press(POS_CHAT, POS_CURATOR, "Согласовать", case)).text == "Согласовано"
    shown = cards.check("Согласовано", WORKING)
    assert labels(shown[POS_CHAT])[:2] == ["Опубликовано", "Промежуточный ответ"]

    # 11:00 An interim answer is posted in ПОС (without a link): the final answer is now owed (п.13).
    await w.at(w.local(11, 0))
    assert (
        await w.press(POS_CHAT, POS_CURATOR, "Промежуточный ответ", case)
    ).text == "Ответьте на сообщение бота"
    prompt = w.prompt(POS_CHAT)
    assert labels(prompt) == ["Без ссылки"]
    assert (await w.press_on(prompt, POS_CURATOR, "Без ссылки")).text == "Отмечено: промежуточный ответ"
    shown = cards.check("Дан промежуточный ответ", WORKING)
    assert card_owes(shown[HOUSING_CHAT]) == owes(("pos.final", "housing"))
    assert "проект ответа" in visible_text(shown[HOUSING_CHAT])  # the hint: reply with the final draft
    interim_at = w.clock.now()

    # The next day: the final draft, approval, publication with a link.
    await w.at(w.local(10, 0, day=1))
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, FINAL) == "Проект направлен на согласование"
    shown = cards.check("На согласовании", WORKING)
    assert FINAL in visible_text(shown[POS_CHAT]) and "Проект ответа (версия 2)" in visible_text(
        shown[POS_CHAT]
    )
    # pos.final runs on to the posting of the final answer (п.13).
    assert card_owes(shown[POS_CHAT]) >= owes(("pos.final", "housing"))
    await w.at(w.local(10, 30, day=1))
    assert (await w.press(POS_CHAT, POS_CURATOR, "Согласовать", case)).text == "Согласовано"
    shown = cards.check("Согласовано", WORKING)
    # Approved, the final answer is the curator's to post: he holds pos.final now.
    assert card_owes(shown[POS_CHAT]) == owes(("pos.final", None, Role.POS_CURATOR))
    await w.at(w.local(11, 0, day=1))
    final_at = w.clock.now()
    assert (await w.press(POS_CHAT, POS_CURATOR, "Опубликовано", case)).text == "Ответьте на сообщение бота"
    published = await w.reply(POS_CHAT, POS_CURATOR, w.prompt(POS_CHAT), LINK)
    assert published == "Отмечено: ответ опубликован"
    shown = cards.check("Ответ дан", WORKING)
    for shown_card in shown.values():
        assert f"Ответ: {LINK}" in visible_text(shown_card)
        assert shown_card.buttons == [] and card_owes(shown_card) == set()
    await w.at(w.local(18, 0, day=1))

    # Notices: the curator hears of drafts, the responsible executor of everything it must act on.
    assert [n.label for n in w.notes(POS_CHAT, case)] == [
        "Проект ответа на согласование",
        "Проект ответа на согласование",
    ]
    assert [n.label for n in w.notes(HOUSING_CHAT, case)] == [
        "Поступила информация для ответа",
        "Проект ответа согласован",
        "Дан промежуточный ответ — готовьте окончательный",
        "Проект ответа согласован",
    ]
    assert [n.label for n in w.notes(SOCIAL_CHAT, case)] == []  # its card was the routing notice
    for chat_id in (INTAKE_CHAT, OFFICE_CHAT, HEAD.user_id):
        assert w.emu.sent(chat_id) == []
    for chat_id in WORKING:
        for note in w.notes(chat_id):
            assert note.reply_to == cards.first[chat_id], f"chat {chat_id}: {note.head} not under the card"
    assert await w.pending_outbox() == 0

    assert history_roles(await w.events(case)) == [
        ("register", Role.POS_CURATOR),
        ("route", Role.POS_CURATOR),
        ("accept", Role.EXECUTOR),
        ("info", Role.EXECUTOR),
        ("submit", Role.EXECUTOR),
        ("approve", Role.POS_CURATOR),
        ("interim", Role.POS_CURATOR),
        ("submit", Role.EXECUTOR),
        ("approve", Role.POS_CURATOR),
        ("publish", Role.POS_CURATOR),
    ]
    events = await w.events(case)
    assert events[1].data["responsible"] == "housing"
    actors = [events[i].actor_id for i in (2, 3, 4, 7)]
    assert actors == [HOUSING.user_id, SOCIAL.user_id, HOUSING.user_id, HOUSING.user_id]
    assert events[9].data["link"] == LINK

    terms = await w.terms(case)
    assert all(t.closed_at is not None for t in terms)
    assert sorted((t.term_id, t.unit or "", t.met) for t in terms) == sorted(
        [
            ("pos.route", "", True),
            ("pos.answer", "", True),
            ("pos.draft", "housing", True),
            ("pos.return", "housing", True),
            ("pos.return", "social", True),
            ("pos.coexec", "social", True),
            ("pos.approve", "", True),
            ("pos.final", "", True),
            ("pos.approve", "", True),
        ]
    )
    [pos_final] = [t for t in terms if t.term_id == "pos.final"]
    assert (pos_final.started_at, pos_final.closed_at) == (interim_at, final_at)
    [pos_answer] = [t for t in terms if t.term_id == "pos.answer"]
    assert pos_answer.closed_at == interim_at  # the interim answer met the п.10 term
    assert all(not t.sent for t in terms)
