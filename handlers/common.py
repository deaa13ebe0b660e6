"""What every handler shares: the delivery port, running one use case, pending prompts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from aiogram.fsm.storage.base import BaseStorage, StorageKey

from views import texts
from workflow.lifecycle import Action, ActionPayload
from workflow.model import Actor, DomainError
from workflow.services import Services

log = logging.getLogger(__name__)

PROMPT_DESTINY = "otklik_prompt"


class DeliveryPort(Protocol):
    """The slice of bot.delivery.Delivery that handlers use: a card shown on request, and which case a card is."""

    async def show_card(self, chat_id: int, case_id: int, *, history: bool = False) -> None: ...

    async def case_for_card(self, chat_id: int, message_id: int) -> int | None: ...


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


# --- prompts: a bot message waiting for a reply with a reason or a link ----------------------------------------


@dataclass(frozen=True)
class Prompt:
    case_id: int
    version: int
    action: Action
    confirm: bool = False  # the publication was confirmed although units still owe information


def prompt_key(bot_id: int, chat_id: int, message_id: int) -> StorageKey:
    # Keyed by the prompt message, not the person: anyone in the chat may answer it; `act` checks who.
    return StorageKey(bot_id=bot_id, chat_id=chat_id, user_id=message_id, destiny=PROMPT_DESTINY)


async def save_prompt(storage: BaseStorage, key: StorageKey, prompt: Prompt) -> None:
    await storage.set_data(
        key,
        {
            "case_id": prompt.case_id,
            "version": prompt.version,
            "action": prompt.action.value,
            "confirm": prompt.confirm,
        },
    )


async def find_prompt(storage: BaseStorage, key: StorageKey) -> Prompt | None:
    data = await storage.get_data(key)
    try:
        confirm = data.get("confirm") is True
        return Prompt(int(data["case_id"]), int(data["version"]), Action(data["action"]), confirm)
    except (KeyError, ValueError, TypeError):
        return None


async def drop_prompt(storage: BaseStorage, key: StorageKey) -> None:
    await storage.set_data(key, {})
