"""Replies land and files travel (issue 10, items 3 and 4), through real long polling against the emulator:
a unit answers by replying to the notice (not the card) with a photo; the photo reaches the operator and, with
the draft, the region curator's chat as a photo (the same bytes), before anyone approves; on both messengers."""

from __future__ import annotations

from emulators.staff import StaffMessage, visible_text
from tests.e2e.conftest import (
    HOUSING,
    HOUSING_CHAT,
    INTAKE_CHAT,
    OPERATOR,
    REGION_CHAT,
    World,
)

INFO = "Свет дадут к 15:00, фото с подстанции прилагаем."
DRAFT = "Здравствуйте! Электроснабжение восстановят к 15:00."
PHOTO = b"\xff\xd8 substation"


async def test_a_photo_given_by_reply_to_a_notice_reaches_the_curator(world: World) -> None:
    w = world
    await w.start()
    case = await w.register_os("Нет света на ул. Мира второй день")
    await w.route_os(case, "housing")

    # The unit replies to a notice under the card, not to the card, with a photo and a caption. The card just
    # posted for the routing is its own notice (NOTIFY): the notice is the reminder of the unit's term.
    card = w.card(HOUSING_CHAT, case)
    for hour in range(10, 18):
        if w.notes(HOUSING_CHAT, case):
            break
        await w.at(w.local(hour, 0))
    notices = [n for n in w.notes(HOUSING_CHAT, case) if n.message_id != card.message_id]
    assert notices, "no notice about the case in the unit chat"
    target = w.emu.message(HOUSING_CHAT, notices[-1].message_id)
    msg = w.emu.push_message(HOUSING_CHAT, HOUSING.user_id, INFO, reply_to_message_id=target.message_id,
                             photo=PHOTO)  # fmt: skip
    answer = await w.wait(lambda: w.bot_replies_to(HOUSING_CHAT, msg.message_id), "the bot's answer")
    await w.settle()
    assert visible_text(answer[0]) == "Информация направлена"
    assert any(e.action == "info" and e.text == INFO for e in await w.events(case))

    # The operator gets the photo itself (Telegram: by the same file id; MAX: fetched and uploaded again).
    def photos(chat_id: int) -> list[tuple[StaffMessage, bytes]]:
        return [(m, f.data) for m in w.emu.sent(chat_id) for f in w.emu.files_of(m) if f.kind == "photo"]

    await w.wait(lambda: photos(INTAKE_CHAT), "the photo in the intake chat")
    assert [data for _, data in photos(INTAKE_CHAT)] == [PHOTO]

    # The draft: the curator sees the unit's photo with it, as a photo, before approving.
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, DRAFT) == "Проект направлен на согласование"
    await w.wait(lambda: photos(REGION_CHAT), "the photo in the curator's chat")
    region_photos = photos(REGION_CHAT)
    assert [data for _, data in region_photos] == [PHOTO]
    calls = w.emu.calls_of("send_file")  # MAX's uploads name no chat: every file request, all answered 200
    assert calls and all(c.status == 200 for c in calls)
    first = region_photos[0][0]
    notice = w.emu.message(REGION_CHAT, first.reply_to_message_id or 0)
    assert "Проект ответа на согласование" in visible_text(notice)
    assert (await w.app.services.case(case)).status == "on_approval"
