"""Set-up help: `/id` for anyone, a stranger's `/start`, and a word when the bot is added to a group.

An administrator connecting a district needs the staff's Telegram ids and the work chats' ids for config.toml,
and needs to know whether the bot reads a group's ordinary messages (Telegram's privacy mode: a bot that is
not an administrator of the group, with privacy mode on, sees only commands and replies to its own messages).
These handlers tell exactly that, in the chat where they are asked; they change nothing.

Strangers reach `/id` (anywhere) and `/start` (in a private chat) through the middleware's one gate
(handlers.middlewares), with `actor` None; every other handler still sees staff only.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiogram import Bot, F, Router
from aiogram.enums import ChatMemberStatus, ChatType
from aiogram.filters import Command, CommandStart, MagicData
from aiogram.types import Chat, ChatMemberUpdated, Message

from handlers.middlewares import StaffDirectory
from views import texts
from workflow.lifecycle import ROLE_NAMES
from workflow.model import Actor, Role
from workflow.rules import Rules

_GROUPS = (ChatType.GROUP, ChatType.SUPERGROUP)
_IN = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR)
# Roles a unit chat implies (handlers.middlewares): named by the unit instead.
_UNIT_ROLES = frozenset({Role.UNIT_OFFICIAL, Role.EXECUTOR})


def router() -> Router:
    r = Router(name="ids")
    r.message.register(on_id, Command("id"))
    r.message.register(on_stranger_start, CommandStart(), MagicData(F.actor.is_(None)))
    r.my_chat_member.register(on_bot_membership, F.chat.type.in_(_GROUPS))
    return r


def role_names(actor: Actor) -> str:
    return ", ".join(ROLE_NAMES[r] for r in Role if r in actor.roles)


async def reads_everything(bot: Bot, chat_id: int) -> str:
    """The «Бот видит все сообщения чата» line: the bot is an administrator, or its privacy mode is off."""
    member = await bot.get_chat_member(chat_id, bot.id)
    if member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.CREATOR):
        return texts.ID_READS_ADMIN
    me = await bot.get_me()  # not the cached bot.me(): /setprivacy changes it while the bot runs
    return texts.ID_READS_OPEN if me.can_read_all_group_messages else texts.ID_READS_NO


def chat_lines(chat: Chat, roles: set[Role], units: set[str], unit_names: Mapping[str, str]) -> list[str]:
    """What the config makes of this group: its id and title, its roles and units, or that it is not there."""
    lines = [texts.ID_CHAT.format(chat_id=chat.id, title=chat.title or chat.full_name)]
    parts = []
    named_roles = [ROLE_NAMES[r] for r in Role if r in roles and r not in _UNIT_ROLES]
    if named_roles:
        parts.append(texts.ID_CHAT_ROLES.format(roles=", ".join(named_roles)))
    if units:
        parts.append(texts.ID_CHAT_UNITS.format(units=", ".join(unit_names.get(u, u) for u in sorted(units))))
    if parts:
        lines.append(texts.ID_CHAT_KNOWN.format(what="; ".join(parts)))
    else:
        lines.append(texts.ID_CHAT_UNKNOWN.format(chat_id=chat.id))
    return lines


async def on_id(
    message: Message,
    bot: Bot,
    rules: Rules,
    actor: Actor | None,
    chat_roles: set[Role],
    chat_units: set[str],
) -> None:
    assert message.from_user is not None  # the middleware lets no message without a sender through
    lines = [texts.ID_USER.format(user_id=message.from_user.id)]
    if message.chat.type == ChatType.PRIVATE:
        if actor is None:
            lines.append(texts.ID_STRANGER)
        else:
            name = actor.name or message.from_user.full_name
            lines.append(texts.ID_STAFF.format(name=name, roles=role_names(actor)))
    else:
        lines += chat_lines(message.chat, chat_roles, chat_units, rules.units)
        if message.chat.type in _GROUPS:
            lines.append(await reads_everything(bot, message.chat.id))
    await message.answer("\n".join(lines), parse_mode=None)


async def on_stranger_start(message: Message) -> None:
    assert message.from_user is not None
    lines = [texts.NOT_REGISTERED, texts.ID_USER.format(user_id=message.from_user.id), texts.ID_STRANGER]
    await message.answer("\n".join(lines), parse_mode=None)


async def on_bot_membership(
    event: ChatMemberUpdated, bot: Bot, rules: Rules, directory: StaffDirectory
) -> None:
    """The bot added to a group, or made its administrator: it says where it is and what it sees there."""
    old, new = event.old_chat_member.status, event.new_chat_member.status
    if new not in _IN or old == new:
        return
    title = (
        texts.ID_BOT_PROMOTED if new == ChatMemberStatus.ADMINISTRATOR and old in _IN else texts.ID_BOT_ADDED
    )
    roles, units = directory.roles_of_chat(event.chat.id)
    lines = [title, *chat_lines(event.chat, roles, units, rules.units)]
    lines.append(await reads_everything(bot, event.chat.id))
    await bot.send_message(event.chat.id, "\n".join(lines), parse_mode=None)
