"""What every handler shares: the delivery port, running one use case, pending prompts."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Protocol

from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import Message

from views import texts
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, DomainError
from workflow.services import Services

log = logging.getLogger(__name__)

PROMPT_DESTINY = "otklik_prompt"
PROMPTS_OF_DESTINY = "otklik_prompts_of"  # per person and chat: the prompts they asked for (for /cancel)
CANCELLED_BY = "cancelled_by"  # prompt data once cancelled: who cancelled it
_PROMPTS_KEPT = 20  # the newest prompts a person asked for in a chat that /cancel looks at


class DeliveryPort(Protocol):
    """The slice of bot.delivery.Delivery that handlers use: a card shown on request, and which case a card
    (or any other bot message about a case: a notice, a reminder, a miss alert) is."""

    async def show_card(self, chat_id: int, case_id: int, *, history: bool = False) -> None: ...

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None: ...

    async def case_for_message(self, chat_id: int, message_id: int) -> int | None: ...


async def run_action(
    services: Services,
    case_id: int,
    action: Action,
    actor: Actor,
    *,
    version: int | None,
    payload: ActionPayload | None = None,
) -> tuple[bool, str]:
    """Run one use case; (done, short Russian answer). A refusal is the domain's own message.

    It returns once the change is committed: the cards and notices follow through delivery, woken by the use
    case, so the presser's answer never waits for Telegram's limits on other chats.
    """
    try:
        outcome = await services.act(case_id, action, actor, expected_version=version, payload=payload)
    except DomainError as exc:
        return False, exc.message
    if outcome.replayed:
        return True, ""  # the same message handled again (inbox): answered the first time, say nothing
    return True, texts.DONE_BY_ACTION.get(action.value, texts.DONE)


# --- a confirmation that must not be lost ---------------------------------------------------------------------

# Pauses between attempts, seconds (about 15 s in all): a network blip or a 5xx of Telegram's is waited out.
# Tests set it to zeros; nothing here waits for a deadline.
CONFIRM_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
_MAX_FLOOD_WAIT = 30.0


async def answer_surely(message: Message, text: str) -> Message:
    """Answer `message` with plain `text`, trying again on network and server errors and flood control.

    For a confirmation the person must see (the ПОС «Зарегистрировано: № N»): the case is saved, the answer is
    the only place its number reaches the registrar. The card and the notice in the ПОС chat go through the
    outbox regardless. A bad request (chat gone, bot blocked) is not retried: it would fail the same way.
    A retried send after a lost answer may show the confirmation twice; never zero times while Telegram is
    reachable within the back-off.
    """
    delays = iter(CONFIRM_BACKOFF)
    flood_waited = 0.0
    while True:
        try:
            return await message.answer(text, parse_mode=None)
        except TelegramRetryAfter as exc:
            flood_waited += exc.retry_after
            if flood_waited > _MAX_FLOOD_WAIT:
                raise
            delay: float = exc.retry_after
        except (TelegramNetworkError, TelegramServerError, ClientDecodeError) as exc:
            # ClientDecodeError: a proxy's HTML error page in front of Telegram.
            pause = next(delays, None)
            if pause is None:
                raise
            log.info("confirmation to chat %s failed (%s), retrying", message.chat.id, type(exc).__name__)
            delay = pause
        await asyncio.sleep(delay)


# --- prompts: a bot message waiting for a reply with a reason or a link ----------------------------------------


@dataclass(frozen=True)
class Prompt:
    case_id: int
    version: int
    action: Action
    confirm: bool = False  # the publication was confirmed although units still owe information
    by: int = 0  # who pressed the button that asked for it (0: not known)


def prompt_key(bot_id: int, chat_id: int, message_id: int) -> StorageKey:
    # Keyed by the prompt message, not the person: anyone in the chat may answer it; `act` checks who.
    return StorageKey(bot_id=bot_id, chat_id=chat_id, user_id=message_id, destiny=PROMPT_DESTINY)


def prompts_of_key(bot_id: int, chat_id: int, user_id: int) -> StorageKey:
    return StorageKey(bot_id=bot_id, chat_id=chat_id, user_id=user_id, destiny=PROMPTS_OF_DESTINY)


async def save_prompt(storage: BaseStorage, key: StorageKey, prompt: Prompt) -> None:
    await storage.set_data(
        key,
        {
            "case_id": prompt.case_id,
            "version": prompt.version,
            "action": prompt.action.value,
            "confirm": prompt.confirm,
            "by": prompt.by,
        },
    )
    if prompt.by:  # the person's own list in this chat: /cancel ends what they asked for
        mine = prompts_of_key(key.bot_id, key.chat_id, prompt.by)
        known = [m for m in (await storage.get_data(mine)).get("prompts", []) if isinstance(m, int)]
        await storage.set_data(mine, {"prompts": [*known, key.user_id][-_PROMPTS_KEPT:]})


async def cancel_prompts(
    storage: BaseStorage, bot_id: int, chat_id: int, user_id: int
) -> list[tuple[int, Prompt]]:
    """End the prompts `user_id` asked for in `chat_id` that still wait for a reply; (message id, prompt) each.

    A reply to one of them afterwards is told it was cancelled (CANCELLED_BY), not taken as a reason or link.
    """
    mine = prompts_of_key(bot_id, chat_id, user_id)
    ended: list[tuple[int, Prompt]] = []
    for message_id in (await storage.get_data(mine)).get("prompts", []):
        if not isinstance(message_id, int):
            continue
        key = prompt_key(bot_id, chat_id, message_id)
        prompt = await find_prompt(storage, key)
        if prompt is not None:
            await storage.set_data(key, {CANCELLED_BY: user_id})
            ended.append((message_id, prompt))
    await storage.set_data(mine, {})
    return ended


async def find_prompt(storage: BaseStorage, key: StorageKey) -> Prompt | None:
    data = await storage.get_data(key)
    try:
        confirm = data.get("confirm") is True
        by = data.get("by")
        return Prompt(
            int(data["case_id"]),
            int(data["version"]),
            Action(data["action"]),
            confirm,
            by if isinstance(by, int) else 0,
        )
    except (KeyError, ValueError, TypeError):
        return None


async def drop_prompt(storage: BaseStorage, key: StorageKey) -> None:
    await storage.set_data(key, {})


async def prompt_cancelled(storage: BaseStorage, key: StorageKey) -> bool:
    """Whether the prompt `key` names was ended by /cancel."""
    return (await storage.get_data(key)).get(CANCELLED_BY) is not None
