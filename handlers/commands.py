"""Commands: /start, /help, /my, /case, /find, /overdue, /term, /close, /reopen, /undo; and the command menus."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Message

from handlers.common import DeliveryPort, run_action
from handlers.errors import note_case
from views import texts
from views.cards import local, owner_name, time_left
from views.html import escape
from views.privacy import NO_MASKING, Privacy
from workflow.calendar import CalendarError, WorkingCalendar
from workflow.lifecycle import REGISTER_ROLES, ROLE_NAMES, Action, ActionPayload, Status
from workflow.model import Actor, DomainError, Procedure, Role, parse_id
from workflow.ports import VIEW_CARD, VIEW_FIND, FoundCase
from workflow.rules import Rules, RulesError
from workflow.search import FIND_LIMIT
from workflow.services import Services
from workflow.services.queries import FindRefusal, LookupKind
from workflow.services.reporting import may_report
from workflow.visibility import audience

log = logging.getLogger(__name__)

LIST_LIMIT = 30
SNIPPET_CHARS = 60  # the beginning of a message's text on a /case choice or /find line
_LEFT_HORIZON = timedelta(days=400)  # /term says how long is left only for a due within about a year of now
_POS_REGISTRARS = frozenset(REGISTER_ROLES[Procedure.POS]) - {Role.SYSTEM}


def router() -> Router:
    r = Router(name="commands")
    r.message.register(on_start, CommandStart())
    r.message.register(on_help, Command("help"))
    r.message.register(on_my, Command("my"))
    r.message.register(on_case, Command("case"))
    r.message.register(on_find, Command("find"))
    r.message.register(on_overdue, Command("overdue"))
    r.message.register(on_term, Command("term"))
    r.message.register(on_close, Command("close"))
    r.message.register(on_reopen, Command("reopen"))
    r.message.register(on_undo, Command("undo"))
    return r


def _role_names(actor: Actor) -> str:
    return ", ".join(ROLE_NAMES[r] for r in Role if r in actor.roles)


async def on_start(message: Message, actor: Actor) -> None:
    name = actor.name or (message.from_user.full_name if message.from_user else "")
    await message.answer(texts.START.format(name=name, roles=_role_names(actor)), parse_mode=None)


def help_text(actor: Actor) -> str:
    parts = [texts.HELP_BY_ROLE[r] for r in Role if r in actor.roles and r in texts.HELP_BY_ROLE]
    return "\n\n".join([*parts, texts.HELP_COMMON])


async def on_help(message: Message, actor: Actor) -> None:
    await message.answer(help_text(actor), parse_mode=None)


def _with_more(title: str, lines: list[str], total: int) -> str:
    if total > len(lines):
        lines = [*lines, escape(texts.MORE_LINES.format(count=total - len(lines)))]
    return "\n".join([title, *lines])


async def on_my(
    message: Message, actor: Actor, services: Services, calendar: WorkingCalendar, rules: Rules
) -> None:
    listed = await services.my_terms(actor, LIST_LIMIT)
    lines = [
        escape(
            texts.MY_LINE.format(
                case_id=term.case_id,
                title=_title(term.term_id, rules),
                due=local(term.due, calendar),
                left=time_left(term.due, listed.now, calendar),
            )
        )
        for term in listed.page.terms
    ]
    await _answer_list(message, texts.MY_TITLE_HTML, texts.MY_EMPTY, lines, listed.page.total)


async def _answer_list(message: Message, title_html: str, empty: str, lines: list[str], total: int) -> None:
    if not lines:
        await message.answer(empty, parse_mode=None)
        return
    await message.answer(_with_more(title_html, lines, total), parse_mode="HTML")


async def on_overdue(
    message: Message, actor: Actor, services: Services, calendar: WorkingCalendar, rules: Rules
) -> None:
    listed = await services.overdue(LIST_LIMIT, actor)  # a unit's people: their units' cases only
    lines = [
        escape(
            texts.OVERDUE_LINE.format(
                case_id=term.case_id,
                title=_title(term.term_id, rules),
                owner=owner_name(term.owner, term.unit, rules.units, term.person),
                due=local(term.due, calendar),
                late=time_left(term.due, listed.now, calendar),
            )
        )
        for term in listed.page.terms
    ]
    await _answer_list(message, texts.OVERDUE_TITLE_HTML, texts.OVERDUE_EMPTY, lines, listed.page.total)


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def found_line(found: FoundCase) -> str:
    """«№ N · статус · начало текста…» (with the ПОС number where there is one)."""
    try:
        status = Status(found.status).label
    except ValueError:
        status = found.status
    if found.external_number:
        status = f"{texts.FOUND_POS_NUMBER.format(number=found.external_number)} · {status}"
    return texts.FOUND_LINE.format(case_id=found.case_id, status=status, text=_snippet(found.text))


def _audience(message: Message, actor: Actor, chat_roles: set[Role], chat_units: set[str]) -> Actor:
    """Whom an answer in this chat shows cases to (workflow.visibility.audience): a group sees what it may."""
    return audience(actor, chat_roles, chat_units, private=message.chat.type == ChatType.PRIVATE)


async def on_case(
    message: Message,
    command: CommandObject,
    services: Services,
    actor: Actor,
    delivery: DeliveryPort,
    chat_roles: set[Role],
    chat_units: set[str],
    privacy: Privacy = NO_MASKING,
) -> None:
    """/case N, /case 4512345 (ПОС), /case https://vk.com/wall-1_2: the card with its history, or a choice.

    What is shown is recorded in the access log first (a view of the citizen's personal data, issue 14)."""
    argument = command.args or ""
    lookup = await services.lookup(argument, _audience(message, actor, chat_roles, chat_units))
    if lookup.kind is LookupKind.USAGE:
        await message.answer(texts.CASE_USAGE, parse_mode=None)
        return
    if not lookup.found:  # nothing, or nothing this person may see: the same words
        await message.answer(texts.CASE_NOT_FOUND, parse_mode=None)
        return
    if len(lookup.found) > 1:  # a number that is a case number and a ПОС number, a shared link: no guess
        lines = [
            escape(texts.CASE_CHOICE_LINE.format(line=found_line(privacy.found(f)), case_id=f.case_id))
            for f in lookup.found
        ]
        title = texts.CASE_CHOICE_TITLE_HTML.format(value=escape(_snippet(argument.strip(), 80)))
        await services.record_views([f.case_id for f in lookup.found], actor, chat_id=message.chat.id, what=VIEW_FIND)
        await message.answer("\n".join([title, *lines]), parse_mode="HTML")
        return
    case_id = lookup.found[0].case_id
    note_case(case_id)
    await services.record_views([case_id], actor, chat_id=message.chat.id, what=VIEW_CARD)
    await delivery.show_card(message.chat.id, case_id, history=True)


async def on_find(
    message: Message,
    command: CommandObject,
    services: Services,
    actor: Actor,
    chat_roles: set[Role],
    chat_units: set[str],
    privacy: Privacy = NO_MASKING,
) -> None:
    """/find ТЕКСТ: open and recent cases the person (and the group he asks in) may see whose message contains
    the text; the lines shown are recorded in the access log first."""
    result = await services.find(command.args or "", _audience(message, actor, chat_roles, chat_units))
    if result.refusal is FindRefusal.LONG:
        await message.answer(texts.FIND_TOO_LONG.format(limit=FIND_LIMIT), parse_mode=None)
        return
    if result.refusal is FindRefusal.SHORT:
        await message.answer(texts.FIND_USAGE, parse_mode=None)
        return
    if not result.found:
        await message.answer(texts.FIND_NOTHING, parse_mode=None)
        return
    lines = [
        escape(texts.FIND_LINE.format(line=found_line(privacy.found(f)), case_id=f.case_id)) for f in result.found
    ]
    if result.more:
        lines.append(escape(texts.FIND_MORE.format(count=len(result.found))))
    await services.record_views([f.case_id for f in result.found], actor, chat_id=message.chat.id, what=VIEW_FIND)
    await message.answer("\n".join([texts.FIND_TITLE_HTML, *lines]), parse_mode="HTML")


# --- close, reopen, undo ------------------------------------------------------------------------------------


def _number_and_rest(args: str | None) -> tuple[int | None, str]:
    """«15 причина…» → (15, «причина…»); None for a number this bot could not have given (before SQL)."""
    parts = (args or "").strip().split(maxsplit=1)
    if not parts:
        return None, ""
    return parse_id(parts[0].lstrip("№#")), parts[1] if len(parts) > 1 else ""


def _origin(message: Message) -> str:
    return f"telegram:{message.chat.id}:{message.message_id}"  # the same command handled twice acts once


async def _case_command(
    message: Message, command: CommandObject, services: Services, actor: Actor, action: Action, usage: str
) -> None:
    case_id, reason = _number_and_rest(command.args)
    if case_id is None:
        await message.answer(usage, parse_mode=None)
        return
    note_case(case_id)
    payload = ActionPayload(reason=reason, origin=_origin(message))
    _done, answer = await run_action(services, case_id, action, actor, version=None, payload=payload)
    if answer:
        await message.answer(answer, parse_mode=None)


async def on_close(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    """/close N причина: the office head closes a case (the «Закрыть» button on his card asks the same)."""
    await _case_command(message, command, services, actor, Action.CLOSE, texts.CLOSE_USAGE)


async def on_reopen(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    """/reopen N причина: the office head reopens a closed case (workflow.lifecycle.REOPEN_POLICY)."""
    await _case_command(message, command, services, actor, Action.REOPEN, texts.REOPEN_USAGE)


async def on_undo(message: Message, command: CommandObject, services: Services, actor: Actor) -> None:
    """/undo N: the author's last action on case N, within the undo window, while nothing followed it."""
    case_id, _rest = _number_and_rest(command.args)
    if case_id is None:
        await message.answer(texts.UNDO_USAGE, parse_mode=None)
        return
    note_case(case_id)
    try:
        outcome = await services.undo(case_id, actor, origin=_origin(message))
    except DomainError as exc:
        await message.answer(exc.message, parse_mode=None)
        return
    if outcome.replayed:
        return
    status = Status(outcome.case.status).label
    await message.answer(texts.UNDONE.format(case_id=case_id, status=status), parse_mode=None)


def _title(term_id: str, rules: Rules) -> str:
    try:
        return rules.term(term_id).title
    except RulesError:
        return term_id


def parse_local(value: str, calendar: WorkingCalendar, now: datetime) -> datetime | None:
    """ "now", ISO (local when naive) or ДД.ММ.ГГГГ ЧЧ:ММ (local); None when it is none of them.

    ASCII digits only: strptime's digit pattern would read «０１.１２.２０２６» too. The year is the caller's to check.
    """
    value = value.strip()
    if value.lower() in texts.POS_NOW_WORDS:
        return now
    if not value.isascii():
        return None
    parsed: datetime | None = None
    for fmt in ("%d.%m.%Y %H:%M", "%d.%m.%Y"):
        try:
            parsed = datetime.strptime(value, fmt)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=calendar.tz)
    return parsed


async def on_term(
    message: Message, command: CommandObject, services: Services, calendar: WorkingCalendar, rules: Rules
) -> None:
    known = ", ".join(rules.terms)
    args = (command.args or "").split()
    if not args:
        await message.answer(texts.TERM_USAGE.format(terms=known), parse_mode=None)
        return
    term_id = args[0]
    if term_id not in rules.terms:
        await message.answer(texts.TERM_UNKNOWN.format(term=term_id, terms=known), parse_mode=None)
        return
    now = services.clock.now()
    rest = args[1:]
    category = None
    if rest and rest[-1] in rules.categories:
        category = rest.pop()
    start = parse_local(" ".join(rest), calendar, now) if rest else now
    if start is None:
        await message.answer(texts.TERM_BAD_TIME.format(value=" ".join(rest)), parse_mode=None)
        return
    if not calendar.covers(start):
        first, last = calendar.supported_years
        await message.answer(texts.TERM_BAD_YEAR.format(first=first, last=last), parse_mode=None)
        return
    if rules.needs_category(term_id) and category is None:
        names = "; ".join(f"{c.id} — {c.title}" for c in rules.categories.values())
        await message.answer(texts.TERM_NEEDS_CATEGORY.format(categories=names), parse_mode=None)
        return
    rule = rules.term(term_id)
    try:
        due = rules.due(term_id, start, calendar, category=category)
        # «осталось» counts working time from now: across decades that is a table (and a log line) per year.
        near = abs(due - now) <= _LEFT_HORIZON
        left = time_left(due, now, calendar) if near else ""
    except RulesError as exc:
        await message.answer(str(exc), parse_mode=None)
        return
    except CalendarError:  # a term that runs past the calendar's last year
        first, last = calendar.supported_years
        await message.answer(texts.TERM_BAD_YEAR.format(first=first, last=last), parse_mode=None)
        return
    answer = texts.TERM_RESULT.format(
        title=rule.title, clause=rule.clause, start=local(start, calendar), due=local(due, calendar)
    )
    await message.answer(f"{answer}; {left}" if left else answer, parse_mode=None)


def commands_for(actor: Actor | None) -> list[BotCommand]:
    names = ["start", "help", "id"]
    if actor is not None:
        names += ["my", "case", "find", "overdue", "term", "undo"]
        if actor.roles & _POS_REGISTRARS:
            names.append("pos")
        if Role.OFFICE_HEAD in actor.roles:
            names += ["close", "reopen"]
        if may_report(actor):
            names.append("report")
        names.append("cancel")
    return [BotCommand(command=n, description=texts.COMMAND_DESCRIPTIONS[n]) for n in names]


async def set_commands(bot: Bot, staff: Mapping[int, Actor]) -> None:
    """The command menu: the basics for everyone, each staff member's own list in their private chat."""
    await bot.set_my_commands(commands_for(None), scope=BotCommandScopeDefault())
    for user_id, actor in staff.items():
        try:
            await bot.set_my_commands(commands_for(actor), scope=BotCommandScopeChat(chat_id=user_id))
        except Exception as exc:  # a person who never opened the bot: their menu comes with the next start
            log.warning("commands for %s not set: %s", user_id, exc)
