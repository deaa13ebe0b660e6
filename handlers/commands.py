"""Commands: /start, /help, /my, /case N, /overdue, /term; and the per-person command menus."""

from __future__ import annotations

import logging
from datetime import datetime

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, Message

from bot.directory import Directory
from handlers.common import DeliveryPort
from views import texts
from views.cards import local, owner_name, time_left
from views.html import escape
from workflow.calendar import WorkingCalendar
from workflow.lifecycle import REGISTER_ROLES, ROLE_NAMES
from workflow.model import Actor, Case, DomainError, Procedure, Role, Term
from workflow.rules import Rules, RulesError
from workflow.services import Services

log = logging.getLogger(__name__)

LIST_LIMIT = 30
_UNIT_ROLES = (Role.UNIT_OFFICIAL, Role.EXECUTOR)
_POS_REGISTRARS = frozenset(REGISTER_ROLES[Procedure.POS]) - {Role.SYSTEM}


def router() -> Router:
    r = Router(name="commands")
    r.message.register(on_start, CommandStart())
    r.message.register(on_help, Command("help"))
    r.message.register(on_my, Command("my"))
    r.message.register(on_case, Command("case"))
    r.message.register(on_overdue, Command("overdue"))
    r.message.register(on_term, Command("term"))
    return r


def _actor(message: Message, directory: Directory) -> Actor | None:
    return directory.actor(message.from_user.id) if message.from_user else None


def _role_names(actor: Actor) -> str:
    return ", ".join(ROLE_NAMES[r] for r in Role if r in actor.roles)


async def on_start(message: Message, directory: Directory) -> None:
    actor = _actor(message, directory)
    if actor is None:
        await message.answer(texts.NOT_REGISTERED, parse_mode=None)
        return
    name = actor.name or (message.from_user.full_name if message.from_user else "")
    await message.answer(texts.START.format(name=name, roles=_role_names(actor)), parse_mode=None)


def help_text(actor: Actor) -> str:
    parts = [texts.HELP_BY_ROLE[r] for r in Role if r in actor.roles and r in texts.HELP_BY_ROLE]
    return "\n\n".join([*parts, texts.HELP_COMMON])


async def on_help(message: Message, directory: Directory) -> None:
    actor = _actor(message, directory)
    if actor is None:
        await message.answer(texts.NOT_REGISTERED, parse_mode=None)
        return
    await message.answer(help_text(actor), parse_mode=None)


def owes(actor: Actor, term: Term, case: Case) -> bool:
    """Whether the term is the actor's to do: by role, and for unit roles by unit."""
    if term.owner not in actor.roles:
        return False
    if term.owner in _UNIT_ROLES:
        if term.unit is not None:
            return term.unit in actor.units
        return bool(actor.units & set(case.units))
    return True


async def _open_terms(services: Services) -> list[tuple[Case, Term]]:
    found: list[tuple[Case, Term]] = []
    async with services.repo.transaction() as tx:
        for case in await tx.cases(open_only=True, limit=10_000):
            found += [(case, term) for term in await tx.terms(case.id, open_only=True)]
    return sorted(found, key=lambda pair: (pair[1].due, pair[0].id))


def _with_more(title: str, lines: list[str]) -> str:
    shown = lines[:LIST_LIMIT]
    if len(lines) > LIST_LIMIT:
        shown.append(escape(texts.MORE_LINES.format(count=len(lines) - LIST_LIMIT)))
    return "\n".join([title, *shown])


async def on_my(
    message: Message, directory: Directory, services: Services, calendar: WorkingCalendar, rules: Rules
) -> None:
    actor = _actor(message, directory)
    if actor is None:
        await message.answer(texts.NOT_REGISTERED, parse_mode=None)
        return
    now = services.clock.now()
    lines = [
        escape(
            texts.MY_LINE.format(
                case_id=case.id,
                title=_title(term.term_id, rules),
                due=local(term.due, calendar),
                left=time_left(term.due, now, calendar),
            )
        )
        for case, term in await _open_terms(services)
        if owes(actor, term, case)
    ]
    await _answer_list(message, texts.MY_TITLE_HTML, texts.MY_EMPTY, lines)


async def _answer_list(message: Message, title_html: str, empty: str, lines: list[str]) -> None:
    if not lines:
        await message.answer(empty, parse_mode=None)
        return
    await message.answer(_with_more(title_html, lines), parse_mode="HTML")


async def on_overdue(
    message: Message,
    directory: Directory,
    services: Services,
    calendar: WorkingCalendar,
    rules: Rules,
) -> None:
    actor = _actor(message, directory)
    if actor is None:
        await message.answer(texts.NOT_REGISTERED, parse_mode=None)
        return
    now = services.clock.now()
    lines = [
        escape(
            texts.OVERDUE_LINE.format(
                case_id=case.id,
                title=_title(term.term_id, rules),
                owner=owner_name(term.owner, term.unit, rules.units),
                due=local(term.due, calendar),
                late=time_left(term.due, now, calendar),
            )
        )
        for case, term in await _open_terms(services)
        if term.due <= now
    ]
    await _answer_list(message, texts.OVERDUE_TITLE_HTML, texts.OVERDUE_EMPTY, lines)


async def on_case(
    message: Message,
    command: CommandObject,
    directory: Directory,
    services: Services,
    delivery: DeliveryPort,
) -> None:
    actor = _actor(message, directory)
    if actor is None:
        await message.answer(texts.NOT_REGISTERED, parse_mode=None)
        return
    raw = (command.args or "").strip().lstrip("№#").strip()
    if not raw.isdigit() or len(raw) > 12:
        await message.answer(texts.CASE_USAGE, parse_mode=None)
        return
    case_id = int(raw)
    try:
        await services.case(case_id)
    except DomainError as exc:
        await message.answer(exc.message, parse_mode=None)
        return
    await delivery.show_card(message.chat.id, case_id, history=True)


def _title(term_id: str, rules: Rules) -> str:
    try:
        return rules.term(term_id).title
    except RulesError:
        return term_id


def parse_local(value: str, calendar: WorkingCalendar, now: datetime) -> datetime | None:
    """ "now", ISO (local when naive) or ДД.ММ.ГГГГ ЧЧ:ММ (local); None when it is none of them."""
    value = value.strip()
    if value.lower() in texts.POS_NOW_WORDS:
        return now
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
    message: Message,
    command: CommandObject,
    directory: Directory,
    services: Services,
    calendar: WorkingCalendar,
    rules: Rules,
) -> None:
    if _actor(message, directory) is None:
        await message.answer(texts.NOT_REGISTERED, parse_mode=None)
        return
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
    if rules.needs_category(term_id) and category is None:
        names = "; ".join(f"{c.id} — {c.title}" for c in rules.categories.values())
        await message.answer(texts.TERM_NEEDS_CATEGORY.format(categories=names), parse_mode=None)
        return
    rule = rules.term(term_id)
    try:
        due = rules.due(term_id, start, calendar, category=category)
    except RulesError as exc:
        await message.answer(str(exc), parse_mode=None)
        return
    answer = texts.TERM_RESULT.format(
        title=rule.title, clause=rule.clause, start=local(start, calendar), due=local(due, calendar)
    )
    left = time_left(due, now, calendar)
    await message.answer(f"{answer}; {left}", parse_mode=None)


def commands_for(actor: Actor | None) -> list[BotCommand]:
    names = ["start", "help"]
    if actor is not None:
        names += ["my", "case", "overdue", "term"]
        if actor.roles & _POS_REGISTRARS:
            names.append("pos")
    return [BotCommand(command=n, description=texts.COMMAND_DESCRIPTIONS[n]) for n in names]


async def set_commands(bot: Bot, directory: Directory) -> None:
    """The command menu: the basics for everyone, each staff member's own list in their private chat."""
    await bot.set_my_commands(commands_for(None), scope=BotCommandScopeDefault())
    for user_id, actor in directory.staff.items():
        try:
            await bot.set_my_commands(commands_for(actor), scope=BotCommandScopeChat(chat_id=user_id))
        except Exception as exc:  # a person who never opened the bot: their menu comes with the next start
            log.warning("commands for %s not set: %s", user_id, exc)
