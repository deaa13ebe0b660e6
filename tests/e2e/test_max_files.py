"""Files with the staff on MAX (issue 15), end to end through the real handlers, MaxSession and aiogram against the
MAX emulator: a unit's photo given by a reply reaches the operator and the curator as a photo (uploaded to MAX
again, the same bytes), and /report brings its chart and workbook into the MAX dialog as files."""

from __future__ import annotations

import io

import openpyxl
import pytest

from emulators.max import MaxEmulator, MaxMessage
from tests.e2e.conftest import HOUSING, HOUSING_CHAT, INTAKE_CHAT, OFFICE_HEAD, OPERATOR, REGION_CHAT, World

pytestmark = pytest.mark.parametrize("messenger", ["max"], indirect=True)

INFO = "Свет дадут к 15:00, фото с подстанции прилагаем."
DRAFT = "Здравствуйте! Электроснабжение восстановят к 15:00."
PHOTO = b"\xff\xd8 substation"


def max_emu(world: World) -> MaxEmulator:
    assert isinstance(world.emu, MaxEmulator)
    return world.emu


def photos(emu: MaxEmulator, chat_id: int) -> list[MaxMessage]:
    return [m for m in emu.sent(chat_id) if any(f.type == "image" for f in m.files)]


async def test_a_units_photo_on_max_reaches_the_operator_and_the_curator(world: World) -> None:
    w = world
    emu = max_emu(w)
    await w.start()
    case = await w.register_os("Нет света на ул. Мира второй день")
    await w.route_os(case, "housing")
    card = w.card(HOUSING_CHAT, case)
    msg = emu.push_file(HOUSING_CHAT, HOUSING.user_id, "подстанция.jpg", PHOTO, kind="image", caption=INFO,
                        reply_to_message_id=card.message_id)  # fmt: skip
    await w.wait(lambda: w.bot_replies_to(HOUSING_CHAT, msg.message_id), "the bot's answer")
    await w.settle()
    assert any(e.action == "info" and e.text == INFO for e in await w.events(case))

    # The operator gets the photo itself: fetched from MAX by its URL and uploaded again, the same bytes.
    await w.wait(lambda: photos(emu, INTAKE_CHAT), "the photo in the intake chat")
    assert [f.data for m in photos(emu, INTAKE_CHAT) for f in m.files] == [PHOTO]

    # With the draft, the curator sees it too, before approving.
    assert await w.reply_to_card(INTAKE_CHAT, OPERATOR, case, DRAFT) == "Проект направлен на согласование"
    await w.wait(lambda: photos(emu, REGION_CHAT), "the photo in the curator's chat")
    assert [f.data for m in photos(emu, REGION_CHAT) for f in m.files] == [PHOTO]
    assert (await w.app.services.case(case)).status == "on_approval"


async def test_report_brings_its_chart_and_workbook_into_the_max_dialog(world: World) -> None:
    w = world
    emu = max_emu(w)
    await w.start()
    await w.register_os("Яма у дома 5 по ул. Ленина")
    emu.push_message(OFFICE_HEAD.user_id, OFFICE_HEAD.user_id, "/report неделя")

    def files() -> list[tuple[str, str, bytes]]:
        found = [(f.type, f.name, f.data) for m in emu.sent(OFFICE_HEAD.user_id) for f in m.files]
        return found if len(found) >= 2 else []

    (chart_type, chart_name, chart), (book_type, book_name, book) = await w.wait(
        files, "the report's two files"
    )
    assert (chart_type, book_type) == ("image", "file")
    assert chart_name.endswith(".png") and chart.startswith(b"\x89PNG")
    assert book_name.endswith(".xlsx") and openpyxl.load_workbook(io.BytesIO(book)).sheetnames
    assert not any("не передано" in m.plain_text for m in emu.sent(OFFICE_HEAD.user_id))
