"""ПОС registration: a short dialogue (/pos: number → category → received → the due date ПОС shows, if any →
text), or a pasted/forwarded ПОС notification parsed as far as it goes, the dialogue asking only for what was
missing. A notice's due date is its «Срок ответа: …» line: a notice without one has none (ПОС shows none).
A command is never taken as an answer: /cancel ends the dialogue (handlers.cancel), any other gets one line.

The dialogue's state lives in aiogram's memory storage and does not survive a restart: its prompts ask for a
reply (ForceReply), so a reply to one that the bot no longer remembers is recognised and told to start again,
as is a press on its category keyboard. The «Зарегистрировано» confirmation is retried on
network and server errors (handlers.common.answer_surely); the ПОС chat's card and notice go through the outbox
anyway.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from aiogram import Bot, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message

from channels.pos.notice import NOTICE, parse_due, parse_notice
from handlers.commands import parse_local
from handlers.common import answer_surely
from handlers.errors import note_case
from views import texts
from views.callbacks import PosCategoryCb, PosNoDueCb
from views.keyboards import category_keyboard, no_due_keyboard
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import REGISTER_ROLES, check_message_instant, check_pos_due
from workflow.model import Actor, DomainError, InboundMessage, Procedure, Role, Source
from workflow.rules import Rules
from workflow.services import Services

NUMBER = re.compile(r"[0-9]{5,20}")  # ASCII digits: \d would take «１２３４５» and «١٢٣٤٥» too
# The dialogue's prompts: a reply to one of them without a dialogue in progress is an interrupted dialogue.
_PROMPTS = (
    texts.POS_ASK_NUMBER,
    texts.POS_ASK_CATEGORY,
    texts.POS_ASK_RECEIVED,
    texts.POS_ASK_DUE,
    texts.POS_ASK_TEXT,
)
CANCELLED = "cancelled"  # the dialogue's data after /cancel: a late reply to its prompt is told so
_REGISTRARS = frozenset(REGISTER_ROLES[Procedure.POS]) - {Role.SYSTEM}


class PosForm(StatesGroup):
    number = State()
    category = State()
    received = State()
    due = State()
    text = State()


def router() -> Router:
    r = Router(name="pos_intake")
    r.message.register(on_pos, Command("pos", ignore_case=True))
    r.message.register(on_interrupted, StateFilter(None), _reply_to_prompt)
    r.callback_query.register(on_interrupted_press, StateFilter(None), PosCategoryCb.filter())
    r.callback_query.register(on_interrupted_press, StateFilter(None), PosNoDueCb.filter())
    # Before any step: «/Cancel» typed by a phone, «/foo», «/case 5@other_bot» are not the ПОС number.
    r.message.register(on_command_in_dialogue, StateFilter(PosForm), _is_command)
    r.message.register(on_number, PosForm.number)
    r.callback_query.register(on_category, PosForm.category, PosCategoryCb.filter())
    r.message.register(on_category_typed, PosForm.category)
    r.message.register(on_received, PosForm.received)
    r.callback_query.register(on_no_due, PosForm.due, PosNoDueCb.filter())
    r.message.register(on_due, PosForm.due)
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


def _is_command(message: Message) -> bool:
    return (message.text or message.caption or "").lstrip().startswith("/")


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


async def cancel_dialogue(state: FSMContext) -> bool:
    """End this person's /pos dialogue in this chat, if one is in progress (for /cancel); whether one was."""
    if await state.get_state() is None:
        return False
    await state.clear()
    await state.set_data({CANCELLED: True})  # a reply to one of its prompts is then told it was cancelled
    return True


async def on_command_in_dialogue(message: Message, bot: Bot) -> None:
    first = (message.text or message.caption or "").split(maxsplit=1)[0]
    _, at, mention = first.partition("@")
    if at and mention.lower() != ((await bot.me()).username or "").lower():
        return  # a command for another bot in the group: not ours to answer, and not an answer either
    await message.answer(texts.POS_COMMAND_IN_DIALOGUE, parse_mode=None)


async def on_interrupted(message: Message, state: FSMContext) -> None:
    cancelled = (await state.get_data()).get(CANCELLED) is True
    await message.reply(texts.POS_CANCELLED_BEFORE if cancelled else texts.POS_INTERRUPTED, parse_mode=None)


async def on_interrupted_press(query: CallbackQuery) -> None:
    await query.answer(texts.POS_INTERRUPTED, show_alert=True)


async def on_notice(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
    calendar: WorkingCalendar,
    pos_categories: Mapping[str, str] | None = None,
) -> None:
    parsed = parse_notice(message.text or "", rules, calendar, pos_categories)
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
    if parsed.due_line is None:
        data["due"] = ""  # the notice shows no due date: there is none to ask for
    else:
        due, refusal = read_due(parsed.due_line, parsed.received, calendar)
        if refusal is not None:
            # The notice's due line is wrong: said in one line, and the due date is asked for in its step.
            await message.answer(refusal, parse_mode=None)
        else:
            data["due"] = due.isoformat() if due is not None else ""
    await state.set_data(data)
    await _next_step(message, state, actor, services, rules)


def read_due(
    value: str, received: datetime | None, calendar: WorkingCalendar
) -> tuple[date | None, str | None]:
    """(the ПОС due date, None) or (None, a one-line Russian refusal). «Не указан» and the like: (None, None).

    Refused: no date in it, a date that does not exist, a year outside the calendar, a date before the arrival
    (or more than a year after it: a mistyped year) — the domain's own check, made at the step.
    """
    value = value.strip()
    if value.lower().strip(" .«»") in texts.POS_NO_DUE_WORDS:
        return None, None
    if not value.isascii():  # «１０.１２.２０２６»: the digits are ASCII only, as everywhere in the dialogue
        return None, texts.POS_BAD_DUE
    try:
        due = parse_due(value)
    except ValueError:
        return None, texts.POS_NO_SUCH_DATE.format(value=value[:40])
    if due is None:
        return None, texts.POS_BAD_DUE
    if not calendar.covers(due):
        first, last = calendar.supported_years
        return None, texts.POS_DUE_BAD_YEAR.format(year=due.year, first=first, last=last)
    if received is not None:
        try:
            check_pos_due(due, received, calendar.tz)
        except DomainError as exc:
            return None, exc.message
    return due, None


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
    elif "due" not in data:
        await state.set_state(PosForm.due)
        await message.answer(texts.POS_ASK_DUE, reply_markup=no_due_keyboard(), parse_mode=None)
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
    due = str(data.get("due") or "")
    inbound = InboundMessage(
        source=Source.POS,
        source_id=number,
        procedure=Procedure.POS,
        text=str(data["text"]),
        received_at=datetime.fromisoformat(str(data["received"])),
        category=str(data["category"]),
        external_number=number,
        pos_due=date.fromisoformat(due) if due else None,
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
    due = str((await state.get_data()).get("due") or "")
    if due:  # a notice's due date, checked now against the arrival just given
        try:
            check_pos_due(date.fromisoformat(due), at, calendar.tz)
        except DomainError as exc:
            await message.answer(exc.message, parse_mode=None)
            data = await state.get_data()
            data.pop("due", None)  # asked for again in its step
            await state.set_data(data)
    await _next_step(message, state, actor, services, rules)


async def on_due(
    message: Message,
    state: FSMContext,
    services: Services,
    actor: Actor,
    rules: Rules,
    calendar: WorkingCalendar,
) -> None:
    received = datetime.fromisoformat(str((await state.get_data())["received"]))
    due, refusal = read_due(message.text or "", received, calendar)
    if refusal is not None:
        # One line, the step asked again with its button; nothing registered.
        await message.answer(refusal + texts.POS_DUE_AGAIN, reply_markup=no_due_keyboard(), parse_mode=None)
        return
    await state.update_data(due=due.isoformat() if due is not None else "")
    await _next_step(message, state, actor, services, rules)


async def on_no_due(
    query: CallbackQuery, state: FSMContext, services: Services, actor: Actor, rules: Rules
) -> None:
    if not isinstance(query.message, Message):
        await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    await state.update_data(due="")
    await query.answer(texts.POS_NO_DUE_CHOSEN)
    with contextlib.suppress(Exception):  # «message is not modified» and the like: the button is gone anyway
        await query.message.edit_reply_markup(reply_markup=None)
    await _next_step(query.message, state, actor, services, rules)


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
    await state.update_data(text=text)
    await _next_step(message, state, actor, services, rules)
