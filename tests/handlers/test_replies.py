"""Replies land (issue 10, item 3) and files travel (item 4), through the real Dispatcher and the emulator.

A reply to any bot message about a case (a reminder, a notice, a one-off card) counts as a reply to its card;
a reply about a case the person may not see is refused; a plain message in a unit chat is asked «К какому
сообщению?» with a button per open case; a unit's photo reaches the operator and the curator as a photo.
"""

from __future__ import annotations

from datetime import timedelta

from emulators.telegram import ChatMessage, visible_text
from tests.handlers.conftest import (
    CURATOR,
    EDUCATION_CHAT,
    EDUCATION_MAN,
    HOUSING_CHAT,
    HOUSING_MAN,
    INTAKE,
    OFFICE,
    OFFICE_HEAD,
    OPERATOR,
    REGION,
    Harness,
    button,
    labels,
)
from tests.handlers.test_flows import register_os, route_to
from views import texts
from views.callbacks import WhichCaseCb
from workflow.lifecycle import Status

LIGHT = "Свет дадут к 15:00"


async def routed_to_housing(h: Harness, text: str = "Нет света на ул. Мира") -> int:
    """An open-sources case routed to housing with the office head's approval: it waits for housing's info."""
    case_id = await register_os(h, text)
    await route_to(h, case_id, h.rules.units["housing"])
    office = await h.card(OFFICE, case_id)
    assert await h.press(OFFICE, OFFICE_HEAD, office.message_id, button(office, texts.BTN_APPROVE_ROUTING))
    assert (await h.services.case(case_id)).status == Status.IN_UNITS
    return case_id


async def send(h: Harness, chat_id: int, user_id: int, text: str | None = None, **kw: object) -> ChatMessage:
    """A user's message with anything the emulator takes (a photo or document by bytes or file id, a reply)."""
    msg = h.emu.push_message(chat_id, user_id, text, **kw)  # type: ignore[arg-type]
    await h._feed(h.emu.pending_updates[-1])
    return msg


async def reminder_in(h: Harness, chat_id: int, case_id: int) -> ChatMessage:
    """Let time pass (fake clock) until a reminder about the case reaches the chat."""
    for _ in range(40):
        found = [
            m for m in h.emu.sent(chat_id) if "⏰" in visible_text(m) and f"№ {case_id}" in visible_text(m)
        ]
        if found:
            return found[-1]
        h.clock.advance(timedelta(minutes=15))
        await h.services.sweep()
        await h.delivery.settle()
    raise AssertionError("no reminder reached the chat")


def info_events(events: list[object]) -> int:
    return sum(1 for e in events if getattr(e, "action", "") == "info")


# --- a reply to any bot message about a case ------------------------------------------------------------------


async def test_a_reply_to_a_reminder_lands_on_its_case(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    reminder = await reminder_in(h, HOUSING_CHAT, case_id)
    card = await h.card(HOUSING_CHAT, case_id)
    assert reminder.message_id != card.message_id

    await h.send(HOUSING_CHAT, HOUSING_MAN, LIGHT, reply_to=reminder.message_id)

    assert h.texts(HOUSING_CHAT)[-1] == "Информация направлена"
    case = await h.services.case(case_id)
    assert case.assignments[0].info_given
    view = await h.services.card_view(case_id)
    assert [e.text for e in view.events if e.action == "info"] == [LIGHT]
    # The unit's term is met, not reported missed later.
    assert all(t.term_id != "os.unit_info" for t in view.open_terms)
    # The operator got the information under the intake card.
    assert any(LIGHT in t for t in h.texts(INTAKE))


async def test_a_reply_to_a_notice_lands_on_its_case(h: Harness) -> None:
    """Whatever notice the unit chat holds about the case (not its card), a reply to it is a reply to the card."""
    case_id = await routed_to_housing(h)
    card = await h.card(HOUSING_CHAT, case_id)
    notices = [m for m in h.emu.sent(HOUSING_CHAT) if m.message_id != card.message_id]
    if not notices:  # no notice goes with the card: a reminder is one
        notices = [await reminder_in(h, HOUSING_CHAT, case_id)]
    await h.send(HOUSING_CHAT, HOUSING_MAN, LIGHT, reply_to=notices[0].message_id)
    assert (await h.services.case(case_id)).assignments[0].info_given


async def test_a_reply_to_the_one_off_card_of_case_command_lands(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    before = len(h.emu.sent(HOUSING_CHAT))
    await h.send(HOUSING_CHAT, HOUSING_MAN, f"/case {case_id}")
    answered = h.emu.sent(HOUSING_CHAT)[before:]  # the card's copy, then its history («История сообщения …»)
    copy = next(m for m in answered if visible_text(m).startswith(f"Сообщение № {case_id}"))
    assert copy.message_id != (await h.card(HOUSING_CHAT, case_id)).message_id
    await h.send(HOUSING_CHAT, HOUSING_MAN, LIGHT, reply_to=copy.message_id)
    assert (await h.services.case(case_id)).assignments[0].info_given


async def test_a_reply_about_a_case_of_another_unit_is_refused(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    reminder = await reminder_in(h, HOUSING_CHAT, case_id)
    before = await h.services.card_view(case_id)

    # An education official in the housing chat (a member of both chats, not of housing).
    await h.send(HOUSING_CHAT, EDUCATION_MAN, LIGHT, reply_to=reminder.message_id)

    assert h.texts(HOUSING_CHAT)[-1] == texts.REPLY_NOT_VISIBLE.format(case_id=case_id)
    after = await h.services.card_view(case_id)
    assert (after.case.version, len(after.events)) == (before.case.version, len(before.events))


async def test_a_reply_to_a_bot_message_about_nothing_is_ignored(h: Harness) -> None:
    await h.send(EDUCATION_CHAT, EDUCATION_MAN, "/id")
    answers = h.emu.sent(EDUCATION_CHAT)
    if not answers:
        return  # /id not answered in this build: nothing to reply to
    count = len(answers)
    await h.send(EDUCATION_CHAT, EDUCATION_MAN, LIGHT, reply_to=answers[-1].message_id)
    assert len(h.emu.sent(EDUCATION_CHAT)) == count


# --- «К какому сообщению?» -------------------------------------------------------------------------------------


async def test_a_plain_message_asks_which_case_and_the_authors_press_applies_it(h: Harness) -> None:
    first = await routed_to_housing(h, "Нет света на ул. Мира, дом 5, второй день подряд")
    h.clock.advance(timedelta(minutes=5))
    second = await routed_to_housing(h, "Яма у школы")

    plain = await h.send(HOUSING_CHAT, HOUSING_MAN, LIGHT)

    question = h.emu.sent(HOUSING_CHAT)[-1]
    assert visible_text(question) == texts.WHICH_CASE
    assert question.reply_to_message_id == plain.message_id
    # Nearest due first, one button each, the text cut short.
    assert labels(question) == [
        f"№ {first} — Нет света на ул. Мира, дом 5, второй де…",
        f"№ {second} — Яма у школы",
    ]
    choose_second = button(question, f"№ {second} — Яма у школы")

    # Someone else in the chat may not choose for the author.
    answer = await h.press(HOUSING_CHAT, OPERATOR, question.message_id, choose_second)
    assert answer == texts.WHICH_NOT_AUTHOR
    assert not (await h.services.case(second)).assignments[0].info_given

    answer = await h.press(HOUSING_CHAT, HOUSING_MAN, question.message_id, choose_second)
    assert answer == "Информация направлена"
    assert (await h.services.case(second)).assignments[0].info_given
    assert not (await h.services.case(first)).assignments[0].info_given
    view = await h.services.card_view(second)
    assert [e.text for e in view.events if e.action == "info"] == [LIGHT]
    question = h.emu.message(HOUSING_CHAT, question.message_id)
    assert visible_text(question) == texts.WHICH_APPLIED.format(case_id=second)
    assert question.buttons == []

    # A second press (an old client, a double tap) changes nothing.
    assert await h.press(HOUSING_CHAT, HOUSING_MAN, question.message_id, choose_second) == texts.WHICH_ALREADY
    choose_first = WhichCaseCb(case_id=first).pack()
    assert await h.press(HOUSING_CHAT, HOUSING_MAN, question.message_id, choose_first) == texts.WHICH_ALREADY
    assert info_events((await h.services.card_view(second)).events) == 1
    assert not (await h.services.case(first)).assignments[0].info_given


async def test_a_forged_case_in_the_question_is_refused(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    elsewhere = await register_os(h, "Не относится к ЖКХ")  # not routed: housing may not see it
    await h.send(HOUSING_CHAT, HOUSING_MAN, LIGHT)
    question = h.emu.sent(HOUSING_CHAT)[-1]
    assert labels(question) == [f"№ {case_id} — Нет света на ул. Мира"]

    for forged in (WhichCaseCb(case_id=elsewhere).pack(), "w1:999999", "w1:9223372036854775808", "w1:x"):
        answer = await h.press(HOUSING_CHAT, HOUSING_MAN, question.message_id, forged)
        assert answer in (texts.WHICH_NOT_OFFERED, texts.UNKNOWN_BUTTON), forged
    assert (await h.services.card_view(elsewhere)).events[-1].action != "info"
    assert not (await h.services.case(case_id)).assignments[0].info_given
    assert h.emu.message(HOUSING_CHAT, question.message_id).buttons  # the question still stands


async def test_no_open_case_or_a_work_chat_stays_silent(h: Harness) -> None:
    await routed_to_housing(h)
    # Education has nothing open: chatter in its chat gets no question.
    await h.send(EDUCATION_CHAT, EDUCATION_MAN, "Коллеги, я на обеде до 14:00")
    assert h.emu.sent(EDUCATION_CHAT) == []
    # The curator's chat and the office head's chat are not unit chats.
    before = {chat: len(h.emu.sent(chat)) for chat in (REGION, OFFICE)}
    await h.send(REGION, CURATOR, "Коллеги, добрый день")
    await h.send(OFFICE, OFFICE_HEAD, "Коллеги, добрый день")
    assert {chat: len(h.emu.sent(chat)) for chat in (REGION, OFFICE)} == before


async def test_the_question_with_the_original_deleted_says_so(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    plain = await h.send(HOUSING_CHAT, HOUSING_MAN, LIGHT)
    question = h.emu.sent(HOUSING_CHAT)[-1]
    h.emu.message(HOUSING_CHAT, plain.message_id).deleted = True  # the author deleted the message
    answer = await h.press(
        HOUSING_CHAT, HOUSING_MAN, question.message_id, button(question, labels(question)[0])
    )
    assert answer == texts.WHICH_GONE
    assert not (await h.services.case(case_id)).assignments[0].info_given


# --- files travel as media ---------------------------------------------------------------------------------------


async def test_a_units_photo_reaches_the_operator_and_the_curator_as_a_photo(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    card = await h.card(HOUSING_CHAT, case_id)
    reply = await send(h, HOUSING_CHAT, HOUSING_MAN, LIGHT, reply_to_message_id=card.message_id,
                       photo=b"\xff\xd8 photo of the repair")  # fmt: skip
    assert reply.photo is not None
    file_id = reply.photo[-1]["file_id"]
    assert h.texts(HOUSING_CHAT)[-1] == "Информация направлена"

    # The operator: the notice with the text, then the photo itself as a reply to it, by the same file id.
    intake = h.emu.sent(INTAKE)
    photos = [m for m in intake if m.photo is not None]
    assert [p.photo[-1]["file_id"] for p in photos if p.photo] == [file_id]
    notice = h.emu.message(INTAKE, photos[0].reply_to_message_id or 0)
    assert LIGHT in visible_text(notice)
    assert all("Вложений" not in visible_text(m) for m in intake)

    # A reply to the photo lands on the case too: the operator's draft.
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Свет дадут сегодня к 15:00.", reply_to=photos[0].message_id)
    assert (await h.services.case(case_id)).status == Status.ON_APPROVAL

    # The curator sees the unit's photo with the draft, before approving.
    region = h.emu.sent(REGION)
    region_photos = [m for m in region if m.photo is not None]
    assert [p.photo[-1]["file_id"] for p in region_photos if p.photo] == [file_id]
    draft_notice = h.emu.message(REGION, region_photos[0].reply_to_message_id or 0)
    assert "Проект ответа на согласование" in visible_text(draft_notice)
    assert (await h.services.case(case_id)).status == Status.ON_APPROVAL  # nothing approved by itself


async def test_a_plain_document_chosen_by_button_travels_as_a_document(h: Harness) -> None:
    case_id = await routed_to_housing(h)
    plain = await send(h, HOUSING_CHAT, HOUSING_MAN, "Акт осмотра", document=b"%PDF-1.4 act",
                       document_name="акт.pdf")  # fmt: skip
    assert plain.document is not None
    question = h.emu.sent(HOUSING_CHAT)[-1]
    assert visible_text(question) == texts.WHICH_CASE
    await h.press(HOUSING_CHAT, HOUSING_MAN, question.message_id, button(question, labels(question)[0]))
    assert (await h.services.case(case_id)).assignments[0].info_given
    documents = [m for m in h.emu.sent(INTAKE) if m.document is not None]
    assert [(d.document or {}).get("file_id") for d in documents] == [plain.document["file_id"]]
    assert (documents[0].document or {}).get("file_name") == "акт.pdf"


async def test_an_album_reaches_the_operator_as_an_album(h: Harness) -> None:
    """Files given one by one (an album's items each reply to the card) and a draft: the curator gets the
    unit's photos together, as one album (sendMediaGroup)."""
    case_id = await routed_to_housing(h)
    card = await h.card(HOUSING_CHAT, case_id)
    ids = []
    for number, caption in enumerate((LIGHT, None, None)):
        msg = await send(h, HOUSING_CHAT, HOUSING_MAN, caption, reply_to_message_id=card.message_id,
                         photo=f"photo {number}".encode(), media_group_id="album-1")  # fmt: skip
        assert msg.photo is not None
        ids.append(msg.photo[-1]["file_id"])
    intake_card = await h.card(INTAKE, case_id)
    await h.send(INTAKE, OPERATOR, "Здравствуйте! Свет дадут сегодня к 15:00.", reply_to=intake_card.message_id)
    album = [m for m in h.emu.sent(REGION) if m.photo is not None]
    assert [m.photo[-1]["file_id"] for m in album if m.photo] == ids
    assert len({m.media_group_id for m in album}) == 1 and album[0].media_group_id is not None
    assert h.emu.calls("sendMediaGroup")
