"""Card buttons: plain actions, the unit multi-select, the ПОС responsible choice, prompts for a reason/link.

The middleware has identified the presser; a press parses the typed callback data and runs at most one use
case (a keyboard step asks `Services.check` what the use case would say). The domain decides and its refusal is
the answer. The press is answered as soon as the change is committed; cards follow through delivery.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiogram import BaseMiddleware, Bot, F, Router
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import (
    CallbackQuery,
    ForceReply,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    TelegramObject,
)

from handlers.common import (
    DeliveryPort,
    Prompt,
    drop_prompt,
    prompt_cancelled,
    prompt_key,
    run_action,
    save_prompt,
)
from handlers.errors import Handler, note_case
from views import texts
from views.callbacks import (
    AUTO_PUBLISH,
    CASE_BUTTONS,
    CONFIRMED,
    NO_LINK,
    CaseCb,
    CaseVerb,
    OrderCb,
    ResponsibleCb,
    RouteCb,
    canonical,
)
from views.html import escape
from views.keyboards import (
    NEEDS_LINK,
    NEEDS_REASON,
    NEEDS_UNITS,
    card_keyboard,
    confirm_auto_publish_keyboard,
    confirm_publish_keyboard,
    mask_of,
    no_link_keyboard,
    offered,
    order_keyboard,
    order_of,
    pressed_action,
    responsible_keyboard,
    route_keyboard,
    units_of,
    view_keyboard,
    well_formed,
)
from views.layout import KeyboardLimits
from workflow.lifecycle import Action, ActionPayload, available_actions
from workflow.model import Actor, Case, DomainError, Procedure, Role
from workflow.ports import FINAL_ANSWER, INTERIM_ANSWER
from workflow.rules import Rules
from workflow.services import Services
from workflow.services.publishing import answer_action


class OnlyWhatTheCardOffers(BaseMiddleware):
    """The one check every case button passes before its handler: forged data does only what the card offers.

    After the filters parsed the data (ids and versions within 64 bits, ASCII digits only: views.callbacks),
    the data must be exactly what this build draws, name configured units, and be a button that the case's
    keyboard in this chat offers for its current state (views.keyboards.offered, the list the keyboard itself
    is drawn from). A button not offered changes nothing: the domain's own reason is the answer when it has
    one (no rights, already done, a stale card), else «not on the card».
    """

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        cb = data.get("callback_data")
        if not isinstance(event, CallbackQuery) or not isinstance(cb, CASE_BUTTONS):
            return await handler(event, data)
        note_case(cb.case_id)
        rules: Rules = data["rules"]
        order = list(rules.units)
        if not canonical(cb, event.data) or not well_formed(cb, order):
            await _refuse(event, texts.UNKNOWN_BUTTON)
            return None
        services: Services = data["services"]
        try:
            case = await services.case(cb.case_id)
        except DomainError as exc:
            await _refuse(event, exc.message)
            return None
        if offered(cb, case, data["chat_roles"], data["chat_units"], order):
            return await handler(event, data)
        try:
            await services.check(case.id, pressed_action(cb), data["actor"], cb.version)
        except DomainError as exc:
            await _refuse(event, exc.message)
            return None
        await _refuse(event, texts.NOT_OFFERED)
        return None


def router() -> Router:
    r = Router(name="buttons")
    r.callback_query.middleware(OnlyWhatTheCardOffers())
    r.callback_query.register(on_case, CaseCb.filter())
    r.callback_query.register(on_route, RouteCb.filter())
    r.callback_query.register(on_responsible, ResponsibleCb.filter())
    r.callback_query.register(on_order, OrderCb.filter())
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
    """Redraw the pressed message's keyboard, after the press is answered: the edit may wait on flood control."""
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
    actor: Actor,
    chat_roles: set[Role],
    chat_units: set[str],
    rules: Rules,
    fsm_storage: BaseStorage,
    delivery: DeliveryPort,
    keyboard_limits: KeyboardLimits,
) -> None:
    cb = callback_data
    message = _message(query)
    chat_id = message.chat.id if message is not None else query.from_user.id

    if cb.verb in AUTO_PUBLISH:
        await _publish_auto(query, cb, services, actor, message)
        return
    if cb.verb in (CaseVerb.SCREEN_EXCLUDE, CaseVerb.SUBMIT_ANYWAY, CaseVerb.FIX_DRAFT):
        await _answer_check(query, cb, services, actor, message, delivery)
        return
    if cb.verb is CaseVerb.SEEN_PUBLISHED:
        try:
            publication = await services.published_by_hand(cb.case_id, actor, cb.version)
        except DomainError as exc:
            await _refuse(query, exc.message)
            return
        step = answer_action(publication.kind)
        await query.answer(texts.DONE_BY_ACTION.get(step.value, texts.DONE))
        return
    confirmed = cb.verb in CONFIRMED
    if cb.verb in NO_LINK:
        if message is not None and await prompt_cancelled(
            fsm_storage, prompt_key(bot.id, chat_id, message.message_id)
        ):
            await _refuse(query, texts.PROMPT_CANCELLED)
            return
        payload = ActionPayload(confirm=confirmed)
        done, answer = await run_action(
            services, cb.case_id, NO_LINK[cb.verb], actor, version=cb.version, payload=payload
        )
        await query.answer(answer, show_alert=not done)
        if done and message is not None:
            await drop_prompt(fsm_storage, prompt_key(bot.id, chat_id, message.message_id))
            await _set_markup(message, None)
        return
    if cb.verb is CaseVerb.CANCEL:
        try:
            view = await services.card_view(cb.case_id)
        except DomainError as exc:
            await _refuse(query, exc.message)
            return
        await query.answer(texts.CANCELLED)
        await _set_markup(message, view_keyboard(view, chat_roles, chat_units))
        return
    if cb.verb is CaseVerb.SET_ORDER:
        try:
            case = await services.check(cb.case_id, Action.APPROVE_ROUTING, actor, cb.version)
        except DomainError as exc:
            await _refuse(query, exc.message)
            return
        await query.answer(texts.CHOOSE_ORDER)
        await _set_markup(message, order_keyboard(case, (), rules.units))
        return
    action = Action.APPROVE_ROUTING if cb.verb is CaseVerb.CHANGE_ROUTING else cb.verb.action
    if action is None:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return
    keyboard_step = cb.verb is CaseVerb.CHANGE_ROUTING or action in NEEDS_UNITS
    if not (keyboard_step or action in NEEDS_REASON or action in NEEDS_LINK):
        done, answer = await run_action(services, cb.case_id, action, actor, version=cb.version)
        await query.answer(answer, show_alert=not done)
        return
    try:
        case = await services.check(
            cb.case_id, action, actor, cb.version, payload=ActionPayload(confirm=confirmed)
        )
    except DomainError as exc:
        await _refuse_or_ask_to_confirm(query, exc, services, cb.case_id, message, confirm_publish_keyboard)
        return
    if keyboard_step:
        order = list(rules.units)
        await query.answer(texts.CHOOSE_UNITS)
        keyboard = route_keyboard(case, _initial_mask(case, order), rules.units, keyboard_limits)
        await _set_markup(message, keyboard)  # page 0 is always there
        return
    if confirmed:
        await _set_markup(message, card_keyboard(case, chat_roles, chat_units))
    await _send_prompt(
        bot, fsm_storage, chat_id, message, case, action, confirm=confirmed, by=query.from_user.id
    )
    await query.answer(texts.PROMPT_SENT)


async def _answer_check(
    query: CallbackQuery,
    cb: CaseCb,
    services: Services,
    actor: Actor,
    message: Message | None,
    delivery: DeliveryPort,
) -> None:
    """One tap on what Otklik's checks found: exclude with the findings as the reason, or send a held draft
    anyway, or withdraw it to correct it (workflow/services/review.py). The held draft's question loses its
    buttons once answered (a card's keyboard is delivery's to redraw)."""
    try:
        if cb.verb is CaseVerb.SCREEN_EXCLUDE:
            await services.exclude_screened(cb.case_id, actor, cb.version)
            answer, outcome = texts.DONE_BY_ACTION[Action.EXCLUDE.value], ""
        elif cb.verb is CaseVerb.SUBMIT_ANYWAY:
            await services.submit_held(cb.case_id, actor, cb.version)
            answer, outcome = texts.DONE_BY_ACTION[Action.SUBMIT.value], texts.DRAFT_SENT_ANYWAY_LINE
        else:
            await services.withdraw_held(cb.case_id, actor, cb.version)
            answer, outcome = texts.DRAFT_WITHDRAWN.format(case_id=cb.case_id), texts.DRAFT_WITHDRAWN_LINE
    except DomainError as exc:
        await _refuse(query, exc.message)
        return
    await query.answer(answer)
    if message is not None and await delivery.case_for_card(message.chat.id, message.message_id) is None:
        await _answered(message, outcome)


async def _answered(message: Message, outcome: str) -> None:
    """The held draft's question, answered: its buttons go and a line says what was done."""
    try:
        await message.edit_text(f"{message.html_text}\n\n{escape(outcome)}", reply_markup=None, parse_mode="HTML")
    except Exception:  # not modified, too old to edit: at least the buttons go
        await _set_markup(message, None)


async def _publish_auto(
    query: CallbackQuery, cb: CaseCb, services: Services, actor: Actor, message: Message | None
) -> None:
    """«Опубликовать»: the approved answer is queued for the item's network; the card follows (delivery)."""
    confirmed = cb.verb is CaseVerb.PUBLISH_AUTO_CONFIRMED
    kind = INTERIM_ANSWER if cb.verb is CaseVerb.INTERIM_AUTO else FINAL_ANSWER
    try:
        publication = await services.request_publication(
            cb.case_id, actor, cb.version, confirm=confirmed, kind=kind
        )
    except DomainError as exc:
        await _refuse_or_ask_to_confirm(query, exc, services, cb.case_id, message, confirm_auto_publish_keyboard)
        return
    network = texts.NETWORK_IN.get(publication.network.value, publication.network.value)
    queued = texts.INTERIM_QUEUED if kind == INTERIM_ANSWER else texts.PUBLICATION_QUEUED
    await query.answer(queued.format(network=network))


async def _refuse_or_ask_to_confirm(
    query: CallbackQuery,
    exc: DomainError,
    services: Services,
    case_id: int,
    message: Message | None,
    keyboard: Callable[[Case], InlineKeyboardMarkup],
) -> None:
    """A refused publish press; when units still owe information (RULES.md §6), the card asks to confirm."""
    if exc.code == "confirm":
        try:
            case = await services.case(case_id)
        except DomainError as gone:
            await _refuse(query, gone.message)
            return
        await _refuse(query, exc.message)
        await _set_markup(message, keyboard(case))
        return
    await _refuse(query, exc.message)


async def _send_prompt(
    bot: Bot,
    storage: BaseStorage,
    chat_id: int,
    card: Message | None,
    case: Case,
    action: Action,
    *,
    confirm: bool = False,
    by: int = 0,
) -> None:
    reply_to = ReplyParameters(message_id=card.message_id, allow_sending_without_reply=True) if card else None
    if action in NEEDS_LINK:
        text = texts.PROMPT_LINK.format(case_id=case.id, what=action.label)
        markup: ForceReply | InlineKeyboardMarkup = no_link_keyboard(
            case.id, case.version, action, confirmed=confirm
        )
    else:
        text = texts.PROMPT_REASON_FOR.format(case_id=case.id, what=action.label)
        markup = ForceReply(input_field_placeholder=texts.PROMPT_PLACEHOLDER_REASON)
    sent = await bot.send_message(
        chat_id, text, reply_markup=markup, reply_parameters=reply_to, parse_mode=None
    )
    await save_prompt(
        storage,
        prompt_key(bot.id, chat_id, sent.message_id),
        Prompt(case.id, case.version, action, confirm, by),
    )


async def on_route(
    query: CallbackQuery,
    callback_data: RouteCb,
    services: Services,
    actor: Actor,
    chat_roles: set[Role],
    rules: Rules,
    keyboard_limits: KeyboardLimits,
) -> None:
    """A unit toggled, or a page of the toggles turned (at `cb.page`); «Готово»: the routing, or for several
    ПОС units the responsible choice (at `cb.page`). A page the keyboard does not have changes nothing."""
    cb = callback_data
    selected = units_of(cb.mask, list(rules.units))
    if selected is None:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return
    try:
        case = await services.case(cb.case_id)
        action = _routing_action(case, actor, chat_roles)
        await services.check(case.id, action, actor, cb.version)
    except DomainError as exc:
        await _refuse(query, exc.message)
        return
    message = _message(query)
    if not cb.done:
        keyboard = route_keyboard(case, cb.mask, rules.units, keyboard_limits, cb.page)
        if keyboard is None:
            await _refuse(query, texts.UNKNOWN_PAGE)
            return
        await query.answer()
        await _set_markup(message, keyboard)
        return
    if case.procedure is Procedure.POS and len(selected) > 1:
        keyboard = responsible_keyboard(case, cb.mask, rules.units, keyboard_limits, cb.page)
        if keyboard is None:
            await _refuse(query, texts.UNKNOWN_PAGE)
            return
        await query.answer(texts.CHOOSE_RESPONSIBLE)
        await _set_markup(message, keyboard)
        return
    if cb.page != 0:  # «Готово» is drawn at page 0 only
        await _refuse(query, texts.UNKNOWN_PAGE)
        return
    payload = ActionPayload(units=selected)
    done, answer = await run_action(services, case.id, action, actor, version=cb.version, payload=payload)
    await query.answer(answer, show_alert=not done)


async def on_order(
    query: CallbackQuery, callback_data: OrderCb, services: Services, actor: Actor, rules: Rules
) -> None:
    """The office head places the proposed units one by one (п.12.1); «Готово» approves the routing with it."""
    cb = callback_data
    chosen = order_of(cb.seq, list(rules.units))
    if chosen is None:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return
    try:
        case = await services.check(cb.case_id, Action.APPROVE_ROUTING, actor, cb.version)
    except DomainError as exc:
        await _refuse(query, exc.message)
        return
    if not cb.done:
        await query.answer()
        await _set_markup(_message(query), order_keyboard(case, chosen, rules.units))
        return
    payload = ActionPayload(units=case.proposed_units, order=chosen)
    done, answer = await run_action(
        services, case.id, Action.APPROVE_ROUTING, actor, version=cb.version, payload=payload
    )
    await query.answer(answer, show_alert=not done)


async def on_responsible(
    query: CallbackQuery, callback_data: ResponsibleCb, services: Services, actor: Actor, rules: Rules
) -> None:
    cb = callback_data
    order = list(rules.units)
    selected = units_of(cb.mask, order)
    if selected is None or not 0 <= cb.responsible < len(order) or order[cb.responsible] not in selected:
        await _refuse(query, texts.UNKNOWN_BUTTON)
        return
    payload = ActionPayload(units=selected, responsible=order[cb.responsible])
    done, answer = await run_action(
        services, cb.case_id, Action.ROUTE, actor, version=cb.version, payload=payload
    )
    await query.answer(answer, show_alert=not done)
