"""A regional deployment's 60 units on MAX (issue 15): the unit toggles fit MAX's 30 rows × 7 and 210 buttons
and page with «Ещё ▸» / «◂ Назад», through the real MaxSession and aiogram against the MAX emulator; a forged
page is refused in Russian and changes nothing, and so does a page of a keyboard the card has moved past."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from emulators.max import MaxEmulator
from emulators.max.records import BUTTONS_LIMIT, ROW_BUTTONS_LIMIT, ROWS_LIMIT
from emulators.telegram import ChatMessage
from tests.e2e.conftest import INTAKE_CHAT, OPERATOR, World
from views import texts
from views.callbacks import RouteCb
from workflow.rules import DEFAULT_UNITS
from workflow.services.base import STALE_CARD

pytestmark = pytest.mark.parametrize("messenger", ["max"], indirect=True)

# The configured units first (the staff and the unit chats name them), then a region's settlements.
UNITS = {**DEFAULT_UNITS, **{f"s{n}": f"Администрация {n}-го сельского поселения" for n in range(60 - len(DEFAULT_UNITS))}}


SETTLEMENT_CHATS = {unit: -900_000 - n for n, unit in enumerate(u for u in UNITS if u not in DEFAULT_UNITS)}


def many_units(settings: Settings) -> None:
    settings.units = dict(UNITS)
    settings.chats.units.update(SETTLEMENT_CHATS)


def unit_labels(card: ChatMessage) -> list[str]:
    nav = {texts.BTN_PAGE_MORE, texts.BTN_PAGE_BACK, texts.BTN_DONE, texts.BTN_CANCEL}
    return [str(b["text"]) for row in card.buttons for b in row if b["text"] not in nav]


def within_max(card: ChatMessage) -> None:
    assert len(card.buttons) <= ROWS_LIMIT
    assert all(len(row) <= ROW_BUTTONS_LIMIT for row in card.buttons)
    assert sum(len(row) for row in card.buttons) <= BUTTONS_LIMIT


async def test_sixty_units_page_on_max_and_a_forged_page_changes_nothing(world: World) -> None:
    w = world
    assert isinstance(w.emu, MaxEmulator)
    for unit, chat_id in SETTLEMENT_CHATS.items():
        w.emu.add_chat(chat_id, title=UNITS[unit])
    await w.start(configure=many_units)
    case_id = await w.register_os("Пётр Смирнов: нет света в деревне")
    answer = await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_ROUTE, case_id)
    assert answer.text == texts.CHOOSE_UNITS

    seen: list[str] = []
    card = w.card(INTAKE_CHAT, case_id)
    within_max(card)
    seen += unit_labels(card)
    pages = 1
    more_first = w.button(card, texts.BTN_PAGE_MORE)
    while any(b["text"] == texts.BTN_PAGE_MORE for row in card.buttons for b in row):
        await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PAGE_MORE, case_id)
        card = w.card(INTAKE_CHAT, case_id)
        within_max(card)
        seen += unit_labels(card)
        pages += 1
    assert pages > 1 and sorted(seen) == sorted(UNITS.values()), "every unit on exactly one page"

    last = list(UNITS.values())[-1]
    await w.press(INTAKE_CHAT, OPERATOR, last, case_id)  # toggled on the last page, which stays shown
    card = w.card(INTAKE_CHAT, case_id)
    assert texts.BTN_SELECTED.format(name=last) in unit_labels(card)

    # A page number no keyboard has, with the selection as it is: refused, nothing redrawn, nothing recorded.
    case = await w.app.services.case(case_id)
    emu = w.emu
    before = (card.buttons, len(card.edits), await w.events(case_id))
    mask = RouteCb.unpack(w.button(card, texts.BTN_DONE)).mask
    forged = RouteCb(case_id=case_id, version=case.version, mask=mask, page=pages, done=False).pack()
    query = emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, forged)
    await w.settle()
    got = emu.callbacks[query].answer
    assert got is not None and got.text == texts.UNKNOWN_PAGE
    card = w.card(INTAKE_CHAT, case_id)
    assert (card.buttons, len(card.edits), await w.events(case_id)) == before

    for _ in range(pages - 1):  # back to the first page, one «◂ Назад» at a time
        await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_PAGE_BACK, case_id)
    card = w.card(INTAKE_CHAT, case_id)
    assert all(b["text"] != texts.BTN_PAGE_BACK for row in card.buttons for b in row)
    first = next(iter(UNITS.values()))
    assert first in unit_labels(card)
    await w.press(INTAKE_CHAT, OPERATOR, first, case_id)  # the first unit, on page one
    answer = await w.press(INTAKE_CHAT, OPERATOR, texts.BTN_DONE, case_id)
    assert answer.text == "Направление предложено"
    assert set((await w.app.services.case(case_id)).proposed_units) == {next(iter(UNITS)), list(UNITS)[-1]}

    # A second press of «Ещё ▸» drawn before the routing: the card has moved on, the old page is not redrawn.
    card = w.card(INTAKE_CHAT, case_id)
    before = (card.buttons, len(card.edits), await w.events(case_id))
    query = emu.push_callback(INTAKE_CHAT, OPERATOR.user_id, card.message_id, more_first)
    await w.settle()
    got = emu.callbacks[query].answer
    assert got is not None and got.text == STALE_CARD
    card = w.card(INTAKE_CHAT, case_id)
    assert (card.buttons, len(card.edits), await w.events(case_id)) == before
