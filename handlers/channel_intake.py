"""The Telegram channel as a citizens' network (issue 11): comments and direct messages become cases by themselves.

A comment under a channel post (in the channel's discussion group, in the post's thread) and a private message
to the bot from someone who is not staff go through the same `take_in` as a VK comment; an `edited_message` is an
edit on the case. Staff writing in the discussion group are not citizens: nothing. The bot's own messages (its
published answers) and the posts' automatic copies: nothing.

This router is included before the staff's routers (bot/app.py), so a citizen never meets the «вы не
зарегистрированы» gate: a stranger's /start with a deep-link payload (t.me/<bot>?start=…) is greeted and asked
to write; a /start without one still gets the set-up answer of handlers.ids; any other command falls through.

T0 is when the inbox saved the update (`inbox_received_at`, handed over by the worker), as for VK: the moment
Otklik first saw the message (RULES.md §2). Telegram's own `date` is only the fallback: after an outage Telegram
hands over a day of updates, and a term must not be missed before anyone could see the message.

A citizen's direct message is acknowledged with its number once: only the take-in that created the case answers,
so the same update handled twice (an inbox replay) answers once.

MAX (issue 15 item 3) goes through the same handlers: the dispatcher's `citizen_channel` is a `ChannelConfig`
(Telegram) or a `MaxChannelConfig` (channels/max.py), which says which messages are a citizen's and which
messenger they came by. With the staff on Telegram, a second dispatcher on the citizens' MAX bot runs this router
alone (bot/app.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Message

from channels import max as max_channel
from channels.max import MaxChannelConfig
from channels.telegram import ChannelConfig, Where, citizen_item, where_from
from handlers.errors import GuardHandlers, note_case
from handlers.middlewares import StaffDirectory
from views import texts
from workflow.services.channels import ChannelUseCases

log = logging.getLogger(__name__)


def router() -> Router:
    r = Router(name="channel_intake")
    guard = GuardHandlers()
    r.message.outer_middleware(guard)
    r.edited_message.outer_middleware(guard)
    r.message.register(on_deep_link, CommandStart(deep_link=True), F.chat.type == ChatType.PRIVATE, _stranger)
    r.message.register(on_start, CommandStart(), F.chat.type == ChatType.PRIVATE, _stranger, _greets_any_start)
    r.message.register(on_citizen_message, _citizen)
    r.message.register(on_staff_in_group, _in_group)
    r.edited_message.register(on_citizen_edit, _citizen)
    return r


def _staff(message: Message, directory: StaffDirectory) -> bool:
    user = message.from_user
    return user is not None and directory.actor(user.id) is not None


async def _stranger(message: Message, directory: StaffDirectory) -> bool:
    return message.from_user is not None and not message.from_user.is_bot and not _staff(message, directory)


CitizenChannel = ChannelConfig | MaxChannelConfig


def _where(message: Message, channel: CitizenChannel, bot_id: int) -> Where | None:
    if isinstance(channel, MaxChannelConfig):
        return max_channel.where_from(message, channel, bot_id=bot_id)
    return where_from(message, channel, bot_id=bot_id)


async def _greets_any_start(message: Message, citizen_channel: CitizenChannel) -> bool:
    return isinstance(citizen_channel, MaxChannelConfig) and citizen_channel.greet_any_start


async def _citizen(
    message: Message, bot: Bot, directory: StaffDirectory, citizen_channel: CitizenChannel
) -> bool | dict[str, Any]:
    """A citizen's comment or direct message: the filter hands the handler where it was written."""
    where = _where(message, citizen_channel, bot.id)
    if where is None:
        return False
    if _staff(message, directory):
        if where is Where.COMMENT:
            log.debug("%s: сотрудник %s пишет в обсуждении: не обращение", citizen_channel.via.name, message.from_user)
        return False
    return {"where": where}


async def _in_group(message: Message, citizen_channel: CitizenChannel) -> bool:
    # Anything else in the discussion group but commands (/id works there) stops here: the staff's routers
    # would read a reply to the bot's published answer as a reply to a card.
    group = citizen_channel.group_id
    return group is not None and message.chat.id == group and not (message.text or "").startswith("/")


async def on_deep_link(message: Message, command: CommandObject, citizen_channel: CitizenChannel) -> None:
    log.info("%s: гражданин пришёл по ссылке (%.40s)", citizen_channel.via.name, command.args or "")
    await message.answer(texts.CITIZEN_GREETING, parse_mode=None)


async def on_start(message: Message) -> None:
    """MAX's «Начать» in a bot that serves citizens only: the same greeting."""
    await message.answer(texts.CITIZEN_GREETING, parse_mode=None)


def _seen_at(message: Message, received: datetime | None) -> datetime:
    return received if received is not None else message.date


async def on_citizen_message(
    message: Message, where: Where, services: ChannelUseCases, citizen_channel: CitizenChannel,
    inbox_received_at: datetime | None = None,
) -> None:  # fmt: skip
    item = citizen_item(message, where, _seen_at(message, inbox_received_at), via=citizen_channel.via)
    if item is None:
        return
    outcome = await services.take_in(item)
    if outcome is None:
        return
    note_case(outcome.case.id)
    if where is Where.PRIVATE and outcome.created:
        await message.reply(texts.CITIZEN_ACK.format(case_id=outcome.case.id), parse_mode=None)


async def on_citizen_edit(
    message: Message, where: Where, services: ChannelUseCases, citizen_channel: CitizenChannel,
    inbox_received_at: datetime | None = None,
) -> None:  # fmt: skip
    item = citizen_item(message, where, _seen_at(message, inbox_received_at), edited=True, via=citizen_channel.via)
    if item is None:
        return
    outcome = await services.take_in(item)
    if outcome is None:
        return
    note_case(outcome.case.id)
    # An edit whose message was never taken in (its update lost) registers it: that is its first sight.
    if where is Where.PRIVATE and outcome.created:
        await message.reply(texts.CITIZEN_ACK.format(case_id=outcome.case.id), parse_mode=None)


async def on_staff_in_group(message: Message) -> None:
    return None
