"""ПОС registration: a short dialogue (/pos: number → category → received → text), or a pasted/forwarded ПОС
notification parsed as far as it goes, the dialogue asking only for what was missing.

The dialogue's state lives in aiogram's memory storage and does not survive a restart: its prompts ask for a
reply (ForceReply), so a reply to one that the bot no longer remembers is recognised and told to start again,
as is a press on its category keyboard. `/cancel` ends it. The «Зарегистрировано» confirmation is retried on
network and server errors (handlers.common.answer_surely); the ПОС chat's card and notice go through the outbox
anyway.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message

from channels.pos.notice import NOTICE, parse_notice
from handlers.commands import parse_local
from handlers.common import answer_surely
from handlers.errors import note_case
from views import texts
from views.callbacks import PosCategoryCb
from views.keyboards import category_keyboard
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import REGISTER_ROLES, check_message_instant
from workflow.model import Actor, DomainError, InboundMessage, Procedure, Role, Source
from workflow.rules import Rules
from workflow.services import Services

NUMBER = re.compile(r"[0-9]{5,20}")  # ASCII digits: \d would take «１２３４５» and «١٢٣٤٥» too
# The dialogue's prompts: a reply to one of them without a dialogue in progress is an interrupted dialogue.
_PROMPTS = (texts.POS_ASK_NUMBER, texts.POS_ASK_CATEGORY, texts.POS_ASK_RECEIVED, texts.POS_ASK_TEXT)
_REGISTRARS = frozenset(REGISTER_ROLES[Procedure.POS]) - {Role.SYSTEM}


class PosForm(StatesGroup):
    number = State()
    category = State()
    received = State()
    text = State()


def router() -> Router:
    r = Router(name="pos_intake")
    r.message.register(on_pos, Command("pos"))
    r.message.register(on_cancel, Command("cancel"))
    r.message.register(on_interrupted, StateFilter(None), _reply_to_prompt)
    r.callback_query.register(on_interrupted_press, StateFilter(None), PosCategoryCb.filter())
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


def _reply_to_prompt(message: Message, bot: Bot) -> bool:
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != bot.id:
        return False
    return (target.text or "") in _PROMPTS


def _ask(text: str) -> ForceReply:
    # A reply names the prompt it answers: in a group it is the dialogue's, and after a restart it is known.
    return ForceReply(input_field_placeholder=text[:64])


async def on_pos(message: Message, state: FSMContext, actor: Actor) -> None:
    if _registrar(actor) is None:
        await message.answer(texts.FORBIDDEN, parse_mode=None)
        return
    await state.clear()
    await state.set_state(PosForm.number)
    await message.answer(texts.POS_ASK_NUMBER, reply_markup=_ask(texts.POS_NUMBER_HINT), parse_mode=None)


async def on_cancel(message: Message, state: FSMContext) -> None:
    if await state.get_state() is None:
        await message.answer(texts.POS_NOTHING_TO_CANCEL, parse_mode=None)
        return
    await state.clear()
    await message.answer(texts.POS_CANCEL, parse_mode=None)


async def on_interrupted(message: Message) -> None:
    await message.reply(texts.POS_INTERRUPTED, parse_mode=None)


async def on_interrupted_press(query: CallbackQuery) -> None:
    await query.answer(texts.POS_INTERRUPTED, show_alert=True)


async def on_notice(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
    calendar: WorkingCalendar,
) -> None:
    parsed = parse_notice(message.text or "", rules, calendar)
    if parsed.received is not None:
        try:  # a notice dated 01.12.9026 or 01.12.0001: refused before anything is computed from it
            check_message_instant(parsed.received, services.clock.now())
        except DomainError as exc:
            await message.answer(exc.message, parse_mode=None)
            return
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
        await message.answer(texts.POS_ASK_NUMBER, reply_markup=_ask(texts.POS_NUMBER_HINT), parse_mode=None)
    elif not data.get("category"):
        await state.set_state(PosForm.category)
        titles = {c.id: c.title for c in rules.categories.values()}
        await message.answer(texts.POS_ASK_CATEGORY, reply_markup=category_keyboard(titles), parse_mode=None)
    elif not data.get("received"):
        await state.set_state(PosForm.received)
        await message.answer(
            texts.POS_ASK_RECEIVED, reply_markup=_ask(texts.POS_RECEIVED_HINT), parse_mode=None
        )
    elif not data.get("text"):
        await state.set_state(PosForm.text)
        await message.answer(texts.POS_ASK_TEXT, reply_markup=_ask(texts.POS_TEXT_HINT), parse_mode=None)
    else:
        await _register(message, state, actor, data, services)


async def _register(
    message: Message,
    state: FSMContext,
    actor: Actor,
    data: dict[str, Any],
    services: Services,
) -> None:
    if _registrar(actor) is None:
        await state.clear()
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
        await state.clear()
        await message.answer(exc.message, parse_mode=None)
        return
    # Cleared only once saved: when storage is down (StorageUnavailable passes through) the dialogue's data
    # stays, so the same update handled again from the inbox registers it.
    await state.clear()
    note_case(outcome.case.id)
    done = texts.REGISTERED if outcome.created else texts.ALREADY_REGISTERED
    await answer_surely(message, done.format(case_id=outcome.case.id))


async def on_number(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
) -> None:
    raw = (message.text or "").strip().lstrip("№").strip()
    if not NUMBER.fullmatch(raw):
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
    try:
        check_message_instant(at, now)  # before 2000: the domain's own line
    except DomainError as exc:
        await message.answer(exc.message, parse_mode=None)
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
        await message.answer(texts.POS_ASK_TEXT, reply_markup=_ask(texts.POS_TEXT_HINT), parse_mode=None)
        return
    if text.startswith("/"):  # a command the dialogue does not know: not the citizen's text
        await message.answer(texts.POS_COMMAND_IN_DIALOGUE, parse_mode=None)
        return
    await state.update_data(text=text)
    await _next_step(message, state, actor, services, rules)
