"""The /pos dialogue's ПОС due date (typed, «Не указан», from a pasted notice) and /cancel for every dialogue:
the registration, a reason prompt and a link prompt. Through the real Dispatcher on the emulator."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from emulators.telegram import visible_text
from tests.handlers.conftest import (
    CURATOR,
    HOUSING_CHAT,
    HOUSING_MAN,
    INTAKE,
    NSK,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    POS_CHAT,
    POS_CURATOR,
    REGION,
    Harness,
    button,
    labels,
)
from views import texts
from workflow.lifecycle import Status

RECEIVED = "02.03.2026 09:30"  # a Monday; local_fast: the Порядок's 14 days end Mon 16.03.2026 18:00
BY_RULES = datetime(2026, 3, 16, 18, 0, tzinfo=NSK)


async def to_due_step(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    await h.send(POS_CHAT, POS_CURATOR, "12345678")
    ask = h.emu.sent(POS_CHAT)[-1]
    await h.press(POS_CHAT, POS_CURATOR, ask.message_id, button(ask, h.rules.categories["local_fast"].title))
    await h.send(POS_CHAT, POS_CURATOR, RECEIVED)
    ask = h.emu.sent(POS_CHAT)[-1]
    assert visible_text(ask) == texts.POS_ASK_DUE
    assert labels(ask) == [texts.BTN_POS_NO_DUE]


async def pos_answer_due(h: Harness, case_id: int) -> datetime:
    async with h.repo.transaction() as tx:
        return {t.term_id: t.due for t in await tx.terms(case_id)}["pos.answer"]


async def no_cases(h: Harness) -> bool:
    async with h.repo.transaction() as tx:
        return await tx.cases(open_only=False) == []


# --- the due date in the dialogue -----------------------------------------------------------------------------


async def test_a_stricter_pos_due_date_wins_and_the_card_shows_both(h: Harness) -> None:
    await to_due_step(h)
    await h.send(POS_CHAT, POS_CURATOR, "10.03.2026")
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_TEXT
    await h.send(POS_CHAT, POS_CURATOR, "Не вывозят мусор")
    assert texts.REGISTERED.format(case_id=1) in h.texts(POS_CHAT)
    case = await h.services.case(1)
    assert (case.pos_due, case.rules_answer_due) == (date(2026, 3, 10), BY_RULES)
    # ПОС's date is earlier: the stored term falls due at the close of 10.03, not on the Порядок's 16.03.
    assert await pos_answer_due(h, 1) == datetime(2026, 3, 10, 18, 0, tzinfo=NSK)
    card = visible_text(await h.card(POS_CHAT, 1))
    assert "Срок ответа по данным ПОС: 10.03.2026; по Порядку: 16.03.2026 18:00" in card
    assert "до 10.03 18:00" in card  # the term line on the card is the stricter one (NOTIFY: short due times)


async def test_a_later_pos_due_date_leaves_the_rules_term(h: Harness) -> None:
    await to_due_step(h)
    await h.send(POS_CHAT, POS_CURATOR, "2026-03-20")  # ISO is read too
    await h.send(POS_CHAT, POS_CURATOR, "Не вывозят мусор")
    assert (await h.services.case(1)).pos_due == date(2026, 3, 20)
    assert await pos_answer_due(h, 1) == BY_RULES
    assert "Срок ответа по данным ПОС: 20.03.2026; по Порядку: 16.03.2026 18:00" in visible_text(
        await h.card(POS_CHAT, 1)
    )


async def test_no_due_date_typed_or_pressed_registers_without_one(h: Harness) -> None:
    await to_due_step(h)
    await h.send(POS_CHAT, POS_CURATOR, "не указан")
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_TEXT
    await h.send(POS_CHAT, POS_CURATOR, "Не вывозят мусор")
    case = await h.services.case(1)
    assert (case.pos_due, case.rules_answer_due) == (None, None)
    assert await pos_answer_due(h, 1) == BY_RULES
    assert "по данным ПОС" not in visible_text(await h.card(POS_CHAT, 1))


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        ("01.03.2026", "Срок ответа по данным ПОС не может быть раньше даты поступления сообщения"),
        ("завтра", texts.POS_BAD_DUE),
        ("１０.０３.２０２６", texts.POS_BAD_DUE),
        ("31.02.2026", texts.POS_NO_SUCH_DATE.format(value="31.02.2026")),
        ("10.03.2101", texts.POS_DUE_BAD_YEAR.format(year=2101, first=1991, last=2100)),
        ("10.03.2027", "Срок ответа по данным ПОС не может быть позже чем через год после поступления"),
        ("Не вывозят мусор" * 700, texts.POS_BAD_DUE),
    ],
)
async def test_a_bad_due_date_is_one_line_and_the_step_is_asked_again(
    h: Harness, typed: str, refusal: str
) -> None:
    await to_due_step(h)
    sent = len(h.emu.sent(POS_CHAT))
    await h.send(POS_CHAT, POS_CURATOR, typed)
    [answer] = h.emu.sent(POS_CHAT)[sent:]
    assert visible_text(answer).startswith(refusal), visible_text(answer)
    assert visible_text(answer).endswith(texts.POS_DUE_AGAIN.strip())
    assert labels(answer) == [texts.BTN_POS_NO_DUE]  # asked again, with its button
    assert await no_cases(h)
    # Still at the step: the button on the new question goes on to the text.
    assert await h.press(POS_CHAT, POS_CURATOR, answer.message_id, button(answer, texts.BTN_POS_NO_DUE)) == (
        texts.POS_NO_DUE_CHOSEN
    )
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_TEXT
    assert await no_cases(h)


# --- the due date in a pasted notice ----------------------------------------------------------------------------


def notice(*lines: str) -> str:
    return "\n".join(
        ["Сообщение № 87654321", "Категория: Прочие категории", *lines, "Текст: Не вывозят мусор"]
    )


async def test_a_notice_with_a_due_line_registers_with_it(h: Harness) -> None:
    # The due line comes first and carries a time: the arrival is still the «Дата поступления» line's.
    await h.send(
        POS_CHAT, POS_CURATOR, notice("Срок ответа: 10.03.2026 18:00", "Дата поступления: 02.03.2026 09:00")
    )
    assert texts.REGISTERED.format(case_id=1) in h.texts(POS_CHAT)
    case = await h.services.case(1)
    assert case.pos_due == date(2026, 3, 10)
    assert case.t0 == datetime(2026, 3, 2, 9, 0, tzinfo=NSK)
    message = await h.services.card_view(1)
    assert message.message is not None and message.message.text == "Не вывозят мусор"


async def test_a_notice_with_krayniy_srok_and_without_a_due_line(h: Harness) -> None:
    await h.send(
        POS_CHAT, POS_CURATOR, notice("Дата поступления: 02.03.2026 09:00", "Крайний срок: 05.03.2026")
    )
    assert (await h.services.case(1)).pos_due == date(2026, 3, 5)
    # No due line: ПОС shows none, nothing is asked, registered at once.
    text = notice("Дата поступления: 02.03.2026 09:00").replace("87654321", "87654322")
    await h.send(POS_CHAT, POS_CURATOR, text)
    assert texts.REGISTERED.format(case_id=2) in h.texts(POS_CHAT)
    assert (await h.services.case(2)).pos_due is None


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        ("Срок ответа: скоро", texts.POS_BAD_DUE),
        ("Срок ответа: 30.02.2026", texts.POS_NO_SUCH_DATE.format(value="30.02.2026")),
        (
            "Срок ответа: 01.03.2026",
            "Срок ответа по данным ПОС не может быть раньше даты поступления сообщения",
        ),
    ],
)
async def test_a_notice_with_a_bad_due_line_asks_for_the_due_date(
    h: Harness, line: str, refusal: str
) -> None:
    sent = len(h.emu.sent(POS_CHAT))
    await h.send(POS_CHAT, POS_CURATOR, notice("Дата поступления: 02.03.2026 09:00", line))
    said = [visible_text(m) for m in h.emu.sent(POS_CHAT)[sent:]]
    assert said == [refusal, texts.POS_ASK_DUE]
    assert await no_cases(h)
    await h.send(POS_CHAT, POS_CURATOR, "06.03.2026")
    assert texts.REGISTERED.format(case_id=1) in h.texts(POS_CHAT)
    assert (await h.services.case(1)).pos_due == date(2026, 3, 6)


async def test_a_notice_due_date_before_the_arrival_typed_later_is_asked_again(h: Harness) -> None:
    # The notice has a due date but no arrival; the arrival typed later is after it: the due date is asked again.
    await h.send(POS_CHAT, POS_CURATOR, notice("Срок ответа: 03.03.2026"))
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_RECEIVED
    h.clock.set(datetime(2026, 3, 5, 10, 0, tzinfo=NSK))
    await h.send(POS_CHAT, POS_CURATOR, "04.03.2026 09:00")
    assert h.texts(POS_CHAT)[-2:] == [
        "Срок ответа по данным ПОС не может быть раньше даты поступления сообщения",
        texts.POS_ASK_DUE,
    ]
    assert await no_cases(h)


# --- /cancel ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/cancel", "/Cancel", "/CANCEL", "/cancel@otklik_bot"])
async def test_cancel_at_every_step_is_never_an_answer(h: Harness, command: str) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    prompt = h.emu.sent(POS_CHAT)[-1]
    await h.send(POS_CHAT, POS_CURATOR, command)
    assert h.texts(POS_CHAT)[-1] == texts.POS_CANCEL
    # A late reply to its prompt: told it was cancelled, not taken as the number.
    await h.send(POS_CHAT, POS_CURATOR, "12345678", reply_to=prompt.message_id)
    assert h.texts(POS_CHAT)[-1] == texts.POS_CANCELLED_BEFORE
    await to_due_step(h)
    await h.send(POS_CHAT, POS_CURATOR, command)
    assert h.texts(POS_CHAT)[-1] == texts.POS_CANCEL
    await h.send(POS_CHAT, POS_CURATOR, command)
    assert h.texts(POS_CHAT)[-1] == texts.NOTHING_TO_CANCEL == "Нечего отменять."
    assert await no_cases(h)


async def test_other_commands_inside_the_dialogue_are_not_answers(h: Harness) -> None:
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    for step_answer in ("12345678", None, RECEIVED, "10.03.2026"):
        for command in ("/foo", "/Pos_x 12345678", "/12345678"):
            await h.send(POS_CHAT, POS_CURATOR, command)
            assert h.texts(POS_CHAT)[-1] == texts.POS_COMMAND_IN_DIALOGUE
        sent = len(h.emu.sent(POS_CHAT))
        await h.send(POS_CHAT, POS_CURATOR, "/start@other_bot")  # another bot's command: silence
        assert len(h.emu.sent(POS_CHAT)) == sent
        if step_answer is None:
            ask = next(m for m in reversed(h.emu.sent(POS_CHAT)) if visible_text(m) == texts.POS_ASK_CATEGORY)
            title = h.rules.categories["local_fast"].title
            await h.press(POS_CHAT, POS_CURATOR, ask.message_id, button(ask, title))
        else:
            await h.send(POS_CHAT, POS_CURATOR, step_answer)
    assert h.texts(POS_CHAT)[-1] == texts.POS_ASK_TEXT
    await h.send(POS_CHAT, POS_CURATOR, "/foo")
    assert h.texts(POS_CHAT)[-1] == texts.POS_COMMAND_IN_DIALOGUE
    assert await no_cases(h)
    await h.send(POS_CHAT, POS_CURATOR, "Не вывозят мусор")
    case = await h.services.case(1)
    assert case.pos_due == date(2026, 3, 10)
    message = (await h.services.card_view(1)).message
    assert message is not None and message.external_number == "12345678"


async def to_approval(h: Harness) -> int:
    assert await h.intake("Яма на дороге у школы") == 1  # INTAKE: registered once its network is chosen
    card = await h.card(INTAKE, 1)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, h.rules.units["housing"]))
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_DONE))
    office = await h.card(OFFICE, 1)
    await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    unit_card = await h.card(HOUSING_CHAT, 1)
    await h.send(HOUSING_CHAT, HOUSING_MAN, "Ремонт 5 марта", reply_to=unit_card.message_id)
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Ремонт 5 марта.", reply_to=card.message_id)
    assert (await h.services.case(1)).status == Status.ON_APPROVAL
    return 1


async def test_cancel_ends_a_rework_reason_prompt(h: Harness) -> None:
    case_id = await to_approval(h)
    region = await h.card(REGION, case_id)
    await h.press(REGION, CURATOR, region.message_id, button(region, texts.BTN_REWORK))
    prompt = h.emu.sent(REGION)[-1]
    assert texts.PROMPT_REASON in visible_text(prompt)
    # Someone else's /cancel in the chat does not end the curator's prompt.
    await h.send(REGION, OFFICE_HEAD, "/cancel")
    assert h.texts(REGION)[-1] == texts.NOTHING_TO_CANCEL
    await h.send(REGION, CURATOR, "/cancel", reply_to=prompt.message_id)
    what = texts.PROMPT_CANCELLED_DONE.format(what="Вернуть на доработку", case_id=case_id)
    assert h.texts(REGION)[-1] == what, h.texts(REGION)[-1]
    version = (await h.services.case(case_id)).version
    await h.send(REGION, CURATOR, "Нет срока ремонта", reply_to=prompt.message_id)
    assert h.texts(REGION)[-1] == texts.PROMPT_CANCELLED
    case = await h.services.case(case_id)
    assert (case.status, case.version, case.rework_reason) == (Status.ON_APPROVAL, version, "")
    await h.send(REGION, CURATOR, "/cancel")
    assert h.texts(REGION)[-1] == texts.NOTHING_TO_CANCEL
    # The button asks again, and the new prompt works.
    await h.press(REGION, CURATOR, region.message_id, button(region, texts.BTN_REWORK))
    fresh = h.emu.sent(REGION)[-1]
    await h.send(REGION, CURATOR, "Нет срока ремонта", reply_to=fresh.message_id)
    assert (await h.services.case(case_id)).status == Status.REWORK


async def test_cancel_ends_a_link_prompt_and_its_no_link_button(h: Harness) -> None:
    case_id = await to_approval(h)
    region = await h.card(REGION, case_id)
    await h.press(REGION, CURATOR, region.message_id, button(region, texts.BTN_APPROVE))
    card = await h.card(INTAKE, case_id)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_PUBLISH))
    link_prompt = next(m for m in reversed(h.emu.sent(INTAKE)) if texts.PROMPT_LINK_ASK in visible_text(m))
    no_link = button(link_prompt, texts.BTN_NO_LINK)
    await h.send(INTAKE, OPERATOR, "/cancel")
    assert h.texts(INTAKE)[-1].startswith("Отменено: «")
    assert f"№ {case_id}" in h.texts(INTAKE)[-1]
    assert h.emu.message(INTAKE, link_prompt.message_id).buttons == []  # «Без ссылки» is gone
    assert await h.press(INTAKE, OPERATOR, link_prompt.message_id, no_link) == texts.PROMPT_CANCELLED
    await h.send(INTAKE, OPERATOR, "https://vk.com/wall-1_2", reply_to=link_prompt.message_id)
    assert h.texts(INTAKE)[-1] == texts.PROMPT_CANCELLED
    assert (await h.services.case(case_id)).status == Status.APPROVED


async def test_one_cancel_ends_the_registration_and_a_prompt_together(h: Harness) -> None:
    """The ПОС curator has a registration under way and a reason prompt open in the same chat."""
    await h.send(POS_CHAT, POS_CURATOR, notice("Дата поступления: 02.03.2026 09:00"))
    card = await h.card(POS_CHAT, 1)
    await h.press(POS_CHAT, POS_CURATOR, card.message_id, button(card, texts.BTN_EXCLUDE_POS))
    prompt = h.emu.sent(POS_CHAT)[-1]
    assert texts.PROMPT_REASON in visible_text(prompt)
    await h.send(POS_CHAT, POS_CURATOR, "/pos")
    await h.send(POS_CHAT, POS_CURATOR, "/cancel")
    said = h.texts(POS_CHAT)[-1].split("\n")
    assert said[0] == texts.POS_CANCEL
    assert said[1].startswith("Отменено: «") and "№ 1" in said[1]
    assert (await h.services.case(1)).status == Status.NEW
