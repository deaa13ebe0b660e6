"""Intake on purpose (issue 10 item 2) and the ЦУР detection time of a hand-over (issue 9 item 4), through the
real Dispatcher: one question under each intake message, nothing registered before a press, one case per
message whichever button and however many presses, and the detection prompt that moves T0 and its terms."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from emulators.telegram import ChatMessage, visible_text
from tests.handlers.conftest import (
    CURATOR,
    INTAKE,
    MONDAY_10,
    NSK,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    STRANGER,
    Harness,
    button,
    labels,
)
from views import texts
from views.callbacks import DetectedCb, IntakeCb, IntakeChoice
from workflow.model import InboundMessage, Network, Source, Term

CHAT_CHAT = "Коллеги, я на обеде до 14:00"
PIT = "Яма на дороге у школы № 2, машины бьют колёса"


def at(h: int, m: int, day: int = 2) -> datetime:
    return datetime(2026, 3, day, h, m, tzinfo=NSK)


async def cases(h: Harness) -> list[int]:
    async with h.repo.transaction() as tx:
        return [c.id for c in await tx.cases(open_only=False)]


async def message_of(h: Harness, case_id: int) -> InboundMessage:
    async with h.repo.transaction() as tx:
        found = await tx.get_message(case_id)
    assert found is not None
    return found


async def open_terms(h: Harness, case_id: int) -> dict[str, Term]:
    async with h.repo.transaction() as tx:
        return {t.term_id: t for t in await tx.terms(case_id)}


async def post(h: Harness, text: str, user: int = OPERATOR, **kw: Any) -> tuple[ChatMessage, ChatMessage]:
    """Post in the intake chat: the message and the bot's question under it."""
    msg = await h.send(INTAKE, user, text, **kw)
    return msg, h.answer_to(msg)


async def choose(h: Harness, question: ChatMessage, label: str, user: int = OPERATOR) -> str | None:
    return await h.press(INTAKE, user, question.message_id, button(question, label))


def now_text(h: Harness, msg: ChatMessage) -> str:
    return visible_text(h.emu.message(msg.chat_id, msg.message_id))


@pytest.mark.parametrize(
    ("choice", "network", "shown"),
    [
        ("vk", Network.VK, "ВКонтакте"),
        ("ok", Network.OK, "Одноклассники"),
        ("telegram", Network.TELEGRAM, "Telegram"),
        ("other", Network.OTHER, "другой источник"),
    ],
)
async def test_a_network_press_registers_the_operators_own_find(
    h: Harness, choice: str, network: Network, shown: str
) -> None:
    msg, question = await post(h, PIT)
    assert visible_text(question).startswith(texts.INTAKE_QUESTION)
    assert labels(question) == [
        "ВКонтакте", "Одноклассники", "Telegram", "От ЦУР", "Другое", "Не регистрировать",
    ]  # fmt: skip
    assert await cases(h) == []  # nothing before a press

    assert await choose(h, question, texts.BTN_INTAKE[choice]) == "Зарегистрировано: сообщение № 1"
    case = await h.services.case(1)
    stored = await message_of(h, 1)
    assert (stored.source, stored.source_id, stored.network) == (
        Source.INTAKE,
        f"{INTAKE}:{msg.message_id}",
        network,
    )
    assert stored.text == PIT and not case.handed_over and case.t0 == MONDAY_10
    # The question shows what was chosen and by whom, with no buttons left: edited, not a new post.
    edited = h.emu.message(INTAKE, question.message_id)
    assert visible_text(edited) == f"Зарегистрировано: сообщение № 1 · {shown} (Сотрудник {OPERATOR})"
    assert edited.buttons == [] and edited.edits
    assert f"Источник: {shown}" in visible_text(await h.card(INTAKE, 1))


async def test_a_second_press_and_a_race_make_one_case(h: Harness) -> None:
    _msg, question = await post(h, PIT)
    vk, ok = button(question, "ВКонтакте"), button(question, "Одноклассники")
    assert await h.press(INTAKE, OPERATOR, question.message_id, vk) == "Зарегистрировано: сообщение № 1"
    # The buttons are gone, but a client that still shows them may press again: one case, and it says which.
    assert await h.press(INTAKE, OPERATOR, question.message_id, vk) == "Уже зарегистрировано: сообщение № 1"
    assert await h.press(INTAKE, CURATOR, question.message_id, ok) == "Уже зарегистрировано: сообщение № 1"
    assert await cases(h) == [1]
    assert (await message_of(h, 1)).network is Network.VK


async def test_chit_chat_is_never_a_case(h: Harness) -> None:
    _msg, question = await post(h, CHAT_CHAT)
    late_vk = button(question, "ВКонтакте")
    assert await choose(h, question, "Не регистрировать") == texts.INTAKE_SKIPPED_TOAST
    edited = h.emu.message(INTAKE, question.message_id)
    assert visible_text(edited) == f"Не зарегистрировано (Сотрудник {OPERATOR})" and edited.buttons == []
    # A late press of a network button on the decided question registers nothing.
    assert await h.press(INTAKE, OPERATOR, question.message_id, late_vk) == texts.INTAKE_DECIDED
    assert await cases(h) == []
    async with h.repo.transaction() as tx:
        assert await tx.pending_outbox(100) == []  # recorded nowhere


async def test_forged_and_foreign_presses_change_nothing(h: Harness) -> None:
    case_id = await h.intake(PIT, "vk")
    card = await h.card(INTAKE, case_id)
    vk = IntakeCb(choice=IntakeChoice.VK).pack()
    # The intake button pressed on a card (a bot message that is no question), in the office head's chat, with
    # garbled data, or by a stranger.
    assert await h.press(INTAKE, OPERATOR, card.message_id, vk) == texts.UNKNOWN_BUTTON
    # The office head no longer gets a new case's card (NOTIFY): a bot message in his chat is the card /case gave.
    await h.send(OFFICE, OFFICE_HEAD, f"/case {case_id}")
    office_card = next(m for m in h.emu.sent(OFFICE) if visible_text(m).startswith(f"Сообщение № {case_id}"))
    assert await h.press(OFFICE, OFFICE_HEAD, office_card.message_id, vk) == texts.UNKNOWN_BUTTON
    _msg, question = await post(h, "Нет света на улице Мира")
    assert await h.press(INTAKE, OPERATOR, question.message_id, "i1:nonsense") == texts.UNKNOWN_BUTTON
    assert await h.press(INTAKE, OPERATOR, question.message_id, "i1:vk:1") == texts.UNKNOWN_BUTTON
    assert await h.press(INTAKE, STRANGER, question.message_id, vk) == texts.NOT_REGISTERED
    # Someone not registering open-source messages: the domain's refusal, nothing registered.
    refused = await h.press(INTAKE, OFFICE_HEAD, question.message_id, vk)
    assert refused is not None and refused.startswith("Недостаточно прав: зарегистрировать сообщение")
    # «Как в сообщении» forged on a question that has no such button.
    forged = DetectedCb(case_id=case_id).pack()
    assert await h.press(INTAKE, OPERATOR, question.message_id, forged) == texts.UNKNOWN_BUTTON
    assert await cases(h) == [case_id]
    assert labels(h.emu.message(INTAKE, question.message_id))[0] == "ВКонтакте"  # still open


async def test_who_gets_a_question(h: Harness) -> None:
    # The office head talking in the intake chat, a stranger and a command get no question.
    before = len(h.emu.sent(INTAKE))
    await h.send(INTAKE, OFFICE_HEAD, "Коллеги, совещание в 15:00")
    await h.send(INTAKE, STRANGER, "Здравствуйте")
    assert len(h.emu.sent(INTAKE)) == before
    # The region curator posting himself: asked, «От ЦУР» first.
    _msg, question = await post(h, PIT, user=CURATOR)
    assert labels(question)[0] == "✅ От ЦУР"
    assert "Распознано: от куратора ЦУР." in visible_text(question)


async def test_the_original_deleted_before_the_press(h: Harness) -> None:
    msg, question = await post(h, PIT)
    h.emu.user_deletes(INTAKE, msg.message_id)
    assert await choose(h, question, "ВКонтакте") == texts.INTAKE_ORIGINAL_GONE
    assert await cases(h) == []
    assert visible_text(h.emu.message(INTAKE, question.message_id)) == texts.INTAKE_ORIGINAL_GONE


async def test_a_link_is_recognised_but_still_asked(h: Harness) -> None:
    text = f"{PIT}\nhttps://ok.ru/group/5512/topic/77, автор пишет третий раз\nАвтор: Мария Петрова"
    _msg, question = await post(h, text)
    assert labels(question)[0] == "✅ Одноклассники"
    assert "Распознано: Одноклассники — по ссылке в тексте." in visible_text(question)
    await choose(h, question, "✅ Одноклассники")
    stored = await message_of(h, 1)
    assert (stored.network, stored.link, stored.author) == (
        Network.OK, "https://ok.ru/group/5512/topic/77", "Мария Петрова",
    )  # fmt: skip


async def test_forwards_from_a_channel_and_from_the_curator(h: Harness) -> None:
    channel = {
        "type": "channel",
        "date": int(MONDAY_10.timestamp()) - 600,
        "chat": {"id": -100777, "type": "channel", "title": "Северный район", "username": "severny"},
        "message_id": 321,
    }
    _msg, question = await post(h, PIT, forward_origin=channel)
    assert labels(question)[0] == "✅ Telegram"
    await choose(h, question, "✅ Telegram")
    stored = await message_of(h, 1)
    assert (stored.network, stored.link, stored.author) == (
        Network.TELEGRAM, "https://t.me/severny/321", "Северный район",
    )  # fmt: skip

    # The region curator's IM forwarded by the operator: ЦУР first; the curator is not the author.
    curator = {
        "type": "user",
        "date": int(MONDAY_10.timestamp()) - 300,
        "sender_user": {"id": CURATOR, "is_bot": False, "first_name": f"Имя{CURATOR}"},
    }
    _msg, question = await post(h, "Жители жалуются на мусор https://vk.com/wall-1_2", forward_origin=curator)
    assert labels(question)[0] == "✅ От ЦУР"
    await choose(h, question, "✅ От ЦУР")
    case, stored = await h.services.case(2), await message_of(h, 2)
    assert case.handed_over and (stored.network, stored.link, stored.author) == (
        Network.VK, "https://vk.com/wall-1_2", "",
    )  # fmt: skip
    assert "Источник: от куратора ЦУР, ВКонтакте" in visible_text(await h.card(INTAKE, 2))


async def test_an_im_card_with_its_detection_time_is_registered_at_once(h: Harness) -> None:
    card_text = f"Карточка инцидента ЦУР\n{PIT}\nВыявлено: 02.03.2026 09:40\nАвтор: Иван Сидоров"
    msg = await h.send(INTAKE, OPERATOR, card_text)
    answer = h.answer_to(msg)
    assert (
        visible_text(answer) == "Зарегистрировано: сообщение № 1 · от куратора ЦУР, выявлено 02.03.2026 09:40"
    )
    assert answer.buttons == []  # no question asked
    case = await h.services.case(1)
    assert (case.t0, case.received_at, case.handed_over, case.detection_stated) == (
        at(9, 40), MONDAY_10, True, True,
    )  # fmt: skip
    assert (await message_of(h, 1)).author == "Иван Сидоров"
    shown = visible_text(await h.card(INTAKE, 1))
    assert (
        "Выявлено ЦУР: 02.03.2026 09:40" in shown and "Поступило в администрацию: 02.03.2026 10:00" in shown
    )
    assert (await open_terms(h, 1))["os.route"].due == at(10, 40)


async def test_an_im_card_with_an_impossible_detection_time_asks(h: Harness) -> None:
    """A card «detected» after it was posted: not taken; the question says why and «От ЦУР» asks the time."""
    msg = await h.send(INTAKE, OPERATOR, f"{PIT}\nВыявлено: 02.03.2026 11:00")
    question = h.answer_to(msg)
    assert "Время выявления в карточке ЦУР не принято: Время выявления ЦУР не может быть позже" in (
        visible_text(question)
    )
    assert await cases(h) == []
    await choose(h, question, "От ЦУР")
    assert (await h.services.case(1)).t0 == MONDAY_10
    assert texts.INTAKE_ASK_DETECTED in now_text(h, question)


async def handed_over(h: Harness) -> tuple[int, ChatMessage]:
    """«От ЦУР» on a message without a «Выявлено» line: registered at the post time, the prompt asked."""
    _msg, question = await post(h, PIT)
    await choose(h, question, "От ЦУР")
    prompt = h.emu.message(INTAKE, question.message_id)
    assert visible_text(prompt) == (
        f"Зарегистрировано: сообщение № 1 · от куратора ЦУР (Сотрудник {OPERATOR})\n{texts.INTAKE_ASK_DETECTED}"
    )
    assert labels(prompt) == ["Как в сообщении: 10:00"]
    return 1, prompt


async def test_the_detection_time_moves_t0_and_the_terms(h: Harness) -> None:
    case_id, prompt = await handed_over(h)
    case = await h.services.case(case_id)
    assert (case.t0, case.handed_over, case.detection_stated) == (MONDAY_10, True, False)
    before = await open_terms(h, case_id)
    assert {t: before[t].due for t in before} == {
        "os.return": at(10, 30), "os.route": at(11, 0), "os.publish": at(11, 0, day=3), "os.draft": at(9, 0, day=3),
    }  # fmt: skip

    h.clock.advance(timedelta(minutes=5))
    await h.send(INTAKE, CURATOR, "09:20", reply_to=prompt.message_id)
    case = await h.services.case(case_id)
    assert (case.t0, case.received_at, case.detection_stated) == (at(9, 20), MONDAY_10, True)
    after = await open_terms(h, case_id)
    assert {t: (after[t].started_at, after[t].due) for t in after} == {
        "os.return": (at(9, 20), at(9, 50)),
        "os.route": (at(9, 20), at(10, 20)),
        "os.publish": (at(9, 20), at(10, 20, day=3)),
        "os.draft": (at(9, 20), at(17, 20)),
    }
    assert {t.id for t in after.values()} == {t.id for t in before.values()}  # the same rows, moved
    edited = h.emu.message(INTAKE, prompt.message_id)
    assert visible_text(edited).endswith(f"Выявлено ЦУР: 02.03.2026 09:20 (Сотрудник {CURATOR})")
    assert edited.buttons == []
    shown = visible_text(await h.card(INTAKE, case_id))
    assert (
        "Выявлено ЦУР: 02.03.2026 09:20" in shown and "Поступило в администрацию: 02.03.2026 10:00" in shown
    )
    events = await h.services.card_view(case_id)
    assert events.events[-1].action == "set_detected"

    # Stated once: a second answer says so and changes nothing.
    version = case.version
    await h.send(INTAKE, OPERATOR, "09:00", reply_to=prompt.message_id)
    assert h.texts(INTAKE)[-1] == "Время выявления ЦУР уже указано: 02.03.2026 09:20"
    assert (await h.services.case(case_id)).version == version

    # The sweeper alerts from the new due: os.route missed at 10:20, not 11:00.
    h.clock.set(at(10, 21))
    missed = [n for n in await h.services.sweep() if n.kind == "missed"]
    assert {n.term_id for n in missed} == {"os.route"}


@pytest.mark.parametrize(
    ("answer", "refusal"),
    [
        ("10:30", "Время выявления ЦУР не может быть позже текущего момента"),
        ("вчера утром", texts.INTAKE_BAD_DETECTED),
        ("25:61", texts.INTAKE_BAD_DETECTED),
        ("31.02 09:00", texts.INTAKE_BAD_DETECTED),
        ("０９:２０", texts.INTAKE_BAD_DETECTED),
        ("9" * 10_000, texts.INTAKE_BAD_DETECTED),
        ("01.01.1999 10:00", "Дата сообщения не может быть раньше 01.01.2000: проверьте год"),
    ],
)
async def test_bad_detection_times_are_refused_in_one_line(h: Harness, answer: str, refusal: str) -> None:
    case_id, prompt = await handed_over(h)
    version = (await h.services.case(case_id)).version
    terms = await open_terms(h, case_id)
    before = len(h.emu.sent(INTAKE))
    await h.send(INTAKE, OPERATOR, answer, reply_to=prompt.message_id)
    assert h.texts(INTAKE)[before:] == [refusal]
    case = await h.services.case(case_id)
    assert (case.version, case.t0, case.detection_stated) == (version, MONDAY_10, False)
    assert await open_terms(h, case_id) == terms
    assert labels(h.emu.message(INTAKE, prompt.message_id)) == ["Как в сообщении: 10:00"]  # still asks


async def test_a_detection_time_after_the_post(h: Harness) -> None:
    case_id, prompt = await handed_over(h)
    h.clock.set(at(11, 0))
    await h.send(INTAKE, OPERATOR, "02.03 10:30", reply_to=prompt.message_id)
    assert (
        h.texts(INTAKE)[-1] == "Время выявления ЦУР не может быть позже поступления сообщения в администрацию"
    )
    assert (await h.services.case(case_id)).t0 == MONDAY_10
    await h.send(
        INTAKE, OPERATOR, "02.03.2026 10:01", reply_to=prompt.message_id
    )  # within the minute's leeway
    assert (await h.services.case(case_id)).t0 == at(10, 1)


async def test_as_posted_states_the_post_time(h: Harness) -> None:
    case_id, prompt = await handed_over(h)
    data = button(prompt, "Как в сообщении: 10:00")
    assert await h.press(INTAKE, OPERATOR, prompt.message_id, data) == texts.DONE_BY_ACTION["set_detected"]
    case = await h.services.case(case_id)
    assert (case.t0, case.received_at, case.detection_stated) == (MONDAY_10, None, True)
    assert (await open_terms(h, case_id))["os.route"].due == at(11, 0)
    edited = h.emu.message(INTAKE, prompt.message_id)
    assert visible_text(edited).endswith(f"Выявлено ЦУР: 02.03.2026 10:00 (Сотрудник {OPERATOR})")
    assert edited.buttons == []
    assert await h.press(INTAKE, OPERATOR, prompt.message_id, data) == (
        "Время выявления ЦУР уже указано: 02.03.2026 10:00"
    )
    assert "Выявлено ЦУР" not in visible_text(await h.card(INTAKE, case_id))  # the same instant: one line


async def test_no_detection_time_once_routed(h: Harness) -> None:
    case_id, prompt = await handed_over(h)
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, h.rules.units["housing"]))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_DONE))
    office = await h.card(OFFICE, case_id)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    version = (await h.services.case(case_id)).version
    await h.send(INTAKE, OPERATOR, "09:20", reply_to=prompt.message_id)
    assert h.texts(INTAKE)[-1].startswith("Время выявления ЦУР уже не изменить")
    assert (await h.services.case(case_id)).version == version
