"""ПОС registration: a short dialogue (/pos: number → category → received → text), or a pasted/forwarded ПОС
notification parsed as far as it goes, the dialogue asking only for what was missing."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiogram import Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from channels.pos.notice import NOTICE, parse_notice
from handlers.commands import parse_local
from views import texts
from views.callbacks import PosCategoryCb
from views.keyboards import category_keyboard
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import REGISTER_ROLES
from workflow.model import Actor, DomainError, InboundMessage, Procedure, Role, Source
from workflow.rules import Rules
from workflow.services import Services

NUMBER = re.compile(r"^\d{5,20}$")
_REGISTRARS = frozenset(REGISTER_ROLES[Procedure.POS]) - {Role.SYSTEM}


class PosForm(StatesGroup):
    number = State()
    category = State()
    received = State()
    text = State()


def router() -> Router:
    r = Router(name="pos_intake")
    r.message.register(on_pos, Command("pos"))
    r.message.register(on_number, PosForm.number)
    r.callback_query.register(on_category, PosForm.category, PosCategoryCb.filter())
    r.message.register(on_category_typed, PosForm.category)
    r.message.register(on_received, PosForm.received)
    r.message.register(on_text, PosForm.text)
    r.message.register(on_notice, StateFilter(None), _looks_like_notice)
    return r


def _registrar(actor: Actor) -> Actor | None:
    return actor if actor.roles & _REGISTRARS else None


def _looks_like_notice(message: Message, actor: Actor) -> bool:
    if message.reply_to_message is not None or not message.text or not NOTICE.match(message.text):
        return False
    return _registrar(actor) is not None


async def on_pos(message: Message, state: FSMContext, actor: Actor) -> None:
    if _registrar(actor) is None:
        await message.answer(texts.FORBIDDEN, parse_mode=None)
        return
    await state.clear()
    await state.set_state(PosForm.number)
    await message.answer(texts.POS_ASK_NUMBER, parse_mode=None)


async def on_notice(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
    calendar: WorkingCalendar,
) -> None:
    parsed = parse_notice(message.text or "", rules, calendar)
    data: dict[str, Any] = {"number": parsed.number}
    if parsed.category:
        data["category"] = parsed.category
    if parsed.received:
        data["received"] = parsed.received.isoformat()
    if parsed.text:
        data["text"] = parsed.text
    await state.set_data(data)
    await _next_step(message, state, actor, services, rules)


async def _next_step(
    message: Message,
    state: FSMContext,
    actor: Actor,
    services: Services,
    rules: Rules,
) -> None:
    """Ask for the first missing field; with all of them, register."""
    data = await state.get_data()
    if not data.get("number"):
        await state.set_state(PosForm.number)
        await message.answer(texts.POS_ASK_NUMBER, parse_mode=None)
    elif not data.get("category"):
        await state.set_state(PosForm.category)
        titles = {c.id: c.title for c in rules.categories.values()}
        await message.answer(texts.POS_ASK_CATEGORY, reply_markup=category_keyboard(titles), parse_mode=None)
    elif not data.get("received"):
        await state.set_state(PosForm.received)
        await message.answer(texts.POS_ASK_RECEIVED, parse_mode=None)
    elif not data.get("text"):
        await state.set_state(PosForm.text)
        await message.answer(texts.POS_ASK_TEXT, parse_mode=None)
    else:
        await state.clear()
        await _register(message, actor, data, services)


async def _register(
    message: Message,
    actor: Actor,
    data: dict[str, Any],
    services: Services,
) -> None:
    if _registrar(actor) is None:
        await message.answer(texts.FORBIDDEN, parse_mode=None)
        return
    number = str(data["number"])
    inbound = InboundMessage(
        source=Source.POS,
        source_id=number,
        procedure=Procedure.POS,
        text=str(data["text"]),
        received_at=datetime.fromisoformat(str(data["received"])),
        category=str(data["category"]),
        external_number=number,
    )
    try:
        outcome = await services.register(inbound, actor)
    except DomainError as exc:
        await message.answer(exc.message, parse_mode=None)
        return
    if not outcome.created:
        await message.answer(texts.ALREADY_REGISTERED.format(case_id=outcome.case.id), parse_mode=None)
        return
    await message.answer(texts.REGISTERED.format(case_id=outcome.case.id), parse_mode=None)


async def on_number(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
) -> None:
    raw = (message.text or "").strip().lstrip("№").strip()
    if not NUMBER.match(raw):
        await message.answer(texts.POS_BAD_NUMBER, parse_mode=None)
        return
    await state.update_data(number=raw)
    await _next_step(message, state, actor, services, rules)


async def on_category(
    query: CallbackQuery,
    callback_data: PosCategoryCb,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
) -> None:
    category = rules.categories.get(callback_data.category)
    if category is None or not isinstance(query.message, Message):
        await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    await state.update_data(category=category.id)
    await query.answer(texts.POS_CATEGORY_CHOSEN.format(title=category.title))
    await query.message.edit_reply_markup(reply_markup=None)
    # The next prompt goes to the chat; the registrar is the presser, not the bot that wrote the message.
    await _next_step(query.message, state, actor, services, rules)


async def on_category_typed(message: Message, rules: Rules) -> None:
    titles = {c.id: c.title for c in rules.categories.values()}
    await message.answer(texts.POS_ASK_CATEGORY, reply_markup=category_keyboard(titles), parse_mode=None)


async def on_received(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
    calendar: WorkingCalendar,
) -> None:
    now = services.clock.now()
    at = parse_local(message.text or "", calendar, now)
    if at is None:
        await message.answer(texts.POS_BAD_RECEIVED, parse_mode=None)
        return
    if at > now:
        await message.answer(texts.POS_FUTURE_RECEIVED, parse_mode=None)
        return
    await state.update_data(received=at.isoformat())
    await _next_step(message, state, actor, services, rules)


async def on_text(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
) -> None:
    text = (message.text or message.caption or "").strip()
    if not text:
        await message.answer(texts.POS_ASK_TEXT, parse_mode=None)
        return
    await state.update_data(text=text)
    await _next_step(message, state, actor, services, rules)
