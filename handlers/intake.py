"""The intake chat: registration on purpose.

Staff post (or forward) a message in the intake chat and the bot asks once, in a reply under it, where it came
from: a network (ВКонтакте, Одноклассники, Telegram: п.4), «От ЦУР» (handed over by the region curator, п.6),
«Другое», or «Не регистрировать». Nothing is registered before a press, so «Коллеги, я на обеде до 14:00» never
becomes a case. The press registers the message with that network; the question is edited to say what was
chosen and by whom (no new post), and its buttons go.

No state of its own: the press comes on the bot's question, which is a reply to the staff member's message, and
Telegram hands that message over with the press (`callback_query.message.reply_to_message`): its text, caption,
forward origin, attachments and date are read at press time. A restart between the question and the press loses
nothing, and the inbox keeps the update itself. The source is the intake message (Source.INTAKE,
"<chat>:<message>") whichever button is pressed, so two presses, or two people pressing at once, make one case
and the second hears «Уже зарегистрировано: сообщение № N».

«От ЦУР» means handed over by the region curator (Case.handed_over: he hears how it ends, RULES.md §6); a network
chosen without it means the operator found the message himself. The author and the link come from the forward
origin (a channel post's t.me link; not a staff member, who only forwards) or from the text (a vk.com / ok.ru /
t.me link, an «Автор:» line).

Recognised without asking where the form allows:
- a ЦУР IM card stating its detection time («Выявлено: ДД.ММ.ГГГГ ЧЧ:ММ», see `detected_in`) is registered at
  once as handed over, T0 = that time: the form is unambiguous. The bot replies with the number.
- a link to a network, a post forwarded from a Telegram channel, the region curator's own forward or post only
  hint: chit-chat carries links too, so the question still comes, with the recognised choice first and marked.

A hand-over of an item a channel already took in (issue 12): with the link book configured (`links`), the card
at once and the «От ЦУР» press first try to attach to the item's case (handlers/handover.py): one case, T0 at the
ЦУР detection time, «Присоединено к сообщению № N (срок пересчитан от ЦУР: …)»; a finished case is said so and
nothing is registered; otherwise the message is registered as below.

The detection time (RULES.md §2, п.10: open-source terms count from when ЦУР detected the message): «От ЦУР»
without a «Выявлено» line registers at once with T0 = the post time, so registration never waits, and the edited
question asks once «Когда ЦУР выявил сообщение?» with a button «Как в сообщении: ЧЧ:ММ». A reply to it with
ЧЧ:ММ or ДД.ММ ЧЧ:ММ (or the button) is the domain's `set_detected`: T0 moves, the open T0 terms are recomputed
(workflow.lifecycle). Bad input (unparsable, in the future, after the post time, before 2000) gets one line and
changes nothing; a case already routed refuses it (its routing term is history).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, tzinfo

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardMarkup,
    Message,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from channels.links import LinkBook
from handlers.common import run_action
from handlers.errors import note_case
from handlers.handover import hand_over, merged_line
from handlers.middlewares import StaffDirectory
from handlers.replies import attachments_of
from views import texts
from views.callbacks import DetectedCb, IntakeCb, IntakeChoice
from views.keyboards import detected_keyboard, intake_keyboard
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import (
    REGISTER_ROLES,
    ROLE_NAMES,
    Action,
    ActionPayload,
    check_detected,
    registering_role,
)
from workflow.model import (
    Actor,
    Case,
    DomainError,
    InboundMessage,
    Network,
    Procedure,
    Role,
    Source,
)
from workflow.services import Services

log = logging.getLogger(__name__)

OS = Procedure.OPEN_SOURCES
_REGISTRARS = frozenset(REGISTER_ROLES[OS]) - {Role.SYSTEM}

# The detection time a ЦУР card states (п.10), e.g. «Выявлено: 01.12.2026 09:40» or «Дата выявления 01.12.2026,
# 09:40»: local time of the administration.
_DETECTED = re.compile(
    r"^\s*(?:выявлено(?:\s+цур)?|дата\s+и\s+время\s+выявления|дата\s+выявления|время\s+выявления)\s*:?\s*"
    r"([0-9]{2})\.([0-9]{2})\.([0-9]{4})[\s,]+([0-9]{1,2}):([0-9]{2})",  # ASCII digits
    re.IGNORECASE | re.MULTILINE,
)
# A link to a post on one of п.4's networks, as the text or a hidden text link carries it.
_LINK = re.compile(
    r"https?://(?:www\.|m\.)?(vk\.com|vk\.ru|ok\.ru|t\.me|telegram\.me)/[^\s<>\"'«»]+", re.IGNORECASE
)
_NETWORK_OF_HOST = {
    "vk.com": Network.VK,
    "vk.ru": Network.VK,
    "ok.ru": Network.OK,
    "t.me": Network.TELEGRAM,
    "telegram.me": Network.TELEGRAM,
}
_AUTHOR = re.compile(r"^\s*автор(?:\s+сообщения)?\s*:\s*(\S.{0,199}?)\s*$", re.IGNORECASE | re.MULTILINE)
_CHOICE_NETWORK = {
    IntakeChoice.VK: Network.VK,
    IntakeChoice.OK: Network.OK,
    IntakeChoice.TELEGRAM: Network.TELEGRAM,
    IntakeChoice.OTHER: Network.OTHER,
}
_NETWORK_CHOICE = {network: choice for choice, network in _CHOICE_NETWORK.items()}
# The answer to «Когда ЦУР выявил сообщение?»: ЧЧ:ММ (the post's day), ДД.ММ ЧЧ:ММ (its year), or the full date.
_ANSWER_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")
_ANSWER_DAY_TIME = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})(?:\.([0-9]{4}))?[\s,]+([0-9]{1,2}):([0-9]{2})")


def detected_in(text: str, tz: tzinfo) -> datetime | None:
    """The detection time a forwarded ЦУР card states, or None (then T0 is the post time)."""
    found = _DETECTED.search(text)
    if found is None:
        return None
    day, month, year, hour, minute = (int(g) for g in found.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:
        return None


def link_in(text: str) -> tuple[Network, str] | None:
    """The first link to a VK, OK or Telegram post in the text, with its network."""
    found = _LINK.search(text)
    if found is None:
        return None
    return _NETWORK_OF_HOST[found.group(1).lower()], found.group(0).rstrip(".,;:!?)")


def detected_answer(text: str, posted: datetime, tz: tzinfo) -> datetime | None:
    """The time typed in answer to the detection question: ЧЧ:ММ on the post's local day, ДД.ММ ЧЧ:ММ in its
    year, or ДД.ММ.ГГГГ ЧЧ:ММ; None when it is none of them (the domain then judges the instant)."""
    value = text.strip()
    if not value.isascii():  # «０９:４０» and the like: only ASCII digits are digits here
        return None
    local = posted.astimezone(tz)
    try:
        if found := _ANSWER_TIME.fullmatch(value):
            hour, minute = int(found.group(1)), int(found.group(2))
            return datetime(local.year, local.month, local.day, hour, minute, tzinfo=tz)
        if found := _ANSWER_DAY_TIME.fullmatch(value):
            day, month, hour, minute = (int(found.group(i)) for i in (1, 2, 4, 5))
            year = int(found.group(3)) if found.group(3) else local.year
            return datetime(year, month, day, hour, minute, tzinfo=tz)
    except ValueError:  # 25:00, 31.02
        return None
    return None


def router() -> Router:
    r = Router(name="intake")
    # Before the replies router: an answer to the detection question is a reply to a bot message too.
    r.message.register(on_detected_reply, _answers_detection_question)
    r.message.register(on_intake, _in_intake_chat)
    r.callback_query.register(on_choice, IntakeCb.filter())
    r.callback_query.register(on_as_posted, DetectedCb.filter())
    return r


def _in_intake_chat(message: Message, chat_roles: set[Role]) -> bool:
    if Role.OPERATOR not in chat_roles:
        return False
    if message.reply_to_message is not None or (message.text or "").startswith("/"):
        return False
    return bool(message.text or message.caption or message.photo or message.document or message.video)


def _question_case(question: Message | None, bot_id: int) -> int | None:
    """The case a detection question (a bot message with «Как в сообщении») is about, from its own keyboard."""
    if question is None or question.from_user is None or question.from_user.id != bot_id:
        return None
    markup = question.reply_markup
    for row in markup.inline_keyboard if markup is not None else ():
        for button in row:
            if not button.callback_data:
                continue
            try:
                return DetectedCb.unpack(button.callback_data).case_id
            except (TypeError, ValueError):  # another button, or not ours
                continue
    return None


_ANSWERED_QUESTION = re.compile(
    "^"
    + re.escape(texts.INTAKE_REGISTERED.split("{")[0])
    + r"([0-9]{1,19}) .*\n"
    + re.escape(texts.INTAKE_DETECTED.split("{")[0]),
    re.DOTALL,
)


def _answered_case(question: Message | None, bot_id: int) -> int | None:
    """The case of a detection question already answered (its button gone): a second answer hears so."""
    if question is None or question.from_user is None or question.from_user.id != bot_id:
        return None
    found = _ANSWERED_QUESTION.match(question.text or "")
    return int(found.group(1)) if found else None


def _answers_detection_question(message: Message, bot: Bot, chat_roles: set[Role]) -> bool:
    if Role.OPERATOR not in chat_roles or (message.text or "").startswith("/"):
        return False
    target = message.reply_to_message
    return _question_case(target, bot.id) is not None or _answered_case(target, bot.id) is not None


def _has_button(message: Message, data: str | None) -> bool:
    """Whether the pressed message carries a button with exactly this data: drawn by us, not yet answered."""
    markup = message.reply_markup
    if data is None or markup is None:
        return False
    return any(button.callback_data == data for row in markup.inline_keyboard for button in row)


def _source_id(message: Message) -> str:
    return f"{message.chat.id}:{message.message_id}"


def _origin(message: Message, directory: StaffDirectory) -> tuple[str, str]:
    """(author, link) of a forwarded message, as far as Telegram tells. A staff member (the region curator
    forwarding his IM card) is who handed it over, not its author."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        if directory.actor(origin.sender_user.id) is not None:
            return "", ""
        return origin.sender_user.full_name, ""
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name, ""
    if isinstance(origin, MessageOriginChannel):
        link = f"https://t.me/{origin.chat.username}/{origin.message_id}" if origin.chat.username else ""
        return origin.chat.title or "", link
    if isinstance(origin, MessageOriginChat):
        return origin.sender_chat.title or "", ""
    return "", ""


def _searchable(message: Message) -> str:
    """The text with the URLs of its hidden text links, where a link to the post may be."""
    text = message.text or message.caption or ""
    entities = message.entities or message.caption_entities or []
    urls = [e.url for e in entities if e.type == "text_link" and e.url]
    return "\n".join([text, *urls])


def _recognised(message: Message, actor: Actor, directory: StaffDirectory) -> tuple[IntakeChoice | None, str]:
    """The choice the message's form suggests, and why (for the question); (None, "") when nothing does."""
    origin = message.forward_origin
    if isinstance(origin, MessageOriginUser):
        sender = directory.actor(origin.sender_user.id)
        if sender is not None and sender.has(Role.REGION_CURATOR):
            return IntakeChoice.CURATOR, texts.INTAKE_RECOGNISED_CURATOR
    if actor.has(Role.REGION_CURATOR) and not actor.has(Role.OPERATOR):
        return IntakeChoice.CURATOR, texts.INTAKE_RECOGNISED_CURATOR
    found = link_in(_searchable(message))
    if found is not None:
        name = texts.NETWORK_NAMES[found[0].value]
        return _NETWORK_CHOICE[found[0]], texts.INTAKE_RECOGNISED_LINK.format(network=name)
    if isinstance(origin, MessageOriginChannel):
        return IntakeChoice.TELEGRAM, texts.INTAKE_RECOGNISED_CHANNEL
    return None, ""


def _inbound(
    message: Message, choice: IntakeChoice, directory: StaffDirectory, detected: datetime | None
) -> InboundMessage:
    """The intake message as the case's source message, with what the choice and its form tell."""
    text = message.text or message.caption or ""
    author, link = _origin(message, directory)
    network = _CHOICE_NETWORK.get(choice)
    found = link_in(_searchable(message))
    if found is not None:
        link = link or found[1]
        network = network or found[0]
    elif network is None and isinstance(message.forward_origin, MessageOriginChannel):
        network = Network.TELEGRAM
    if not author and (named := _AUTHOR.search(text)):
        author = named.group(1)
    return InboundMessage(
        source=Source.INTAKE,
        source_id=_source_id(message),
        procedure=OS,
        text=text,
        received_at=message.date,
        detected_at=detected,
        author=author,
        link=link,
        attachments=attachments_of(message),
        network=network,
        handed_over=choice is IntakeChoice.CURATOR,
    )


def _name(actor: Actor) -> str:
    if actor.name:
        return actor.name
    role = next((r for r in (Role.OPERATOR, Role.REGION_CURATOR) if actor.has(r)), Role.OPERATOR)
    return ROLE_NAMES[role]


def _local(at: datetime, tz: tzinfo, fmt: str = "%d.%m.%Y %H:%M") -> str:
    return at.astimezone(tz).strftime(fmt)


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Edit the question after the press is answered; a failed edit leaves it as it was (the case is saved)."""
    try:
        await message.edit_text(text, reply_markup=markup, parse_mode=None)
    except TelegramAPIError as exc:  # "message is not modified", a deleted question, a network blip
        log.info("intake question %s not edited: %s", message.message_id, exc)


# --- a message in the intake chat --------------------------------------------------------------------------


async def on_intake(
    message: Message,
    services: Services,
    actor: Actor,
    calendar: WorkingCalendar,
    directory: StaffDirectory,
    links: LinkBook | None = None,
) -> None:
    if not actor.roles & _REGISTRARS:
        return  # staff talking in the chat, not handing a message over
    text = message.text or message.caption or ""
    detected = detected_in(text, calendar.tz)
    refused = ""
    if detected is not None and links is not None:
        # The card may be about an item a channel already took in: attached to its case, or registered.
        inbound = _inbound(message, IntakeChoice.CURATOR, directory, detected)
        try:
            merged = await hand_over(
                services, inbound, actor, message, _searchable(message), detected, links, directory
            )
        except DomainError as exc:
            # The item's case is finished, or handed over already: said so, nothing reopened, nothing new.
            if exc.code in ("closed", "already_done"):
                await message.reply(exc.message, parse_mode=None)
                return
            refused = exc.message
        else:
            note_case(merged.outcome.case.id)
            if merged.outcome.created:
                case = merged.outcome.case
                done = (
                    merged_line(merged.outcome, calendar.tz)
                    if merged.outcome.attached
                    else texts.INTAKE_REGISTERED_AT_ONCE.format(
                        case_id=case.id, at=_local(case.t0, calendar.tz)
                    )
                )
                lines = [done, merged.not_connected] if merged.not_connected else [done]
                await message.reply("\n".join(lines), parse_mode=None)
            return
    elif detected is not None:
        # A ЦУР IM card with its detection time: unambiguous, registered at once as handed over.
        try:
            outcome = await services.register(
                _inbound(message, IntakeChoice.CURATOR, directory, detected), actor
            )
        except DomainError as exc:
            refused = (
                exc.message
            )  # e.g. detected after the post: ask, and say why the card's time was not taken
        else:
            note_case(outcome.case.id)
            if outcome.created:
                done = texts.INTAKE_REGISTERED_AT_ONCE.format(
                    case_id=outcome.case.id, at=_local(outcome.case.t0, calendar.tz)
                )
                await message.reply(done, parse_mode=None)
            # Not created: this very update handled again (the inbox); it was answered the first time.
            return
    choice, why = _recognised(message, actor, directory)
    lines = [texts.INTAKE_QUESTION]
    if why:
        lines.append(texts.INTAKE_RECOGNISED.format(what=why))
    if refused:
        lines.append(texts.INTAKE_CARD_DETECTED_REFUSED.format(reason=refused.rstrip(".")))
    await message.reply("\n".join(lines), reply_markup=intake_keyboard(choice), parse_mode=None)


# --- a press on the question -------------------------------------------------------------------------------


async def on_choice(
    query: CallbackQuery,
    callback_data: IntakeCb,
    bot: Bot,
    services: Services,
    actor: Actor,
    chat_roles: set[Role],
    calendar: WorkingCalendar,
    directory: StaffDirectory,
    links: LinkBook | None = None,
) -> None:
    question = query.message if isinstance(query.message, Message) else None
    if question is None:  # too old for Telegram to show (InaccessibleMessage)
        await query.answer(texts.INTAKE_QUESTION_GONE, show_alert=True)
        return
    if Role.OPERATOR not in chat_roles or question.from_user is None or question.from_user.id != bot.id:
        await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    original = question.reply_to_message
    if original is not None and original.from_user is not None and original.from_user.id == bot.id:
        await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)  # not a question under a staff message
        return
    existing = await services.registered(Source.INTAKE, _source_id(original)) if original else None
    if not _has_button(question, query.data):
        # Answered already (the buttons are gone) or not a button of this message at all.
        if existing is not None:
            await query.answer(texts.INTAKE_ALREADY.format(case_id=existing), show_alert=True)
        elif (question.text or "").startswith(texts.INTAKE_NOT_REGISTERED.split("(")[0].strip()):
            await query.answer(texts.INTAKE_DECIDED, show_alert=True)
        else:
            await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    if original is None:  # the staff member deleted the message before the press
        await query.answer(texts.INTAKE_ORIGINAL_GONE, show_alert=True)
        await _edit(question, texts.INTAKE_ORIGINAL_GONE)
        return
    try:
        registering_role(actor, OS)
    except DomainError as exc:
        await query.answer(exc.message, show_alert=True)
        return
    if existing is not None:
        await query.answer(texts.INTAKE_ALREADY.format(case_id=existing), show_alert=True)
        return
    choice = callback_data.choice
    if choice is IntakeChoice.SKIP:
        await query.answer(texts.INTAKE_SKIPPED_TOAST)
        await _edit(question, texts.INTAKE_NOT_REGISTERED.format(name=_name(actor)))
        return
    if not (original.text or original.caption or attachments_of(original)):
        await query.answer(texts.INTAKE_NOTHING, show_alert=True)
        return
    if choice is IntakeChoice.CURATOR and links is not None:
        await _hand_over(query, question, original, services, actor, calendar, directory, links)
        return
    await _register(query, question, original, choice, services, actor, calendar, directory)


def _stated_detection(original: Message, services: Services, calendar: WorkingCalendar) -> datetime | None:
    """The card's «Выявлено» time when the domain would take it; a refused one is left for the prompt."""
    stated = detected_in(original.text or original.caption or "", calendar.tz)
    if stated is None:
        return None
    try:
        check_detected(stated, original.date, services.clock.now())
    except DomainError:
        return None
    return stated


async def _hand_over(
    query: CallbackQuery,
    question: Message,
    original: Message,
    services: Services,
    actor: Actor,
    calendar: WorkingCalendar,
    directory: StaffDirectory,
    links: LinkBook,
) -> None:
    """«От ЦУР»: attached to the case of the item a channel already took in, or registered as `_register` does."""
    detected = _stated_detection(original, services, calendar)
    inbound = _inbound(original, IntakeChoice.CURATOR, directory, detected)
    try:
        merged = await hand_over(
            services, inbound, actor, original, _searchable(original), detected, links, directory
        )
    except DomainError as exc:
        await query.answer(exc.message, show_alert=True)
        if exc.code in ("closed", "already_done"):
            await _edit(question, exc.message)
        return
    outcome = merged.outcome
    note_case(outcome.case.id)
    if not outcome.attached:
        await _registered(
            query,
            question,
            inbound,
            outcome.case,
            outcome.created,
            IntakeChoice.CURATOR,
            actor,
            calendar,
            merged.not_connected,
        )
        return
    if not outcome.created:
        await query.answer(texts.INTAKE_ALREADY.format(case_id=outcome.case.id), show_alert=True)
        return
    line = merged_line(outcome, calendar.tz)
    await query.answer(line)
    await _edit(question, f"{line} ({_name(actor)})")


async def _register(
    query: CallbackQuery,
    question: Message,
    original: Message,
    choice: IntakeChoice,
    services: Services,
    actor: Actor,
    calendar: WorkingCalendar,
    directory: StaffDirectory,
) -> None:
    # A «Выявлено» line the card-at-once path refused (it would be refused again) is left for the prompt.
    detected = _stated_detection(original, services, calendar) if choice is IntakeChoice.CURATOR else None
    inbound = _inbound(original, choice, directory, detected)
    try:
        outcome = await services.register(inbound, actor)
    except DomainError as exc:
        await query.answer(exc.message, show_alert=True)
        return
    note_case(outcome.case.id)
    await _registered(query, question, inbound, outcome.case, outcome.created, choice, actor, calendar)


async def _registered(
    query: CallbackQuery,
    question: Message,
    inbound: InboundMessage,
    case: Case,
    created: bool,
    choice: IntakeChoice,
    actor: Actor,
    calendar: WorkingCalendar,
    note: str = "",
) -> None:
    """The answer to a press that registered the message (`note`: a line to add, e.g. a network not connected)."""
    if not created:  # pressed at the same moment by someone else
        await query.answer(texts.INTAKE_ALREADY.format(case_id=case.id), show_alert=True)
        return
    await query.answer(texts.REGISTERED.format(case_id=case.id))
    source = texts.INTAKE_SOURCES[choice.value]
    if choice is IntakeChoice.CURATOR and inbound.network is not None:
        source = f"{source}, {texts.NETWORK_NAMES[inbound.network.value]}"
    done = texts.INTAKE_REGISTERED.format(case_id=case.id, source=source, name=_name(actor))
    if note:
        done = f"{done}\n{note}"
    if choice is IntakeChoice.CURATOR and not case.detection_stated:
        posted = _local(case.t0, calendar.tz, "%H:%M")
        await _edit(question, f"{done}\n{texts.INTAKE_ASK_DETECTED}", detected_keyboard(case.id, posted))
    elif case.detection_stated:
        detected_line = texts.INTAKE_DETECTED.format(at=_local(case.t0, calendar.tz), name=_name(actor))
        await _edit(question, f"{done}\n{detected_line}")
    else:
        await _edit(question, done)


# --- the detection time -------------------------------------------------------------------------------------


def _answered(question: Message, line: str) -> str:
    """The question's text with the detection prompt replaced by what was stated."""
    head = (question.text or "").split("\n" + texts.INTAKE_ASK_DETECTED)[0]
    return f"{head}\n{line}"


async def _set_detected(
    services: Services, case_id: int, actor: Actor, detected: datetime, origin: str
) -> tuple[bool, str]:
    payload = ActionPayload(detected_at=detected, origin=origin)
    return await run_action(services, case_id, Action.SET_DETECTED, actor, version=None, payload=payload)


async def on_as_posted(
    query: CallbackQuery,
    callback_data: DetectedCb,
    bot: Bot,
    services: Services,
    actor: Actor,
    chat_roles: set[Role],
    calendar: WorkingCalendar,
) -> None:
    """«Как в сообщении»: ЦУР detected the message when it was posted here; T0 stays, and is now stated."""
    question = query.message if isinstance(query.message, Message) else None
    if question is None:
        await query.answer(texts.INTAKE_QUESTION_GONE, show_alert=True)
        return
    case_id = callback_data.case_id
    note_case(case_id)
    ours = Role.OPERATOR in chat_roles and _question_case(question, bot.id) == case_id
    try:
        case = await services.case(case_id) if Role.OPERATOR in chat_roles else None
    except DomainError:
        case = None
    if case is None or not ours or not _has_button(question, query.data):
        if case is not None and (case.detection_stated or case.received_at is not None):
            # Answered already (the button is gone): say so, as any second press does.
            stated = texts.INTAKE_DETECTED_DONE.format(at=_local(case.t0, calendar.tz))
            await query.answer(stated, show_alert=True)
        else:
            await query.answer(texts.UNKNOWN_BUTTON, show_alert=True)
        return
    posted = case.received_at or case.t0
    done, answer = await _set_detected(services, case_id, actor, posted, origin=f"telegram:press:{query.id}")
    await query.answer(answer or None, show_alert=not done)
    if done:
        line = texts.INTAKE_DETECTED.format(at=_local(posted, calendar.tz), name=_name(actor))
        await _edit(question, _answered(question, line))


async def on_detected_reply(
    message: Message,
    bot: Bot,
    services: Services,
    actor: Actor,
    calendar: WorkingCalendar,
) -> None:
    """A reply to the detection question with the time: ЧЧ:ММ or ДД.ММ ЧЧ:ММ."""
    question = message.reply_to_message
    case_id = _question_case(question, bot.id) or _answered_case(question, bot.id)
    if question is None or case_id is None:
        return
    note_case(case_id)
    origin = f"telegram:{message.chat.id}:{message.message_id}"
    if await services.applied(case_id, origin):
        return  # this very reply handled again (inbox): it set the time already
    try:
        case = await services.case(case_id)
    except DomainError as exc:
        await message.reply(exc.message, parse_mode=None)
        return
    if case.detection_stated or case.received_at is not None:
        stated = texts.INTAKE_DETECTED_DONE.format(at=_local(case.t0, calendar.tz))
        await message.reply(stated, parse_mode=None)
        return
    posted = case.received_at or case.t0
    detected = detected_answer(message.text or "", posted, calendar.tz)
    if detected is None:
        await message.reply(texts.INTAKE_BAD_DETECTED, parse_mode=None)
        return
    done, answer = await _set_detected(services, case_id, actor, detected, origin)
    if not done:
        await message.reply(answer, parse_mode=None)
        return
    line = texts.INTAKE_DETECTED.format(at=_local(detected, calendar.tz), name=_name(actor))
    await _edit(question, _answered(question, line))
