"""The open-source cycle end to end, through real long polling: intake → routing approved by the office head →
unit information → draft → rework with a reason → second draft → approval → «Опубликовано» with a link.

At every step: each working chat holds exactly one card of the case, edited in place, showing the new status
and who owes what; the right chats got the right notices (threaded under their card); the event log names the
role that acted; and at the end every term is closed, met on time.
"""

from __future__ import annotations

from emulators.staff import visible_text
from tests.e2e.conftest import (
    HEAD,
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OFFICE_CHAT,
    OFFICE_HEAD,
    OPERATOR,
    REGION_CHAT,
    REGION_CURATOR,
    Cards,
    World,
    card_owes,
    history_roles,
    labels,
    owes,
)
from workflow.model import Role

CITIZEN = (
    "Пётр Смирнов, ВКонтакте: На улице Ленина у дома 5 огромная яма, две машины уже пробили колёса. "
    "Когда отремонтируют?"
)
INFO = "Ямочный ремонт у дома 5 назначен на 3 декабря, подрядчик ООО «Дорстрой»."
DRAFT_1 = "Пётр, здравствуйте! Яму отремонтируют 3 декабря."
REASON = "Укажите подрядчика и пообещайте фото после ремонта."
DRAFT_2 = (
    "Пётр, здравствуйте! Ямочный ремонт у дома 5 выполнит ООО «Дорстрой» 3 декабря; "
    "после ремонта разместим фото."
)
LINK = "https://vk.com/wall-123_4567?reply=8910"
REWORK_NOTE = "Проект ответа возвращён на доработку"

OPERATOR_NAME = "уполномоченное лицо управления делами"
ALL_CHATS = (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT, HEAD.user_id)


def note_labels(world: World, chat_id: int, case_id: int) -> list[str]:
    return [n.label for n in world.notes(chat_id, case_id)]


async def test_open_source_cycle_through_polling(world: World) -> None:
    await world.start()
    w = world

    # 09:30 The operator posts the message the region curator handed over.
    case = await w.register_os(CITIZEN)
    cards = Cards(w, case, ALL_CHATS)
    # NOTIFY: the office head gets no card of a new message (only of a routing waiting for his approval), and
    # the just-posted card is the notice: no «Новое сообщение» under it.
    shown = cards.check("Новое", (INTAKE_CHAT,))
    intake = shown[INTAKE_CHAT]
    assert CITIZEN in visible_text(intake)
    assert card_owes(intake) == owes(
        ("os.return", None), ("os.route", None), ("os.draft", None), ("os.publish", None)
    )
    assert labels(intake)[:2] == ["Направить в подразделение", "Не наша компетенция — вернуть куратору"]
    assert note_labels(w, INTAKE_CHAT, case) == []

    # 09:35 Routed to housing by the operator, approved by the office head.
    await w.at(w.local(9, 35))
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)).text == (
        "Выберите подразделения и нажмите «Готово»"
    )
    await w.press(INTAKE_CHAT, OPERATOR, w.rules.units["housing"], case)
    assert f"✅ {w.rules.units['housing']}" in labels(w.card(INTAKE_CHAT, case))
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    shown = cards.check("Направление на согласовании", (INTAKE_CHAT, OFFICE_CHAT))
    assert "Предложено направить: ЖКХ" in visible_text(shown[OFFICE_CHAT])
    assert labels(shown[OFFICE_CHAT])[:2] == ["Согласовать направление", "Изменить направление"]
    # os.return runs on (silently) until the routing is approved; os.route now waits for the office head.
    assert card_owes(shown[INTAKE_CHAT]) == owes(
        ("os.return", None),
        ("os.route", None, Role.OFFICE_HEAD),
        ("os.draft", None),
        ("os.publish", None),
    )
    assert note_labels(w, OFFICE_CHAT, case) == []  # the card just posted for the proposal is the notice

    await w.at(w.local(9, 40))
    answer = await w.press(OFFICE_CHAT, OFFICE_HEAD, "Согласовать направление", case)
    assert answer.text == "Направление согласовано"
    shown = cards.check("В подразделениях", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT))
    assert card_owes(shown[HOUSING_CHAT]) == owes(
        ("os.unit_info", "housing"), ("os.draft", None), ("os.publish", None)
    )
    assert "информацию для ответа" in visible_text(shown[HOUSING_CHAT])  # the hint: reply to the card
    assert note_labels(w, HOUSING_CHAT, case) == []  # the card just posted for the routing is the notice

    # 10:00 The unit answers by replying to its card.
    await w.at(w.local(10, 0))
    assert await w.reply_to_card(HOUSING_CHAT, HOUSING, case, INFO) == "Информация направлена"
    shown = cards.check("В подразделениях", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT))
    assert card_owes(shown[INTAKE_CHAT]) == owes(("os.draft", None), ("os.publish", None))
    assert "ЖКХ, строительство и дорожное хозяйство ✓" in visible_text(shown[INTAKE_CHAT])
    [info_note] = [n for n in w.notes(INTAKE_CHAT, case) if n.label == "Поступила информация для ответа"]
    assert INFO in visible_text(w.emu.message(INTAKE_CHAT, info_note.message_id))

    # 10:05 The operator replies to the intake card with the draft; the curator gets the card.
    await w.at(w.local(10, 5))
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, DRAFT_1) == "Проект направлен на согласование"
    shown = cards.check("На согласовании", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT))
    region = shown[REGION_CHAT]
    assert DRAFT_1 in visible_text(region) and "Проект ответа (версия 1)" in visible_text(region)
    assert labels(region) == ["Согласовать", "На доработку"]
    assert card_owes(region) == owes(("os.approve", None), ("os.publish", None))
    assert note_labels(w, REGION_CHAT, case) == []  # the card just posted for the draft is the notice

    # 10:10 The curator returns it for rework, with a reason given by reply to the prompt.
    await w.at(w.local(10, 10))
    asked = await w.press(REGION_CHAT, REGION_CURATOR, "На доработку", case)
    assert asked.text == "Ответьте на сообщение бота"
    answer_text = await w.reply(REGION_CHAT, REGION_CURATOR, w.prompt(REGION_CHAT), REASON)
    assert answer_text == "Возвращено на доработку"
    shown = cards.check("На доработке", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT))
    assert f"Причина доработки: {REASON}" in visible_text(shown[INTAKE_CHAT])
    assert card_owes(shown[INTAKE_CHAT]) == owes(("os.rework", None), ("os.publish", None))
    assert shown[REGION_CHAT].buttons == []  # nothing for the curator until the next draft
    [rework_note] = [n for n in w.notes(INTAKE_CHAT, case) if n.label == REWORK_NOTE]
    assert f"Причина: {REASON}" in visible_text(w.emu.message(INTAKE_CHAT, rework_note.message_id))

    # 10:20 The second draft, then approval.
    await w.at(w.local(10, 20))
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, DRAFT_2) == "Проект направлен на согласование"
    shown = cards.check("На согласовании", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT))
    region_text = visible_text(shown[REGION_CHAT])
    assert DRAFT_2 in region_text and "Проект ответа (версия 2)" in region_text
    assert note_labels(w, REGION_CHAT, case) == ["Проект ответа на согласование"]  # under the card it has

    await w.at(w.local(10, 25))
    assert (await w.press(REGION_CHAT, REGION_CURATOR, "Согласовать", case)).text == "Согласовано"
    shown = cards.check("Согласовано", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT))
    assert labels(shown[INTAKE_CHAT])[:2] == ["Опубликовано", "Промежуточный ответ"]
    assert card_owes(shown[INTAKE_CHAT]) == owes(("os.publish", None))

    # 10:30 Published, with the link given by reply to the prompt.
    await w.at(w.local(10, 30))
    asked = await w.press(INTAKE_CHAT, OPERATOR, "Опубликовано", case)
    assert asked.text == "Ответьте на сообщение бота"
    answer_text = await w.reply(INTAKE_CHAT, OPERATOR, w.prompt(INTAKE_CHAT), LINK)
    assert answer_text == "Отмечено: ответ опубликован"
    shown = cards.check("Ответ дан", (INTAKE_CHAT, OFFICE_CHAT, HOUSING_CHAT, REGION_CHAT))
    for card in shown.values():
        assert f"Ответ: {LINK}" in visible_text(card)
        assert card.buttons == [] and card_owes(card) == set()
        assert len(card.edits) >= 3  # edited in place along the way
    await w.at(w.local(18, 0))  # the end of the day: nothing is owed, so nothing more is said

    # Who heard what, in order, each threaded under the chat's card.
    assert note_labels(w, INTAKE_CHAT, case) == [
        "Поступила информация для ответа",
        REWORK_NOTE,
        "Проект ответа согласован",
    ]
    # Their cards, each posted for the change it tells of, were their notices (NOTIFY).
    assert note_labels(w, OFFICE_CHAT, case) == []
    assert note_labels(w, HOUSING_CHAT, case) == []
    # The region curator handed it over: he also hears that the answer went out (RULES.md §6).
    assert note_labels(w, REGION_CHAT, case) == [
        "Проект ответа на согласование",
        "Ответ на переданное вами сообщение опубликован",
    ]
    assert w.emu.sent(HEAD.user_id) == []
    for chat_id in ALL_CHATS:
        for note in w.notes(chat_id):
            assert note.reply_to == cards.first[chat_id], f"chat {chat_id}: {note.head} not under the card"
    assert await w.pending_outbox() == 0

    # The event log: every step, with the role that answered for it (п.16).
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
    events = await w.events(case)
    assert [e.actor_id for e in events] == [
        OPERATOR.user_id,
        OPERATOR.user_id,
        OFFICE_HEAD.user_id,
        HOUSING.user_id,
        OPERATOR.user_id,
        REGION_CURATOR.user_id,
        OPERATOR.user_id,
        REGION_CURATOR.user_id,
        OPERATOR.user_id,
    ]
    assert events[5].data["reason"] == REASON and events[8].data["link"] == LINK

    # Terms: every one closed and met; the return-only os.return ends met once the message is routed.
    terms = await w.terms(case)
    assert all(t.closed_at is not None for t in terms)
    outcome = sorted((t.term_id, t.unit or "", t.met) for t in terms)
    assert outcome == sorted(
        [
            ("os.return", "", True),
            ("os.route", "", True),
            ("os.draft", "", True),
            ("os.publish", "", True),
            ("os.unit_info", "housing", True),
            ("os.approve", "", True),
            ("os.rework", "", True),
            ("os.approve", "", True),
        ]
    )
    assert all(not t.sent for t in terms)  # done on time: no reminder or alert was ever due
    assert OPERATOR_NAME in visible_text(w.card(INTAKE_CHAT, case))  # the history names the roles


async def test_publishing_while_a_unit_owes_information_is_confirmed_by_a_button(world: World) -> None:
    """RULES.md §6: «Опубликовано» with housing's information still owed asks to confirm (nothing changes);
    the confirmation leads to the link prompt; housing is told, and its term is cancelled, not missed."""
    w = world
    await w.start()
    case = await w.register_os(CITIZEN)
    await w.at(w.local(9, 35))
    await w.route_os(case, "housing")
    await w.at(w.local(10, 5))
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, DRAFT_1) == "Проект направлен на согласование"
    await w.at(w.local(10, 25))
    assert (await w.press(REGION_CHAT, REGION_CURATOR, "Согласовать", case)).text == "Согласовано"

    await w.at(w.local(10, 30))
    refused = await w.press(INTAKE_CHAT, OPERATOR, "Опубликовано", case)
    assert refused.show_alert is not False and refused.text is not None  # an alert (MAX has one kind: None)
    assert refused.text.startswith("Информацию для ответа ещё не направили: ЖКХ")
    assert labels(w.card(INTAKE_CHAT, case)) == ["Опубликовать без их информации", "Отмена"]
    assert card_status_of(w, case) == "Согласовано"

    asked = await w.press(INTAKE_CHAT, OPERATOR, "Опубликовать без их информации", case)
    assert asked.text == "Ответьте на сообщение бота"
    assert labels(w.card(INTAKE_CHAT, case))[:2] == [
        "Опубликовано",
        "Промежуточный ответ",
    ]  # the card is back
    answer_text = await w.reply(INTAKE_CHAT, OPERATOR, w.prompt(INTAKE_CHAT), LINK)
    assert answer_text == "Отмечено: ответ опубликован"
    await w.settle()
    assert "Ответ опубликован без информации вашего подразделения — срок снят" in note_labels(
        w, HOUSING_CHAT, case
    )
    outcome = {(t.term_id, t.unit): t.met for t in await w.terms(case) if t.closed_at is not None}
    assert outcome[("os.unit_info", "housing")] is None  # cancelled: its 2 hours had not run out
    assert outcome[("os.publish", None)] is True


def card_status_of(w: World, case: int) -> str:
    [line] = [x for x in visible_text(w.card(INTAKE_CHAT, case)).splitlines() if x.startswith("Статус:")]
    return line.removeprefix("Статус:").strip()


async def test_the_office_head_sets_the_order_of_officials_with_buttons(world: World) -> None:
    """п.12.1 through polling: «Задать очерёдность» on the approval card, social first, then housing, «Готово»:
    the routing is approved with the order; only social's term runs, housing is told its place and waits."""
    w = world
    await w.start()
    case = await w.register_os(CITIZEN)
    await w.at(w.local(9, 35))
    await w.press(INTAKE_CHAT, OPERATOR, "Направить в подразделение", case)
    for unit in ("housing", "social"):
        await w.press(INTAKE_CHAT, OPERATOR, w.rules.units[unit], case)
    assert (await w.press(INTAKE_CHAT, OPERATOR, "Готово", case)).text == "Направление предложено"
    await w.settle()
    assert "Задать очерёдность" in labels(w.card(OFFICE_CHAT, case))

    await w.at(w.local(9, 40))
    housing, social = w.rules.units["housing"], w.rules.units["social"]
    answer = await w.press(OFFICE_CHAT, OFFICE_HEAD, "Задать очерёдность", case)
    assert answer.text == "Нажимайте подразделения в порядке подготовки информации (п.12.1), затем «Готово»"
    assert labels(w.card(OFFICE_CHAT, case)) == [housing, social, "Отмена"]
    await w.press(OFFICE_CHAT, OFFICE_HEAD, social, case)
    assert labels(w.card(OFFICE_CHAT, case)) == [f"✅ 1. {social}", housing, "Сбросить", "Отмена"]
    await w.press(OFFICE_CHAT, OFFICE_HEAD, housing, case)
    assert labels(w.card(OFFICE_CHAT, case)) == [
        f"✅ 1. {social}",
        f"✅ 2. {housing}",
        "Готово",
        "Сбросить",
        "Отмена",
    ]
    assert (await w.press(OFFICE_CHAT, OFFICE_HEAD, "Готово", case)).text == "Направление согласовано"
    await w.settle()
    assert await w.open_terms(case) >= {("os.unit_info", "social")}
    assert ("os.unit_info", "housing") not in await w.open_terms(case)
    [routed] = [n for n in w.notes(HOUSING_CHAT, case) if n.label == "Сообщение направлено вам для работы"]
    text = visible_text(w.emu.message(HOUSING_CHAT, routed.message_id))
    assert "Очерёдность подготовки информации: 2 из 2" in text
    assert "Срок начнётся, когда предыдущее подразделение направит информацию" in text
    events = await w.events(case)
    assert events[-1].action == "approve_routing" and events[-1].data["order"] == ["social", "housing"]


async def test_a_hand_over_stating_its_detection_time_counts_from_it(world: World) -> None:
    """A ЦУР card with «Выявлено: …» posted at 09:30: T0 is the detection time, the card shows both instants;
    a detection time after the post is refused in one line and nothing is registered."""
    w = world
    await w.start()
    case = await w.register_os(f"{CITIZEN}\nВыявлено: 01.12.2026 09:00")
    card = visible_text(w.card(INTAKE_CHAT, case))
    assert "Выявлено ЦУР: 01.12.2026 09:00" in card and "Поступило в администрацию: 01.12.2026 09:30" in card
    assert {t.started_at for t in await w.terms(case)} == {w.local(9, 0)}

    late = await w.write(INTAKE_CHAT, OPERATOR, "Ещё одно сообщение\nВыявлено: 01.12.2026 11:00")
    [refusal] = await w.wait(lambda: w.bot_replies_to(INTAKE_CHAT, late.message_id), "the refusal")
    # Not taken: the question asks where it came from and says why the card's time was refused.
    assert "не принято: Время выявления ЦУР не может быть позже текущего момента" in visible_text(refusal)
    async with w.app.repo.transaction() as tx:
        assert await tx.find_case_by_source("intake", f"{INTAKE_CHAT}:{late.message_id}") is None
