"""The staff on MAX (issue 15): what only MAX's transport can get wrong, end to end through the real MaxSession and
aiogram against the MAX emulator — cards edited after a restart, an update redelivered after a kill, a forged
button payload, an update type Otklik does not handle, a text over MAX's 4,000 characters."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from emulators.max import MaxEmulator
from storage.tables import inbox
from tests.e2e.conftest import HOUSING_CHAT, INTAKE_CHAT, OFFICE_CHAT, OPERATOR, World
from views import texts

pytestmark = pytest.mark.parametrize("messenger", ["max"], indirect=True)


def max_emu(world: World) -> MaxEmulator:
    assert isinstance(world.emu, MaxEmulator)
    return world.emu


async def test_a_card_posted_before_a_restart_is_edited_after_it(world: World) -> None:
    w = world
    await w.start()
    case = await w.register_os("Пётр Смирнов: яма у дома 5 по ул. Ленина")
    card_id = w.card(INTAKE_CHAT, case).message_id
    await w.stop()  # nothing of the first run survives but the database (max_messages among it)

    await w.start()
    await w.at(w.local(9, 35))
    await w.route_os(case, "housing")
    card = w.card(INTAKE_CHAT, case)
    assert card.message_id == card_id and card.edits, "the card was not edited in place after the restart"
    assert w.cards(HOUSING_CHAT, case) and w.cards(OFFICE_CHAT, case)


async def test_an_update_redelivered_after_a_kill_becomes_one_case(world: World) -> None:
    w = world
    emu = max_emu(w)
    await w.start()
    position = emu.next_position
    msg = await w.write(INTAKE_CHAT, OPERATOR, "Мария Иванова: не вывозят мусор с ул. Мира")
    [question] = w.bot_replies_to(INTAKE_CHAT, msg.message_id)
    await w.crash()
    emu.rewind(position)  # as if the run died before its next poll confirmed the message
    assert len(emu.pending_updates) == 1

    await w.start()
    await w.settle()
    assert w.bot_replies_to(INTAKE_CHAT, msg.message_id) == [question], "the message was handled twice"
    async with w.app.engine.connect() as conn:
        rows = await conn.scalar(select(func.count()).select_from(inbox))
    assert rows == 1


async def test_a_forged_payload_is_refused_and_changes_nothing(world: World) -> None:
    w = world
    emu = max_emu(w)
    await w.start()
    case = await w.register_os("Пётр Смирнов: яма у дома 5 по ул. Ленина")
    card = w.card(INTAKE_CHAT, case)
    before = (card.plain_text, len(card.edits), await w.events(case))
    query = emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, "evil:payload:42")
    await w.settle()
    answer = emu.callbacks[query].answer
    assert answer is not None and answer.text == texts.UNKNOWN_BUTTON
    card = w.card(INTAKE_CHAT, case)
    assert (card.plain_text, len(card.edits), await w.events(case)) == before


async def test_an_unknown_update_type_is_skipped_and_what_follows_is_handled(world: World) -> None:
    w = world
    emu = max_emu(w)
    await w.start()
    emu.push_update({"update_type": "dialog_muted", "timestamp": 1, "chat_id": 1, "user": {"user_id": 1}})
    case = await w.register_os("Пётр Смирнов: яма у дома 5 по ул. Ленина")
    assert w.cards(INTAKE_CHAT, case)
    assert emu.pending_updates == []


async def test_a_long_text_goes_in_pieces_within_4000_characters(world: World) -> None:
    w = world
    emu = max_emu(w)
    await w.start()
    long_text = "Пётр Смирнов: " + " ".join(f"яма{i}" for i in range(1200))  # about 7,000 characters
    case = await w.register_os(long_text)
    assert all(len(m.plain_text) <= 4000 for m in emu.sent(INTAKE_CHAT))
    assert w.cards(INTAKE_CHAT, case)
