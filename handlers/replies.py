"""Replies to the bot's messages: an answer to a prompt (reason, link) or a reply to a case card.

A reply to a card carries a unit's information or a draft answer: the chat, the presser's units and the case's
status decide which (via available_actions); the use case has the last word.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import Message

from handlers.common import DeliveryPort, find_prompt, prompt_cancelled, prompt_key, run_action
from views import texts
from workflow.lifecycle import Action, ActionPayload, Status, available_actions
from workflow.model import Actor, Attachment, Case, Procedure
from workflow.services import Services

ANSWERED = "answered_by"  # prompt data once answered: the origin of the reply that did


def router() -> Router:
    r = Router(name="replies")
    r.message.register(on_reply, _reply_to_bot)
    return r


def _reply_to_bot(message: Message, bot: Bot) -> bool:
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != bot.id:
        return False
    return not (message.text or "").startswith("/")


def _is_prompt(message: Message) -> bool:
    text = message.text or ""
    return texts.PROMPT_REASON in text or texts.PROMPT_LINK_ASK in text


def attachments_of(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        found.append(Attachment("photo", message.photo[-1].file_id))  # the largest size
    if message.document:
        found.append(Attachment("document", message.document.file_id, message.document.file_name or ""))
    if message.video:
        found.append(Attachment("video", message.video.file_id, message.video.file_name or ""))
    return tuple(found)


async def on_reply(
    message: Message,
    bot: Bot,
    services: Services,
    actor: Actor,
    chat_units: set[str],
    delivery: DeliveryPort,
    fsm_storage: BaseStorage,
) -> None:
    target = message.reply_to_message
    if target is None:
        return
    text = message.text or message.caption or ""
    origin = (
        f"telegram:{message.chat.id}:{message.message_id}"  # one action per message, however often handled
    )
    key = prompt_key(bot.id, message.chat.id, target.message_id)
    if (await fsm_storage.get_data(key)).get(ANSWERED) == origin:
        return  # this very reply handled again (inbox): the prompt was answered by it, nothing to do
    if await prompt_cancelled(fsm_storage, key):  # ended by /cancel: the reason or link is not taken
        await message.reply(texts.PROMPT_CANCELLED, parse_mode=None)
        return
    prompt = await find_prompt(fsm_storage, key)
    if prompt is not None:
        payload = (
            ActionPayload(link=text.strip(), confirm=prompt.confirm, origin=origin)
            if prompt.action in (Action.PUBLISH, Action.INTERIM)
            else ActionPayload(reason=text, origin=origin)
        )
        done, answer = await run_action(
            services, prompt.case_id, prompt.action, actor, version=prompt.version, payload=payload
        )
        if done:
            # Dropped, but remembering which reply answered it: the same update handled again says nothing.
            await fsm_storage.set_data(key, {ANSWERED: origin})
        if answer:
            await message.reply(answer, parse_mode=None)
        return

    case_id = await delivery.case_for_card(message.chat.id, target.message_id)
    case = await services.case(case_id) if case_id is not None else None
    if case is None:
        # A prompt the bot no longer remembers (prompts live in memory and do not survive a restart): say so,
        # rather than drop the reason or link in silence.
        if _is_prompt(target):
            await message.reply(texts.PROMPT_EXPIRED, parse_mode=None)
        return  # a reply to some other bot message: nothing to do
    files = attachments_of(message)
    if not text.strip() and not files:
        await message.reply(texts.REPLY_TEXT_EMPTY)
        return
    action, unit = _reply_action(case, actor, chat_units)
    if action is None and await services.applied(case.id, origin):
        return  # this very reply handled again (inbox): it moved the case on already; nothing to say
    if action is None:
        reason = texts.REPLY_NO_ACTION.format(status=Status(case.status).label)
        await message.reply(texts.REPLY_NOT_EXPECTED.format(reason=reason), parse_mode=None)
        return
    payload = ActionPayload(text=text, unit=unit, attachments=files, origin=origin)
    _done, answer = await run_action(services, case.id, action, actor, version=None, payload=payload)
    if answer:
        await message.reply(answer, parse_mode=None)


def _reply_action(case: Case, actor: Actor, chat_units: set[str]) -> tuple[Action | None, str | None]:
    """INFO or SUBMIT, and for a unit chat the acting unit; (None, None) when neither fits the status."""
    offered = available_actions(case, actor)
    if chat_units:
        mine = [a for a in case.assignments if a.unit in chat_units and a.unit in actor.units]
        unit = mine[0].unit if mine else None
        lead = bool(mine) and mine[0].responsible
        if case.procedure is Procedure.POS and lead and Action.SUBMIT in offered:
            return Action.SUBMIT, unit
        if Action.INFO in offered:
            return Action.INFO, unit
        if Action.SUBMIT in offered:
            return Action.SUBMIT, unit
        return None, None
    if Action.SUBMIT in offered:
        return Action.SUBMIT, None
    if Action.INFO in offered:
        return Action.INFO, None
    return None, None
