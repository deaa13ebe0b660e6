"""What every handler shares: the delivery port, running one use case, pending prompts, refusals."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from aiogram.fsm.storage.base import BaseStorage, StorageKey

from views import texts
from workflow.lifecycle import Action, ActionPayload, transition
from workflow.model import Actor, Case, DomainError
from workflow.services import Services

log = logging.getLogger(__name__)

PROMPT_DESTINY = "otklik_prompt"


class DeliveryPort(Protocol):
    """The slice of bot.delivery.Delivery that handlers use."""

    async def refresh_cards(self, case_id: int) -> None: ...

    async def drain(self) -> int: ...

    async def show_card(self, chat_id: int, case_id: int, *, history: bool = False) -> None: ...


async def after_change(delivery: DeliveryPort, case_id: int) -> None:
    """Cards first (the presser sees the result), then the notifications the use case queued."""
    try:
        await delivery.refresh_cards(case_id)
        await delivery.drain()
    except Exception:  # the change is committed; a delivery hiccup is the sweeper's to retry
        log.exception("delivery after a change of case %s failed", case_id)


async def run_action(
    services: Services,
    delivery: DeliveryPort,
    case_id: int,
    action: Action,
    actor: Actor,
    *,
    version: int | None,
    payload: ActionPayload | None = None,
) -> tuple[bool, str]:
    """Run one use case; (done, short Russian answer). A refusal is the domain's own message."""
    try:
        await services.act(case_id, action, actor, expected_version=version, payload=payload)
    except DomainError as exc:
        return False, exc.message
    await after_change(delivery, case_id)
    return True, texts.DONE_BY_ACTION.get(action.value, texts.DONE)


async def load_case(services: Services, case_id: int) -> Case | None:
    async with services.repo.transaction() as tx:
        return await tx.get_case(case_id)


def precheck(services: Services, case: Case, action: Action, actor: Actor, version: int) -> str | None:
    """Before a UI step (unit toggles, a prompt): the refusal the use case would give, or None.

    The pure transition answers role, second-press and status questions the same way `act` will; a payload
    complaint ("invalid") only means the person has yet to choose or type it. Then the card's version.
    """
    try:
        transition(
            case,
            action,
            actor,
            services.clock.now(),
            rules=services.rules,
            calendar=services.calendar,
            payload=ActionPayload(),
        )
    except DomainError as exc:
        if exc.code != "invalid":
            return exc.message
    if version != case.version:
        return texts.STALE
    return None


# --- prompts: a bot message waiting for a reply with a reason or a link ----------------------------------------


@dataclass(frozen=True)
class Prompt:
    case_id: int
    version: int
    action: Action


def prompt_key(bot_id: int, chat_id: int, message_id: int) -> StorageKey:
    # Keyed by the prompt message, not the person: anyone in the chat may answer it; `act` checks who.
    return StorageKey(bot_id=bot_id, chat_id=chat_id, user_id=message_id, destiny=PROMPT_DESTINY)


async def save_prompt(storage: BaseStorage, key: StorageKey, prompt: Prompt) -> None:
    await storage.set_data(
        key, {"case_id": prompt.case_id, "version": prompt.version, "action": prompt.action.value}
    )


async def find_prompt(storage: BaseStorage, key: StorageKey) -> Prompt | None:
    data = await storage.get_data(key)
    try:
        return Prompt(int(data["case_id"]), int(data["version"]), Action(data["action"]))
    except (KeyError, ValueError, TypeError):
        return None


async def drop_prompt(storage: BaseStorage, key: StorageKey) -> None:
    await storage.set_data(key, {})
