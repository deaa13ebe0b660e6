"""The staff on MAX (issue 15): what only MAX's transport can get wrong, end to end through the real MaxSession and
aiogram against the MAX emulator — cards edited after a restart, an update redelivered after a kill, a forged
button payload, an update type Otklik does not handle, a text over MAX's 4,000 characters."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from emulators.max import TEXT_LIMIT, MaxEmulator
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


async def test_a_card_of_a_10000_character_message_fits_4000_and_keeps_its_buttons(world: World) -> None:
    """views/ cut the card to the sender's limit (MAX: 4,000), not Telegram's 4,096: one message, the citizen's text
    ending in «…», the buttons under it; cut to 4,096 the card would go in two pieces, the buttons on the second.
    (A 10,000-character text is what the networks' readers keep; the intake chat is the shortest way to one.)"""
    w = world
    await w.start()
    text = "Пётр Смирнов: " + "".join(f"яма {i} у дома 5 по ул. Ленина. " for i in range(400))[: 10_000 - 14]
    assert len(text) == 10_000
    case = await w.register_os(text)
    card = w.card(INTAKE_CHAT, case)  # exactly one message starts with the title: the card was not split
    assert TEXT_LIMIT - 10 <= len(card.plain_text) <= TEXT_LIMIT  # filled up to MAX's limit, not beyond
    body = card.plain_text.split("\n\n")[1]
    assert body.endswith(texts.TRIMMED) and text.startswith(body.removesuffix(texts.TRIMMED))
    assert any(b.get("text") == "Направить в подразделение" for row in card.buttons for b in row)

    await w.route_os(case, "housing")  # edited in place, and posted to the unit: both cut the same way
    card = w.card(INTAKE_CHAT, case)
    assert card.edits and len(card.plain_text) <= TEXT_LIMIT and card.buttons
    unit_card = w.card(HOUSING_CHAT, case)
    assert len(unit_card.plain_text) <= TEXT_LIMIT and unit_card.buttons
    assert unit_card.plain_text.split("\n\n")[1].endswith(texts.TRIMMED)
