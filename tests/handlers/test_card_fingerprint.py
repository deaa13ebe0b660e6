"""A card edit that would put what the message already shows is not sent (issue 16 item 5).

Telegram answers such an edit «message is not modified», but the call still takes a slot of the chat's limits.
Delivery knows what each card message shows from its own accepted edits and posts; anything shown that changes
(the time left here; a network's refusal, a citizen's edit in tests/channels) is still edited in, a failed edit
is tried again, and a handler's own redraw of a card's keyboard makes the next refresh edit.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import bot.delivery as delivery_module
from bot.sender import TelegramSender
from emulators.telegram.records import RequestRecord
from tests.handlers.conftest import INTAKE, OFFICE, OPERATOR, Harness, button, labels
from tests.handlers.test_flows import register_os, route_to
from views import texts


def edits(h: Harness) -> list[RequestRecord]:
    return h.emu.calls_of("edit")


def card_edits(h: Harness) -> int:
    return sum(1 for r in edits(h) if r.method.lower() == "editmessagetext")


async def test_a_refresh_with_nothing_changed_sends_no_edit(h: Harness) -> None:
    case_id = await register_os(h)
    before = card_edits(h)
    for _ in range(3):
        await h.delivery.refresh_cards(case_id)
    assert card_edits(h) == before
    # And with nothing known (a restart): the first refresh edits each card once, the next ones none.
    h.delivery._shown.clear()
    async with h.repo.transaction() as tx:
        cards = await tx.cards(case_id)
    await h.delivery.refresh_cards(case_id)
    assert card_edits(h) == before + len(cards)
    await h.delivery.refresh_cards(case_id)
    assert card_edits(h) == before + len(cards)


async def test_what_the_card_shows_changing_is_still_edited_in(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    shown = card.plain_text
    before = card_edits(h)
    h.clock.advance(timedelta(minutes=30))  # the time left on the card is not what it was
    await h.delivery.refresh_cards(case_id)
    assert card_edits(h) > before
    assert (await h.card(INTAKE, case_id)).plain_text != shown
    after = card_edits(h)
    await h.delivery.refresh_cards(case_id)
    assert card_edits(h) == after


async def test_a_failed_edit_is_tried_again_at_the_next_refresh(h: Harness) -> None:
    case_id = await register_os(h)
    # One attempt per send: an injected server error is a failure that outlasted the retries.
    h.delivery.sender = TelegramSender(
        h.bot, per_second=10_000, per_chat_interval=0.0, group_per_minute=1_000_000, max_attempts=1
    )
    async with h.repo.transaction() as tx:
        cards = await tx.cards(case_id)
    h.clock.advance(timedelta(minutes=30))
    h.emu.fail_next_of(["edit"], count=len(cards), failure="server_error")  # every card's edit, once
    await h.delivery.refresh_cards(case_id)
    failed = card_edits(h)
    stale = (await h.card(INTAKE, case_id)).plain_text
    await h.delivery.refresh_cards(case_id)  # the emulator answers again: the edits go out now
    assert card_edits(h) == failed + len(cards)
    assert (await h.card(INTAKE, case_id)).plain_text != stale


async def test_a_keyboard_a_handler_redrew_is_put_back_by_the_next_refresh(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    own = labels(card)
    await h.press(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_ROUTE))  # the unit toggles
    assert labels(await h.card(INTAKE, case_id)) != own
    office_edits = sum(1 for r in edits(h) if r.chat_id == OFFICE)
    await h.delivery.refresh_cards(case_id)
    assert labels(await h.card(INTAKE, case_id)) == own
    # Only the redrawn message is edited: the office's card shows what it did.
    assert sum(1 for r in edits(h) if r.chat_id == OFFICE) == office_edits


async def test_the_cards_known_are_bounded(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_module, "SHOWN_CARDS", 1)
    case_id = await register_os(h)
    await route_to(h, case_id, h.rules.units["housing"])  # the office's card too
    async with h.repo.transaction() as tx:
        cards = await tx.cards(case_id)
    assert len(cards) > 1
    assert len(h.delivery._shown) == 1
    before = card_edits(h)
    await h.delivery.refresh_cards(case_id)  # the cards pushed out are edited once (Telegram: not modified)
    assert before < card_edits(h) <= before + len(cards)
    assert len(h.delivery._shown) == 1
