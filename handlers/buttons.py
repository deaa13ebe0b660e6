"""Card buttons: plain actions, the unit multi-select, the ПОС responsible choice, prompts for a reason/link.

Every press identifies the presser, parses the typed callback data and runs at most one use case; the
domain decides and its refusal is the answer. Nothing here raises out to the user.
"""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message, ReplyParameters

from bot.directory import Directory
from handlers.common import (
    DeliveryPort,
    Prompt,
    drop_prompt,
    load_case,
    precheck,
    prompt_key,
    run_action,
    save_prompt,
)
from views import texts
from views.callbacks import NO_LINK, CaseCb, CaseVerb, ResponsibleCb, RouteCb
from views.keyboards import (
    NEEDS_LINK,
    NEEDS_REASON,
    NEEDS_UNITS,
    card_keyboard,
    mask_of,
    no_link_keyboard,
    responsible_keyboard,
    route_keyboard,
    units_of,
)
from workflow.lifecycle import Action, ActionPayload, available_actions
from workflow.model import Actor, Case, Procedure, Role
from workflow.rules import Rules
from workflow.services import NOT_FOUND, Services


def router() -> Router:
    r = Router(name="buttons")
    r.callback_query.register(on_case, CaseCb.filter())
    r.callback_query.register(on_route, RouteCb.filter())
    r.callback_query.register(on_responsible, ResponsibleCb.filter())
    return r


def fallback_router() -> Router:
    """Last in line: any callback nobody recognised (forged, garbled, from an old build) gets a polite answer."""
    r = Router(name="buttons_fallback")
    r.callback_query.register(on_unknown, F.data | ~F.data)
    return r


async def on_unknown(query: CallbackQuery) -> None:
    await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def _refuse(query: CallbackQuery, text: str) -> None:
    await query.answer(text, show_alert=True)


async def _set_markup(message: Message | None, markup: InlineKeyboardMarkup | None) -> None:
    if message is None:
        return
    try:
        await message.edit_reply_markup(reply_markup=markup)
    except Exception:  # "message is not modified" and the like: the keyboard is what it should be
        return


def _routing_action(case: Case, actor: Actor, chat_roles: set[Role]) -> Action:
    """The office head's «Готово» approves (maybe changed) units; the operator's proposes them."""
    mine = available_actions(case, actor)
    if Action.APPROVE_ROUTING in mine and (Action.ROUTE not in mine or Role.OFFICE_HEAD in chat_roles):
        return Action.APPROVE_ROUTING
    return Action.ROUTE


def _initial_mask(case: Case, order: list[str]) -> int:
    chosen = case.proposed_units or case.units
    return mask_of(chosen, order)


async def on_case(
    query: CallbackQuery,
    callback_data: CaseCb,
    bot: Bot,
    services: Services,
    directory: Directory,
    delivery: DeliveryPort,
    rules: Rules,
    fsm_storage: BaseStorage,
) -> None:
    actor = directory.actor(query.from_user.id)
    if actor is None:
        await _refuse(query, texts.NOT_REGISTERED)
        return
    cb = callback_data
    message = _message(query)
    chat_id = message.chat.id if message is not None else query.from_user.id

    if cb.verb in NO_LINK:
        done, answer = await run_action(
            services, delivery, cb.case_id, NO_LINK[cb.verb], actor, version=cb.version, payload=ActionPayload()
        )
        if done and message is not None:
            await drop_prompt(fsm_storage, prompt_key(bot.id, chat_id, message.message_id))
            await _set_markup(message, None)
        await query.answer(answer, show_alert=not done)
        return

    case = await load_case(services, cb.case_id)
    if case is None:
        await _refuse(query, NOT_FOUND)
        return
    chat_roles, chat_units = directory.roles_of_chat(chat_id)

    if cb.verb is CaseVerb.CANCEL:
        await _set_markup(message, card_keyboard(case, chat_roles, chat_units))
        await query.answer(texts.CANCELLED)
        return
    order = list(rules.units)
    if cb.verb is CaseVerb.CHANGE_ROUTING:
        refusal = precheck(services, case, Action.APPROVE_ROUTING, actor, cb.version)
        if refusal:
            await _refuse(query, refusal)
            return
        await _set_markup(message, route_keyboard(case, _initial_mask(case, order), rules.units))
        await query.answer(texts.CHOOSE_UNITS)
        return
    action = cb.verb.action
    if action is None:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return

    if action in NEEDS_UNITS:
        refusal = precheck(services, case, action, actor, cb.version)
        if refusal:
            await _refuse(query, refusal)
            return
        await _set_markup(message, route_keyboard(case, _initial_mask(case, order), rules.units))
        await query.answer(texts.CHOOSE_UNITS)
        return
    if action in NEEDS_REASON or action in NEEDS_LINK:
        refusal = precheck(services, case, action, actor, cb.version)
        if refusal:
            await _refuse(query, refusal)
            return
        await _send_prompt(bot, fsm_storage, chat_id, message, case, action)
        await query.answer(texts.PROMPT_SENT)
        return
    done, answer = await run_action(services, delivery, case.id, action, actor, version=cb.version)
    await query.answer(answer, show_alert=not done)


async def _send_prompt(
    bot: Bot, storage: BaseStorage, chat_id: int, card: Message | None, case: Case, action: Action
) -> None:
    reply_to = ReplyParameters(message_id=card.message_id, allow_sending_without_reply=True) if card else None
    if action in NEEDS_LINK:
        text = texts.PROMPT_LINK.format(case_id=case.id, what=action.label)
        markup: ForceReply | InlineKeyboardMarkup = no_link_keyboard(case.id, case.version, action)
    else:
        text = texts.PROMPT_REASON_FOR.format(case_id=case.id, what=action.label)
        markup = ForceReply(input_field_placeholder=texts.PROMPT_PLACEHOLDER_REASON)
    sent = await bot.send_message(
        chat_id, text, reply_markup=markup, reply_parameters=reply_to, parse_mode=None
    )
    await save_prompt(
        storage, prompt_key(bot.id, chat_id, sent.message_id), Prompt(case.id, case.version, action)
    )


async def on_route(
    query: CallbackQuery,
    callback_data: RouteCb,
    services: Services,
    directory: Directory,
    delivery: DeliveryPort,
    rules: Rules,
) -> None:
    actor = directory.actor(query.from_user.id)
    if actor is None:
        await _refuse(query, texts.NOT_REGISTERED)
        return
    cb = callback_data
    order = list(rules.units)
    selected = units_of(cb.mask, order)
    if selected is None:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return
    case = await load_case(services, cb.case_id)
    if case is None:
        await _refuse(query, NOT_FOUND)
        return
    message = _message(query)
    chat_roles, _units = directory.roles_of_chat(message.chat.id if message else query.from_user.id)
    action = _routing_action(case, actor, chat_roles)
    refusal = precheck(services, case, action, actor, cb.version)
    if refusal:
        await _refuse(query, refusal)
        return
    if not cb.done:
        await _set_markup(message, route_keyboard(case, cb.mask, rules.units))
        await query.answer()
        return
    if case.procedure is Procedure.POS and len(selected) > 1:
        await _set_markup(message, responsible_keyboard(case, cb.mask, rules.units))
        await query.answer(texts.CHOOSE_RESPONSIBLE)
        return
    payload = ActionPayload(units=selected)
    done, answer = await run_action(
        services, delivery, case.id, action, actor, version=cb.version, payload=payload
    )
    await query.answer(answer, show_alert=not done)


async def on_responsible(
    query: CallbackQuery,
    callback_data: ResponsibleCb,
    services: Services,
    directory: Directory,
    delivery: DeliveryPort,
    rules: Rules,
) -> None:
    actor = directory.actor(query.from_user.id)
    if actor is None:
        await _refuse(query, texts.NOT_REGISTERED)
        return
    cb = callback_data
    order = list(rules.units)
    selected = units_of(cb.mask, order)
    if selected is None or not 0 <= cb.responsible < len(order) or order[cb.responsible] not in selected:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return
    payload = ActionPayload(units=selected, responsible=order[cb.responsible])
    done, answer = await run_action(
        services, delivery, cb.case_id, Action.ROUTE, actor, version=cb.version, payload=payload
    )
    await query.answer(answer, show_alert=not done)
