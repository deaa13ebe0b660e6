"""A press is answered as soon as its use case commits, before the cards it changed are refreshed.

The card refresh here waits behind Telegram's per-chat pace (the sender keeps 30 s between two messages to one
chat, as flood control would make it): the press's answer must not wait with it.
"""

from __future__ import annotations

import asyncio

from aiogram.types import Update

from bot.sender import TelegramSender
from tests.handlers.conftest import INTAKE, OPERATOR, Harness, button
from tests.handlers.test_flows import register_os
from views import texts


def edits(h: Harness) -> int:
    return sum(1 for r in h.emu.requests if r.method.lower() == "editmessagetext")


async def test_a_press_is_answered_before_its_cards_are_refreshed(h: Harness) -> None:
    case_id = await register_os(h)
    card = await h.card(INTAKE, case_id)
    edits_before = edits(h)
    # From now on every chat is under flood control: 30 s between two messages to one chat.
    h.delivery.sender = TelegramSender(h.bot, per_chat_interval=30.0)
    query_id = h.emu.push_callback(INTAKE, OPERATOR, card.message_id, button(card, texts.BTN_SIGNIFICANT))
    update = Update.model_validate(h.emu.pending_updates[-1], context={"bot": h.bot})

    loop = asyncio.get_running_loop()
    started = loop.time()
    await h.dp.feed_update(h.bot, update)
    answered_in = loop.time() - started

    answer = h.emu.callback_answers.get(query_id)
    assert answer is not None and answer.text == texts.DONE_BY_ACTION["significant"]
    assert answered_in < 5.0, answered_in
    # The refresh is still waiting its turn in the background: no card edited yet.
    assert h.delivery.busy()
    assert edits(h) == edits_before
    for task in h.delivery.busy():
        task.cancel()
    await asyncio.gather(*h.delivery.busy(), return_exceptions=True)
