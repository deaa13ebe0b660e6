"""Replies to the bot's messages: an answer to a prompt (reason, link) or a reply about a case.

A reply to any bot message about a case (its card, a notice, a reminder, a miss alert, a one-off card of /case)
counts as a reply to the case's card: delivery records which case each of its messages is about. It carries a
unit's information or a draft answer: the chat, the person's units and the case's status decide which (via
available_actions); the use case has the last word. A reply about a case the person may not see changes nothing.

A plain message in a unit chat where the person's unit has open cases waiting for its information or draft is
asked «К какому сообщению?» with one button per case. Nothing is kept in memory: the question replies to the
message, so at the press the message is the question's reply_to_message, and the buttons on the question are
what may be chosen.
"""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from handlers.common import DeliveryPort, find_prompt, prompt_cancelled, prompt_key, run_action
from views import texts
from views.callbacks import WhichCaseCb, canonical
from views.html import escape
from views.keyboards import held_draft_keyboard, which_case_keyboard
from views.privacy import NO_MASKING, Privacy
from workflow.lifecycle import Action, ActionPayload, Status, available_actions
from workflow.model import Actor, Attachment, Case, DomainError, Procedure, Role
from workflow.ports import VIEW_CHOICE
from workflow.services import Services
from workflow.visibility import UNIT_ROLES, may_see

ANSWERED = "answered_by"  # prompt data once answered: the origin of the reply that did
WHICH_LIMIT = 8  # buttons under «К какому сообщению?», nearest due first
_TERMS_READ = 50  # open terms read to find them (a case may owe several)


def router() -> Router:
    r = Router(name="replies")
    r.message.register(on_reply, _reply_to_bot)
    r.message.register(on_plain, _plain_in_unit_chat)
    r.callback_query.register(on_which, WhichCaseCb.filter())
    return r


def _reply_to_bot(message: Message, bot: Bot) -> bool:
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != bot.id:
        return False
    return not (message.text or "").startswith("/")


def _plain_in_unit_chat(message: Message, chat_roles: set[Role], chat_units: set[str]) -> bool:
    """Not a reply, not a command, in a chat that works only as a unit's (not the intake or a curator's chat)."""
    if not chat_units or chat_roles - UNIT_ROLES:
        return False
    if message.reply_to_message is not None or (message.text or message.caption or "").startswith("/"):
        return False
    if message.media_group_id is not None and not message.caption:
        return False  # an album's other items: the question goes under the one with the caption only
    return bool(message.text or message.caption or attachments_of(message))


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


def _origin(message: Message) -> str:
    return f"telegram:{message.chat.id}:{message.message_id}"  # one action per message, however often handled


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
    origin = _origin(message)
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
    if _is_prompt(target):
        # A prompt the bot no longer remembers (prompts live in memory and do not survive a restart): say so,
        # rather than drop the reason or link in silence, or take a reason for information.
        await message.reply(texts.PROMPT_EXPIRED, parse_mode=None)
        return
    case_id = await delivery.case_for_message(message.chat.id, target.message_id)
    case = await services.case(case_id) if case_id is not None else None
    if case is None:
        return  # a reply to some other bot message (an answer, a question): nothing to do
    answer, _held = await apply_reply(message, case, services, actor, chat_units, refuse_empty=True)
    if answer:
        await message.reply(answer, parse_mode=None)


async def apply_reply(
    message: Message,
    case: Case,
    services: Services,
    actor: Actor,
    chat_units: set[str],
    *,
    refuse_empty: bool,
) -> tuple[str, bool]:
    """Take `message` as a reply to the case's card: the Russian answer ("" when there is nothing to say), and
    whether it was a draft the answer checks held (its findings and buttons are sent under `message`)."""
    if not may_see(case, actor):
        return texts.REPLY_NOT_VISIBLE.format(case_id=case.id), False
    text = message.text or message.caption or ""
    files = attachments_of(message)
    origin = _origin(message)
    if not text.strip() and not files:
        return (texts.REPLY_TEXT_EMPTY if refuse_empty else ""), False
    action, unit = _reply_action(case, actor, chat_units)
    if action is None and await services.applied(case.id, origin):
        return "", False  # this very reply handled again (inbox): it moved the case on already; nothing to say
    if action is None:
        reason = texts.REPLY_NO_ACTION.format(status=Status(case.status).label)
        return texts.REPLY_NOT_EXPECTED.format(reason=reason), False
    payload = ActionPayload(text=text, unit=unit, attachments=files, origin=origin)
    if action is Action.SUBMIT:
        return await _submit_reviewed(message, case, services, actor, payload)
    _done, answer = await run_action(services, case.id, action, actor, version=None, payload=payload)
    return answer, False


async def _submit_reviewed(
    message: Message, case: Case, services: Services, actor: Actor, payload: ActionPayload
) -> tuple[str, bool]:
    """The submitter's draft goes through the answer checks: with findings it is held (saved, nothing else moves)
    and the findings go under the reply with «Отправить всё равно» / «Исправить» (issue 13, item 5)."""
    try:
        outcome = await services.act(case.id, Action.SUBMIT, actor, payload=payload, review=True)
    except DomainError as exc:
        return exc.message, False
    if outcome.replayed:
        return "", False
    if not outcome.held:
        return texts.DONE_BY_ACTION[Action.SUBMIT.value], False
    findings = "\n".join(escape(texts.CARD_CHECK.format(text=f.text)) for f in outcome.held)
    await message.reply(
        texts.DRAFT_HELD_HTML.format(case_id=case.id, findings=findings),
        reply_markup=held_draft_keyboard(outcome.case),
        parse_mode="HTML",
    )
    return "", True


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


# --- «К какому сообщению?» ---------------------------------------------------------------------------------


async def waiting_cases(services: Services, actor: Actor, chat_units: set[str]) -> list[Case]:
    """The open cases waiting for this person's unit (of this chat) to give information or a draft, nearest
    due first, at most WHICH_LIMIT."""
    units = actor.units & chat_units
    roles = actor.roles & UNIT_ROLES
    if not units or not roles:
        return []
    as_unit = Actor(user_id=actor.user_id, roles=frozenset(roles), units=frozenset(units), name=actor.name)
    listed = await services.my_terms(as_unit, _TERMS_READ)
    found: list[Case] = []
    for case_id in dict.fromkeys(term.case_id for term in listed.page.terms):
        try:
            case = await services.case(case_id)
        except DomainError:
            continue
        action, _unit = _reply_action(case, actor, chat_units)
        if action is not None:
            found.append(case)
            if len(found) == WHICH_LIMIT:
                break
    return found


async def on_plain(
    message: Message, services: Services, actor: Actor, chat_units: set[str], privacy: Privacy = NO_MASKING
) -> None:
    cases = await waiting_cases(services, actor, chat_units)
    if not cases:
        return  # chatter: nothing waits for this unit
    choices = []
    for case in cases:
        view = await services.card_view(case.id)
        choices.append((case.id, privacy.text(view.message.text, view.message) if view.message is not None else ""))
    # The buttons show the messages' beginnings: a view of personal data, logged first (issue 14).
    await services.record_views([c for c, _ in choices], actor, chat_id=message.chat.id, what=VIEW_CHOICE)
    await message.reply(texts.WHICH_CASE, reply_markup=which_case_keyboard(choices), parse_mode=None)


def _offered(markup: InlineKeyboardMarkup | None) -> list[int]:
    """The case ids the question's buttons offer (what this build drew there)."""
    found: list[int] = []
    for row in markup.inline_keyboard if markup is not None else []:
        for button in row:
            try:
                found.append(WhichCaseCb.unpack(button.callback_data or "").case_id)
            except (TypeError, ValueError):
                continue
    return found


async def on_which(
    query: CallbackQuery,
    callback_data: WhichCaseCb,
    services: Services,
    actor: Actor,
    chat_units: set[str],
) -> None:
    question = query.message if isinstance(query.message, Message) else None
    original = question.reply_to_message if question is not None else None
    if not canonical(callback_data, query.data) or question is None:
        await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    if original is None:
        await query.answer(texts.WHICH_GONE, show_alert=True)
        return
    if original.from_user is None or original.from_user.id != query.from_user.id:
        await query.answer(texts.WHICH_NOT_AUTHOR, show_alert=True)
        return
    offered = _offered(question.reply_markup)
    origin = _origin(original)
    for case_id in offered:
        if await services.applied(case_id, origin):
            await query.answer(texts.WHICH_ALREADY)
            return
    if not offered:  # the question was answered and its buttons taken away
        await query.answer(texts.WHICH_ALREADY)
        return
    if callback_data.case_id not in offered:
        await query.answer(texts.WHICH_NOT_OFFERED, show_alert=True)
        return
    try:
        case = await services.case(callback_data.case_id)
    except DomainError as exc:
        await query.answer(exc.message, show_alert=True)
        return
    answer, held = await apply_reply(original, case, services, actor, chat_units, refuse_empty=True)
    if not await services.applied(case.id, origin):
        await query.answer(answer or texts.UNKNOWN_BUTTON, show_alert=True)  # refused: the question stays
        return
    await query.answer(texts.DRAFT_HELD_TOAST if held else answer or texts.WHICH_ALREADY)
    await question.edit_text(texts.WHICH_APPLIED.format(case_id=case.id), reply_markup=None, parse_mode=None)
